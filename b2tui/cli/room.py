"""What the control-room commands share: the Textual app run so a signal gives the
terminal back (and the collector skips what was alive before it opened), a headless
driver's clean exit on SIGTERM, whose pods to show, and the exit status of a room left
before the run ended."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
from typing import Any

from b2tui.domain.phases import Outcome, Phase
from b2tui.masking import mask


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


SIGNAL_GRACE = 3.0
"""Seconds a signalled control room gets to restore the terminal before a hard exit."""


TERMINAL_RESET = (
    "\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1015l\x1b[?2004l\x1b[?25h\x1b[?1049l"
)
"""Mouse tracking off, bracketed paste off, cursor shown, main screen back."""


async def run_app(app: Any) -> int | None:
    """Run the control room; SIGTERM and SIGHUP leave it the normal way, so Textual gives
    the terminal back (main screen, cursor shown, mouse tracking off).

    Returns:
        ``128 + signal`` when a signal ended it, None after a normal quit.
    """
    loop = asyncio.get_running_loop()
    got: list[int] = []

    def stop(sig: int) -> None:
        got.append(sig)
        app.exit(return_code=128 + sig)
        # Should the exit hang (the terminal gone with SIGHUP), reset and leave anyway.
        loop.call_later(SIGNAL_GRACE, _hard_exit, 128 + sig)

    signals = (signal.SIGTERM, signal.SIGHUP)
    for sig in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop, sig)
    # What is alive now (modules, classes, settings, the run's state) stays while the room
    # is open: kept out of the collector's walks, which otherwise cost ~30 ms CPU while
    # Textual builds the first frame (benchmarks/README.md, startup). Handed back after.
    gc.freeze()
    try:
        await app.run_async()
    finally:
        gc.unfreeze()
        for sig in signals:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    return 128 + got[0] if got else None


def _hard_exit(code: int) -> None:
    with contextlib.suppress(Exception):
        os.write(sys.__stdout__.fileno() if sys.__stdout__ else 1, TERMINAL_RESET.encode())
    os._exit(code)


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
