"""Messages the control room posts to itself: past tense, with the run clock's timestamp."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from textual.message import Message

from b2tui.ports import PodInfo

ALL_PANELS = frozenset({"header", "metrics", "checklist", "timeline", "canary", "log"})
"""Panels a :class:`RunChanged` can name."""


@dataclass
class RunChanged(Message):
    """The session folded new events into its view; panels named in ``kinds`` redraw.

    Events can arrive by the thousand (a virtual clock runs a 30-minute window in
    milliseconds), so a queued ``RunChanged`` absorbs newer ones instead of queueing
    a redraw per event.
    """

    at: datetime
    """Run-clock time of the newest event."""
    kinds: set[str] = field(default_factory=set)
    """Panels to redraw, some of :data:`ALL_PANELS`."""

    def can_replace(self, message: Message) -> bool:
        # Textual calls this on the message being handled with the next queued one and,
        # when True, handles the queued one instead: hand it our panels so they redraw.
        if isinstance(message, RunChanged):
            message.kinds |= self.kinds
            return True
        return False


@dataclass
class PodsPolled(Message):
    """A pods poll returned: what changed since the previous poll.

    A queued ``PodsPolled`` absorbs the older one it replaces, so no change is lost.
    """

    changed: list[PodInfo]
    """Pods new or changed since the previous poll (every pod, the first time)."""
    removed: frozenset[str]
    """Names of the pods gone since the previous poll."""
    at: datetime
    """Run-clock time of the poll."""

    def can_replace(self, message: Message) -> bool:
        # Textual asks the message about to be handled whether the next queued one may
        # replace it: fold our changes under the newer ones first.
        if not isinstance(message, PodsPolled):
            return False
        newer = {p.name for p in message.changed} | message.removed
        kept = [p for p in self.changed if p.name not in newer]
        message.changed = kept + message.changed
        message.removed = (self.removed - newer) | message.removed
        return True


@dataclass
class SourceFailed(Message):
    """A data source failed; its panel turns stale and shows ``error``."""

    source: str
    """``pods`` or ``engine``."""
    error: str
    """One readable line."""
    at: datetime
    """Run-clock time of the failure."""
