"""Snapshots of the key states, on the real Conductor and sandbox, at 80×24 and 120×40.

Each scene is driven to its state on a held :class:`SteppedClock` and the engine is then
stopped, so the clock is frozen and nothing on screen depends on real time. Update with
``pytest --snapshot-update`` only after reading the report.
"""

from __future__ import annotations

import asyncio

import pytest

from b2tui.screenshots import SCENES, SIZES, SceneRun, open_scene
from b2tui.ui.app import ControlRoom


def _held_app(name: str) -> ControlRoom:
    # snap_compare runs the app in its own event loop: drive the run in another one,
    # then stop the engine (its state and view stay) so the picture cannot move.
    async def build() -> SceneRun:
        run = await open_scene(name)
        await run.conductor.stop()
        return run

    return asyncio.run(build()).make_app()


async def _settle(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.app.workers.wait_for_complete()  # the first pods poll
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("scene", [s.name for s in SCENES])
def test_scene(snap_compare, scene: str, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(_held_app(scene), terminal_size=size, run_before=_settle)
