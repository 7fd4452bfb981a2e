"""The control room leaves the terminal as it found it, on q and on SIGTERM / SIGHUP.

The real CLI runs under a pseudo-terminal; the test reads what it wrote. Waiting is on
output (bounded by a generous deadline that only guards against a hang), never a sleep
whose length decides the result.
"""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ENTER_ALT = b"\x1b[?1049h"
LEAVE_ALT = b"\x1b[?1049l"
SHOW_CURSOR = b"\x1b[?25h"
MOUSE_OFF = b"\x1b[?1000l"


def _read_until(fd: int, needle: bytes, limit: float = 60.0) -> bytes:
    out = b""
    while needle not in out:
        ready, _, _ = select.select([fd], [], [], limit)
        if not ready:
            pytest.fail(f"no {needle!r} in the output: {out[-300:]!r}")
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    return out


def _drain(fd: int) -> bytes:
    out = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 10.0)
        if not ready:
            return out
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            return out
        if not chunk:
            return out
        out += chunk


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_signal_restores_the_terminal(tmp_path: Path, sig: signal.Signals) -> None:
    main, sub = pty.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "b2tui", "demo", "--state", str(tmp_path / "s.db")],
        stdin=sub,
        stdout=sub,
        stderr=sub,
        env=env,
        start_new_session=True,
    )
    os.close(sub)
    try:
        _read_until(main, ENTER_ALT)
        _read_until(main, b"Rollback")  # the first frame is drawn: the app runs
        proc.send_signal(sig)
        tail = _drain(main)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)
    assert code == 128 + sig
    assert LEAVE_ALT in tail, tail[-300:]
    assert SHOW_CURSOR in tail and MOUSE_OFF in tail
    # Nothing is drawn after the main screen is back.
    assert b"Rollback" not in tail[tail.rindex(LEAVE_ALT) :]
