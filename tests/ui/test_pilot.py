"""Pilot tests: every key against the real Conductor on the sandbox.

Assertions are on the engine events the session emitted (and on what the screen shows);
waiting is done by yielding to the app (``pilot.pause``), never by sleeping.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import timedelta

import pytest

from b2tui.domain import events as ev
from b2tui.domain.people import Roles
from b2tui.domain.phases import Phase
from b2tui.domain.view import RunView
from b2tui.engine.api import Action, IntentResult
from b2tui.engine.watch import SigningWatcher, Watcher
from b2tui.ports import PodInfo, PodPhase, SourceError
from b2tui.screenshots import START, USER
from b2tui.ui.bindings import INTENTS
from b2tui.ui.messages import ALL_PANELS, PodsPolled, RunChanged, SourceFailed
from b2tui.ui.widgets.checklist import ChecklistPanel
from b2tui.ui.widgets.help import HelpScreen
from b2tui.ui.widgets.pods import PodsPanel
from b2tui.ui.widgets.timeline import TimelinePanel

WIDE = (120, 40)
NARROW = (80, 24)


async def until(pilot, cond: Callable[[], bool], what: str, tries: int = 200) -> None:  # type: ignore[no-untyped-def]
    """Yield to the app until ``cond`` holds (bounded; no sleeping)."""
    for _ in range(tries):
        if cond():
            return
        await pilot.pause()
    pytest.fail(f"never happened: {what}")


def acted(room, action: str) -> list[ev.OperatorActed]:  # type: ignore[no-untyped-def]
    return [e for e in room.of(ev.OperatorActed) if e.action == action]  # type: ignore[misc]


async def test_space_signs_off_the_selected_item_and_readiness_moves_on(room_at) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("readiness-blocked")
    app = room.app()
    async with app.run_test(size=WIDE) as pilot:
        checklist = app.query_one(ChecklistPanel)
        assert checklist.query_one("#blockers").text.startswith(  # type: ignore[attr-defined]
            "blocked by: Code review approved (code author)"
        )
        for key in ("review_approved", "docs_updated", "rollback_plan"):
            checklist.select_item(key)
            await pilot.pause()
            await pilot.press("space")
            signed = [e for e in room.of(ev.ChecklistChanged) if e.item == key]  # type: ignore[attr-defined]
            assert signed and signed[-1].state == "passed" and signed[-1].by == USER  # type: ignore[attr-defined]
            row = checklist.table.get_row(key)
            assert row[2].startswith(USER)
        assert [e.accepted for e in acted(room, "sign-off")] == [True, True, True]
        # Every required item passed: the engine leaves readiness on its own.
        await until(
            pilot,
            lambda: any(e.phase is Phase.VALIDATE for e in room.of(ev.PhaseStarted)),
            "validate started",
        )


async def test_dimmed_key_is_visible_and_pressing_it_says_why(room_at) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("readiness-blocked")
    app = room.app()
    async with app.run_test(size=WIDE) as pilot:
        reason = room.run.conductor.why_not(Action.CANARY_UP)
        assert reason is not None
        assert app.check_action("canary_up", ()) is None  # dimmed, not hidden
        assert app.check_action("advance", ()) is None
        footer_keys = {b.binding.key: b.enabled for b in app.screen.active_bindings.values()}
        assert footer_keys["plus"] is False and footer_keys["n"] is False
        before = len(room.events)
        await pilot.press("plus")
        await pilot.press("n")
        assert reason in room.notices
        refusal = room.notices[-1]
        assert refusal.startswith("readiness waiting for: Code review approved")
        # ... and says how to give what it waits for.
        assert refusal.endswith("— press 3, pick 'Code review approved' with ↑/↓, then space")
        # The UI refused before asking the engine: no intent was recorded.
        assert room.events[before:] == []


async def test_pause_key_pauses_and_resumes(room_at) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("canary-holding-5")
    app = room.app()
    async with app.run_test(size=NARROW) as pilot:
        await pilot.press("p")
        assert [e.paused for e in room.of(ev.PauseChanged)] == [True]  # type: ignore[attr-defined]
        assert "PAUSED" in app.query_one("#timeline-now").text  # type: ignore[attr-defined]
        # Paused: promotion is refused, and the footer says so.
        assert app.check_action("canary_up", ()) is None
        await pilot.press("p")
        assert [e.paused for e in room.of(ev.PauseChanged)] == [True, False]  # type: ignore[attr-defined]


async def test_canary_keys_step_down_and_refuse_up_during_hold(room_at) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("canary-holding-5")
    conductor = room.run.conductor
    conductor.autopilot = False  # the operator steps the canary, nobody else
    app = room.app()
    async with app.run_test(size=NARROW) as pilot:
        hold = conductor.why_not(Action.CANARY_UP)
        assert hold is not None and hold.startswith("holding 5%")
        await pilot.press("plus")
        assert hold in room.notices and acted(room, "canary+") == []
        await pilot.press("minus")
        assert [e.detail for e in acted(room, "canary-")] == ["canary 5% → 0%"]
        await until(
            pilot,
            lambda: any(e.canary_percent == 0 for e in room.of(ev.TrafficChanged)),  # type: ignore[attr-defined]
            "traffic back to 0%",
        )
        await until(
            pilot,
            lambda: "asked 0%" in app.query_one("#canary-text").text,  # type: ignore[attr-defined]
            "canary panel shows 0%",
        )


async def test_advance_key_starts_production_when_staging_is_verified(room_at) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("readiness-blocked")
    conductor = room.run.conductor
    # Let the autopilot take the run through smoke, then wait for the operator's n.
    conductor.autopilot = True
    room.run.clock.release()

    def smoke_signed(v: RunView) -> bool:
        smoke = [c for c in v.checks.values() if c.group == "smoke"]
        return v.phase is Phase.SMOKE and bool(smoke) and all(c.state == "passed" for c in smoke)

    await asyncio.wait_for(conductor.run_until(smoke_signed), 30)
    conductor.autopilot = False
    room.run.clock.release()
    await asyncio.wait_for(
        conductor.run_until(
            lambda v: v.last_notice is not None and "press n" in v.last_notice.message
        ),
        30,
    )
    app = room.app()
    async with app.run_test(size=WIDE) as pilot:
        assert app.check_action("advance", ()) is True
        await pilot.press("n")
        assert [e.accepted for e in acted(room, "advance")] == [True]
        await until(
            pilot,
            lambda: any(e.phase is Phase.PRODUCTION for e in room.of(ev.PhaseStarted)),
            "production started",
        )


async def test_rollback_key_emits_rollback_started_and_the_timeline_shows_it(room_at) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("canary-holding-5")
    app = room.app()
    async with app.run_test(size=WIDE) as pilot:
        assert "rollback → rev 7" in app.query_one("#canary-text").text  # type: ignore[attr-defined]
        await pilot.press("R")
        started = room.of(ev.RollbackStarted)
        assert len(started) == 1 and started[0].by == USER  # type: ignore[attr-defined]
        timeline = app.query_one(TimelinePanel)
        assert any(
            t.endswith("ROLLBACK (ana@jump): operator request by ana@jump")
            for t in timeline.entry_texts
        ), timeline.entry_texts
        assert timeline.query_one("#timeline-now").has_class("-alert")
        # A second press is refused (dimmed) and never starts a second rollback.
        assert app.check_action("rollback", ()) is None
        await pilot.press("R")
        assert len(room.of(ev.RollbackStarted)) == 1
        reason = room.run.conductor.why_not(Action.ROLLBACK)
        assert reason is not None and room.notices[-1] == reason


async def test_watcher_binds_no_dangerous_key_and_R_does_nothing(room_at) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("canary-holding-5")
    conductor = room.run.conductor
    watcher = Watcher(conductor.store, conductor.run_id)
    app = room.app(session=watcher)
    async with app.run_test(size=WIDE) as pilot:
        keys = {b.binding.key for b in app.screen.active_bindings.values()}
        assert not keys & {"n", "plus", "minus", "R", "p", "space"}
        assert {"l", "question_mark", "q"} <= keys
        assert all(app.check_action(a, ()) is False for a in INTENTS)
        assert app.query_one("#run-info").text.startswith("watching — driven by")  # type: ignore[attr-defined]
        before = len(room.events)
        for key in ("R", "n", "p", "space", "plus", "minus"):
            await pilot.press(key)
        assert room.events[before:] == []
        assert conductor.view.rollback_started is None and not conductor.view.paused
        titles = [t for t, _, _ in app.palette_commands()]
        assert not [t for t in titles if t.startswith(("Roll", "Advance", "Sign", "Pause"))]
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        help_text = app.screen.text  # type: ignore[attr-defined]
        assert "Rollback" not in help_text and "Help" in help_text


async def test_a_signing_watcher_binds_only_space_and_sends_the_sign_off(room_at) -> None:  # type: ignore[no-untyped-def]
    """A second room on this host's run: ``space`` sends the selected item to the driver
    (here straight onto its loop, as the Unix socket's server does), nothing else acts."""
    room = await room_at("readiness-blocked")
    conductor = room.run.conductor
    loop = asyncio.get_running_loop()
    sent: list[tuple[str, int | None]] = []

    def send(item: str, pid: int | None) -> IntentResult:  # in the watcher's sender thread
        sent.append((item, pid))
        loop.call_soon_threadsafe(conductor.sign_off, item, "bo@jump")
        return IntentResult(True, "sent")

    watcher = SigningWatcher(conductor.store, conductor.run_id, send)
    app = room.app(session=watcher)
    async with app.run_test(size=WIDE) as pilot:
        keys = {b.binding.key for b in app.screen.active_bindings.values()}
        assert "space" in keys and not keys & {"n", "plus", "minus", "R", "p"}
        assert app.check_action("rollback", ()) is False
        await pilot.press("3")
        await pilot.press("space")
        await until(
            pilot,
            lambda: conductor.view.checks["review_approved"].state == "passed",
            "the driver applied the watcher's sign-off",
        )
        assert sent and sent[0][0] == "review_approved"
        assert conductor.view.checks["review_approved"].by == "bo@jump"
        before = len(room.events)
        for key in ("R", "n", "p"):
            await pilot.press(key)
        assert room.events[before:] == []


async def test_space_outside_the_items_role_is_refused_with_who_may(room_at) -> None:  # type: ignore[no-untyped-def]
    """With [roles], the driver's own room refuses a sign-off outside the item's role: one
    line saying who may sign, and the refusal is an audited intent."""
    room = await room_at("readiness-blocked")
    conductor = room.run.conductor
    roles = Roles({"reviewer": ("bo",), "code-author": ("bo",)}, configured=True)
    conductor.settings = dataclasses.replace(conductor.settings, roles=roles)
    conductor.operator.settings = conductor.settings  # the intents judge sign-offs by it
    app = room.app()
    async with app.run_test(size=WIDE) as pilot:
        await pilot.press("3")
        app.query_one(ChecklistPanel).select_item("review_approved")
        await pilot.pause()
        await pilot.press("space")
        refused = acted(room, "sign-off")
        assert refused and not refused[-1].accepted
        assert refused[-1].detail.startswith("Code review approved: role reviewer may sign: bo;")
        assert room.notices[-1] == refused[-1].detail
        assert conductor.view.checks["review_approved"].state == "pending"
        audit = conductor.store.audit_log(conductor.run_id)
        assert [(a.action, a.accepted) for a in audit][-1] == ("sign-off", False)


async def test_palette_commands_follow_the_run_state(room_at) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("readiness-blocked")
    app = room.app()
    async with app.run_test(size=WIDE) as pilot:
        titles = [t for t, _, _ in app.palette_commands()]
        assert "Sign off: Code review approved" in titles
        assert "Advance / promote" not in titles and "Roll back now" not in titles
        sign = dict((t, cb) for t, _, cb in app.palette_commands())[
            "Sign off: Code review approved"
        ]
        sign()
        await pilot.pause()
        assert [e.item for e in room.of(ev.ChecklistChanged)] == ["review_approved"]  # type: ignore[attr-defined]
        titles = [t for t, _, _ in app.palette_commands()]
        assert "Sign off: Code review approved" not in titles


def _pods(n: int, *, crash: str | None = None) -> list[PodInfo]:
    pods = []
    for i in range(n):
        name = f"b2connect-{i:04d}"
        bad = name == crash
        pods.append(
            PodInfo(
                name=name,
                track="canary" if i % 10 == 0 else "stable",
                phase=PodPhase.RUNNING,
                reason="CrashLoopBackOff" if bad else "",
                ready=not bad,
                restarts=7 if bad else i % 3,
                created=START - timedelta(minutes=i % 90),
                image="registry.sandbox/b2connect:production-1a2b3c4",
            )
        )
    return pods


async def test_pods_table_updates_in_place_sorts_and_filters_2000_pods(room_at) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("canary-holding-5")
    healthy, crashing = _pods(2000), _pods(2000, crash="b2connect-1500")
    crash = False  # flipped by the test: the app's own 2 s re-polls may come at any time

    async def source() -> list[PodInfo]:
        return crashing if crash else healthy

    app = room.app(pods=source)
    async with app.run_test(size=WIDE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        panel = app.query_one(PodsPanel)
        table = panel.table
        assert table.row_count == 2000
        table.move_cursor(row=table.get_row_index("b2connect-0042"))
        keys_before = {str(r.key.value) for r in table.ordered_rows}
        crash = True
        app._poll_pods()
        await app.workers.wait_for_complete()
        await pilot.pause()
        # Same rows (no clear/re-add), the changed pod updated in place, cursor kept.
        assert {str(r.key.value) for r in table.ordered_rows} == keys_before
        assert table.get_cell("b2connect-1500", "status") == "CrashLoopBackOff"
        cursor_row = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        assert cursor_row == "b2connect-0042"
        await pilot.press("s")  # name → track
        await pilot.press("s")  # track → status: broken pods first
        assert panel.sort_column == "status"
        assert panel.shown_names[0] == "b2connect-1500"
        await pilot.press("slash")
        await pilot.press(*"1500")
        assert panel.shown_names == ["b2connect-1500"]
        assert "1/2000" in str(panel.border_title)


async def test_failing_pod_source_makes_the_panel_stale_with_the_error(room_at) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("canary-holding-5")

    async def source() -> list[PodInfo]:
        raise SourceError("kube API 127.0.0.1:6443 refused the connection; check the context")

    app = room.app(pods=source)
    async with app.run_test(size=WIDE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        panel = app.query_one(PodsPanel)
        assert panel.has_class("-stale")
        assert str(panel.border_subtitle).startswith("stale –: kube API 127.0.0.1:6443 refused")


async def test_quit_cancels_only_the_engine_task(room_at) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("canary-holding-5")
    cancelled = asyncio.Event()

    async def runner() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    app = room.app(runner=runner)
    async with app.run_test(size=NARROW) as pilot:
        await pilot.pause()
        await pilot.press("q")
    assert cancelled.is_set()
    view = room.run.conductor.view
    assert view.outcome is None and view.rollback_started is None and view.canary_percent == 5


async def test_layout_tabs_below_120_columns_and_grid_above(room_at) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("canary-holding-5")
    app = room.app()
    async with app.run_test(size=NARROW) as pilot:
        assert not app.wide
        assert app.query_one("#layout-tabs").display
        assert not app.query_one(PodsPanel).display
        await pilot.press("l")
        assert app.query_one("#body").has_class("-tab-log")
        assert app.focused is app.query_one("#log-view")
        pods_table = app.query_one(PodsPanel).table
        await pilot.resize_terminal(*WIDE)
        await pilot.pause()
        assert app.wide and app.query_one(PodsPanel).display
        # Same widget in both layouts: nothing was recomposed.
        assert app.query_one(PodsPanel).table is pods_table


async def _sign_pending_with_arrows(pilot, app, group: str) -> list[str]:  # type: ignore[no-untyped-def]
    """As the README says: `3`, the arrow keys to each pending item, `space` on it."""
    await pilot.press("3")
    checklist = app.query_one(ChecklistPanel)
    assert app.focused is checklist.table, "3 must focus the checklist"
    signed = []
    for _ in range(40):
        pending = [
            c.key
            for c in app.session.view.checks.values()
            if c.group == group and c.manual and c.state == "pending"
        ]
        if not pending:
            return signed
        item = checklist.selected_item
        if item in pending:
            await pilot.press("space")
            signed.append(item)
        else:
            await pilot.press("down")
    pytest.fail(f"the arrows never reached every pending {group} item")


@pytest.mark.parametrize("size", [NARROW, WIDE], ids=["80x24", "120x40"])
async def test_readme_first_steps_reach_the_canary(room_at, size) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("readiness-blocked")
    conductor = room.run.conductor
    app = room.app()
    async with app.run_test(size=size) as pilot:
        signed = await _sign_pending_with_arrows(pilot, app, "readiness")
        assert signed == ["review_approved", "docs_updated", "rollback_plan"]
        assert [e.accepted for e in acted(room, "sign-off")] == [True, True, True]
        assert not [n for n in room.notices if "not now" in n]
        # The run goes on to smoke, whose manual checks wait for the operator too.
        room.run.clock.release()
        await asyncio.wait_for(
            conductor.run_until(
                lambda v: (
                    v.phase is Phase.SMOKE
                    and any(c.group == "smoke" and c.manual for c in v.checks.values())
                )
            ),
            30,
        )
        await pilot.pause()
        signed = await _sign_pending_with_arrows(pilot, app, "smoke")
        assert signed, "smoke's manual checks are signed the same way"
        room.run.clock.release()
        await asyncio.wait_for(
            conductor.run_until(lambda v: conductor.why_not(Action.ADVANCE) is None), 30
        )
        await pilot.pause()
        # The screen says what to press next.
        assert "press n" in app.query_one("#timeline-now").text  # type: ignore[attr-defined]
        await pilot.press("n")
        assert [e.accepted for e in acted(room, "advance")] == [True]
        room.run.clock.release()
        await asyncio.wait_for(
            conductor.run_until(lambda v: v.phase is Phase.PRODUCTION and v.canary_percent > 0),
            30,
        )
        await until(
            pilot,
            lambda: "asked 5%" in app.query_one("#canary-text").text,  # type: ignore[attr-defined]
            "the canary panel shows the first step",
        )


async def test_after_3_space_alone_signs_each_pending_item_readiness_then_smoke(room_at) -> None:  # type: ignore[no-untyped-def]
    """The cursor moves on to the next pending item after a sign-off, and onto smoke's
    manual checks when they appear while the cursor rests on a signed item."""
    room = await room_at("readiness-blocked")
    conductor = room.run.conductor
    app = room.app()

    def pending(group: str) -> list[str]:
        return [
            c.key
            for c in app.session.view.checks.values()
            if c.group == group and c.manual and c.required and c.state == "pending"
        ]

    async with app.run_test(size=NARROW) as pilot:
        await pilot.press("3")
        for _ in range(len(pending("readiness"))):
            await pilot.press("space")
        assert pending("readiness") == []
        room.run.clock.release()
        await asyncio.wait_for(conductor.run_until(lambda v: bool(pending("smoke"))), 30)
        await until(
            pilot,
            lambda: app.query_one(ChecklistPanel).selected_item in pending("smoke"),
            "the cursor moves onto smoke's first sign-off",
        )
        for _ in range(len(pending("smoke"))):
            await pilot.press("space")
        assert pending("smoke") == []
        assert not [n for n in room.notices if "not now" in n]


async def test_abort_key_ends_an_untouched_run_and_a_watcher_has_no_abort(room_at) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("readiness-blocked")
    app = room.app()
    async with app.run_test(size=NARROW) as pilot:
        assert app.check_action("abort", ()) is True
        await pilot.press("A")
        assert [e.accepted for e in acted(room, "abort")] == [True]
        await until(pilot, lambda: room.run.conductor.view.finished, "run finished")
        assert room.run.conductor.view.outcome.value == "aborted"  # type: ignore[union-attr]
        await pilot.pause()
        assert app.query_one("#run-info").text.startswith("ABORTED")  # type: ignore[attr-defined]
        assert app.check_action("abort", ()) is None  # dimmed once the run is over
    watcher = Watcher(room.run.conductor.store, room.run.conductor.run_id)
    app = room.app(session=watcher)
    async with app.run_test(size=NARROW):
        assert "A" not in {b.binding.key for b in app.screen.active_bindings.values()}


async def test_paused_run_says_resume_in_footer_and_header(room_at) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("canary-holding-5")
    app = room.app()
    async with app.run_test(size=NARROW) as pilot:
        await pilot.press("2")  # the pods tab: the header still tells
        await pilot.press("p")
        await pilot.pause()
        shown = {b.binding.key: b.binding.description for b in app.screen.active_bindings.values()}
        assert shown["p"] == "Resume"
        assert app.query_one("#run-info").text.startswith("PAUSED · PRODUCTION")  # type: ignore[attr-defined]
        await pilot.press("p")
        await pilot.pause()
        shown = {b.binding.key: b.binding.description for b in app.screen.active_bindings.values()}
        assert shown["p"] == "Pause"
        assert [e.paused for e in room.of(ev.PauseChanged)] == [True, False]  # type: ignore[attr-defined]


async def test_filter_typing_lists_no_letter_keys_and_esc_clears(room_at) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("canary-holding-5")
    app = room.app()
    async with app.run_test(size=NARROW) as pilot:
        await app.workers.wait_for_complete()
        await pilot.press("slash", "c", "a", "n")
        panel = app.query_one(PodsPanel)
        assert panel.filter_text == "can"
        footer = {b.binding.key for b in app.screen.active_bindings.values() if b.binding.show}
        assert not footer & {"n", "plus", "minus", "R", "p", "space", "q", "A"}
        assert "escape" in footer
        assert acted(room, "advance") == []  # `n` typed, it did not advance
        await pilot.press("escape")
        assert panel.filter_text == "" and not panel.has_class("-filtering")
        assert len(panel.shown_names) == 10


async def test_number_keys_focus_at_every_width_and_colon_opens_the_palette(room_at) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("gates-no-data")
    app = room.app()
    async with app.run_test(size=WIDE) as pilot:
        await app.workers.wait_for_complete()
        targets = {
            "2": app.query_one(PodsPanel).table,
            "3": app.query_one(ChecklistPanel).table,
            "4": app.query_one("#log-view"),
            "1": app.query_one("#metrics"),
        }
        for key, widget in targets.items():
            await pilot.press(key)
            assert app.focused is widget, key
        # Arrows move the gate cursor; enter shows the selected gate's verdict.
        await pilot.press("down", "enter")
        await pilot.pause()
        text = app.screen.query_one("#gate-detail-text").text  # type: ignore[attr-defined]
        assert text.startswith("canary p95") and "NO DATA" in text
        await pilot.press("escape")
        await pilot.press("colon")
        await pilot.pause()
        assert app.screen.id == "--command-palette"


async def test_a_greeting_is_said_once_when_the_room_opens(room_at) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("readiness-blocked")
    app = room.app(greeting="resuming unfinished run r1 (scenario happy, strategy canary)")
    async with app.run_test(size=NARROW) as pilot:
        await pilot.pause()
        assert (
            room.notices.count("resuming unfinished run r1 (scenario happy, strategy canary)") == 1
        )


async def test_events_polls_and_ticks_that_arrive_while_the_room_closes_draw_nothing(
    room_at,
) -> None:  # type: ignore[no-untyped-def]
    room = await room_at("canary-holding-5")
    app = room.app()
    drawn: list[str] = []

    def spy(owner: object, name: str) -> None:
        original = getattr(owner, name)

        def counted(*args: object, **kwargs: object) -> object:
            drawn.append(name)
            return original(*args, **kwargs)

        setattr(owner, name, counted)

    async with app.run_test(size=NARROW) as pilot:
        await pilot.pause()
        at = room.run.clock.now()
        pods = list(app._pods_seen.values())
        spy(app, "_redraw")
        spy(app._pods_panel, "show_changes")
        spy(app._pods_panel, "show_error")
        spy(app._header, "show_clock")
        # While the room runs, the same deliveries draw: the spies see them.
        app.on_run_changed(RunChanged(at, set(ALL_PANELS)))
        app.on_pods_polled(PodsPolled(pods, frozenset({"gone"}), at))
        app.on_source_failed(SourceFailed("pods", "connection refused", at))
        app._tick()
        assert sorted(drawn) == ["_redraw", "show_changes", "show_clock", "show_error"]
        drawn.clear()
    # The screens are gone; what the session, the pods poll and the clock still deliver
    # must be dropped quietly (it raised ScreenStackError / NoMatches before).
    app.on_run_changed(RunChanged(at, set(ALL_PANELS)))
    app.on_pods_polled(PodsPolled(pods, frozenset({"gone"}), at))
    app.on_source_failed(SourceFailed("pods", "connection refused", at))
    app._tick()
    app._apply_layout(200)
    assert drawn == [], f"drawn after the room closed: {drawn}"
