"""A recorded run played back: a read-only session over its journal.

``b2tui replay RUN`` shows a finished run in the control room as it unfolded: the view is
the journal folded up to a position (:meth:`Replay.seek`), the clock the run's own time
at that position, moving on at ``speed`` × real time while playing. Nothing is sent
anywhere: every intent is refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from b2tui.domain import events as ev
from b2tui.domain.view import RunView, apply, fold
from b2tui.engine.api import Action, IntentResult, Subscribers

READ_ONLY = "a replay only shows the run: nothing can change it"


class ReplayClock:
    """The run's time at the replay's position; between two events while playing it
    moves at ``speed`` × real time, never past the next event."""

    def __init__(self, replay: Replay) -> None:
        self._replay = replay

    def now(self) -> datetime:
        r = self._replay
        at = r.at or datetime.fromtimestamp(0).astimezone()
        if not r.playing:
            return at
        moved = at + timedelta(seconds=(time.monotonic() - r.since) * r.speed)
        nxt = r.next_ts
        return min(moved, nxt) if nxt is not None else at

    async def sleep(self, seconds: float) -> None:  # pragma: no cover - nothing waits on it
        raise RuntimeError("a replay's clock is not slept on")


class Replay:
    """Implements :class:`b2tui.engine.api.RunSession` read-only over recorded events.

    Args:
        run_id: The run.
        events: Its journal, oldest first.
        speed: Run seconds per real second while playing.
    """

    read_only = True
    drives_here = False

    def __init__(self, run_id: str, events: Sequence[ev.Event], speed: float = 10.0) -> None:
        self.run_id = run_id
        self.events = list(events)
        self.speed = speed
        self.position = 0
        """How many events are folded into :attr:`view`."""
        self.view = RunView()
        self.playing = False
        self.since = time.monotonic()
        """Real time the position was reached (the clock moves on from it)."""
        self.clock = ReplayClock(self)
        self._subscribers = Subscribers()

    # --- where it stands -------------------------------------------------------------------

    @property
    def at(self) -> datetime | None:
        """The run's time of the last event shown (the first event's before any)."""
        if self.position:
            return self.events[self.position - 1].ts
        return self.events[0].ts if self.events else None

    @property
    def next_ts(self) -> datetime | None:
        return self.events[self.position].ts if self.position < len(self.events) else None

    @property
    def at_end(self) -> bool:
        return self.position >= len(self.events)

    @property
    def driver(self) -> str:
        state = "playing" if self.playing else "paused"
        return f"replay of {self.run_id}: event {self.position}/{len(self.events)}, {state}"

    def gap(self) -> float | None:
        """Real seconds until the next event at :attr:`speed` (None at the end)."""
        nxt = self.next_ts
        if nxt is None:
            return None
        at = self.at or nxt
        return max(0.0, (nxt - at).total_seconds()) / self.speed

    # --- moving -----------------------------------------------------------------------------

    def seek(self, position: int) -> None:
        """Show the run after ``position`` events (clamped); backwards refolds."""
        position = max(0, min(position, len(self.events)))
        if position < self.position:
            self.view = fold(self.events[:position])
        else:
            for e in self.events[self.position : position]:
                apply(self.view, e)
        moved = self.events[self.position : position] if position > self.position else []
        self.position = position
        self.since = time.monotonic()
        for e in moved:
            self._subscribers(e)

    def step(self, delta: int) -> None:
        self.seek(self.position + delta)

    def phase_starts(self) -> list[int]:
        """Positions just after each ``phase_started`` (and the run's end)."""
        out = [
            i + 1
            for i, e in enumerate(self.events)
            if isinstance(e, ev.PhaseStarted | ev.RollbackStarted | ev.RunFinished)
        ]
        return out

    def next_phase(self, direction: int) -> None:
        """``]``: to the next phase's start (or the rollback, or the end); ``[``: back to
        the start of this phase, or of the previous one when already there."""
        starts = self.phase_starts()
        if direction > 0:
            later = [p for p in starts if p > self.position]
            self.seek(later[0] if later else len(self.events))
        else:
            earlier = [p for p in starts if p < self.position]
            self.seek(earlier[-1] if earlier else 0)

    def toggle_play(self) -> bool:
        """Play or pause; returns whether it plays now."""
        self.playing = not self.playing and not self.at_end
        self.since = time.monotonic()
        return self.playing

    # --- a RunSession that refuses everything ---------------------------------------------------

    def subscribe(self, callback: Callable[[ev.Event], None]) -> Callable[[], None]:
        return self._subscribers.add(callback)

    def why_not(self, action: Action, item: str | None = None) -> str | None:
        return READ_ONLY

    def _refused(self, *_: object, **__: object) -> IntentResult:
        return IntentResult(False, READ_ONLY)

    advance = _refused
    step_canary = _refused
    set_canary = _refused
    toggle_pause = _refused
    sign_off = _refused
    rollback = _refused
    abort = _refused
