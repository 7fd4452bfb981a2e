"""The control room calls the on-call: the bytes it writes to the terminal's driver.

The app writes the bell and the OSC 9 / OSC 777 notifications through Textual's driver
(``app._driver.write``); these tests read what reaches it. The tmux test
(``tests/integration/test_tmux_bell.py``) shows the bell reaching a real tmux.
"""

from __future__ import annotations

import dataclasses

from b2tui.config import TerminalSettings
from b2tui.domain import events as ev
from b2tui.ui.app import make_app
from b2tui.ui.terminal_calls import TerminalPrefs
from tests.ui.test_pilot import NARROW, until


def capture(app) -> list[str]:  # type: ignore[no-untyped-def]
    """Everything the app writes to its driver from now on."""
    written: list[str] = []
    app._driver.write = written.append
    return written


async def test_R_rings_once_with_a_notification_and_a_second_R_does_not(room_at) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("canary-holding-5")
    app = room.app()
    app.terminal = TerminalPrefs()
    async with app.run_test(size=NARROW) as pilot:
        written = capture(app)
        await pilot.press("R")
        await until(pilot, lambda: any("\a" in w for w in written), "the bell")
        calls = [w for w in written if "\a" in w]
        assert len(calls) == 1
        assert calls[0].startswith("\a\x1b]9;b2tui: b2connect ROLLING BACK: rollback (")
        assert "\x1b]777;notify;b2tui: b2connect ROLLING BACK;rollback (" in calls[0]
        await pilot.press("R")  # refused: no new occurrence
        await pilot.pause()
        assert [w for w in written if "\a" in w] == calls
        assert len(room.of(ev.RollbackStarted)) == 1


async def test_a_pause_rings_inside_tmux_wrapped_for_passthrough(room_at) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("canary-holding-5")
    app = room.app()
    app.terminal = TerminalPrefs(tmux=True)
    async with app.run_test(size=NARROW) as pilot:
        written = capture(app)
        await pilot.press("p")
        await until(pilot, lambda: any("\a" in w for w in written), "the bell")
        (call,) = [w for w in written if "\a" in w]
        assert call.startswith("\a\x1bPtmux;\x1b\x1b]9;b2tui: b2connect paused: paused: paused by ")
        assert call.count("\x1bPtmux;") == 2 and call.endswith("\x1b\\")


async def test_terminal_settings_switch_bell_and_notifications_off(room_at) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("canary-holding-5")
    run = room.run
    quiet = dataclasses.replace(run.settings, terminal=TerminalSettings(bell=False, notify=False))
    app = make_app(quiet, run.conductor, clock=run.clock, pods=run.pods, user="ana@jump")
    assert not app.terminal.bell and not app.terminal.notify
    async with app.run_test(size=NARROW) as pilot:
        written = capture(app)
        await pilot.press("R")
        await until(pilot, lambda: run.conductor.view.rollback_started is not None, "rollback")
        await pilot.pause()
        assert not [w for w in written if "\a" in w or "\x1b]" in w]


async def test_w_after_a_rollback_writes_the_incident_up(room_at) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("canary-holding-5")
    run = room.run
    calls: list[str] = []

    def write() -> str:
        calls.append("written")
        return "wrote /tmp/postmortem-r1.md"

    app = make_app(
        run.settings,
        run.conductor,
        clock=run.clock,
        pods=run.pods,
        user="ana@jump",
        postmortem=write,
    )
    notices: list[str] = []
    original = app.notify
    app.notify = lambda message, **kw: (notices.append(str(message)), original(message, **kw))  # type: ignore[method-assign]
    async with app.run_test(size=NARROW) as pilot:
        await pilot.press("w")  # before any rollback: not offered yet
        await pilot.pause()
        assert calls == [] and notices[-1].startswith("the write-up is offered once")
        await pilot.press("R")
        await until(pilot, lambda: run.conductor.view.rollback_started is not None, "rollback")
        await pilot.press("w")
        await until(pilot, lambda: calls == ["written"], "the write-up")
        await until(pilot, lambda: notices[-1] == "wrote /tmp/postmortem-r1.md", "said where")
