"""The intent inbox: operator actions sent from a control room on another host."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Intent:
    """An operator action sent by a control room on another host, for the driver to apply."""

    run_id: str
    action: str
    """An :class:`b2tui.engine.api.Action` value."""
    user: str
    """Who sent it, as the cluster knows them (the audit log's name)."""
    arg: str = ""
    """The checklist item of a sign-off; empty otherwise."""
    id: str = ""
    role: str = ""
    """The ``[roles]`` role whose sign-off inbox it came through: the API server let the
    sender write that inbox (RBAC), so they hold that role. Empty: the general inbox,
    where the sender's name is only the sender's claim."""
    named: bool = False
    """True when the inbox itself names the sender (a user's own inbox, which RBAC lets
    that user alone write): ``user`` is then the API server's word, not the sender's."""


class IntentInbox(Protocol):
    """Where intents for a run another host drives are written and claimed."""

    user: str
    """Who this process is to the cluster (written into the intents it sends)."""

    def why_not(self) -> str | None:
        """None when this user may send intents, else one line saying why not."""
        ...

    def why_not_sign(self, item: str) -> str | None:
        """None when this user may send a sign-off of ``item``, else one line saying why
        not (with ``[roles]``: RBAC on the item's role inbox)."""
        ...

    def submit(self, intent: Intent) -> None:
        """Send ``intent``; raises :class:`~b2tui.ports.SourceError` with one line."""
        ...

    def serve(self, run_id: str, on_intent: Callable[[Intent], None]) -> Callable[[], None]:
        """Driver side: hand every intent for ``run_id`` to ``on_intent`` exactly once
        (from a thread); returns the function that stops it."""
        ...
