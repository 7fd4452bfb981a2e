"""The sandbox as a whole: the six ports over one simulated world, and its snapshot."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from b2tui.adapters.sandbox.cluster import SandboxCluster
from b2tui.adapters.sandbox.metrics import SandboxMetrics
from b2tui.adapters.sandbox.scenarios import FAULTS, Scenario, scenario
from b2tui.adapters.sandbox.tools import (
    SandboxChecks,
    SandboxCommands,
    SandboxImages,
    SandboxNotifier,
)
from b2tui.adapters.sandbox.world import World
from b2tui.config import Settings
from b2tui.domain.phases import Strategy
from b2tui.ports import Notification, Ports

if TYPE_CHECKING:
    from b2tui.ports.clock import Clock

SNAPSHOT_FORMAT = 1


class Sandbox:
    """An in-process cluster, metrics source and tool chain playing one scenario.

    Build it with :func:`build_sandbox`. Everything it simulates is a function of its
    state and the clock, so :meth:`snapshot` after any mutation, and :meth:`restore`
    into a sandbox built with the same scenario and seed, resumes it exactly.
    """

    def __init__(
        self, scenario: Scenario, seed: int, clock: Clock, settings: Settings, strategy: Strategy
    ) -> None:
        self.scenario = scenario
        """The scenario being played."""
        self.seed = seed
        """Noise seed: same seed, same pods and values."""
        self.strategy = strategy
        """Production layout (canary, blue-green or direct)."""
        self.clock = clock
        self.world = World(
            seed,
            scenario.name,
            FAULTS[scenario.name],
            settings,
            strategy,
            clock.now().timestamp(),
        )
        """The simulated cluster state."""
        self.notes: list[Notification] = []
        """What the notifier received, oldest first."""
        self.on_change: Callable[[], None] | None = None
        """Called after every mutation (the CLI persists :meth:`snapshot` there)."""
        self.ports = Ports(
            cluster=SandboxCluster(self.world, clock, self._changed),
            metrics=SandboxMetrics(self.world, clock, settings),
            images=SandboxImages(self.world, clock, self._changed),
            commands=SandboxCommands(self.world, clock),
            checks=SandboxChecks(self.world, clock),
            notifier=SandboxNotifier(self.notes, self._changed),
        )
        """The six ports the engine drives a run through."""

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def snapshot(self) -> dict[str, Any]:
        """JSON-serialisable state: world, registry and notifications."""
        return {
            "format": SNAPSHOT_FORMAT,
            "scenario": self.scenario.name,
            "seed": self.seed,
            "strategy": self.strategy.value,
            "world": self.world.to_dict(),
            "notes": [dataclasses.asdict(n) for n in self.notes],
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`snapshot` output.

        Raises:
            ValueError: the snapshot is of another format, scenario, seed or strategy.
        """
        if state.get("format") != SNAPSHOT_FORMAT:
            raise ValueError(
                f"sandbox snapshot format {state.get('format')!r} is not {SNAPSHOT_FORMAT};"
                " start a new run"
            )
        mine = (self.scenario.name, self.seed, self.strategy.value)
        theirs = (state.get("scenario"), state.get("seed"), state.get("strategy"))
        if mine != theirs:
            raise ValueError(
                f"sandbox snapshot is of scenario {theirs[0]} seed {theirs[1]} strategy"
                f" {theirs[2]}, this sandbox plays {mine[0]} seed {mine[1]} strategy {mine[2]};"
                " build the sandbox with the snapshot's values"
            )
        self.world.load(state["world"])
        # The notifier holds this very list: refill it rather than replace it.
        self.notes[:] = [Notification(**n) for n in state.get("notes", [])]


def build_sandbox(
    scenario_name: str,
    seed: int,
    clock: Clock,
    settings: Settings,
    strategy: Strategy = Strategy.CANARY,
) -> Sandbox:
    """A sandbox playing ``scenario_name``.

    Args:
        scenario_name: one of :data:`~b2tui.adapters.sandbox.scenarios.SCENARIOS`.
        seed: noise seed.
        clock: the run's clock (``VirtualClock`` in tests).
        settings: environments and gates (``b2tui.config.sandbox_settings()``).
        strategy: production layout.

    Raises:
        ValueError: unknown scenario (the message lists the known ones).
    """
    return Sandbox(scenario(scenario_name), seed, clock, settings, Strategy(strategy))
