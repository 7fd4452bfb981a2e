"""`b2tui abort` on the demo's state: real processes, the run killed where it stood."""

from __future__ import annotations

import signal
import sqlite3
from pathlib import Path

from tests.integration.test_cli import Demo, b2tui, events


def killed_at(tmp_path: Path, mark: str, what: str) -> str:
    state = str(tmp_path / "s.db")
    demo = Demo(state, "200", tmp_path / "driver.jsonl")
    try:
        demo.wait_for(lambda t: mark in t, what)
        demo.proc.send_signal(signal.SIGKILL)
        demo.proc.wait(10)
    finally:
        demo.stop()
    return state


def test_abort_before_production_ends_the_run_aborted(tmp_path: Path) -> None:
    state = killed_at(tmp_path, '"phase": "staging"', "staging")
    res = b2tui("abort", "--demo", "--json", "--state", state)
    assert res.returncode == 5, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "aborted: aborted by" in res.stderr
    seen = events(res.stdout)
    assert seen[-1]["event"] == "run_finished" and seen[-1]["outcome"] == "aborted"
    assert seen[-1]["reason"].startswith("aborted by ")
    assert not [e for e in seen if e["event"].startswith("rollback")]
    db = sqlite3.connect(state)
    assert db.execute("SELECT outcome FROM runs").fetchall() == [("aborted",)]
    assert db.execute("SELECT count(*) FROM audit WHERE action = 'abort'").fetchone() == (1,)
    again = b2tui("abort", "--demo", "--state", state)
    assert again.returncode == 0 and "nothing to abort" in again.stderr
    # The next demo starts a new run: the aborted one no longer blocks it.
    nxt = b2tui("demo", "--headless", "--json", "--speed", "max", "--state", state)
    assert nxt.returncode == 0 and events(nxt.stdout)[0]["event"] == "run_started"


def test_abort_after_production_is_a_rollback(tmp_path: Path) -> None:
    state = killed_at(tmp_path, '"canary_percent": 5', "the 5% canary")
    res = b2tui("abort", "--demo", "--json", "--state", state)
    assert res.returncode == 3, res.stderr
    seen = events(res.stdout)
    started = [e for e in seen if e["event"] == "rollback_started"]
    assert len(started) == 1 and started[0]["reason"].startswith("aborted by ")
    assert seen[-1]["event"] == "run_finished" and seen[-1]["outcome"] == "rolled_back"
    db = sqlite3.connect(state)
    assert db.execute("SELECT outcome, reason FROM runs").fetchone()[0] == "rolled_back"


def test_abort_refuses_a_run_another_process_drives(tmp_path: Path) -> None:
    state = str(tmp_path / "s.db")
    demo = Demo(state, "20", tmp_path / "driver.jsonl")
    try:
        demo.wait_for(lambda t: '"phase": "validate"' in t, "validate")
        res = b2tui("abort", "--demo", "--state", state)
    finally:
        demo.stop()
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and f"pid {demo.proc.pid}" in lines[0] and "driven by" in lines[0]
