"""The clock port: the run's time, real or virtual.

Every timestamp, hold and window of a run is measured on a :class:`Clock`. The engine
and the adapters (the sandbox paces its world on it) take one; the clocks themselves
(wall, scaled, virtual, stepped) are in :mod:`b2tui.engine.clock`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    """The run's clock: every timestamp, hold and window is measured on it.

    A clock whose time follows real time at a fixed rate also says so in a ``speed``
    attribute (run seconds per real second; the wall clock's is 1): the control room
    then wakes when a label drawn from the clock changes instead of every second.
    """

    def now(self) -> datetime:
        """Current time (timezone-aware UTC)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Let ``seconds`` of run time pass."""
        ...
