"""A watcher's control room offers the take-over key once the driver is gone."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

from b2tui.engine.watch import Watcher
from b2tui.ui.app import ControlRoom

WIDE = (120, 40)


def _exited_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    out = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout)


async def test_take_over_key_waits_for_the_driver_to_be_gone(room_at) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("canary-holding-5")
    conductor = room.run.conductor
    # The scene's store is in memory: change its lease through its own connection.
    db: sqlite3.Connection = conductor.store._db  # type: ignore[attr-defined]
    dead_pid = _exited_pid()
    # Another live process on this host holds the lease: the key is dimmed and says so.
    db.execute("UPDATE leases SET pid = ?, owner = 'bo@jump'", (os.getppid(),))
    watcher = Watcher(conductor.store, conductor.run_id, poll=0.01)
    seen: list[object] = []
    watcher.subscribe(seen.append)
    app = room.app(session=watcher, runner=watcher.follow)
    assert isinstance(app, ControlRoom)
    async with app.run_test(size=WIDE) as pilot:
        keys = {b.binding.key for b in app.screen.active_bindings.values()}
        assert "T" in keys
        assert app.check_action("take_over", ()) is None
        await pilot.press("T")
        assert app.is_running and not app.take_over_requested
        assert room.notices and "bo@jump drives this run" in room.notices[-1]
        # The driver dies (a process that has exited): the watcher says so, T acts.
        db.execute("UPDATE leases SET pid = ?", (dead_pid,))
        deadline = time.monotonic() + 60  # only a guard against a hang
        while not watcher.driver_gone and time.monotonic() < deadline:
            await pilot.pause(0.02)
        assert watcher.driver_gone and f"process {dead_pid} is not running" in watcher.driver_gone
        assert app.check_action("take_over", ()) is True
        assert any("nobody drives this run" in getattr(e, "message", "") for e in seen)
        await pilot.press("T")
        assert app.take_over_requested
