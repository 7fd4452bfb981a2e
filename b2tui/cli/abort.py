"""``b2tui abort``: end the unfinished run (demo or real) from outside its control room."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
from typing import Any

from b2tui.cli.demo import resume_time
from b2tui.cli.loading import load, open_store
from b2tui.cli.parser import UsageError
from b2tui.cli.printer import Printer
from b2tui.config import EnvironmentSettings, Settings, find_config, sandbox_settings
from b2tui.domain.phases import Strategy


def cmd_abort(args: argparse.Namespace) -> int:
    demo = args.demo or (args.config is None and find_config() is None)
    if demo:
        settings = sandbox_settings()
    else:
        settings = load(args.config)
    env = settings.environment(args.env)
    store = open_store(args.state, settings=None if demo else settings, env=args.env)
    return asyncio.run(_abort(args, settings, env, store, demo=demo))


async def _abort(
    args: argparse.Namespace,
    settings: Settings,
    env: EnvironmentSettings,
    store: Any,
    *,
    demo: bool,
) -> int:
    """Take the unfinished run (as a driver would) and abort it: before production it ends
    ``aborted``; after, it rolls back to the known-good revision (reason ``aborted by U``)."""
    from b2tui.adapters.store import current_user
    from b2tui.engine.clock import VirtualClock, WallClock
    from b2tui.engine.conductor import Conductor

    user = current_user(sandbox=demo)
    where = f"{settings.service.name} in {args.env} ({store.location})"
    in_cluster = not demo and settings.store.backend == "kube"
    # Every run in the cluster's store is a real one (a sandbox there is the tests').
    rec = store.unfinished_run(settings.service.name, sandbox=None if in_cluster else demo)
    if rec is None or rec.environment != args.env:
        print(f"b2tui: no unfinished run of {where}: nothing to abort", file=sys.stderr)
        return 0
    if in_cluster and (live := store.driver(rec.id)) is not None:
        return _send_abort(store, settings, args.env, rec.id, live.owner)
    sandbox = None
    if demo:
        from b2tui.adapters.sandbox import build_sandbox

        strategy = Strategy(rec.params.get("strategy", "canary"))
        env = dataclasses.replace(env, strategy=strategy)
        settings = dataclasses.replace(
            settings, environments={**settings.environments, args.env: env}
        )
        clock: Any = VirtualClock(resume_time(store, rec.id))
        sandbox = build_sandbox(
            rec.params.get("scenario", "happy"),
            int(rec.params.get("seed", 7)),
            clock,
            settings,
            strategy,
        )
        ports = sandbox.ports
    else:
        from b2tui.adapters.real import build_ports

        clock = WallClock()
        ports = build_ports(settings)
    conductor = Conductor(settings, ports, store, clock, env=env, user=user)
    claim = await conductor.claim(version=None, params={"sandbox": demo})
    if claim.run is None:
        print(f"b2tui: no unfinished run of {where}: nothing to abort", file=sys.stderr)
        return 0
    if not claim.driver:
        holder = claim.holder.owner if claim.holder else "another process"
        raise UsageError(
            f"run {claim.run.id} is driven by {holder}: abort it in that control room, or"
            " stop that process (its state is kept) and run `b2tui abort` again"
        )
    if sandbox is not None:
        snap = store.get_blob(claim.run.id, "sandbox")
        if snap:
            sandbox.restore(snap)
        sandbox.on_change = lambda: conductor.keep_blob("sandbox", sandbox.snapshot())
    conductor.subscribe(Printer(sys.stdout, args.json))
    try:
        result = conductor.abort(user)
        if not result.accepted:
            raise UsageError(f"run {claim.run.id}: {result.message}")
        outcome = await conductor.run()  # a rollback runs to its end; an abort is done
    finally:
        conductor.release()
    print(f"b2tui: run {claim.run.id} {outcome.value}: aborted by {user}", file=sys.stderr)
    return outcome.exit_code


def _send_abort(store: Any, settings: Settings, env: str, run_id: str, holder: str) -> int:
    """The run lives in the cluster and another host drives it: send that driver an abort
    intent, as `A` in an attached control room does (RBAC on the inbox decides)."""
    from b2tui.cli.follow import follower
    from b2tui.engine.api import Action

    session = follower(store, settings, env, run_id)
    result = session.send_now(Action.ABORT)
    if not result.accepted:
        raise UsageError(f"run {run_id} is driven by {holder}: abort not sent: {result.message}")
    print(
        f"b2tui: run {run_id}: {result.message}; it aborts (or, once production was touched,"
        " rolls back) there — `b2tui attach` shows it",
        file=sys.stderr,
    )
    return 0
