"""What the UI may ask of a run, and what it can watch.

A :class:`RunSession` is either the driver (the engine in this process) or a watcher
(another process drives; events come from the store). Both expose the same
:class:`~b2tui.domain.view.RunView` and event subscription; only the driver accepts
intents. Intents are synchronous: they record the audit entry and the event at once
and start any slow work (a rollback's API calls) as a task, so the screen can say so
in the same frame. :class:`Subscribers` is the one event fan-out both kinds of session use.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from b2tui.domain.events import Event
from b2tui.domain.view import RunView

log = logging.getLogger(__name__)


class Action(StrEnum):
    """Operator intents. The UI's bindings map onto these."""

    ADVANCE = "advance"
    CANARY_UP = "canary_up"
    CANARY_DOWN = "canary_down"
    PAUSE = "pause"
    SIGN_OFF = "sign_off"
    ROLLBACK = "rollback"
    ABORT = "abort"
    """End the run: ``aborted`` before production is touched, else a rollback."""


@dataclass(frozen=True)
class IntentResult:
    accepted: bool
    message: str
    """What happened, or why not — shown to the operator as is."""


class RunSession(Protocol):
    view: RunView
    """The run as folded from its events so far."""
    read_only: bool
    """True for a watcher: intents are refused, dangerous keys are not bound."""
    drives_here: bool
    """True when this process drives the run; False when it follows a driver elsewhere
    (a watcher, or an attached room whose intents the driver applies)."""

    @property
    def driver(self) -> str:
        """Who drives the run (``user@host pid N``)."""
        ...

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback`` for every new event (after the view folded it); returns an
        unsubscribe function. Callbacks run on the event loop and must not block."""
        ...

    def why_not(self, action: Action, item: str | None = None) -> str | None:
        """None when ``action`` is allowed now, else one line saying why not."""
        ...

    def advance(self, user: str) -> IntentResult: ...

    def step_canary(self, delta: int, user: str) -> IntentResult:
        """``+1``: next canary step (when gates allow); ``-1``: previous step (always)."""
        ...

    def set_canary(self, percent: int, user: str) -> IntentResult: ...

    def toggle_pause(self, user: str) -> IntentResult: ...

    def sign_off(self, item: str, user: str) -> IntentResult: ...

    def rollback(self, user: str, reason: str = "operator request") -> IntentResult:
        """Roll back now. A second request is a no-op that says so."""
        ...

    def abort(self, user: str) -> IntentResult:
        """End the run now. Before production is touched the run ends ``aborted`` (reason
        ``aborted by <user>``); after, it is a rollback to the known-good revision with
        that reason. Audited; refused once the run finished or a rollback runs."""
        ...


class Subscribers:
    """A session's event fan-out: callbacks in the order they subscribed.

    A failing callback is logged and skipped: a broken subscriber must not stop the run.
    """

    def __init__(self) -> None:
        self._callbacks: list[Callable[[Event], None]] = []

    def add(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Subscribe ``callback``; returns the function that unsubscribes it."""
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(callback)

        return unsubscribe

    def __call__(self, event: Event) -> None:
        for cb in list(self._callbacks):
            try:
                cb(event)
            except Exception:
                log.exception("event subscriber failed")
