"""One driver per run, provably: real processes racing for the same fresh state file, a
driver killed with SIGKILL under a watcher, and a lease kept through a busy event loop."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.integration.test_cli import ROOT, Demo, b2tui, events

ROUNDS = 200


def test_200_simultaneous_pairs_never_make_two_drivers(tmp_path: Path) -> None:
    sides = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.support.claim_race", str(tmp_path), str(ROUNDS)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(2)
    ]
    results: list[list[str]] = []
    try:
        for n in range(ROUNDS):
            for side in sides:
                assert side.stdout is not None and side.stdout.readline() == "ready\n"
            for side in sides:  # both claims start together
                assert side.stdin is not None
                side.stdin.write("go\n")
                side.stdin.flush()
            answers = []
            for side in sides:
                assert side.stdout is not None
                answers.append(side.stdout.readline().split())
            results.append([" ".join(a) for a in answers])
            # Exactly one driver, one watcher that names it, one run in the store.
            roles = sorted(a[1] for a in answers)
            assert roles == ["driver", "watcher"], (n, answers)
            driver = next(a for a in answers if a[1] == "driver")
            watcher = next(a for a in answers if a[1] == "watcher")
            assert watcher[2] == driver[2]
            winner = sides[answers.index(driver)]
            assert watcher[3] == str(winner.pid)
            db = sqlite3.connect(tmp_path / f"{n}.db")
            assert db.execute("SELECT count(*) FROM runs").fetchone() == (1,)
            assert db.execute("SELECT count(*) FROM leases").fetchone() == (1,)
            db.close()
    finally:
        for side in sides:
            side.kill()
            side.wait(10)
    assert len(results) == ROUNDS


def test_two_demos_started_together_make_one_run(tmp_path: Path) -> None:
    for n in range(4):
        state = str(tmp_path / f"{n}.db")
        cmd = [sys.executable, "-m", "b2tui", "demo", "--headless", "--json", "--speed", "max"]
        logs = [(tmp_path / f"{n}-{k}.out", tmp_path / f"{n}-{k}.err") for k in range(2)]
        procs = []
        for out_path, err_path in logs:  # files, not pipes: neither side may block the other
            with out_path.open("w") as out, err_path.open("w") as err:
                procs.append(
                    subprocess.Popen(
                        [*cmd, "--state", state], stdout=out, stderr=err, text=True, cwd=ROOT
                    )
                )
        codes = [p.wait(timeout=120) for p in procs]
        outs = [(o.read_text(), e.read_text()) for o, e in logs]
        assert codes == [0, 0], outs
        watching = [err for _, err in outs if "watching — run" in err]
        assert len(watching) == 1, outs  # the loser attached as a watcher
        for out, _ in outs:
            seen = events(out)
            assert seen[-1]["event"] == "run_finished" and seen[-1]["outcome"] == "succeeded"
        hist = json.loads(b2tui("history", "--json", "--state", state).stdout)
        assert len(hist["runs"]) == 1


def test_a_watcher_sees_its_driver_killed_and_takes_over(tmp_path: Path) -> None:
    state = str(tmp_path / "s.db")
    driver = Demo(state, "20", tmp_path / "driver.jsonl")
    watcher_log = tmp_path / "watcher.jsonl"
    watcher_err = tmp_path / "watcher.err"
    try:
        driver.wait_for(lambda t: '"phase": "readiness"' in t, "readiness")
        with watcher_log.open("w") as out, watcher_err.open("w") as err:
            watcher = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "b2tui",
                    "demo",
                    "--headless",
                    "--json",
                    "--speed",
                    "max",
                    "--take-over",
                    "--state",
                    state,
                ],
                stdout=out,
                stderr=err,
                cwd=ROOT,
            )
        deadline = time.monotonic() + 60
        while "watching — run" not in watcher_err.read_text():
            assert watcher.poll() is None, watcher_err.read_text()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        driver.wait_for(lambda t: '"phase": "staging"' in t, "staging")
        driver.proc.send_signal(signal.SIGKILL)
        driver.proc.wait(10)
        assert watcher.wait(timeout=120) == 0, watcher_err.read_text()
    finally:
        driver.stop()
        if watcher.poll() is None:
            watcher.kill()
    err = watcher_err.read_text()
    assert "taking over run" in err and f"process {driver.proc.pid} is not running" in err
    seen = events(watcher_log.read_text())
    notices = [e["message"] for e in seen if e["event"] == "notice"]
    assert any("is gone" in m and "nobody drives this run" in m for m in notices)
    resumed = [e for e in seen if e["event"] == "run_resumed"]
    assert len(resumed) == 1 and resumed[0]["run_id"] == seen[0]["run_id"]
    assert not [e for e in seen[1:] if e["event"] == "run_started"]
    # The taken-over run ends as an uninterrupted one: the whole canary, then success.
    percents = [e["canary_percent"] for e in seen if e["event"] == "traffic"]
    assert percents == [5, 50, 100]
    assert seen[-1]["event"] == "run_finished" and seen[-1]["outcome"] == "succeeded"
    db = sqlite3.connect(state)
    audit = db.execute("SELECT action, detail FROM audit WHERE action = 'take-over'").fetchall()
    assert len(audit) == 1 and f"pid {driver.proc.pid}" in audit[0][1]
    assert db.execute("SELECT count(*) FROM runs").fetchone() == (1,)


# TTL 4.5 s: the keeper renews every 1.5 s, so only a 3 s stall of the whole process could
# lapse it. With a 1.5 s TTL a loaded 2-core CI machine (not the busy loop) did that.
BUSY = """
import sys, time
from b2tui.adapters.store import Store
store = Store(sys.argv[1])
won, _ = store.acquire_lease("r1", "busy", 4.5)
keeper = store.keep_lease("r1", "busy", 4.5)
print("held", flush=True)
end = time.monotonic() + 9
while time.monotonic() < end:  # a busy event loop: pure Python, never yields
    pass
print(keeper.renewals, keeper.lost, flush=True)
"""


def test_a_busy_loop_does_not_lose_the_lease(tmp_path: Path) -> None:
    from b2tui.adapters.store import Store

    path = str(tmp_path / "s.db")
    Store(path).close()
    busy = subprocess.Popen(
        [sys.executable, "-c", BUSY, path], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    try:
        assert busy.stdout is not None and busy.stdout.readline() == "held\n"
        other = Store(path)
        tries = 0
        while busy.poll() is None:
            # Probe from another host's point of view would need another host; the lease
            # row itself must stay fresh: it never lapses while the busy process lives.
            lease = other.lease("r1")
            assert lease is not None and lease.pid == busy.pid
            won, holder = other.acquire_lease("r1", "thief", 4.5)
            assert not won and holder is not None and holder.pid == busy.pid
            tries += 1
            time.sleep(0.2)
        out = busy.stdout.read().split()
    finally:
        busy.kill()
        busy.wait(10)
    assert tries > 10
    assert int(out[0]) >= 3 and out[1] == "None"
    assert os.path.exists(path)
