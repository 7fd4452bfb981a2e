"""``b2tui status`` and ``b2tui rollback``: the cluster side of an environment, headless.

Both talk to the cluster through :class:`~b2tui.adapters.kube.KubeCluster` (or the one
passed in, for tests), print text or JSON to ``out``, and answer a failure with one line
on stderr and exit status 1 — never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TextIO, TypeVar

from b2tui.adapters.kube import KubeCluster
from b2tui.config import ConfigError, EnvironmentSettings, Settings
from b2tui.domain.phases import EXIT_USAGE, Strategy
from b2tui.ports import Revision, SourceError, StepFailed

T = TypeVar("T")


def _run(
    settings: Settings,
    env_name: str,
    cluster: KubeCluster | None,
    work: Callable[[KubeCluster, EnvironmentSettings], Awaitable[T]],
) -> tuple[int, T | None]:
    """Run ``work`` against the environment; (exit status, result or None)."""
    try:
        env = settings.environment(env_name)
    except ConfigError as e:
        print(f"b2tui: {e.problems[0]}", file=sys.stderr)
        return EXIT_USAGE, None
    own = cluster is None
    kube = cluster or KubeCluster()
    try:
        return 0, asyncio.run(_main(work(kube, env)))
    except (SourceError, StepFailed) as e:
        where = f"{env.name} ({env.context or 'current context'}/{env.namespace})"
        print(f"b2tui: {where}: {e}", file=sys.stderr)
        return 1, None
    finally:
        if own:
            kube.close()


async def _main(aw: Awaitable[T]) -> T:
    return await aw


async def _status(kube: KubeCluster, env: EnvironmentSettings) -> dict[str, Any]:
    workloads = await kube.workloads(env)
    pods = await kube.pods(env)
    traffic = await kube.traffic(env)
    target = await kube.current_revision(env)
    return {
        "environment": env.name,
        "context": env.context,
        "namespace": env.namespace,
        "strategy": env.strategy.value,
        "traffic_mode": env.traffic.value,
        "deployments": [
            {
                "name": d.name,
                "track": d.track,
                "revision": d.revision,
                "image": d.image,
                "ready": d.ready,
                "desired": d.desired,
            }
            for d in workloads
        ],
        "pods": [
            {
                "name": p.name,
                "track": p.track,
                "state": p.reason or p.phase.value,
                "ready": p.ready,
                "restarts": p.restarts,
                "image": p.image,
                "node": p.node,
            }
            for p in pods
        ],
        "traffic": {
            "percent": traffic.achieved_percent,
            "detail": traffic.detail,
        },
        "rollback_target": target.to_dict(),
    }


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _print_status(s: dict[str, Any], out: TextIO) -> None:
    ctx = s["context"] or "current context"
    mode = s["strategy"] + (f", traffic {s['traffic_mode']}" if s["strategy"] == "canary" else "")
    print(f"{s['environment']}  {ctx}/{s['namespace']}  ({mode})", file=out)
    rows = [["DEPLOYMENT", "TRACK", "REV", "IMAGE", "READY"]]
    rows += [
        [d["name"], d["track"], d["revision"] or "-", d["image"], f"{d['ready']}/{d['desired']}"]
        for d in s["deployments"]
    ]
    print("\n".join(_table(rows)), file=out)
    print(file=out)
    if s["pods"]:
        rows = [["POD", "TRACK", "STATE", "RESTARTS"]]
        for p in s["pods"]:
            state = p["state"]
            if state == "Running" and not p["ready"]:
                state += " (not ready)"
            rows.append([p["name"], p["track"] or "-", state, str(p["restarts"])])
        print("\n".join(_table(rows)), file=out)
    else:
        print("no pods", file=out)
    print(file=out)
    t = s["traffic"]
    what = "active colour" if s["strategy"] == Strategy.BLUE_GREEN.value else "on the canary"
    print(f"traffic: {t['percent']:.0f}% {what} ({t['detail']})", file=out)
    print(
        "rollback target (without a recorded run): "
        f"{Revision.from_dict(s['rollback_target']).describe()}",
        file=out,
    )


def status_main(
    settings: Settings,
    env_name: str,
    as_json: bool,
    out: TextIO,
    cluster: KubeCluster | None = None,
) -> int:
    """Print the environment's Deployments, pods, traffic split and rollback target.

    Args:
        settings: loaded settings.
        env_name: environment to show (``production``, ``staging`` …).
        as_json: print one JSON document instead of text.
        out: where to print.
        cluster: the cluster adapter to use; a :class:`KubeCluster` on the default
            kubeconfig when None (closed afterwards).

    Returns:
        0 on success, 1 when the cluster cannot answer, 2 for an unknown environment.
    """
    code, status = _run(settings, env_name, cluster, _status)
    if status is None:
        return code
    if as_json:
        print(json.dumps(status, indent=2), file=out)
    else:
        _print_status(status, out)
    return 0


def rollback_main(
    settings: Settings,
    env_name: str,
    target: Revision | None,
    as_json: bool,
    out: TextIO,
    cluster: KubeCluster | None = None,
) -> int:
    """Roll the environment back to ``target`` — idempotently, traffic first.

    Args:
        settings: loaded settings.
        env_name: environment to roll back.
        target: the known-good revision recorded when the last run started. None uses the
            stable Deployment's (or active colour's) *current* revision: only the traffic
            is restored and the canary scaled down, and the output says so.
        as_json: print one JSON document instead of text.
        out: where to print.
        cluster: the cluster adapter to use; a :class:`KubeCluster` when None.

    Returns:
        0 when the environment is on the target (changed or already), 1 on failure,
        2 for an unknown environment.
    """
    recorded = target is not None

    async def work(kube: KubeCluster, env: EnvironmentSettings) -> dict[str, Any]:
        # With a recorded target the first API request is the traffic restore itself.
        tgt = target if target is not None else await kube.current_revision(env)
        result = await kube.rollback(env, tgt)
        return {
            "environment": env.name,
            "target": tgt.to_dict(),
            "recorded_target": recorded,
            "changed": result.changed,
            "detail": result.detail,
        }

    code, res = _run(settings, env_name, cluster, work)
    if res is None:
        return code
    if as_json:
        print(json.dumps(res, indent=2), file=out)
        return 0
    tgt = Revision.from_dict(res["target"])
    if not recorded:
        print(
            f"no recorded known-good revision for {env_name}: keeping {tgt.describe()},"
            " restoring traffic and scaling the canary down",
            file=out,
        )
    verb = "rolled back" if res["changed"] else "nothing to do"
    print(f"{env_name}: {verb}: {res['detail']} (target {tgt.describe()})", file=out)
    return 0
