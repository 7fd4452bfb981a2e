"""Refusals of operator actions, from plain state and view (no run, no clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from b2tui.domain import events as ev
from b2tui.domain.canary import DEFAULT_STEPS
from b2tui.domain.checklist import ChecklistItem, ItemKind, ItemState
from b2tui.domain.gates import GateStatus, GateTracker
from b2tui.domain.phases import Phase
from b2tui.domain.revision import Revision, Rollback
from b2tui.domain.view import RunView, apply
from b2tui.engine.api import Action
from b2tui.engine.intents import canary_limit, signable, why_not
from b2tui.engine.state import RunState

NOW = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)
KNOWN_GOOD = {"deployment": "shop", "revision": "7", "image": "reg/shop:prod-0aa0aa0"}


def state(**kw: object) -> RunState:
    st = RunState(
        run_id="r1",
        service="shop",
        environment="production",
        staging="staging",
        strategy="canary",
        version="1a2b3c4",
        image_repo="reg/shop",
        known_good=Revision.from_dict(KNOWN_GOOD),
    )
    for k, v in kw.items():
        setattr(st, k, v)
    return st


def ask(
    st: RunState | None, action: Action, item: str | None = None, view: RunView | None = None
) -> str | None:
    return why_not(st, view or RunView(), action, item, steps=DEFAULT_STEPS, now=NOW)


def canary_at(pct: int, *, last: GateStatus = GateStatus.PASS, hold: float = 0.0) -> RunState:
    st = state(phase=Phase.PRODUCTION, canary_percent=pct, done=["canary"], production_touched=True)
    t = GateTracker()
    t.feed(last, 0.0)
    st.put_tracker("canary", t)
    if hold:
        st.hold_until = (NOW + timedelta(seconds=hold)).isoformat()
    return st


def manual(
    key: str, *, group: str = "readiness", state_: ItemState = ItemState.PENDING
) -> ChecklistItem:
    return ChecklistItem(key, key.title(), ItemKind.MANUAL, "qa", state=state_, group=group)


# --- rollback -------------------------------------------------------------------------------


def test_no_run_refuses_everything() -> None:
    assert ask(None, Action.ROLLBACK) == "no run"


def test_rollback_before_production_is_touched_is_refused() -> None:
    assert ask(state(phase=Phase.STAGING), Action.ROLLBACK) == (
        "production untouched — nothing to roll back"
    )


def test_rollback_is_allowed_once_production_is_touched_even_when_paused() -> None:
    st = canary_at(5, last=GateStatus.FAIL)
    st.paused = True
    assert ask(st, Action.ROLLBACK) is None


def test_a_second_rollback_is_a_no_op_that_names_the_target() -> None:
    st = canary_at(5)
    st.rollback = Rollback("x", "ana", NOW)
    assert ask(st, Action.ROLLBACK) == (
        "rollback to shop rev 7 (reg/shop:prod-0aa0aa0) already in progress — nothing more to do"
    )
    st.outcome = "rolled_back"
    assert ask(st, Action.ROLLBACK) == (
        "already rolled back to shop rev 7 (reg/shop:prod-0aa0aa0) — nothing to do"
    )


def test_during_a_rollback_nothing_else_acts() -> None:
    st = canary_at(5)
    st.rollback = Rollback("x", "ana", NOW)
    assert ask(st, Action.ADVANCE) == "rolling back"
    assert ask(st, Action.CANARY_DOWN) == "rolling back"
    assert ask(st, Action.PAUSE) == "rolling back"


def test_abort_is_allowed_until_the_run_ends_or_rolls_back() -> None:
    assert ask(state(phase=Phase.STAGING), Action.ABORT) is None
    assert ask(canary_at(50, last=GateStatus.FAIL), Action.ABORT) is None
    rolling = canary_at(5)
    rolling.rollback = Rollback("x", "ana", NOW)
    assert ask(rolling, Action.ABORT) == "rolling back already — the run ends when it completes"
    assert ask(state(outcome="aborted"), Action.ABORT) == "run finished: aborted — nothing to abort"


def test_a_finished_run_refuses_with_its_outcome() -> None:
    assert ask(state(outcome="succeeded"), Action.PAUSE) == "run finished: succeeded"


# --- advance / promote --------------------------------------------------------------------------


def test_advance_while_paused_says_how_to_resume() -> None:
    st = canary_at(5)
    st.paused, st.pause_reason = True, "paused by ana"
    assert ask(st, Action.ADVANCE) == "paused (paused by ana) — press p to resume"
    assert ask(st, Action.PAUSE) is None


def test_advance_during_a_hold_says_how_long() -> None:
    assert ask(canary_at(5, hold=150), Action.ADVANCE) == "holding 5% for 2m30s more"


def test_unknown_gates_refuse_promotion_naming_the_gate() -> None:
    st = canary_at(5, last=GateStatus.UNKNOWN)
    view = RunView()
    sample = ev.GateSampled(
        ts=NOW,
        phase=Phase.PRODUCTION,
        gate="error_rate",
        value=None,
        threshold=0.001,
        status="unknown",
        track="canary",
        unit="%",
    )
    apply(view, sample)
    assert ask(st, Action.ADVANCE, view=view) == "gates not green at 5%: error_rate NO DATA"
    assert ask(st, Action.CANARY_UP, view=view) == "gates not green at 5%: error_rate NO DATA"


def test_unknown_tracker_without_samples_says_unknown() -> None:
    assert ask(canary_at(5, last=GateStatus.UNKNOWN), Action.ADVANCE) == (
        "gates not green at 5%: unknown"
    )


def test_green_after_the_hold_may_promote() -> None:
    assert ask(canary_at(5), Action.ADVANCE) is None


def test_at_100_percent_promotion_is_automatic() -> None:
    assert ask(canary_at(100), Action.ADVANCE) == (
        "at 100%: promotion follows the first green sample"
    )


def test_awaiting_the_operator_allows_advance() -> None:
    st = state(phase=Phase.SMOKE, awaiting="staging verified — press n to start production")
    assert ask(st, Action.ADVANCE) is None


def test_readiness_names_its_blockers() -> None:
    st = state()
    st.set_items([manual("review")])
    assert ask(st, Action.ADVANCE) == "readiness waiting for: Review (qa)"
    assert ask(state(), Action.ADVANCE) == "readiness checks running"


def test_monitoring_ends_on_its_own() -> None:
    assert ask(state(phase=Phase.MONITORING), Action.ADVANCE) == (
        "monitoring window running — it ends on its own"
    )


def test_other_phases_have_nothing_to_approve() -> None:
    assert ask(state(phase=Phase.STAGING), Action.ADVANCE) == (
        "staging in progress — nothing to approve yet"
    )


# --- canary steps ---------------------------------------------------------------------------------


def test_canary_steps_only_in_the_production_canary() -> None:
    assert ask(state(phase=Phase.SMOKE), Action.CANARY_UP) == (
        "canary steps apply during the production canary"
    )
    assert ask(state(phase=Phase.PRODUCTION, strategy="blue-green"), Action.CANARY_DOWN) == (
        "canary steps apply during the production canary"
    )


def test_canary_down_is_allowed_even_when_gates_fail() -> None:
    assert ask(canary_at(50, last=GateStatus.FAIL), Action.CANARY_DOWN) is None
    assert ask(canary_at(0), Action.CANARY_DOWN) == "canary already at 0%"
    assert ask(canary_at(100), Action.CANARY_DOWN) == "already promoted to 100%"


def test_set_canary_goes_at_most_one_step_up() -> None:
    st = canary_at(5)
    assert canary_limit(st, 50, DEFAULT_STEPS) is None
    assert canary_limit(st, 100, DEFAULT_STEPS) == "at most the next step (50%) while gates allow"
    assert canary_limit(st, 0, DEFAULT_STEPS) is None
    assert canary_limit(st, 101, DEFAULT_STEPS) == "percent must be 0–100"


# --- sign-off -----------------------------------------------------------------------------------


def test_sign_off_a_pending_manual_item() -> None:
    st = state()
    st.set_items([manual("review")])
    assert ask(st, Action.SIGN_OFF, "review") is None
    assert ask(st, Action.SIGN_OFF) is None


def test_sign_off_refusals_say_why() -> None:
    st = state()
    st.set_items(
        [
            manual("review", state_=ItemState.PASSED),
            ChecklistItem("tests", "Tests", ItemKind.AUTOMATIC, "ci"),
            manual("login", group="smoke"),
        ]
    )
    assert ask(st, Action.SIGN_OFF, "nope") == "no checklist item 'nope'"
    assert ask(st, Action.SIGN_OFF, "review") == "Review already signed off by its check"
    assert ask(st, Action.SIGN_OFF, "tests") == "Tests is answered by its automatic check"
    assert ask(st, Action.SIGN_OFF, "login") == "Login belongs to smoke, not readiness"
    assert ask(st, Action.SIGN_OFF) == "no item waits for a sign-off"
    st.set_items(
        [
            ChecklistItem(
                "lead", "Lead", ItemKind.MANUAL, "qa", required=False, state=ItemState.SKIPPED
            ),
            ChecklistItem(
                "build", "Build", ItemKind.AUTOMATIC, "ci", state=ItemState.FAILED, detail="exit 1"
            ),
        ]
    )
    assert ask(st, Action.SIGN_OFF, "lead") == "Lead is not required for this run — nothing to sign"
    assert ask(st, Action.SIGN_OFF, "build") == "Build failed its check: exit 1"
    assert ask(state(phase=Phase.STAGING), Action.SIGN_OFF) == "nothing to sign off during staging"
    st.set_items([manual("review"), manual("docs"), manual("login", group="smoke")])
    assert ask(st, Action.SIGN_OFF, "nope") == (
        "no checklist item 'nope' (waiting for a sign-off: review, docs)"
    )


def test_an_automatic_item_that_could_not_tell_may_be_signed() -> None:
    unsure = ChecklistItem("tests", "Tests", ItemKind.AUTOMATIC, "ci", detail="unknown: no CI")
    assert signable(unsure)
    assert not signable(ChecklistItem("tests", "Tests", ItemKind.AUTOMATIC, "ci"))
    assert not signable(manual("x", state_=ItemState.FAILED))
