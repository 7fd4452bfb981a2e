"""open_session: unfinished run → lease → driver or watcher → resume or start."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

from b2tui.adapters.sandbox import build_sandbox
from b2tui.adapters.store import Store
from b2tui.engine.clock import SteppedClock
from b2tui.engine.conductor import Conductor
from b2tui.engine.session import Attempt, open_session
from b2tui.ports import RunRecord
from tests.engine.conftest import T0, settings_for


def _prepare(store: Store, user: str, seen: list[RunRecord | None]) -> Any:
    async def prepare(rec: RunRecord | None) -> Attempt:
        seen.append(rec)
        settings = settings_for()
        clock = SteppedClock(T0)
        sandbox = build_sandbox(
            "happy", 7, clock, settings, settings.environment("production").strategy
        )
        conductor = Conductor(settings, sandbox.ports, store, clock, user=user)
        return Attempt(conductor, version=None if rec else "1a2b3c4", params={"sandbox": True})

    return prepare


async def test_a_new_run_is_started_and_driven(tmp_path: Any) -> None:
    store = Store(tmp_path / "state.db")
    seen: list[RunRecord | None] = []
    opened = await open_session(
        store, _prepare(store, "ana@jump", seen), service="b2connect", sandbox=True
    )
    assert seen == [None]
    assert opened.created and opened.driver is not None and not opened.holder
    assert store.get_run(opened.run.id) is not None
    lease = store.lease(opened.run.id)
    assert lease is not None and lease.owner == opened.driver.driver


def test_a_run_another_process_drives_is_watched(tmp_path: Any) -> None:
    # The other process claims the run as `b2tui demo` does, then waits (holding its lease).
    other = subprocess.Popen(
        [sys.executable, "-m", "tests.support.claim_race", str(tmp_path), "2"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )
    assert other.stdin is not None and other.stdout is not None
    try:
        assert other.stdout.readline().strip() == "ready"
        other.stdin.write("go\n")
        other.stdin.flush()
        _, role, run_id = other.stdout.readline().split()
        assert role == "driver"
        store = Store(tmp_path / "0.db")
        seen: list[RunRecord | None] = []
        opened = asyncio.run(
            open_session(store, _prepare(store, "bo@jump", seen), service="b2connect", sandbox=True)
        )
        assert [r.id if r else None for r in seen] == [run_id]
        assert opened.driver is None
        assert opened.run.id == run_id and opened.holder
    finally:
        other.stdin.close()
        other.wait(timeout=30)
        other.stdout.close()


async def test_an_unfinished_run_without_a_driver_is_resumed(tmp_path: Any) -> None:
    store = Store(tmp_path / "state.db")
    first = await open_session(
        store, _prepare(store, "ana@jump", []), service="b2connect", sandbox=True
    )
    store.release_lease(first.run.id)
    again = await open_session(
        store, _prepare(store, "bo@jump", []), service="b2connect", sandbox=True
    )
    assert again.driver is not None and not again.created
    assert again.run.id == first.run.id
    assert again.driver.state is not None and again.driver.state.run_id == first.run.id
