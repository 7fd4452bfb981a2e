"""Start-up without the cyclic garbage collector.

Importing b2tui and Textual and building the control room's first frame allocate
hundreds of thousands of objects and free almost none: the collector's walks over them
cost the first frame ~15–20 ms of CPU and find next to nothing (benchmarks/README.md,
issue #28). The console script holds the collector off as it starts; the control room
lets it run again once its first frame is on screen, and every other command gets it
back :data:`GRACE` seconds after start, whatever it does meanwhile. Reference counting
frees everything that is not a cycle as usual.
"""

from __future__ import annotations

import gc

GRACE = 5.0
"""Seconds after which the collector runs again whatever happened: longer than any
command's start-up, short enough that no long-running command piles up garbage cycles."""

_held = False


def hold_collector(grace: float = GRACE) -> None:
    """Turn the cyclic collector off for start-up (not when someone else turned it off)."""
    global _held
    if _held or not gc.isenabled():
        return
    import threading  # not on the status line's path, which never holds the collector

    gc.disable()
    _held = True
    timer = threading.Timer(grace, release_collector)
    timer.daemon = True
    timer.start()


def release_collector() -> None:
    """The collector runs again, if :func:`hold_collector` turned it off (else nothing)."""
    global _held
    if _held:
        _held = False
        gc.enable()
