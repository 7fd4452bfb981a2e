"""The SQLite store: runs, events, the append-only audit log and the driver lease."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from b2tui.adapters.store import Store
from b2tui.domain import events as ev
from b2tui.domain.phases import Phase
from b2tui.ports import RunRecord

T0 = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)


def record(run_id: str = "r1") -> RunRecord:
    return RunRecord(
        id=run_id,
        service="b2connect",
        environment="production",
        strategy="canary",
        version="1a2b3c4",
        image="reg/b2connect:production-1a2b3c4",
        emergency=False,
        params={"sandbox": True},
        state={"known_good": {"revision": "7"}},
        clock=T0,
        started_at=T0,
        commit_at=None,
        finished_at=None,
        outcome=None,
        reason=None,
        created_by="ana@jump",
    )


def test_events_round_trip_and_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = Store(path)
    store.create_run(record())
    store.append_event("r1", ev.PhaseStarted(ts=T0, phase=Phase.STAGING))
    store.append_event(
        "r1",
        ev.GateSampled(
            ts=T0,
            phase=Phase.PRODUCTION,
            gate="p95_ms",
            value=None,
            threshold=200,
            status="unknown",
            track="canary",
            reason="target down",
            unit="ms",
        ),
    )
    store.close()
    again = Store(path)
    events = [e for _, e in again.events("r1")]
    assert isinstance(events[0], ev.PhaseStarted) and events[0].phase is Phase.STAGING
    assert isinstance(events[1], ev.GateSampled) and events[1].reason == "target down"
    assert again.unfinished_run("b2connect") is not None
    again.finish_run("r1", "succeeded", "green", T0)
    assert again.unfinished_run("b2connect") is None
    assert again.last_known_good("b2connect", "production") == {"revision": "7"}


def test_audit_log_is_append_only(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db")
    store.audit("r1", "ana@jump", "rollback", "operator request", run_ts=T0)
    store.audit("r1", "bo@jump", "advance", "hold 3m left", accepted=False)
    log = store.audit_log("r1")
    assert [(a.user, a.action, a.accepted) for a in log] == [
        ("ana@jump", "rollback", True),
        ("bo@jump", "advance", False),
    ]
    raw = sqlite3.connect(tmp_path / "s.db")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute("DELETE FROM audit")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        raw.execute("UPDATE audit SET user = 'mallory'")


def test_lease_is_exclusive_until_it_expires_or_its_process_dies(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    store = Store(path)
    won, _ = store.acquire_lease("r1", "ana", ttl=60)
    assert won
    assert store.driver("r1") is None  # our own lease: nobody else drives
    # Another live process holds it: a child that tries must lose and see the holder.
    code = (
        "import sys; from b2tui.adapters.store import Store;"
        f"won, h = Store({str(path)!r}).acquire_lease('r1', 'bo', 60);"
        "print(won, h.owner if h else None)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "ana"]
    # A lease whose process is dead is free at once (a SIGKILLed driver).
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    raw = sqlite3.connect(path)
    raw.execute("UPDATE leases SET pid = ? WHERE run_id = 'r1'", (dead.pid,))
    raw.commit()
    assert store.driver("r1") is None  # its process is gone
    raw.execute("UPDATE leases SET pid = ? WHERE run_id = 'r1'", (os.getppid(),))
    raw.commit()
    driver = store.driver("r1")  # a live process on this host holds it
    assert driver is not None and driver.owner == "ana"
    raw.execute("UPDATE leases SET pid = ? WHERE run_id = 'r1'", (dead.pid,))
    raw.commit()
    won, holder = store.acquire_lease("r1", "carla", ttl=60)
    assert won and holder is not None and holder.pid == os.getpid()


def test_unwritable_state_path_is_a_clear_error(tmp_path: Path) -> None:
    from b2tui.adapters.store import StoreError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create state directory"):
        Store(blocker / "sub" / "s.db")
