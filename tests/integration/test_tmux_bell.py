"""The bell reaches a real tmux, once per occurrence (80×24).

b2tui's control room runs in a detached tmux session on a private server
(``tmux -L``); tmux's ``alert-bell`` hook appends a line to a file for every bell it
receives, so the file counts the bells. Each step waits for a condition on the screen
(``capture-pane``) or on that count, never for a fixed time; "not again" is checked
after the run's clock has moved on by several polls.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.services import require_binary

CLOCK = re.compile(r"\d\d:\d\d UTC")
"""The header's run clock (to the minute; at --speed 100 it moves with every tick)."""


class Tmux:
    def __init__(self, tmux: str, tmp: Path) -> None:
        self.cmd = [tmux, "-L", f"b2tui-bell-{os.getpid()}-{tmp.name}", "-f", "/dev/null"]
        self.bells = tmp / "bells"
        self.bells.touch()

    def __call__(self, *args: str) -> str:
        out = subprocess.run([*self.cmd, *args], capture_output=True, text=True, timeout=10)
        return out.stdout

    def start(self, command: str) -> None:
        self("new-session", "-d", "-x", "80", "-y", "24", "-s", "room", command)
        self("set-hook", "-g", "alert-bell", f"run-shell 'echo bell >> {self.bells}'")

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", "room")

    def count(self) -> int:
        return len(self.bells.read_text().splitlines())

    def keys(self, *keys: str) -> None:
        for k in keys:
            self("send-keys", "-t", "room", k)

    def until(self, cond: Callable[[], bool], what: str, limit: float = 90) -> None:
        """Poll ``cond`` (the screen or the count) until it holds; fail after ``limit``
        seconds with the screen (a bound on a hang, not a timed assertion)."""
        end = time.monotonic() + limit
        while time.monotonic() < end:
            if cond():
                return
            time.sleep(0.1)
        pytest.fail(f"never happened: {what}\n{self.screen()}\nbells: {self.count()}")

    def clock_moves(self, times: int) -> None:
        """Wait until the header's run clock has shown ``times`` new values."""
        seen: set[str] = set()

        def moved() -> bool:
            m = CLOCK.search(self.screen())
            if m:
                seen.add(m.group())
            return len(seen) > times

        self.until(moved, f"the run clock moving {times} times")


@pytest.fixture
def tmux(tmp_path: Path) -> Iterator[Tmux]:
    t = Tmux(require_binary("tmux", "tmux"), tmp_path)
    yield t
    t("kill-server")


def room(tmp_path: Path, scenario: str) -> str:
    b2tui = f"{sys.executable} -m b2tui"
    # The speed keeps the 5-minute hold to a few seconds; `sleep` keeps the pane after
    # the room quits so a failure still shows its last screen.
    return (
        f"cd {Path(__file__).parents[2]} && TERM=xterm-256color {b2tui} demo"
        f" --state {tmp_path / 's.db'} --speed 100 --scenario {scenario}; sleep 600"
    )


def sign_all(t: Tmux, group_done: Callable[[str], bool]) -> None:
    """Press space on the checklist until ``group_done(screen)``."""
    t.keys("3")
    t.until(lambda: "Checklist" in t.screen(), "the checklist tab")

    def signed() -> bool:
        if group_done(t.screen()):
            return True
        t.keys("Space")
        return False

    t.until(signed, "every sign-off given")


def test_sign_off_due_press_n_and_a_rollback_each_ring_once(tmux: Tmux, tmp_path: Path) -> None:
    tmux.start(room(tmp_path, "prod-error-spike"))
    # Readiness waits for three sign-offs: one bell for the lot, not one per poll.
    tmux.until(lambda: "blocked by:" in tmux.screen(), "readiness blocked")
    tmux.until(lambda: tmux.count() >= 1, "the first bell")
    tmux.clock_moves(3)
    assert tmux.count() == 1
    sign_all(tmux, lambda s: "VALIDATE" in s or "STAGING" in s or "SMOKE" in s)
    # Smoke's manual checks become due: the second bell.
    tmux.until(lambda: tmux.count() >= 2, "the smoke sign-off bell")
    # Staging verified, "press n": the third bell.
    sign_all(tmux, lambda _: tmux.count() >= 3)
    tmux.clock_moves(3)
    assert tmux.count() == 3
    tmux.keys("1", "n")
    # The error spike rolls back: the fourth bell, and none after it.
    tmux.until(lambda: "ROLLED BACK" in tmux.screen().upper(), "rolled back")
    assert tmux.count() == 4
    tmux.clock_moves(3)
    assert tmux.count() == 4


def test_a_hold_that_ends_rings_once(tmux: Tmux, tmp_path: Path) -> None:
    tmux.start(room(tmp_path, "happy"))
    tmux.until(lambda: "blocked by:" in tmux.screen(), "readiness blocked")
    sign_all(tmux, lambda s: "VALIDATE" in s or "STAGING" in s or "SMOKE" in s)
    tmux.until(lambda: tmux.count() >= 2, "the smoke sign-off bell")
    sign_all(tmux, lambda _: tmux.count() >= 3)
    tmux.keys("1", "n")
    tmux.until(lambda: "hold at 5%" in tmux.screen(), "the 5% hold")
    assert tmux.count() == 3
    # The hold ends green: "press n to go to 25%" rings once.
    tmux.until(lambda: "hold over" in tmux.screen(), "the hold's end")
    tmux.until(lambda: tmux.count() >= 4, "the hold-over bell")
    tmux.clock_moves(3)
    assert tmux.count() == 4


def test_status_line_in_tmuxs_status_bar_follows_a_run(tmux: Tmux, tmp_path: Path) -> None:
    """`#(b2tui status --line …)` in `status-right`, a client attached through `script`
    (a pty): what tmux draws in its status bar follows a demo run to its rollback."""
    script = require_binary("script", "bsdutils")
    db = tmp_path / "s.db"
    tmux.start("sleep 600")
    line = f"{sys.executable} -m b2tui status --line --sandbox --state {db}"
    tmux("set", "-g", "status-interval", "1")
    tmux("set", "-g", "status-right-length", "90")
    tmux("set", "-g", "status-right", f"#(cd {Path(__file__).parents[2]} && {line})")
    drawn = tmp_path / "client.out"
    attach = " ".join([*tmux.cmd, "attach", "-t", "room"])
    client = subprocess.Popen(
        [script, "-qfc", attach, str(drawn)],
        env={**os.environ, "TERM": "xterm"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "b2tui",
            "demo",
            "--headless",
            "--speed",
            "30",
            "--state",
            str(db),
            "--scenario",
            "prod-error-spike",
        ],
        cwd=Path(__file__).parents[2],
        stdout=subprocess.DEVNULL,
    )

    def bar(text: str) -> bool:
        return drawn.exists() and text in drawn.read_bytes().decode(errors="replace")

    def lines() -> str:
        seen = re.findall(r"b2connect [^\x1b]*", drawn.read_bytes().decode(errors="replace"))
        return " | ".join(dict.fromkeys(seen)) if drawn.exists() else "nothing drawn"

    try:
        tmux.until(lambda: bar("b2connect ▶ PRODUCTION "), "the canary in the bar")
        tmux.until(lambda: bar("b2connect ✗ rolled back: error_rate"), "the rollback in the bar")
    except BaseException:
        print("status bar showed:", lines())
        raise
    finally:
        demo.kill()
        demo.wait()
        client.kill()
        client.wait()
