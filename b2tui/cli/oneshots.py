"""The one-shot commands: ``history``, ``gates``, ``status``, ``rollback``,
``check-config`` and ``init``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from b2tui.cli.loading import load, open_store
from b2tui.cli.parser import UsageError
from b2tui.config import ConfigError, Settings, secret_problems
from b2tui.domain.durations import format_duration
from b2tui.ports import Store, Target

EXAMPLE_CONFIG = Path(__file__).parent.parent / "example.toml"


def cmd_history(args: argparse.Namespace) -> int:
    from b2tui.domain.dora import RunSummary, dora

    settings = load(args.config) if args.config else None
    store = open_store(args.state, read_only=True, settings=settings, env=args.env)
    runs = store.runs(args.limit)
    summaries = []
    rows: list[dict[str, Any]] = []
    for r in runs:
        rb = (r.state.get("rollback") or {}).get("started")
        summaries.append(
            RunSummary(
                r.started_at,
                r.finished_at,
                r.outcome,
                r.commit_at,
                datetime.fromisoformat(rb) if rb else None,
            )
        )
        end = r.finished_at or r.clock
        rows.append(
            {
                "run_id": r.id,
                "service": r.service,
                "environment": r.environment,
                "strategy": r.strategy,
                "version": r.version,
                "started": r.started_at.isoformat(),
                "finished": r.finished_at.isoformat() if r.finished_at else None,
                "duration_s": (end - r.started_at).total_seconds() if end else None,
                "outcome": r.outcome or "running",
                "reason": r.reason or "",
                "scenario": r.params.get("scenario"),
            }
        )
    d = dora(summaries)
    figures = dataclasses.asdict(d)
    if args.json:
        print(json.dumps({"runs": rows, "dora": figures}))
        return 0
    if not rows:
        print("no runs yet — try `b2tui demo --headless`")
        return 0
    print(f"{'RUN':26} {'STARTED':17} {'STRATEGY':10} {'OUTCOME':12} {'DURATION':9} REASON")
    for row in rows:
        started = datetime.fromisoformat(row["started"]).strftime("%Y-%m-%d %H:%M")
        dur = format_duration(row["duration_s"]) if row["duration_s"] is not None else "-"
        print(
            f"{row['run_id']:26} {started:17} {row['strategy']:10} {row['outcome']:12}"
            f" {dur:9} {row['reason'][:60]}"
        )
    print()
    print("DORA (from these runs)")
    print(f"  deployment frequency  {_fmt(d.per_week, '{:.1f} per week')}")
    print(f"  lead time             {_fmt(d.lead_time_s, None)}")
    print(f"  change failure rate   {_fmt(d.change_failure_rate, 'pct')}")
    print(f"  time to restore       {_fmt(d.time_to_restore_s, None)}")
    return 0


def _fmt(value: float | None, how: str | None) -> str:
    if value is None:
        return "n/a"
    if how == "pct":
        return f"{value * 100:.0f}%"
    if how is None:
        return format_duration(value)
    return how.format(value)


def cmd_gates(args: argparse.Namespace) -> int:
    from b2tui.adapters.prometheus import PrometheusMetrics
    from b2tui.commands.gates import gates_main

    settings = load(args.config)
    env = settings.environment(args.env)
    return gates_main(
        settings,
        env,
        args.track,
        args.json,
        sys.stdout,
        args.explain,
        metrics=lambda: PrometheusMetrics(settings.prometheus, settings.gates.poll),
    )


def cmd_status(args: argparse.Namespace) -> int:
    from b2tui.cli.oneshot import kube_cluster, sandbox_cluster
    from b2tui.commands.kube_cmds import status_main

    if args.line:  # the console script sends it to its fast path before this parser
        from b2tui.quickstatus import main as status_line_main

        argv = ["status", "--line", "--env", args.env]
        argv += ["--config", args.config] if args.config else []
        argv += ["--state", args.state] if args.state else []
        argv += ["--sandbox"] * args.sandbox + ["--json"] * args.json
        return status_line_main(argv)
    if args.sandbox:
        _no_config_with_sandbox(args)
        with sandbox_cluster(open_store(args.state)) as (settings, cluster, _):
            where = _sandbox_target(settings, args.env)
            return status_main(where, args.json, sys.stdout, cluster)
    settings = load(args.config)
    where = Target.of(settings.environment(args.env))
    with kube_cluster() as kube:
        return status_main(where, args.json, sys.stdout, kube)


def cmd_rollback(args: argparse.Namespace) -> int:
    from b2tui.cli.oneshot import kube_cluster, record_rollback, sandbox_cluster
    from b2tui.commands.known_good import known_good
    from b2tui.commands.kube_cmds import ClusterView, rollback_main
    from b2tui.ports import Revision

    def roll(settings: Settings, where: Target, cluster: ClusterView, store: Store) -> int:
        service = settings.service.name
        recorded = known_good(store, service, args.env)
        return rollback_main(
            where,
            Revision.from_dict(recorded) if recorded else None,
            args.json,
            sys.stdout,
            cluster,
            dry_run=args.dry_run,
            on_done=lambda done: record_rollback(store, service, done),
        )

    if args.sandbox:
        _no_config_with_sandbox(args)
        store = open_store(args.state)
        with sandbox_cluster(store) as (settings, sandbox, rec):
            lease = store.driver(rec.id) if rec is not None and rec.outcome is None else None
            if lease is not None:
                raise UsageError(
                    f"sandbox run {rec.id if rec else ''} is driven by {lease.owner}: roll back"
                    " in its control room (R)"
                )
            if args.dry_run:
                raise UsageError("--dry-run needs a real cluster (the sandbox has no dry run)")
            return roll(settings, _sandbox_target(settings, args.env), sandbox, store)
    settings = load(args.config)
    where = Target.of(settings.environment(args.env))
    store = open_store(args.state, settings=settings, env=args.env)
    try:
        with kube_cluster(dry_run=args.dry_run) as kube:
            return roll(settings, where, kube, store)
    finally:
        store.close()


def _sandbox_target(settings: Settings, env: str) -> Target:
    """Environment ``env`` of the sandbox's settings; one line and exit 2 if it has none."""
    try:
        return Target.of(settings.environment(env))
    except ConfigError as e:
        raise UsageError(e.problems[0]) from None


def _no_config_with_sandbox(args: argparse.Namespace) -> None:
    if args.config:
        raise UsageError("--sandbox uses the demo's built-in settings: drop --config")


def cmd_check_config(args: argparse.Namespace) -> int:
    if not args.path.strip():
        raise UsageError("check-config: the path is empty; pass a b2tui.toml")
    settings = load(args.path)
    secrets = secret_problems(settings)
    if secrets:
        raise ConfigError(secrets)
    envs = ", ".join(sorted(settings.environments))
    n = len(settings.environments)
    print(f"{args.path}: ok ({n} environment{'' if n == 1 else 's'}: {envs})")
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    if not args.path.strip():
        raise UsageError("init: the path is empty; pass a file such as b2tui.toml")
    path = Path(args.path)
    if path.is_dir():
        raise UsageError(f"{path} is a directory; pass a file path such as {path / 'b2tui.toml'}")
    if path.exists() and not args.force:
        raise UsageError(f"{path} exists; pass --force to overwrite it")
    if not path.parent.is_dir():
        raise UsageError(f"cannot write {path}: directory {path.parent} does not exist; create it")
    try:
        path.write_text(EXAMPLE_CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    except OSError as e:
        raise UsageError(
            f"cannot write {path}: {e.strerror or e}; pass a path in a writable directory"
        ) from None
    print(f"wrote {path}; check it with `b2tui check-config {path}`")
    return 0
