"""`b2tui replay`: the control room over a recorded sandbox run, read-only.

The replay of a run that rolled back reaches the screen the live room showed at its end
(the panels below the header: gates, timeline, canary); its keys step, jump and play;
nothing it does reaches the run.
"""

from __future__ import annotations

import io

from rich.console import Console

from b2tui.domain import events as ev
from b2tui.engine.api import Action
from b2tui.engine.replay import Replay
from b2tui.ui.replay import make_replay_app
from tests.ui.test_pilot import NARROW, until


def screen_text(app) -> list[str]:  # type: ignore[no-untyped-def]
    """The screen as plain text lines (as Textual's screenshot renders it)."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        record=True,
        force_terminal=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text().splitlines()


def recorded(room) -> Replay:  # type: ignore[no-untyped-def]
    conductor = room.run.conductor
    events = [e for _, e in conductor.store.events(conductor.run_id)]
    return Replay(conductor.run_id, events, speed=10000)


async def test_replay_reaches_the_live_rooms_final_screen(room_at) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("rolled-back")
    live = room.app()
    async with live.run_test(size=NARROW) as pilot:
        await pilot.pause()
        live_screen = screen_text(live)
    replay = recorded(room)
    app = make_replay_app(room.run.settings, replay, colours="auto")
    async with app.run_test(size=NARROW) as pilot:
        await pilot.press("end")
        await pilot.pause()
        assert replay.at_end and replay.view.finished
        shown = screen_text(app)
    # Header (who drives) and footer (the replay's keys) differ; the run does not.
    assert shown[1:-1] == live_screen[1:-1]
    assert any("ROLLBACK (engine): error_rate" in line for line in shown)
    # The header's clock is the run's time at its end, as the live room's was.
    assert shown[0].split()[-2:] == live_screen[0].split()[-2:]


async def test_keys_step_jump_and_play_and_nothing_changes_the_run(room_at) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("rolled-back")
    replay = recorded(room)
    n = len(replay.events)
    rollback = next(i for i, e in enumerate(replay.events) if isinstance(e, ev.RollbackStarted))
    app = make_replay_app(room.run.settings, replay)
    async with app.run_test(size=NARROW) as pilot:
        assert replay.position == 0
        await pilot.press("right", "right")
        assert replay.position == 2
        await pilot.press("left")
        assert replay.position == 1
        await pilot.press("right_square_bracket")
        assert replay.position > 1 and isinstance(
            replay.events[replay.position - 1], ev.PhaseStarted
        )
        await pilot.press("end", "left_square_bracket")  # from the end back to the rollback
        assert replay.position == rollback + 1 and replay.view.rolling_back
        # The breach that caused it is on screen: the canary's error rate FAILs.
        assert replay.view.gates[("canary", "error_rate")].status == "fail"
        await pilot.pause()
        assert any("FAIL" in line for line in screen_text(app))
        # The clock shows the run's time of the event shown.
        assert replay.clock.now() == replay.events[rollback].ts
        await pilot.press("home", "space")
        await until(pilot, lambda: replay.at_end, "the replay to play to the end", tries=5000)
        assert not replay.playing and replay.view.outcome is not None
        assert replay.why_not(Action.ROLLBACK) is not None
        assert not replay.rollback("ana").accepted
    # The recorded run is untouched.
    assert len(list(room.run.conductor.store.events(room.run.conductor.run_id))) == n
