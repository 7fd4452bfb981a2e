"""The CLI contract, run as a user runs it: a real `b2tui` process per case."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[2]

EXPECTED = {
    "happy": ("succeeded", 0, None),
    "prod-error-spike": ("rolled_back", 3, "production"),
    "latency-regression": ("rolled_back", 3, "production"),
    "metrics-outage": ("rolled_back", 3, "production"),
    "staging-crashloop": ("aborted", 5, "staging"),
    "late-regression": ("rolled_back", 3, "monitoring"),
    "failing-tests": ("blocked", 4, "validate"),
    "flapping": ("succeeded", 0, None),
}


def b2tui(*args: str, timeout: float = 120, **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "b2tui", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=kw.pop("cwd", ROOT),
        **kw,
    )


def events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


@pytest.mark.parametrize("strategy", ["canary", "blue-green"])
@pytest.mark.parametrize("scenario", list(EXPECTED))
def test_headless_demo_outcomes(tmp_path: Path, scenario: str, strategy: str) -> None:
    res = b2tui(
        "demo",
        "--headless",
        "--json",
        "--speed",
        "max",
        "--scenario",
        scenario,
        "--strategy",
        strategy,
        "--state",
        str(tmp_path / "s.db"),
    )
    outcome, code, where = EXPECTED[scenario]
    evs = events(res.stdout)
    assert res.returncode == code, res.stderr
    for e in evs:
        assert {"ts", "event", "phase"} <= e.keys()
    assert evs[0]["event"] == "run_started" and evs[0]["run_id"]
    finished = evs[-1]
    assert finished["event"] == "run_finished" and finished["outcome"] == outcome
    if where:
        assert finished["phase"] == where
    kinds = {e["event"] for e in evs}
    assert {"phase_started", "phase_completed"} <= kinds
    if outcome not in ("aborted", "blocked"):
        gate = next(e for e in evs if e["event"] == "gate")
        assert {"gate", "value", "threshold", "status"} <= gate.keys()
    if outcome == "rolled_back":
        rb = next(e for e in evs if e["event"] == "rollback_started")
        assert rb["reason"] and rb["target"]["revision"]
        assert any(e["event"] == "rollback_completed" for e in evs)
    if scenario == "metrics-outage":
        assert "no data" in finished["reason"]
    traffic = [e for e in evs if e["event"] == "traffic"]
    if scenario == "prod-error-spike" and strategy == "canary":
        assert [t["canary_percent"] for t in traffic] == [5]
        assert traffic[0]["achieved_percent"] == 10.0
    if outcome in ("aborted", "blocked"):
        assert traffic == []


class Demo:
    """A headless demo in the background whose JSON lines go to a file we can poll."""

    def __init__(self, state: str, speed: str, log: Path) -> None:
        self.log = log
        with log.open("w") as f:
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
                    "--state",
                    state,
                ],
                stdout=f,
                stderr=subprocess.DEVNULL,
                cwd=ROOT,
            )

    def wait_for(self, done: Callable[[str], bool], what: str, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while not done(self.log.read_text()):
            assert self.proc.poll() is None, f"the demo ended before {what}"
            assert time.monotonic() < deadline, f"the demo never reached {what}"
            time.sleep(0.05)

    def events(self) -> list[dict[str, Any]]:
        return events(self.log.read_text().rsplit("\n", 1)[0])  # the last line may be cut

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


def test_killed_demo_resumes_the_same_run(tmp_path: Path) -> None:
    state = str(tmp_path / "s.db")
    demo = Demo(state, "200", tmp_path / "first.jsonl")
    try:
        demo.wait_for(
            lambda t: '"canary_percent": 5' in t and t.count('"track": "canary"') > 8,
            "the 5% canary hold",
        )
        demo.proc.send_signal(signal.SIGKILL)
        demo.proc.wait(10)
    finally:
        demo.stop()
    first = demo.events()
    run_id = first[0]["run_id"]
    assert not any(e["event"] == "run_finished" for e in first)

    res = b2tui("demo", "--headless", "--json", "--speed", "max", "--state", state)
    assert res.returncode == 0, res.stderr
    second = events(res.stdout)
    assert second[0]["event"] == "run_resumed" and second[0]["run_id"] == run_id
    assert not any(e["event"] == "run_started" for e in second)
    assert second[-1]["event"] == "run_finished" and second[-1]["outcome"] == "succeeded"
    # It continued: no second 5 % step, and the 50 % step came after the original hold.
    percents = [e["canary_percent"] for e in second if e["event"] == "traffic"]
    assert percents == [50, 100]
    hold = [e for e in first if e["event"] == "hold"][-1]
    fifty = next(e for e in second if e["event"] == "traffic")
    assert fifty["ts"] >= hold["until"]
    hist = json.loads(b2tui("history", "--json", "--state", state).stdout)
    assert [r["run_id"] for r in hist["runs"]] == [run_id]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["demo", "--headless", "--scenario", "nope"], "unknown scenario 'nope'; choose one of"),
        (["demo", "--headless", "--speed", "fast"], "bad --speed 'fast'"),
        (["demo", "--headless", "--speed", "-3"], "bad --speed '-3'"),
        (["demo", "--speed", "max"], "--speed max needs --headless"),
        (["demo", "--seed", "x"], "bad --seed 'x'"),
        (["demo", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["history", "--state", "/proc/nope/s.db"], "cannot create state directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: list[str], needle: str) -> None:
    res = b2tui(*args)
    assert res.returncode == 2
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert "Traceback" not in res.stderr


def test_check_config_and_init(tmp_path: Path) -> None:
    res = b2tui("init", str(tmp_path / "b2tui.toml"))
    assert res.returncode == 0
    ok = b2tui("check-config", str(tmp_path / "b2tui.toml"))
    assert ok.returncode == 0 and "ok" in ok.stdout
    again = b2tui("init", str(tmp_path / "b2tui.toml"))
    assert again.returncode == 2 and "--force" in again.stderr
    broken = tmp_path / "broken.toml"
    broken.write_text('[service]\nname = "b2connect\n')
    res = b2tui("check-config", str(broken))
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1
    assert res.stderr.startswith(f"{broken}:2: not valid TOML")
    bad = tmp_path / "bad.toml"
    bad.write_text(
        (tmp_path / "b2tui.toml").read_text().replace("p95_max_ms = 200", "p95_max_ms = -5")
    )
    res = b2tui("check-config", str(bad))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert any(":" in ln and "gates.p95_max_ms: must be greater than 0" in ln for ln in lines)
    missing = b2tui("check-config", str(tmp_path / "absent.toml"))
    assert missing.returncode == 2 and "file not found" in missing.stderr


def test_history_reports_dora_figures(tmp_path: Path) -> None:
    state = str(tmp_path / "s.db")
    for scenario in ("happy", "prod-error-spike", "happy"):
        b2tui("demo", "--headless", "--speed", "max", "--scenario", scenario, "--state", state)
    res = b2tui("history", "--json", "--state", state)
    data = json.loads(res.stdout)
    assert [r["outcome"] for r in data["runs"]] == ["succeeded", "rolled_back", "succeeded"][::-1]
    assert data["dora"]["deployments"] == 3
    assert data["dora"]["change_failure_rate"] == pytest.approx(1 / 3)
    assert data["dora"]["time_to_restore_s"] > 0
    text = b2tui("history", "--state", state).stdout
    assert "change failure rate   33%" in text


def test_sigterm_keeps_state(tmp_path: Path) -> None:
    state = str(tmp_path / "s.db")
    demo = Demo(state, "50", tmp_path / "first.jsonl")
    try:
        demo.wait_for(lambda t: '"phase": "staging"' in t, "staging")
        demo.proc.terminate()
        demo.proc.wait(10)
    finally:
        demo.stop()
    res = b2tui("demo", "--headless", "--json", "--speed", "max", "--state", state)
    assert res.returncode == 0
    assert events(res.stdout)[0]["event"] == "run_resumed"


def test_a_second_process_watches_read_only(tmp_path: Path) -> None:
    state = str(tmp_path / "s.db")
    driver = Demo(state, "300", tmp_path / "driver.jsonl")
    try:
        driver.wait_for(lambda t: '"phase": "validate"' in t, "validate")
        watcher = b2tui("demo", "--headless", "--json", "--state", state, timeout=120)
        driver.proc.wait(timeout=120)
    finally:
        driver.stop()
    assert driver.proc.returncode == 0
    assert watcher.returncode == 0
    assert "watching — run r" in watcher.stderr and f"pid {driver.proc.pid}" in watcher.stderr
    seen = events(watcher.stdout)
    # The watcher replays the whole run from the store and ends with the driver's outcome.
    assert seen[0]["event"] == "run_started"
    assert seen[-1]["event"] == "run_finished" and seen[-1]["outcome"] == "succeeded"
    assert not any(e["event"] == "run_resumed" for e in seen)


def test_a_sha_that_makes_no_image_tag_is_bad_input(tmp_path: Path) -> None:
    res = b2tui(
        "run",
        "--config",
        "b2tui/example.toml",
        "--headless",
        "--version-sha",
        "nothex",
        "--state",
        str(tmp_path / "s.db"),
    )
    assert res.returncode == 2
    [line] = res.stderr.strip().splitlines()
    assert "commit sha 'nothex' must have at least 7 hex digits" in line
    assert (
        json.loads(b2tui("history", "--json", "--state", str(tmp_path / "s.db")).stdout)["runs"]
        == []
    )


def test_status_and_rollback_on_the_sandbox(tmp_path: Path) -> None:
    from b2tui.adapters.store import Store
    from b2tui.domain.revision import Revision

    state = str(tmp_path / "s.db")
    # Before any demo: the sandbox's initial world.
    res = b2tui("status", "--sandbox", "--state", state, "--json")
    assert res.returncode == 0, res.stderr
    before = json.loads(res.stdout)
    old_image = before["rollback_target"]["image"]
    assert len(before["pods"]) == 10 and {p["image"] for p in before["pods"]} == {old_image}

    assert b2tui("demo", "--headless", "--speed", "max", "--state", state).returncode == 0
    res = b2tui("status", "--sandbox", "--state", state, "--json")
    after = json.loads(res.stdout)
    new_image = after["rollback_target"]["image"]
    assert new_image != old_image

    # Rollback after promotion: back to what the succeeded run replaced; twice stays there.
    first = b2tui("rollback", "--sandbox", "--state", state)
    assert first.returncode == 0, first.stderr
    announce, done = first.stdout.splitlines()
    rev = after["deployments"][0]["revision"]
    # Images read as ``repo:tag sha256:<12 hex>``: the digest each revision runs.
    new_label = Revision.from_dict(after["rollback_target"]).label
    old_label = Revision.from_dict(before["rollback_target"]).label
    assert "@sha256:" in new_image and new_label.split(" ")[1].startswith("sha256:")
    assert announce.startswith(f"production: rollback from b2connect rev {rev} ({new_label}) to ")
    assert announce.endswith(f"({old_label}): the last known-good revision")
    assert done.startswith("production: rolled back: ")
    second = b2tui("rollback", "--sandbox", "--state", state, "--json")
    doc = json.loads(second.stdout)
    assert doc["changed"] is False and doc["target"]["image"] == old_image
    res = b2tui("status", "--sandbox", "--state", state, "--json")
    assert json.loads(res.stdout)["rollback_target"]["image"] == old_image

    store = Store(state)
    try:
        rows = [a for a in store.audit_log() if a.action == "rollback-cli"]
    finally:
        store.close()
    assert len(rows) == 2 and all(old_label in a.detail and a.user for a in rows)
    assert "from b2connect rev" in rows[0].detail and new_label in rows[0].detail


def test_one_shot_commands_need_only_their_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "b2tui.toml"
    cfg.write_text('[environments.production]\ncontext = "nowhere"\nnamespace = "p"\n')
    env = {"KUBECONFIG": str(tmp_path / "missing-kubeconfig"), "PATH": "/usr/bin:/bin"}
    state = str(tmp_path / "s.db")
    res = b2tui("status", "--config", str(cfg), env=env)
    # Past the config (no "missing environment"): the cluster side answers in one line.
    assert res.returncode == 1 and "staging" not in res.stderr
    assert res.stderr.count("\n") == 1 and "kubeconfig" in res.stderr
    res = b2tui("run", "--headless", "--config", str(cfg), "--state", state, env=env)
    assert res.returncode == 2 and "add an [environments.staging] table" in res.stderr
