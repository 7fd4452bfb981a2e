"""What the control-room commands share: the Textual app run so a signal gives the
terminal back (and the collector skips what was alive before it opened), a headless
driver's clean exit on SIGTERM, whose pods to show (and their targets), and the exit
status of a room left before the run ended."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import os
import signal
import sys
import threading
from typing import Any

from b2tui.config import Settings
from b2tui.domain.phases import Outcome, Phase
from b2tui.masking import mask
from b2tui.ports import Target


def targets(settings: Settings) -> dict[str, Target]:
    """Each environment's cluster target, built once (the pods pane asks per phase)."""
    return {name: Target.of(env) for name, env in settings.environments.items()}


def pods_env(phase: Phase | None, staging: str, production: str) -> str:
    """The environment whose pods matter now: staging's until production starts."""
    early = (Phase.READINESS, Phase.VALIDATE, Phase.STAGING, Phase.SMOKE)
    return staging if phase in early else production


def tui_exit(outcome: Outcome | None) -> int:
    """The exit status of a control room the operator left: the run's outcome, or 0 and a
    line on how to reopen it while the run goes on."""
    if outcome is None:
        print(
            "b2tui: left the control room; the run keeps its state — run the same command"
            " to reopen it",
            file=sys.stderr,
        )
        return 0
    return outcome.exit_code


SIGNAL_GRACE = 1.5
"""Seconds a signalled control room gets to close (terminal restored, run saved, lease
released) before the last-resort exit."""


TERMINAL_RESET = (
    "\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1015l\x1b[?2004l\x1b[?25h\x1b[?1049l"
)
"""Mouse tracking off, bracketed paste off, cursor shown, main screen back."""


async def run_app(app: Any) -> int | None:
    """Run the control room; SIGTERM and SIGHUP leave it the normal way, so Textual gives
    the terminal back (main screen, cursor shown, mouse tracking off), the engine saves
    the run and gives its lease back.

    The room's terminal driver (``ui/terminal.py``) keeps a hung-up terminal from
    blocking that exit; should it block all the same, a thread of its own ends the
    process :data:`SIGNAL_GRACE` seconds after the signal, saying why on stderr.

    Returns:
        ``128 + signal`` when a signal ended it, None after a normal quit.
    """
    loop = asyncio.get_running_loop()
    got: list[int] = []
    signals_seen = itertools.count()

    def on_signal(sig: int, _frame: object) -> None:
        # A Python handler, run in the main thread even while the loop is stuck in Python
        # code or a lock (asyncio's own handlers wait for the loop to come round). A
        # second signal can run it again in the middle of the first: next() on a count
        # is one step, so exactly one of them arms the deadline.
        got.append(sig)
        if next(signals_seen) == 0:
            # The deadline is a thread, not a loop timer: a stuck loop runs no timer.
            timer = threading.Timer(SIGNAL_GRACE, _last_resort_exit, (sig,))
            timer.daemon = True
            timer.start()
        loop.call_soon_threadsafe(app.exit, None, 128 + sig)

    signals = (signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, on_signal) for sig in signals}
    # What is alive now (modules, classes, settings, the run's state) stays while the room
    # is open: kept out of the collector's walks, which otherwise cost ~30 ms CPU while
    # Textual builds the first frame (benchmarks/README.md, startup). Handed back after.
    gc.freeze()
    try:
        await app.run_async()
    except OSError:
        # Textual printing the room's last error to a terminal that is gone: the signal
        # that came with it says how the room ended.
        if not got:
            raise
    finally:
        gc.unfreeze()
        for sig, handler in previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
    return 128 + got[0] if got else None


def signalled_exit(code: int) -> int:
    """``code``, or, when a signal ended the room (``code`` >= 128), the process ends
    here with it.

    By then the room is closed, the run saved and its lease given back; what is left is
    the interpreter's teardown, which collects every object once more: 0.2–0.8 s of CPU,
    seconds on a loaded machine, that a terminal gone away should not wait for (the
    state file needs no close: every write is already committed).
    """
    if code < 128:
        return code
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _last_resort_exit(sig: int) -> None:
    """End the process with ``128 + sig``: the room did not close in time after ``sig``.

    The state file holds every step the run took (it is written as they happen); the
    lease is simply no longer renewed. The terminal gets its reset and the reason, each
    written by a thread given a moment: a terminal nobody reads must not block the exit.
    """
    name = signal.Signals(sig).name
    why = (
        f"b2tui: the control room did not close within {SIGNAL_GRACE:g} s of {name};"
        f" exiting with {128 + sig} (the run resumes from its state file)\n"
    )
    for fd, text in ((_fd(sys.__stdout__, 1), TERMINAL_RESET), (_fd(sys.__stderr__, 2), why)):
        writer = threading.Thread(target=_write_quietly, args=(fd, text), daemon=True)
        writer.start()
        writer.join(0.1)
    os._exit(128 + sig)


def _fd(stream: Any, default: int) -> int:
    try:
        return int(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return default


def _write_quietly(fd: int, text: str) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, text.encode())


def exit_on_sigterm(conductor: Any) -> None:
    # The state is saved after every transition; SIGTERM only needs a clean exit — and
    # one line if the state file could not take the newest records.
    loop = asyncio.get_running_loop()

    def stop(sig: int) -> None:
        unsaved = conductor.unsaved
        if unsaved:
            print(
                mask(f"b2tui: stopped by signal {sig}; the state file is behind: {unsaved}"),
                file=sys.stderr,
                flush=True,
            )
        os._exit(128 + sig)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop, sig)
