"""Fixtures of the UI tests: a real Conductor on the sandbox, held at a chosen state."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest

from b2tui.domain import events as ev
from b2tui.screenshots import SceneRun, open_scene
from b2tui.ui.app import ControlRoom


@dataclass
class Room:
    """A held sandbox run, the events it emitted since, and the notifications shown."""

    run: SceneRun
    events: list[ev.Event] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)

    def app(self, **kw: object) -> ControlRoom:
        app = self.run.make_app(**kw)  # type: ignore[arg-type]
        original = app.notify

        def notify(message: str, **kwargs: object) -> None:
            self.notices.append(str(message))
            original(message, **kwargs)  # type: ignore[arg-type]

        app.notify = notify  # type: ignore[method-assign]
        return app

    def of(self, kind: type[ev.Event]) -> list[ev.Event]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
async def room_at() -> AsyncIterator[Callable[[str], object]]:
    """``await room_at("canary-holding-5")`` → a :class:`Room`; stopped after the test."""
    rooms: list[Room] = []

    async def open_(name: str) -> Room:
        run = await open_scene(name)
        room = Room(run)
        run.conductor.subscribe(room.events.append)
        rooms.append(room)
        return room

    yield open_
    for room in rooms:
        await room.run.conductor.stop()
