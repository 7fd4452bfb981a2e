"""The state file's disk fills during the canary hold (a real tmpfs, really full).

The driver keeps deciding from memory: a failing canary still rolls back, a healthy one
holds promotion until the state can be saved, then goes on; what was held is written
once space is back, and the process leaves only then, in a safe state.
"""

from __future__ import annotations

import errno
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.integration.test_cli import ROOT
from tests.integration.test_state_file import mount

__all__ = ["mount"]


class Driver:
    """``b2tui demo --headless --json`` on a state file, its stdout in a file we poll."""

    def __init__(self, state: Path, scenario: str, speed: str, out: Path) -> None:
        self.out = out
        self.err = out.with_suffix(".err")
        with out.open("w") as o, self.err.open("w") as e:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "b2tui",
                    "demo",
                    "--headless",
                    "--json",
                    "--speed",
                    speed,
                    "--scenario",
                    scenario,
                    "--emergency",  # shorter holds before production: the test is faster
                    "--state",
                    str(state),
                ],
                stdout=o,
                stderr=e,
                cwd=ROOT,
            )

    def events(self) -> list[dict[str, Any]]:
        lines = self.out.read_text().split("\n")[:-1]  # the last line may be cut
        return [json.loads(line) for line in lines]

    def wait_for(self, done: Callable[[list[dict[str, Any]]], bool], what: str) -> None:
        deadline = time.monotonic() + 120
        while not done(self.events()):
            assert self.proc.poll() is None, (
                f"the driver ended before {what}: {self.err.read_text()}"
            )
            assert time.monotonic() < deadline, f"the driver never reached {what}"
            time.sleep(0.02)


def fill(point: Path) -> Path:
    """Take every free block of the file system (until ENOSPC)."""
    filler = point / "filler"
    chunk = b"\0" * 4096
    with filler.open("wb", buffering=0) as f:
        while True:
            try:
                f.write(chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC
                break
    return filler


def traffic(events: list[dict[str, Any]]) -> list[int]:
    return [e["canary_percent"] for e in events if e["event"] == "traffic"]


def unsaved(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["event"] == "notice" and "could not be saved" in e["message"]]


def stored_events(state: Path) -> int:
    db = sqlite3.connect(state)
    try:
        return int(db.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        db.close()


def fill_during_the_hold(driver: Driver, point: Path) -> Path:
    driver.wait_for(lambda es: traffic(es) == [5], "the 5 % canary")
    driver.proc.send_signal(signal.SIGSTOP)  # so the disk is full before the next sample
    try:
        assert not [e for e in driver.events() if e["event"] == "rollback_started"]
        return fill(point)
    finally:
        driver.proc.send_signal(signal.SIGCONT)


def test_a_failing_canary_still_rolls_back_on_a_full_disk(mount: Callable[..., Path]) -> None:
    point = mount("8m")
    state = point / "s.db"
    driver = Driver(state, "prod-error-spike", "20", point.parent / "failing.jsonl")
    try:
        filler = fill_during_the_hold(driver, point)
        driver.wait_for(lambda es: bool(unsaved(es)), "the alert that the state is not saved")
        driver.wait_for(
            lambda es: any(e["event"] == "rollback_completed" for e in es), "the rollback"
        )
        driver.wait_for(
            lambda es: any("waiting for the state file" in e.get("message", "") for e in es),
            "waiting for the state file",
        )
        assert driver.proc.poll() is None  # it does not leave with the state unsaved
        alert = unsaved(driver.events())[0]
        assert "a breach still rolls back" in alert["message"]
        assert "database or disk is full" in alert["message"]
        filler.unlink()
        assert driver.proc.wait(timeout=60) == 3, driver.err.read_text()
    finally:
        if driver.proc.poll() is None:
            driver.proc.kill()
            driver.proc.wait(10)
    seen = driver.events()
    finished = [e for e in seen if e["event"] == "run_finished"]
    assert [e["outcome"] for e in finished] == ["rolled_back"]
    assert "the state is saved again" in seen[-1]["message"]
    assert any(
        e["event"] == "notified" and e["channel"] == "#incidents" for e in seen
    )  # the alert went through the notifier as well
    db = sqlite3.connect(state)
    assert db.execute("SELECT outcome FROM runs").fetchall() == [("rolled_back",)]
    assert db.execute("SELECT count(*) FROM leases").fetchone() == (0,)
    db.close()
    assert stored_events(state) == len(seen)  # everything held was written, nothing lost


def test_a_healthy_canary_holds_promotion_until_the_state_is_saved(
    mount: Callable[..., Path],
) -> None:
    point = mount("8m")
    state = point / "s.db"
    driver = Driver(state, "happy", "60", point.parent / "healthy.jsonl")
    try:
        filler = fill_during_the_hold(driver, point)
        driver.wait_for(lambda es: bool(unsaved(es)), "the alert that the state is not saved")
        hold = next(e for e in driver.events() if e["event"] == "hold" and e["seconds"])
        until = datetime.fromisoformat(hold["until"])

        def green_after_hold(es: list[dict[str, Any]]) -> bool:
            late = [
                e
                for e in es
                if e["event"] == "gate"
                and e["track"] == "canary"
                and datetime.fromisoformat(e["ts"]) > until
            ]
            return len(late) > 30 and all(e["status"] == "pass" for e in late)

        driver.wait_for(green_after_hold, "green samples after the hold")
        assert traffic(driver.events()) == [5]  # held: green and the hold over, yet at 5 %
        filler.unlink()
        driver.wait_for(lambda es: traffic(es) == [5, 50, 100], "promotion after the outage")
        assert any("the state is saved again" in e.get("message", "") for e in driver.events())
        # Stop it in monitoring (SIGTERM acts between events) and check the file is whole.
        driver.proc.send_signal(signal.SIGTERM)
        driver.proc.wait(timeout=30)
    finally:
        if driver.proc.poll() is None:
            driver.proc.kill()
            driver.proc.wait(10)
    seen = driver.events()
    assert stored_events(state) == len(seen)  # everything held was written, nothing lost
    resume = ["demo", "--headless", "--json", "--speed", "max", "--state", str(state)]
    rest = subprocess.run(
        [sys.executable, "-m", "b2tui", *resume],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert rest.returncode == 0, rest.stderr
    after = [json.loads(line) for line in rest.stdout.splitlines()]
    assert after[0]["event"] == "run_resumed" and traffic(after) == []
    assert after[-1]["event"] == "run_finished" and after[-1]["outcome"] == "succeeded"
