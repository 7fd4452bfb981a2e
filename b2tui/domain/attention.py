"""When the run needs a person: which events call the on-call (pure).

The control room rings the terminal's bell and sends a desktop notification when the run
starts waiting for a person or when something bad starts. This module decides *whether*
an event calls, and under which occurrence key; the UI writes the bytes
(:mod:`b2tui.ui.terminal_calls`) and remembers the keys it has rung for, so one
occurrence rings once however many polls repeat it.

What calls:

- waiting for a person: a manual sign-off that becomes due (a readiness item or a manual
  smoke check, pending and unsigned), ``n`` awaited (a hold that ended green, staging
  verified, a colour ready to switch: the engine's "press n" notice), a run that pauses
  (by the engine — NO DATA for a while, a failing sample with ``auto_rollback = false`` —
  or by someone);
- something bad: a rollback starting, an alert (the state not saved, a production change
  or a rollback attempt failing, recovery not verified), a gate whose source stops
  answering (a gate turning NO DATA), the run ending blocked or aborted (a run that
  ends rolled back rang when its rollback started).

Occurrence keys are stable for what is *one* occurrence: an item's sign-off, one pause
(its start time), one NO DATA streak of one gate (its start time), an alert's text with
its numbers blanked (``rollback attempt 1 failed`` and ``… 2 failed`` are one), the run's
rollback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from b2tui.domain import events as ev
from b2tui.domain.view import RunView

_NUMBERS = re.compile(r"\d+")


@dataclass(frozen=True)
class Call:
    """One reason to call the on-call."""

    key: str
    """The occurrence: the same key never rings twice."""
    title: str
    """Short: ``b2tui: shop needs you`` or ``b2tui: shop ROLLING BACK``."""
    body: str
    """What happened or what the run waits for (masked by the UI before it is written)."""
    urgent: bool
    """True for something bad (rollback, alert, source failing), False for a wait."""


def _title(view: RunView, what: str) -> str:
    service = view.service or "run"
    return f"b2tui: {service} {what}"


def call_for(event: ev.Event, view: RunView) -> Call | None:
    """The call ``event`` makes, or None when it calls nobody.

    Args:
        event: The newest event.
        view: The run's view with ``event`` folded in (as a session's subscribers get
            it): a NO DATA streak is keyed by its start, ``view.gate_since``.
    """
    run = view.run_id or "run"
    match event:
        case ev.ChecklistChanged(manual=True, required=True, state="pending", by=None):
            return Call(
                f"{run}:sign-off:{event.group}:{event.item}",
                _title(view, "needs a sign-off"),
                f"sign-off due: {event.title} ({event.owner or 'anyone'})",
                urgent=False,
            )
        case ev.Notice(level="info") if "press n" in event.message:
            return Call(
                f"{run}:go:{event.message}", _title(view, "waits for you"), event.message, False
            )
        case ev.Notice(level="alert"):
            return Call(
                f"{run}:alert:{_NUMBERS.sub('#', event.message)}",
                _title(view, "needs you now"),
                event.message,
                urgent=True,
            )
        case ev.PauseChanged(paused=True):
            return Call(
                f"{run}:pause:{event.ts.isoformat()}",
                _title(view, "paused"),
                f"paused: {event.reason}",
                urgent=False,
            )
        case ev.RollbackStarted():
            return Call(
                f"{run}:rollback",
                _title(view, "ROLLING BACK"),
                f"rollback ({event.by}): {event.reason}",
                urgent=True,
            )
        case ev.GateSampled(status="unknown"):
            since = view.gate_since.get((event.track, event.gate), event.ts)
            track = f"{event.track} " if event.track else ""
            why = f": {event.reason}" if event.reason else ""
            return Call(
                f"{run}:no-data:{event.track}:{event.gate}:{since.isoformat()}",
                _title(view, "has NO DATA"),
                f"{track}{event.gate} NO DATA{why}",
                urgent=True,
            )
        case ev.RunFinished(outcome="blocked" | "aborted"):
            # A run that ends rolled back rang when the rollback started.
            reason = f": {event.reason}" if event.reason else ""
            return Call(
                f"{run}:finished",
                _title(view, event.outcome.replace("_", " ")),
                f"run {event.outcome.replace('_', ' ')}{reason}",
                urgent=True,
            )
    return None


def merge(calls: list[Call]) -> Call | None:
    """Several calls in one burst (a readiness list becoming due, a pause and its alert)
    ring once: the first urgent call leads, the others are counted in its body."""
    if not calls:
        return None
    lead = next((c for c in calls if c.urgent), calls[0])
    more = len(calls) - 1
    body = lead.body + (f" (+{more} more)" if more else "")
    return Call(lead.key, lead.title, body, lead.urgent)


class Attention:
    """The calls of one control room: each occurrence once, bursts merged.

    :meth:`see` every event (after the view folded it); :meth:`take` what to ring for
    now — one merged call, or None. Keys already rung for are remembered for the life of
    the room, so a poll that repeats an occurrence never rings again.
    """

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._pending: list[Call] = []

    def see(self, event: ev.Event, view: RunView) -> bool:
        """Note ``event``'s call; True when a new one is waiting to be taken."""
        return self.note(call_for(event, view))

    def note(self, call: Call | None) -> bool:
        """Note a call that is no event of the run (the engine stopped); True when new."""
        if call is None or call.key in self._seen:
            return False
        self._seen.add(call.key)
        self._pending.append(call)
        return True

    def take(self) -> Call | None:
        """The waiting calls as one (see :func:`merge`), or None; clears them."""
        call = merge(self._pending)
        self._pending.clear()
        return call
