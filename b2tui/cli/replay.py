"""``b2tui replay RUN [--config F | --state PATH] [--speed N]``: the control room over a
recorded run's journal, read-only (:mod:`b2tui.ui.replay`)."""

from __future__ import annotations

import argparse
import asyncio

from b2tui.cli.loading import load, open_store
from b2tui.cli.parser import UsageError
from b2tui.cli.room import run_app
from b2tui.config import sandbox_settings


def cmd_replay(args: argparse.Namespace) -> int:
    from b2tui.engine.replay import Replay
    from b2tui.ui.replay import make_replay_app

    settings = load(args.config) if args.config else None
    store = open_store(args.state, read_only=True, settings=settings)
    try:
        rec = store.get_run(args.run)
        if rec is None:
            raise UsageError(
                f"no run {args.run} in {store.location}; `b2tui history` lists the runs"
            )
        events = [e for _, e in store.events(args.run)]
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()
    if not events:
        raise UsageError(f"run {args.run} recorded no events: nothing to replay")
    speed = 10.0 if args.speed is None else args.speed
    replay = Replay(args.run, events, speed=speed)
    shown = settings
    if shown is None or "production" not in shown.environments:
        shown = sandbox_settings(rec.params.get("rule", "absolute"), rec.params.get("replicas"))
    app = make_replay_app(shown, replay)

    async def main() -> int | None:
        return await run_app(app)

    return asyncio.run(main()) or 0
