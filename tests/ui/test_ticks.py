"""When the clock tick wakes (b2tui/ui/ticks.py): never after a label drawn from the run's
clock changes, and not every second while nothing counts down in seconds."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from textual.timer import Timer

from b2tui.domain.durations import format_duration
from b2tui.domain.phases import Phase
from b2tui.domain.view import RunView
from b2tui.engine.clock import ScaledClock, VirtualClock, WallClock
from b2tui.ui import ticks
from b2tui.ui.app import ControlRoom, clock_speed
from b2tui.ui.messages import ALL_PANELS
from b2tui.ui.render import Timing, age_text, countdown_text, elapsed_text, status_line

T0 = datetime(2026, 1, 5, 14, 0, 7, 250_000, tzinfo=UTC)

GRID = [x / 4 for x in range(-40, 4 * 3700)]
"""Quarter seconds from -10 s to a little over an hour."""


def _holds_until_change(
    text: Callable[[float], str], change: Callable[[float], float | None], step: int
) -> None:
    """For every ``s`` on the grid, ``text`` is the same until ``change(s)`` seconds
    later (the wait is never past a change), and differs right after it for ``step``
    (the wait is exact, so the tick is not early by more than that)."""
    for s in GRID:
        wait = change(s)
        if wait is None:
            continue
        assert wait >= 0
        # `s` runs forward for ages and backward for countdowns.
        if wait > 1e-6:
            assert text(s + step * (wait - 1e-6)) == text(s), (s, wait)
        assert text(s + step * (wait + 1e-6)) != text(s), (s, wait)


def test_age_waits_for_the_next_ten_seconds_then_minute() -> None:
    _holds_until_change(age_text, ticks.age_change, 1)
    assert ticks.age_change(15.0) == pytest.approx(5.0)
    assert ticks.age_change(125.0) == pytest.approx(55.0)


def test_stale_age_counts_seconds() -> None:
    _holds_until_change(lambda s: format_duration(max(0.0, s)), ticks.stale_change, 1)


def test_running_duration_waits_for_its_next_minute() -> None:
    _holds_until_change(elapsed_text, ticks.elapsed_change, 1)


def test_countdown_waits_a_minute_until_its_last_one() -> None:
    def text(left: float) -> str:
        return countdown_text(left) if left > 0 else "over"

    _holds_until_change(text, ticks.countdown_change, -1)
    assert ticks.countdown_change(125.0) == pytest.approx(5.0)  # 3m → 2m
    assert ticks.countdown_change(299.5) == pytest.approx(59.5)
    assert ticks.countdown_change(30.25) == pytest.approx(0.25)  # seconds now
    assert ticks.countdown_change(0.0) is None


def test_header_clock_waits_for_the_next_minute() -> None:
    assert ticks.minute_change(T0) == pytest.approx(52.75)


def _holding(until: datetime) -> RunView:
    return RunView(
        phase=Phase.PRODUCTION,
        phase_started={Phase.PRODUCTION: T0 - timedelta(seconds=90)},
        canary_percent=5,
        hold_until=until,
    )


def test_a_hold_wakes_the_room_when_its_countdown_changes() -> None:
    now = T0
    view = _holding(now + timedelta(seconds=200))
    # A panel whose data is 5 s old (5 s to "10s ago"), the header's minute (52.75 s),
    # the phase's (30 s), the hold's 4m → 3m (20 s): the panel, then the hold.
    fresh = [(now - timedelta(seconds=5), None)]
    assert ticks.next_change(view, now, Timing(), fresh) == pytest.approx(5.0)
    wait = ticks.next_change(view, now, Timing(), [])
    assert wait == pytest.approx(20.0)
    text = status_line(view, now)
    assert status_line(view, now + timedelta(seconds=wait - 0.001)) == text
    assert status_line(view, now + timedelta(seconds=wait + 0.001)) != text


def test_the_last_minute_of_a_hold_is_counted_in_seconds() -> None:
    view = _holding(T0 + timedelta(seconds=42.5))
    assert ticks.next_change(view, T0, Timing(), []) == pytest.approx(0.5)


def test_a_failing_source_counts_seconds() -> None:
    view = RunView(phase=Phase.READINESS)
    failing = [(T0 - timedelta(seconds=30.75), "connection refused")]
    assert ticks.next_change(view, T0, Timing(), failing) == pytest.approx(0.25)


def test_nothing_measured_on_the_clock_needs_no_tick() -> None:
    # A finished run whose engine stopped: no clock, no countdown, no age.
    view = RunView(phase=Phase.PRODUCTION, outcome=None)
    assert ticks.next_change(view, T0, Timing(), [(None, None)], clock_shown=False) is None


def test_a_clock_whose_time_jumps_keeps_the_one_second_tick() -> None:
    assert clock_speed(WallClock()) == 1.0
    assert clock_speed(ScaledClock(60)) == 60.0
    assert clock_speed(VirtualClock()) is None


def _clock_timers(app: ControlRoom) -> list[Timer]:
    """The room's clock timers that have not fired or been stopped yet."""
    return [
        t
        for t in list(app._timers)
        if t.name == "clock" and t._task is not None and not t._task.done()
    ]


async def test_the_room_keeps_one_clock_tick_pending(room_at: Callable[[str], Any]) -> None:
    # A tick called directly (on mount, by a replay's redraw) replaced the pending timer
    # without stopping it: both fired, each set another, and the room ticked twice for
    # every label change, for as long as it ran.
    room = await room_at("canary-holding-5")
    app = room.app()
    app._speed = 1.0  # as on a real-time clock: ticks set for when a label changes
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert len(_clock_timers(app)) == 1
        for _ in range(3):
            app._tick()
            app._redraw(set(ALL_PANELS))
            await pilot.pause()
            assert len(_clock_timers(app)) == 1


async def test_redraws_never_push_the_pending_tick_later(room_at: Callable[[str], Any]) -> None:
    # At a fast clock the tick is set at least a second ahead (labels change faster than
    # a person reads); a redraw that set it again from its own moment moved it a second
    # on each time, and a run whose events came more often than once a second never
    # ticked: the header's clock stood still.
    room = await room_at("canary-holding-5")
    app = room.app()
    app._speed = 100.0
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        due = app._tick_due
        assert due < math.inf
        for _ in range(5):
            await asyncio.sleep(0.05)
            app._redraw(set(ALL_PANELS))
            assert app._tick_due <= due
        await pilot.pause()
        assert len(_clock_timers(app)) == 1
