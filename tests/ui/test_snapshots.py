"""Snapshots of the key states, on the real Conductor and sandbox: the full-colour theme
at 80×24 and 120×40, and the 16-colour and ``NO_COLOR`` themes at 80×24 as sets of their own.

Nothing drawn depends on the terminal the tests run in: every app here fixes its colour
mode (``full``, ``16`` or ``none``) instead of reading ``TERM``, ``COLORTERM`` or
``NO_COLOR``, so ``make test`` draws the same pictures under any ``TERM``. Each scene is
driven to its state on a held :class:`SteppedClock` and the engine is then stopped, so
the clock is frozen and nothing on screen depends on real time; toasts are frozen too
(they never time out while a test runs), so a slow machine shows the same toast as a
fast one. States that an operator reaches by keys (paused, a tab, the filter, help, gate
details, abort) press those keys on the held run. Update with ``pytest
--snapshot-update`` only after reading the report (the SVGs are text: ``grep``-able).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from b2tui.screenshots import SCENES, SIZES, SceneRun, open_scene
from b2tui.ui.app import ControlRoom

SNAPSHOTS = Path(__file__).parent / "__snapshots__" / Path(__file__).stem
TOAST_FROZEN = 24 * 3600.0
"""Seconds every toast of a snapshot stays up: longer than any test, so a toast raised
by a key is still the one on screen when the picture is taken, however slow the machine."""


def freeze_toasts(app: ControlRoom) -> ControlRoom:
    """Make every toast ``app`` raises stay until the test ends (see :data:`TOAST_FROZEN`)."""
    notify = app.notify

    def frozen(message: str, **kwargs: object) -> None:
        kwargs["timeout"] = TOAST_FROZEN
        notify(message, **kwargs)  # type: ignore[arg-type]

    app.notify = frozen  # type: ignore[method-assign]
    return app


def _held_app(name: str, colours: str = "full") -> ControlRoom:
    # snap_compare runs the app in its own event loop: drive the run in another one,
    # then stop the engine (its state and view stay) so the picture cannot move.
    async def build() -> SceneRun:
        run = await open_scene(name)
        await run.conductor.stop()
        return run

    return freeze_toasts(asyncio.run(build()).make_app(colours=colours))


async def _settle(pilot) -> None:  # type: ignore[no-untyped-def]
    await pilot.app.workers.wait_for_complete()  # the first pods poll
    await pilot.pause()


def _pressing(*keys: str):  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _settle(pilot)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("scene", [s.name for s in SCENES])
def test_scene(snap_compare, scene: str, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(_held_app(scene), terminal_size=size, run_before=_settle)


@pytest.mark.parametrize("scene", [s.name for s in SCENES])
def test_scene_in_16_colours(snap_compare, scene: str) -> None:  # type: ignore[no-untyped-def]
    # TERM=xterm: the ANSI theme; allowed keys bold reversed, dimmed ones struck through.
    app = _held_app(scene, colours="16")
    assert snap_compare(app, terminal_size=(80, 24), run_before=_settle)


@pytest.mark.parametrize("scene", [s.name for s in SCENES])
def test_scene_without_colour(snap_compare, scene: str) -> None:  # type: ignore[no-untyped-def]
    # NO_COLOR: the full theme in shades of grey.
    app = _held_app(scene, colours="none")
    assert snap_compare(app, terminal_size=(80, 24), run_before=_settle)


@pytest.mark.parametrize("scene", [s.name for s in SCENES])
def test_the_three_colour_sets_differ(scene: str) -> None:
    # Three sets that were the same picture would test one theme three times.
    shots = {
        mode: (SNAPSHOTS / f"{test}[{scene}{suffix}].svg").read_text()
        for mode, test, suffix in (
            ("full", "test_scene", "-80x24"),
            ("16", "test_scene_in_16_colours", ""),
            ("none", "test_scene_without_colour", ""),
        )
    }
    assert shots["full"] != shots["16"]
    assert shots["full"] != shots["none"]
    assert shots["16"] != shots["none"]


STATES: dict[str, tuple[str, tuple[str, ...]]] = {
    "paused": ("canary-holding-5", ("p",)),
    "pods-tab": ("canary-holding-5", ("2",)),
    "filter-typing": ("canary-holding-5", ("slash", "c", "a")),
    "help": ("canary-holding-5", ("question_mark",)),
    "gate-details": ("gates-no-data", ("1", "enter")),
    "checklist-focused": ("readiness-blocked", ("3",)),
    "signed-three": ("readiness-blocked", ("3", "space", "space")),
    "aborted": ("readiness-blocked", ("A",)),
}
"""State name → (scene, keys pressed on it)."""


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
@pytest.mark.parametrize("state", list(STATES))
def test_state(snap_compare, state: str, size: tuple[int, int]) -> None:  # type: ignore[no-untyped-def]
    scene, keys = STATES[state]
    assert snap_compare(_held_app(scene), terminal_size=size, run_before=_pressing(*keys))


def test_replay_of_the_rolled_back_run_at_its_end(snap_compare) -> None:  # type: ignore[no-untyped-def]
    # b2tui replay: the recorded run of the rolled-back scene, shown at its last event
    # (tests/ui/test_replay.py checks these panels equal the live room's).
    from b2tui.engine.replay import Replay
    from b2tui.ui.replay import make_replay_app

    async def build() -> tuple[SceneRun, Replay]:
        run = await open_scene("rolled-back")
        await run.conductor.stop()
        c = run.conductor
        return run, Replay(c.run_id, [e for _, e in c.store.events(c.run_id)])

    run, replay = asyncio.run(build())
    app = freeze_toasts(make_replay_app(run.settings, replay, colours="full"))
    assert snap_compare(app, terminal_size=(80, 24), run_before=_pressing("end"))
