"""Idle output: bytes the control room writes to its terminal while nothing much happens.

b2tui is meant for SSH sessions on jump hosts: while a run holds, the screen must not be
repainted whole every second. This runs the real ``b2tui demo`` in a real
pseudo-terminal (``os.openpty``, ``TERM=xterm-256color``, size set with ``TIOCSWINSZ``),
lets it settle, then counts every byte it writes over a window (30 s by default) in two
states, at 80×24 and at 120×40:

* ``readiness`` — a new run at ``--speed 1`` waiting for manual sign-offs: only the
  1 s clock tick changes anything;
* ``canary hold`` — a run driven headless (``--speed 60``) to the 5 % canary hold, then
  killed and reopened in the control room with ``--speed 1 --autopilot``: the gates are
  sampled every 5 s during a 5-minute hold.

For each it prints bytes/s, frames/s (Textual wraps a frame in synchronized-output
``ESC[?2026h … ESC[?2026l``) and which screen rows were written how often, with the text
last written there, so the region that repaints is named.

Run: ``.venv/bin/python -m benchmarks.idle_output [--seconds 30]``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import re
import select
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._common import heading

ROOT = Path(__file__).resolve().parents[1]
B2TUI = ROOT / ".venv" / "bin" / "b2tui"
SIZES = ((80, 24), (120, 40))
SETTLE = 8.0
"""Seconds the control room gets to start and draw its first frames before counting."""
CUP = re.compile(rb"\x1b\[(\d+);(\d+)H")
"""Cursor position: Textual starts every changed run of cells with one."""
CSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")
BURST_GAP = 0.03
"""Seconds of silence that separate two screen updates."""


@dataclass
class Capture:
    """What the process wrote during the counted window."""

    seconds: float
    data: bytes
    bursts: int
    """Writes separated by more than :data:`BURST_GAP` of silence: screen updates."""
    first_paint: int
    """Bytes of the largest of the first three updates after start: a whole-screen paint."""
    screen: list[str] = field(default_factory=list)
    """The screen at the end of the window, reconstructed from the output."""
    regions: Counter[tuple[int, int]] = field(default_factory=Counter)
    """Bytes written per (row, column) a cursor move started at, cursor moves included."""
    moves: Counter[tuple[int, int]] = field(default_factory=Counter)
    """How many times each (row, column) was written from."""
    spans: dict[tuple[int, int], int] = field(default_factory=dict)
    """Widest run of cells written from each (row, column)."""

    @property
    def rate(self) -> float:
        return len(self.data) / self.seconds

    def analyse(self, before: bytes, cols: int, rows: int) -> None:
        """Attribute the window's bytes to the cursor moves they follow; rebuild the screen."""
        grid = [[" "] * cols for _ in range(rows)]
        _paint(grid, before)
        marks = list(CUP.finditer(self.data))
        for i, m in enumerate(marks):
            end = marks[i + 1].start() if i + 1 < len(marks) else len(self.data)
            key = (int(m.group(1)), int(m.group(2)))
            self.regions[key] += end - m.start()
            self.moves[key] += 1
            text = CSI.sub(b"", self.data[m.end() : end]).decode("utf-8", "replace")
            cells = sum(ch.isprintable() for ch in text)
            self.spans[key] = max(self.spans.get(key, 0), cells)
        _paint(grid, self.data)
        self.screen = ["".join(r) for r in grid]


def _paint(grid: list[list[str]], data: bytes) -> None:
    """Apply cursor moves and text to ``grid`` (all Textual writes between frames)."""
    rows, cols = len(grid), len(grid[0])
    row = col = 0
    pos = 0
    for m in CUP.finditer(data):
        for ch in CSI.sub(b"", data[pos : m.start()]).decode("utf-8", "replace"):
            if ch in "\r\n" or not ch.isprintable():
                continue
            if 0 <= row < rows and 0 <= col < cols:
                grid[row][col] = ch
            col += 1
        row, col = int(m.group(1)) - 1, int(m.group(2)) - 1
        pos = m.end()
    for ch in CSI.sub(b"", data[pos:]).decode("utf-8", "replace"):
        if ch.isprintable() and 0 <= row < rows and 0 <= col < cols:
            grid[row][col] = ch
            col += 1


def _set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _controlling_tty() -> None:
    # In the child: a new session whose controlling terminal is the pty (stdin), as a
    # login shell on a jump host would have.
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """``b2tui`` in a pseudo-terminal of ``cols``×``rows``; reads everything it writes."""

    def __init__(self, args: Sequence[str], cols: int, rows: int, env: dict[str, str]) -> None:
        self.master, slave = os.openpty()
        _set_size(slave, cols, rows)
        self.proc = subprocess.Popen(
            [str(B2TUI), *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=ROOT,
            preexec_fn=_controlling_tty,
            close_fds=True,
        )
        os.close(slave)

    def read_for(self, seconds: float) -> list[tuple[float, bytes]]:
        """(arrival, bytes) of every read during the next ``seconds`` (drains the pty)."""
        out: list[tuple[float, bytes]] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if ready:
                try:
                    out.append((time.monotonic(), os.read(self.master, 65536)))
                except OSError:  # EIO: the child closed the terminal
                    break
            if self.proc.poll() is not None:
                break
        return out

    def close(self) -> None:
        """Quit with ``q`` (the run keeps its state); kill if it does not go."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                os.write(self.master, b"q")
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with contextlib.suppress(OSError):
            os.close(self.master)


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(TERM="xterm-256color", COLORTERM="truecolor", LANG="C.UTF-8", B2TUI_USER="bench")
    # A terminal shows what a person would see: no Textual dev tooling or forced sizes.
    for key in ("TEXTUAL", "TEXTUAL_DRIVER", "COLUMNS", "LINES", "NO_COLOR"):
        env.pop(key, None)
    return env


def _bursts(reads: list[tuple[float, bytes]]) -> list[bytes]:
    out: list[bytearray] = []
    last = -1.0
    for at, chunk in reads:
        if not out or at - last > BURST_GAP:
            out.append(bytearray())
        out[-1] += chunk
        last = at
    return [bytes(b) for b in out]


def measure(args: Sequence[str], cols: int, rows: int, seconds: float) -> Capture:
    """Start ``b2tui args`` at ``cols``×``rows``, settle, then capture ``seconds``."""
    term = Terminal(args, cols, rows, _env())
    try:
        settle = term.read_for(SETTLE)
        if term.proc.poll() is not None:
            raise RuntimeError(f"b2tui {' '.join(args)} exited with {term.proc.returncode}")
        t0 = time.monotonic()
        window = term.read_for(seconds)
        elapsed = time.monotonic() - t0
    finally:
        term.close()
    before = b"".join(c for _, c in settle)
    first = _bursts(settle)
    cap = Capture(
        elapsed,
        b"".join(c for _, c in window),
        bursts=len(_bursts(window)),
        first_paint=max((len(b) for b in first[:3]), default=0),
    )
    cap.analyse(before, cols, rows)
    return cap


def _canary_state(db: Path) -> tuple[str, int, bool] | None:
    """(phase, canary %, holding) of the newest run in ``db``, read without the app."""
    if not db.exists():
        return None
    import json

    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        try:
            row = con.execute("SELECT state FROM runs ORDER BY rowid DESC LIMIT 1").fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return None
    if row is None:
        return None
    st = json.loads(row[0])
    return str(st.get("phase")), int(st.get("canary_percent") or 0), bool(st.get("hold_until"))


def drive_to_canary_hold(db: Path, timeout: float = 120.0) -> None:
    """Run the demo headless at 60× until the canary holds at 5 %, then SIGKILL it."""
    proc = subprocess.Popen(
        [str(B2TUI), "demo", "--headless", "--speed", "60", "--state", str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(),
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = _canary_state(db)
            if st is not None and st[0] == "production" and st[1] > 0 and st[2]:
                return
            if proc.poll() is not None:
                raise RuntimeError(f"headless demo ended ({proc.returncode}) before the hold")
            time.sleep(0.05)
        raise RuntimeError(f"headless demo did not reach the canary hold in {timeout:g}s")
    finally:
        if proc.poll() is None:
            # SIGKILL, as a lost SSH session would: the run resumes from its state.
            proc.send_signal(signal.SIGKILL)
            proc.wait()


def report(label: str, cap: Capture, cols: int, rows: int, top: int = 6) -> None:
    """Print the rates and the screen regions that were written most."""
    print(
        f"-- {label} at {cols}×{rows}: {cap.rate:,.0f} bytes/s "
        f"({len(cap.data):,} bytes in {cap.seconds:.1f} s), "
        f"{cap.bursts / cap.seconds:.2f} updates/s, "
        f"{len(cap.data) / max(cap.bursts, 1):,.0f} bytes/update; "
        f"a whole-screen paint is {cap.first_paint:,} bytes"
    )
    if not cap.regions:
        return
    total = len(cap.data)
    print("   hottest regions (row,col: share of bytes, writes, cells, what is there now):")
    for (row, col), n in cap.regions.most_common(top):
        width = max(cap.spans.get((row, col), 1), 1)
        text = cap.screen[row - 1][col - 1 : col - 1 + min(width, 50)].rstrip()
        print(
            f"     {row:3},{col:<3} {100 * n / total:5.1f}% {cap.moves[(row, col)]:5}×"
            f" {width:4} cells  {text!r}"
        )
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    """Measure both states at both sizes and print the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=30.0, help="counted window (30)")
    args = parser.parse_args(argv)
    if not B2TUI.exists():
        print(f"idle_output: {B2TUI} not found; run `make demo` once to create .venv")
        return 1
    heading(f"idle output: bytes written to the terminal over {args.seconds:g} s")
    with tempfile.TemporaryDirectory(prefix="b2tui-idle-") as tmp:
        for cols, rows in SIZES:
            db = Path(tmp) / f"readiness-{cols}x{rows}.db"
            cap = measure(["demo", "--speed", "1", "--state", str(db)], cols, rows, args.seconds)
            report("readiness, waiting for sign-offs", cap, cols, rows)
        for cols, rows in SIZES:
            db = Path(tmp) / f"canary-{cols}x{rows}.db"
            try:
                drive_to_canary_hold(db)
            except RuntimeError as e:
                print(f"idle_output: {e}", file=sys.stderr)
                return 1
            cap = measure(
                ["demo", "--speed", "1", "--autopilot", "--state", str(db)],
                cols,
                rows,
                args.seconds,
            )
            report("canary hold at 5 %, gates every 5 s", cap, cols, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
