"""Fixtures that build a conductor around the sandbox with a virtual clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from b2tui.adapters.sandbox import Sandbox, build_sandbox
from b2tui.adapters.store import Store
from b2tui.config import Settings, sandbox_settings
from b2tui.domain import events as ev
from b2tui.domain.phases import Strategy
from b2tui.engine.clock import SteppedClock
from b2tui.engine.conductor import Conductor

T0 = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)


@dataclasses.dataclass
class Rig:
    """A conductor, its sandbox, store, clock, and every event it emitted."""

    conductor: Conductor
    sandbox: Sandbox
    store: Store
    clock: SteppedClock
    settings: Settings
    events: list[ev.Event]

    def of(self, kind: type[ev.Event]) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


def settings_for(strategy: Strategy = Strategy.CANARY, **gates: Any) -> Settings:
    s = sandbox_settings()
    prod = dataclasses.replace(s.environment("production"), strategy=strategy)
    return dataclasses.replace(
        s,
        environments={**s.environments, "production": prod},
        gates=dataclasses.replace(s.gates, **gates),
    )


@pytest.fixture
def make_rig(tmp_path: Any) -> Callable[..., Rig]:
    def make(
        scenario: str = "happy",
        *,
        strategy: Strategy = Strategy.CANARY,
        autopilot: bool = True,
        store: Store | None = None,
        settings: Settings | None = None,
        seed: int = 7,
    ) -> Rig:
        settings = settings or settings_for(strategy)
        clock = SteppedClock(T0)
        sandbox = build_sandbox(scenario, seed, clock, settings, strategy)
        store = store or Store(tmp_path / "state.db")
        conductor = Conductor(
            settings,
            sandbox.ports,
            store,
            clock,
            user="ana@jump",
            autopilot=autopilot,
            autopilot_user="sandbox",
        )
        events: list[ev.Event] = []
        conductor.subscribe(events.append)
        return Rig(conductor, sandbox, store, clock, settings, events)

    return make
