"""``b2tui status`` and ``b2tui rollback``: the cluster side of one environment, headless.

Both work through the capability ports :class:`~b2tui.ports.Workloads` and
:class:`~b2tui.ports.TrafficControl` on the environment's :class:`~b2tui.ports.Target`,
so the same code runs on a real cluster (``KubeCluster``) and on the sandbox; the CLI
(the composition root) picks the adapter. Output is text or JSON on ``out``; a failure
is one line on stderr and exit status 1 — never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, TextIO, TypeVar

from b2tui.domain.images import image_label, split_image
from b2tui.domain.phases import Strategy
from b2tui.ports import (
    Revision,
    RollbackResult,
    SourceError,
    StepFailed,
    Target,
    TrafficControl,
    Workloads,
)

T = TypeVar("T")


class ClusterView(Workloads, TrafficControl, Protocol):
    """What the one-shot commands need of a cluster: its workloads and its traffic."""


def _run(target: Target, work: Callable[[Target], Awaitable[T]]) -> tuple[int, T | None]:
    """Run ``work`` against the environment's target; (exit status, result or None)."""
    try:
        return 0, asyncio.run(_main(work(target)))
    except (SourceError, StepFailed) as e:
        where = f"{target.name} ({target.context or 'current context'}/{target.namespace})"
        print(f"b2tui: {where}: {e}", file=sys.stderr)
        return 1, None


async def _main(aw: Awaitable[T]) -> T:
    return await aw


async def _status(cluster: ClusterView, target: Target) -> dict[str, Any]:
    workloads = await cluster.workloads(target)
    pods = await cluster.pods(target)
    traffic = await cluster.traffic(target)
    current = await cluster.current_revision(target)
    return {
        "environment": target.name,
        "context": target.context,
        "namespace": target.namespace,
        "strategy": target.strategy.value,
        "traffic_mode": target.traffic.value,
        "deployments": [
            {
                "name": d.name,
                "track": d.track,
                "revision": d.revision,
                "image": d.image,
                "digest": split_image(d.image)[2],
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
        "rollback_target": current.to_dict(),
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
        [
            d["name"],
            d["track"],
            d["revision"] or "-",
            image_label(d["image"]),
            f"{d['ready']}/{d['desired']}",
        ]
        for d in s["deployments"]
    ]
    print("\n".join(_table(rows)), file=out)
    print(file=out)
    if s["pods"]:
        rows = [["POD", "TRACK", "STATE", "RESTARTS", "IMAGE"]]
        for p in s["pods"]:
            state = p["state"]
            if state == "Running" and not p["ready"]:
                state += " (not ready)"
            rows.append(
                [p["name"], p["track"] or "-", state, str(p["restarts"]), image_label(p["image"])]
            )
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
    where: Target,
    as_json: bool,
    out: TextIO,
    cluster: ClusterView,
) -> int:
    """Print the environment's Deployments, pods, traffic split and rollback target.

    Args:
        where: the environment to show (``production``, ``staging`` …), as the CLI
            validated it.
        as_json: print one JSON document instead of text.
        out: where to print.
        cluster: the cluster adapter (real or sandbox), opened by the caller.

    Returns:
        0 on success, 1 when the cluster cannot answer.
    """
    code, status = _run(where, lambda t: _status(cluster, t))
    if status is None:
        return code
    if as_json:
        print(json.dumps(status, indent=2), file=out)
    else:
        _print_status(status, out)
    return 0


@dataclass(frozen=True)
class RollbackDone:
    """What ``b2tui rollback`` did, for the store and the audit log."""

    environment: str
    source: str
    """Where the target came from (``recorded``, ``previous``, ``current``)."""
    before: Revision
    """What served when the command started."""
    target: Revision
    result: RollbackResult
    dry_run: bool


def rollback_main(
    where: Target,
    target: Revision | None,
    as_json: bool,
    out: TextIO,
    cluster: ClusterView,
    *,
    source: str = "recorded",
    dry_run: bool = False,
    on_done: Callable[[RollbackDone], None] | None = None,
) -> int:
    """Roll the environment back to ``target`` — idempotently, traffic first.

    Args:
        where: the environment to roll back, as the CLI validated it.
        target: the last known-good revision (from the store's history; see
            :func:`b2tui.commands.rollback_target.last_known_good`). None: the previous
            revision as ``kubectl rollout undo`` picks it (blue-green: the other colour
            while it is scaled); when there is none, the current revision (only the
            traffic is restored and the canary scaled down), and the output says so.
        as_json: print one JSON document instead of text.
        out: where to print; the target is printed before anything changes.
        cluster: the cluster adapter (real or sandbox), opened by the caller.
        source: how ``target`` was found, printed with it.
        dry_run: the adapter sends every write with ``dryRun=All``: say "would".
        on_done: called after the rollback with what it did (to record it).

    Returns:
        0 when the environment is on the target (changed or already), 1 on failure.
    """

    async def work(env: Target) -> dict[str, Any]:
        before = await cluster.current_revision(env)
        how = source
        tgt = target
        if tgt is None:
            earlier = await cluster.revisions(env)
            tgt, how = (earlier[0], "previous") if earlier else (before, "current")
        if not as_json:
            _announce(env.name, how, before, tgt, dry_run, out)
        result = await cluster.rollback(env, tgt)
        if on_done is not None:
            on_done(RollbackDone(env.name, how, before, tgt, result, dry_run))
        return {
            "environment": env.name,
            "source": how,
            "from": before.to_dict(),
            "target": tgt.to_dict(),
            "recorded_target": how == "recorded",
            "changed": result.changed,
            "detail": result.detail,
            "dry_run": dry_run,
        }

    code, res = _run(where, work)
    if res is None:
        return code
    if as_json:
        print(json.dumps(res, indent=2), file=out)
        return 0
    tgt = Revision.from_dict(res["target"])
    if dry_run:
        verb = "dry run, nothing changed; would do" if res["changed"] else "dry run: nothing to do"
    else:
        verb = "rolled back" if res["changed"] else "nothing to do"
    print(f"{where.name}: {verb}: {res['detail']} (target {tgt.describe()})", file=out)
    return 0


def _announce(
    env: str, how: str, before: Revision, target: Revision, dry_run: bool, out: TextIO
) -> None:
    """The target, before anything changes."""
    why = {
        "recorded": "the last known-good revision",
        "previous": "the previous revision (no b2tui run or rollback recorded a known-good one)",
        "current": "no earlier revision recorded or kept: keeping the current one,"
        " restoring traffic and scaling the canary down",
    }.get(how, how)
    mode = " (dry run)" if dry_run else ""
    print(
        f"{env}: rollback{mode} from {before.describe()} to {target.describe()}: {why}",
        file=out,
        flush=True,
    )
