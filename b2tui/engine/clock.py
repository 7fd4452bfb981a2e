"""The clocks a run runs on (:class:`~b2tui.ports.clock.Clock`): real, scaled, virtual.

Tests and ``--speed max`` use virtual time.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta


class WallClock:
    """Real time."""

    speed = 1.0
    """Run seconds per real second (as :class:`ScaledClock`'s): the control room wakes
    when a label drawn from the clock changes, not every second."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class ScaledClock:
    """Simulated time running ``speed`` times faster than real time from ``start``."""

    def __init__(self, speed: float, start: datetime | None = None) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        """Run seconds per real second."""
        self._start = start or datetime.now(UTC)
        self._real0 = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._real0) * self.speed)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speed)


class VirtualClock:
    """Time that jumps: ``sleep`` advances it at once (after yielding to the loop).

    A 30-minute monitoring window runs in milliseconds. Frozen unless slept on, so
    snapshot tests see a fixed time.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 14, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=max(0.0, seconds))

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)
        self.advance(seconds)


class SteppedClock(VirtualClock):
    """Virtual time that only moves while released.

    Tests stop a run at a chosen state by holding the clock: the engine then blocks in
    its next wait, while operator intents (which wake it) are still processed.
    """

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__(start)
        self._released = asyncio.Event()
        self._released.set()

    def hold(self) -> None:
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    async def sleep(self, seconds: float) -> None:
        await self._released.wait()
        await super().sleep(seconds)
