"""A whole ``happy`` run on virtual time: wall-clock seconds and events per second.

The engine's tests rely on a 30-minute monitoring window running in milliseconds. This
times the real :class:`~b2tui.engine.conductor.Conductor` on the sandbox with a
:class:`~b2tui.engine.clock.VirtualClock` and autopilot, from ``start`` to the run's
outcome, with an in-memory SQLite store and with a file store (WAL, what the CLI uses).
Each configuration runs ``--repeat`` times (default 5); the minimum is the number that
counts (the least disturbed run), the median is printed beside it.

Run: ``.venv/bin/python -m benchmarks.virtual_run [--repeat 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from b2tui.adapters.sandbox import build_sandbox
from b2tui.adapters.store import Store
from b2tui.config import sandbox_settings
from b2tui.domain import events as ev
from b2tui.domain.phases import Outcome
from b2tui.engine.clock import VirtualClock
from b2tui.engine.conductor import Conductor
from benchmarks._common import heading

START = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)


async def one_run(store: Store) -> tuple[float, int, float]:
    """(wall seconds, events, run seconds) of one autopilot ``happy`` run on ``store``."""
    settings = sandbox_settings()
    clock = VirtualClock(START)
    sandbox = build_sandbox("happy", 7, clock, settings)
    conductor = Conductor(settings, sandbox.ports, store, clock, user="bench@local", autopilot=True)
    events: list[ev.Event] = []
    conductor.subscribe(events.append)
    t0 = time.perf_counter()
    await conductor.start(version="1a2b3c4d", scenario="happy")
    outcome = await conductor.run()
    wall = time.perf_counter() - t0
    if outcome is not Outcome.SUCCEEDED:
        raise RuntimeError(
            f"happy run ended {outcome.value}: {conductor.state.reason if conductor.state else '?'}"
        )
    return wall, len(events), (clock.now() - START).total_seconds()


async def series(label: str, make_store: Callable[[int], Store], repeat: int) -> None:
    """Run ``repeat`` times with a fresh store each, print min / median and events/s."""
    walls: list[float] = []
    n_events = 0
    run_time = 0.0
    for i in range(repeat):
        store = make_store(i)
        try:
            wall, n_events, run_time = await one_run(store)
        finally:
            store.close()
        walls.append(wall)
    best = min(walls)
    print(
        f"-- {label}: min {best * 1000:.0f} ms, median {statistics.median(walls) * 1000:.0f} ms"
        f" (n={repeat}); {n_events} events → {n_events / best:,.0f} events/s;"
        f" {run_time / 60:.0f} min of run time → {run_time / best:,.0f}× real time"
    )
    sys.stdout.flush()


async def main(argv: Sequence[str] | None = None) -> int:
    """Time the run with an in-memory and with a file store."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=5, help="runs per store (default 5)")
    args = parser.parse_args(argv)
    heading("virtual run: a whole `happy` canary run on VirtualClock, autopilot")
    await series("in-memory store (:memory:)", lambda _: Store(":memory:"), args.repeat)
    with tempfile.TemporaryDirectory(prefix="b2tui-vrun-") as tmp:
        await series(
            "file store (SQLite WAL)",
            lambda i: Store(Path(tmp) / f"state-{i}.db"),
            args.repeat,
        )
    return 0


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except RuntimeError as e:
        print(f"virtual_run: {e}", file=sys.stderr)
        sys.exit(1)
