"""Key states of a run, on the sandbox, as SVG screenshots (``make screenshots``).

``python -m b2tui.screenshots DIR`` writes ``<scene>-<cols>x<rows>.svg`` for every
scene of :data:`SCENES` at 120×40 and 80×24. The snapshot tests open the same scenes.

This module is a composition root, like the CLI: it wires the sandbox adapters to the
real :class:`~b2tui.engine.conductor.Conductor`. It is the one UI module allowed to
import adapters (see the import-linter contract in ``pyproject.toml``); the app and its
widgets never do.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from b2tui.adapters.sandbox import build_sandbox
from b2tui.adapters.store import Store
from b2tui.config import Settings, sandbox_settings
from b2tui.domain.phases import Outcome, Phase
from b2tui.domain.view import RunView
from b2tui.engine.api import RunSession
from b2tui.engine.clock import SteppedClock
from b2tui.engine.conductor import Conductor
from b2tui.ports import PodInfo
from b2tui.ui.app import ControlRoom, make_app

START = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)
"""Run-clock start of every scene: screenshots never show real time."""
SEED = 7
"""Sandbox seed of every scene: same pods, same values."""
SIZES = ((120, 40), (80, 24))
"""Terminal sizes shot."""
USER = "ana@jump"
"""Operator of the scenes."""


def _readiness_blocked(v: RunView) -> bool:
    checks = [c for c in v.checks.values() if c.group == "readiness"]
    automatic_done = all(c.state != "pending" for c in checks if not c.manual)
    return v.phase is Phase.READINESS and bool(checks) and automatic_done


def _canary_holding(v: RunView) -> bool:
    has_canary_gates = any(t == "canary" for t, _ in v.gates)
    return (
        v.phase is Phase.PRODUCTION
        and v.canary_percent == 5
        and v.hold_until is not None
        and has_canary_gates
    )


def _no_data(v: RunView) -> bool:
    prod = [s for s in v.gates.values() if s.phase is Phase.PRODUCTION]
    return len(prod) >= 3 and all(s.status == "unknown" for s in prod[-3:])


def _stage_2(v: RunView) -> bool:
    return v.phase is Phase.MONITORING and v.stage_number == 2


def _rolled_back(v: RunView) -> bool:
    return v.outcome is Outcome.ROLLED_BACK


def _aborted(v: RunView) -> bool:
    return v.outcome is Outcome.ABORTED


@dataclass(frozen=True)
class Scene:
    """A named state of a sandbox run."""

    name: str
    """File-name stem, e.g. ``canary-holding-5``."""
    scenario: str
    """Sandbox scenario played."""
    autopilot: bool
    """Sign manual items and advance whenever gates allow (False: wait for keys)."""
    until: Callable[[RunView], bool]
    """The run is stopped as soon as this holds."""


SCENES: tuple[Scene, ...] = (
    Scene("readiness-blocked", "happy", False, _readiness_blocked),
    Scene("canary-holding-5", "happy", True, _canary_holding),
    Scene("gates-no-data", "metrics-outage", True, _no_data),
    Scene("monitoring-stage-2", "happy", True, _stage_2),
    Scene("rolled-back", "prod-error-spike", True, _rolled_back),
    Scene("staging-crashloop", "staging-crashloop", True, _aborted),
)
"""The key states the README shows and the snapshot tests pin."""


@dataclass
class SceneRun:
    """A sandbox run held at a scene's state."""

    settings: Settings
    conductor: Conductor
    clock: SteppedClock
    pods: Callable[[], Awaitable[list[PodInfo]]]

    def make_app(
        self,
        *,
        session: RunSession | None = None,
        pods: Callable[[], Awaitable[list[PodInfo]]] | None = None,
        runner: Callable[[], Awaitable[object]] | None = None,
        colours: str = "auto",
        greeting: str | None = None,
    ) -> ControlRoom:
        """A fresh control room over the held run (an App instance runs once).

        Args:
            session: Another session on the same run (a watcher); default the conductor.
            pods: Another pod source; default the sandbox's pods.
            runner: The engine coroutine factory; default none (the run is held).
            colours: ``auto``, ``full``, ``16`` or ``none`` (see
                :class:`~b2tui.ui.app.RoomOptions`).
            greeting: A toast said once when the room opens.
        """
        return make_app(
            self.settings,
            session if session is not None else self.conductor,
            clock=self.clock,
            pods=pods if pods is not None else self.pods,
            runner=runner,
            user=USER,
            colours=colours,
            greeting=greeting,
        )


def scene(name: str) -> Scene:
    """The scene called ``name``; ValueError lists the known ones."""
    for s in SCENES:
        if s.name == name:
            return s
    raise ValueError(f"unknown scene {name!r} (known: {', '.join(s.name for s in SCENES)})")


async def open_scene(which: Scene | str, *, seed: int = SEED) -> SceneRun:
    """Drive a sandbox run with the real conductor until the scene's state, then hold it.

    The clock stays held: nothing on screen moves. Call ``conductor.stop()`` when done.
    """
    sc = scene(which) if isinstance(which, str) else which
    settings = sandbox_settings()
    clock = SteppedClock(START)
    sandbox = build_sandbox(sc.scenario, seed, clock, settings)
    conductor = Conductor(
        settings, sandbox.ports, Store(":memory:"), clock, user=USER, autopilot=sc.autopilot
    )
    await conductor.start(version="1a2b3c4d", scenario=sc.scenario)
    await conductor.run_until(sc.until)
    cluster = sandbox.ports.cluster
    where = {env.name: env for env in (conductor.target, conductor.staging_target)}

    async def pods() -> list[PodInfo]:
        # Staging's pods until production starts, as the CLI shows them.
        early = (Phase.READINESS, Phase.VALIDATE, Phase.STAGING, Phase.SMOKE)
        name = "staging" if conductor.view.phase in early else "production"
        return await cluster.pods(where[name])

    return SceneRun(settings, conductor, clock, pods)


async def shoot(directory: Path) -> list[Path]:
    """Write every scene at every size into ``directory``; returns the files written."""
    await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
    written = []
    for sc in SCENES:
        run = await open_scene(sc)
        try:
            for cols, rows in SIZES:
                app = run.make_app(colours="full")  # not the terminal's: the same files
                async with app.run_test(size=(cols, rows)) as pilot:
                    await pilot.pause()
                    await app.workers.wait_for_complete()
                    await pilot.pause()
                    name = f"{sc.name}-{cols}x{rows}.svg"
                    app.save_screenshot(filename=name, path=str(directory))
                    written.append(directory / name)
        finally:
            await run.conductor.stop()
    return written


def main(argv: list[str] | None = None) -> int:
    """``python -m b2tui.screenshots DIR``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m b2tui.screenshots DIR", file=sys.stderr)
        return 2
    for path in asyncio.run(shoot(Path(args[0]))):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
