"""When the text the run's clock draws changes next: the control room's clock tick is
scheduled for that moment instead of every second.

Every label measured on the clock is coarse on purpose (:mod:`~b2tui.ui.render`): the
header clock to the minute, panel ages in tens of seconds then minutes, the running
phase to the minute, countdowns in whole minutes until their last one. So an idle room
needs to wake once or a few times a minute, and every second only while a countdown is
in its last minute or a panel's source failed (``stale 42s: …``). What changes with an
event (a sample, a hold starting, a gate going NO DATA) is redrawn by the event, which
asks again when to wake.

Each function returns the run-clock seconds until its text may read differently: never
later than the change, sometimes earlier (waking early costs a comparison of equal
texts; waking late shows a stale label). No Textual here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime

from b2tui.domain.view import RunView
from b2tui.ui.render import Timing, no_data_left, stable_left


def minute_change(now: datetime) -> float:
    """Until the header clock (``14:03 UTC``) shows the next minute."""
    return 60.0 - (now.second + now.microsecond / 1e6)


def age_change(seconds: float) -> float:
    """Until :func:`~b2tui.ui.render.age_text` of an age of ``seconds`` changes:
    ``<10s ago``, then tens of seconds, then minutes (and coarser)."""
    if seconds < 10:
        return 10.0 - seconds
    if seconds < 60:
        return 10.0 - seconds % 10
    return 60.0 - seconds % 60


def stale_change(seconds: float) -> float:
    """Until ``stale 42s: …`` (:func:`~b2tui.domain.durations.format_duration`) changes."""
    if seconds < 0:
        return 1.0 - seconds
    if seconds < 3600:
        return 1.0 - seconds % 1
    return 60.0 - seconds % 60


def elapsed_change(seconds: float) -> float:
    """Until :func:`~b2tui.ui.render.elapsed_text` (``<1m``, ``4m``) changes."""
    if seconds < 0:
        return 60.0 - seconds
    return 60.0 - seconds % 60


def countdown_change(left: float) -> float | None:
    """Until :func:`~b2tui.ui.render.countdown_text` of ``left`` seconds (and whether
    anything is left at all) changes; None once it reached zero."""
    if left <= 0:
        return None
    if left < 60:
        return left - math.floor(left)
    minutes = math.ceil(left / 60)
    if minutes == 1:
        return 0.0  # exactly 60: "1m" now, "59s" next
    return left - 60 * (minutes - 1)


def next_change(
    view: RunView,
    now: datetime,
    timing: Timing,
    panels: Iterable[tuple[datetime | None, str | None]],
    *,
    clock_shown: bool = True,
) -> float | None:
    """Run-clock seconds until the first label drawn from ``now`` may change; None when
    none can (nothing on screen is measured on the clock).

    Args:
        view: The run as shown.
        now: The run clock's time.
        timing: What the status line's countdowns need (as the timeline is drawn).
        panels: Each panel's (time of its newest data, its source's error).
        clock_shown: The header shows the clock (not the engine's error).
    """
    waits: list[float] = []
    if clock_shown:
        waits.append(minute_change(now))
    for data_at, error in panels:
        if data_at is None:
            continue  # "waiting", or "stale –: …": no age to count
        age = (now - data_at).total_seconds()
        waits.append(stale_change(age) if error is not None else age_change(age))
    running = view.phase is not None and not view.finished
    if running and view.phase not in view.phase_durations:
        started = view.phase_started.get(view.phase)  # type: ignore[arg-type]
        if started is not None:
            waits.append(elapsed_change((now - started).total_seconds()))
    if not view.finished and not view.rolling_back:
        lefts: list[float | None] = [
            no_data_left(view, now, timing),
            stable_left(view, now, timing),
        ]
        # The hold's end also frees `n` in the footer and changes the canary panel.
        for until in (view.hold_until, view.stage_until):
            if until is not None:
                lefts.append((until - now).total_seconds())
        for left in lefts:
            wait = countdown_change(left) if left is not None else None
            if wait is not None:
                waits.append(wait)
    return max(0.0, min(waits)) if waits else None
