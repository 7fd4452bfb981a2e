"""One side of the claim race: ``python -m tests.support.claim_race DIR ROUNDS``.

Per round it prepares a sandbox conductor (everything but the store), prints ``ready N``
and waits for ``go`` on stdin; then it opens the round's fresh state file and claims the
run as ``b2tui demo`` does, and prints ``N driver RUN`` or ``N watcher RUN HOLDER``. The
parent releases both sides of a round at once, so the two claims overlap. After the last
round a side waits for its stdin to close: a driver that ended is rightly taken over (its
process is gone), so the winner of the last round must outlive the loser's claim.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from pathlib import Path

from b2tui.adapters.sandbox import build_sandbox
from b2tui.adapters.store import Store, current_user
from b2tui.config import sandbox_settings
from b2tui.domain.phases import Strategy
from b2tui.engine.clock import VirtualClock
from b2tui.engine.conductor import Conductor


async def one_round(path: Path) -> str:
    settings = sandbox_settings()
    clock = VirtualClock(datetime.now(UTC))
    sandbox = build_sandbox("happy", 7, clock, settings, Strategy.CANARY)
    params = {"sandbox": True, "scenario": "happy", "strategy": "canary", "seed": 7}
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit(1)
    store = Store(path)
    conductor = Conductor(settings, sandbox.ports, store, clock, user=current_user())
    claim = await conductor.claim(version="1a2b3c4", params=params)
    assert claim.run is not None
    if claim.driver:
        return f"driver {claim.run.id}"
    assert claim.holder is not None
    return f"watcher {claim.run.id} {claim.holder.pid}"


def main() -> None:
    folder, rounds = Path(sys.argv[1]), int(sys.argv[2])
    for n in range(rounds):
        print(n, asyncio.run(one_round(folder / f"{n}.db")), flush=True)
    sys.stdin.read()  # stay the live driver of the last round until the parent is done


if __name__ == "__main__":
    main()
