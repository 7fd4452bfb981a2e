"""The pieces that keep a hung-up terminal from hanging the room (``ui/terminal.py``,
``cli/room.py``), each on a real pseudo-terminal or a real process."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from textual.app import App
from textual.drivers._writer_thread import WriterThread

from b2tui.cli.room import SIGNAL_GRACE
from b2tui.ui.terminal import GoneSafeFile, TerminalDriver, hung_up


@pytest.fixture
def hung_up_terminal() -> Iterator[GoneSafeFile]:
    """A GoneSafeFile on the slave side of a pty whose master was closed (hung up)."""
    master, slave = os.openpty()
    file = os.fdopen(slave, "w", encoding="utf-8")
    terminal = GoneSafeFile(file)
    terminal.write("before")
    terminal.flush()
    assert os.read(master, 100) == b"before"  # a live terminal gets what is written
    assert not terminal.gone
    os.close(master)
    try:
        yield terminal
    finally:
        with contextlib.suppress(OSError):
            file.close()


def test_writes_to_a_hung_up_terminal_are_dropped(hung_up_terminal: GoneSafeFile) -> None:
    assert hung_up_terminal.write("x" * 10) == 10
    hung_up_terminal.flush()  # EIO underneath: dropped, not raised
    assert hung_up_terminal.gone
    assert hung_up_terminal.write("more") == 4
    assert not hung_up_terminal.isatty()


def test_a_writer_over_a_hung_up_terminal_stops(hung_up_terminal: GoneSafeFile) -> None:
    """Textual's writer thread lives on and drains its bounded queue (30), so more writes
    than that and the stop that puts one more item and joins all return."""
    writer = WriterThread(hung_up_terminal)  # type: ignore[arg-type]
    writer.start()
    stopper = threading.Thread(
        target=lambda: ([writer.write("frame\n") for _ in range(200)], writer.stop()), daemon=True
    )
    stopper.start()
    stopper.join(30)
    assert not stopper.is_alive(), "stopping the writer blocked"
    assert not writer.is_alive()
    assert hung_up_terminal.gone


@pytest.fixture
async def driver() -> AsyncIterator[TerminalDriver]:
    """A TerminalDriver for an app that never runs; the signal handlers it installs are
    put back afterwards."""
    saved = {s: signal.getsignal(s) for s in (signal.SIGTSTP, signal.SIGCONT)}
    try:
        yield TerminalDriver(App())
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


async def test_sigcont_without_a_suspend_leaves_the_terminal_alone(
    driver: TerminalDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hangup sends SIGCONT with SIGHUP: application mode must not start a second time
    (a second writer and input thread); only a SIGTSTP suspend is resumed."""
    starts: list[str] = []
    monkeypatch.setattr(driver, "start_application_mode", lambda: starts.append("start"))
    driver._sigcont_application(signal.SIGCONT, None)
    assert starts == []
    driver._must_signal_resume = True  # what Textual's SIGTSTP handler sets when it suspends
    driver._sigcont_application(signal.SIGCONT, None)
    assert starts == ["start"]


STUCK_ROOM = """
import asyncio, time
from b2tui.cli.room import run_app

class Stuck:
    def exit(self, *args):
        pass  # never reached: the loop does not come round

    async def run_async(self):
        print("ready", flush=True)
        while True:
            time.sleep(0.01)  # the event loop is stuck in the room

asyncio.run(run_app(Stuck()))
"""


def test_a_stuck_room_still_exits_after_a_signal_and_says_why() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", STUCK_ROOM],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGHUP
    assert f"did not close within {SIGNAL_GRACE:g} s of SIGHUP" in err.decode(), err


def test_hung_up_tells_a_dead_terminal_from_a_pipe_or_dev_null() -> None:
    master, slave = os.openpty()
    try:
        assert not hung_up(slave)  # a live terminal
        os.close(master)
        assert hung_up(slave)  # its master side closed: hung up
    finally:
        os.close(slave)
    read, write = os.pipe()
    with open(os.devnull) as null:
        assert not hung_up(read)
        assert not hung_up(null.fileno())
    os.close(read)
    os.close(write)


ESCAPE_ROOM = """
import sys
from textual.app import App
from textual.widgets import Static
from b2tui.ui.terminal import TerminalDriver

class Keys(App[int]):
    def get_driver_class(self):
        return TerminalDriver

    def compose(self):
        yield Static("drawn")

    def on_key(self, event) -> None:
        self.exit({"escape": 7, "q": 3}.get(event.key, 1))

sys.exit(Keys().run())
"""


def _pty_keys(keys: bytes) -> int:
    """Run ESCAPE_ROOM in a pty, send ``keys`` once it drew, return its exit status."""
    master, slave = os.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-c", ESCAPE_ROOM],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**os.environ, "TERM": "xterm-256color", "TEXTUAL_DRIVER": ""},
    )
    os.close(slave)
    try:
        seen = b""
        deadline = time.monotonic() + 60
        while b"drawn" not in seen:
            assert time.monotonic() < deadline, seen[-300:]
            if select.select([master], [], [], 1.0)[0]:
                seen += os.read(master, 65536)
        os.write(master, keys)
        reader = threading.Thread(target=_drain, args=(master,), daemon=True)
        reader.start()
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


def _drain(fd: int) -> None:
    with contextlib.suppress(OSError):
        while os.read(fd, 65536):
            pass


def test_the_input_thread_sleeps_but_a_lone_escape_still_arrives() -> None:
    # Nothing else is typed after it: only the parser's own timeout tells the lone esc
    # from the start of a sequence, so the sleeping thread must wake for it.
    assert _pty_keys(b"\x1b") == 7


def test_the_input_thread_sleeps_but_the_app_still_leaves() -> None:
    # The app's exit sets the driver's exit event, which wakes the thread to end.
    assert _pty_keys(b"q") == 3
