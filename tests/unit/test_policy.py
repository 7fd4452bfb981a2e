"""The gate policy, one rule per test, with plain values (docs/DESIGN.md: workflow and gates)."""

from __future__ import annotations

from b2tui.config import GateSettings
from b2tui.domain.checklist import ChecklistItem, ItemKind, ItemState
from b2tui.domain.gates import Comparison, GateResult, GateStatus, GateTracker
from b2tui.domain.phases import Phase
from b2tui.engine.policy import NO_DATA_PAUSE, Decision, Verdict, command, decide, readiness
from b2tui.ports import CommandResult

GATES = GateSettings(consecutive_failures=3, unknown_pause_after=3, no_data_timeout=600.0, poll=5.0)
T0 = 1_000_000.0

ERR_FAIL = GateResult("error_rate", 0.05, 0.001, GateStatus.FAIL, "over threshold", "%")
ERR_PASS = GateResult("error_rate", 0.0, 0.001, GateStatus.PASS, "", "%")
ERR_UNKNOWN = GateResult("error_rate", None, 0.001, GateStatus.UNKNOWN, "target down", "%")
RATE_LOW = GateResult(
    "request_rate", 0.2, 1.0, GateStatus.FAIL, "below minimum", "req/s", Comparison.MIN
)


def fed(*statuses: GateStatus, every: float = 5.0) -> tuple[GateTracker, float]:
    """A tracker fed ``statuses`` one poll apart; returns it and the time of the last."""
    t = GateTracker()
    now = T0
    for n, s in enumerate(statuses):
        now = T0 + n * every
        t.feed(s, now)
    return t, now


def production(
    tracker: GateTracker,
    now: float,
    results: list[GateResult],
    gates: GateSettings = GATES,
    *,
    paused: bool = False,
    pause_by: str = "",
    autopilot: bool = False,
) -> Decision:
    return decide(
        tracker,
        results,
        gates,
        Phase.PRODUCTION,
        production=True,
        now=now,
        paused=paused,
        pause_by=pause_by,
        autopilot=autopilot,
    )


# --- unknown never passes -------------------------------------------------------------


def test_an_unknown_sample_holds_promotion() -> None:
    t, now = fed(GateStatus.UNKNOWN)
    d = production(t, now, [ERR_UNKNOWN])
    assert d.verdict is Verdict.HOLD
    assert not d.green


def test_unknown_after_green_still_holds() -> None:
    t, now = fed(GateStatus.PASS, GateStatus.PASS, GateStatus.UNKNOWN)
    assert not production(t, now, [ERR_UNKNOWN]).green


def test_a_green_sample_promotes() -> None:
    t, now = fed(GateStatus.PASS)
    d = production(t, now, [ERR_PASS])
    assert d.verdict is Verdict.PROMOTE
    assert d.green


def test_no_sample_yet_is_not_green() -> None:
    assert not production(GateTracker(), T0, []).green


# --- N unknown in a row pause and alert --------------------------------------------------


def test_n_unknowns_in_a_row_pause_and_alert_with_the_reason() -> None:
    t, now = fed(*[GateStatus.UNKNOWN] * 3)
    d = production(t, now, [ERR_PASS, ERR_UNKNOWN])
    assert d.verdict is Verdict.PAUSE
    assert d.pause_by == NO_DATA_PAUSE
    assert d.reason == "no data for 3 samples (target down)"
    assert "promotion paused" in d.alert and "target down" in d.alert


def test_fewer_unknowns_than_the_limit_only_hold() -> None:
    t, now = fed(GateStatus.UNKNOWN, GateStatus.UNKNOWN)
    assert production(t, now, [ERR_UNKNOWN]).verdict is Verdict.HOLD


def test_an_unknown_streak_broken_by_a_pass_starts_over() -> None:
    t, now = fed(GateStatus.UNKNOWN, GateStatus.UNKNOWN, GateStatus.PASS, GateStatus.UNKNOWN)
    assert production(t, now, [ERR_UNKNOWN]).verdict is Verdict.HOLD


def test_an_already_paused_run_is_not_paused_again() -> None:
    t, now = fed(*[GateStatus.UNKNOWN] * 3)
    d = production(t, now, [ERR_UNKNOWN], paused=True, pause_by="ana")
    assert d.verdict is Verdict.HOLD


def test_the_pause_comes_once_not_on_every_further_unknown() -> None:
    t, now = fed(*[GateStatus.UNKNOWN] * 4)
    assert production(t, now, [ERR_UNKNOWN]).verdict is Verdict.HOLD


# --- no data for no_data_timeout -----------------------------------------------------------


def test_unknown_for_the_no_data_timeout_in_production_rolls_back_with_reason_no_data() -> None:
    t, now = fed(*[GateStatus.UNKNOWN] * 121)  # 600 s at a 5 s poll
    d = production(t, now, [ERR_UNKNOWN], paused=True, pause_by=NO_DATA_PAUSE)
    assert d.verdict is Verdict.ROLL_BACK
    assert d.reason == "no data for 10m00s (target down)"


def test_monitoring_rolls_back_on_no_data_too() -> None:
    t, now = fed(*[GateStatus.UNKNOWN] * 121)
    d = decide(t, [ERR_UNKNOWN], GATES, Phase.MONITORING, production=True, now=now)
    assert d.verdict is Verdict.ROLL_BACK
    assert d.reason.startswith("no data for 10m00s")


def test_unknown_just_under_the_timeout_does_not_roll_back() -> None:
    t, now = fed(*[GateStatus.UNKNOWN] * 120)  # 595 s
    assert production(t, now, [ERR_UNKNOWN], paused=True).verdict is Verdict.HOLD


def test_no_data_before_production_aborts_instead() -> None:
    t, now = fed(*[GateStatus.UNKNOWN] * 121)
    d = decide(t, [ERR_UNKNOWN], GATES, Phase.SMOKE, production=False, now=now, paused=True)
    assert d.verdict is Verdict.ABORT
    assert d.reason == "smoke: no data for 10m00s (target down)"


def test_no_data_without_a_reason_says_no_data() -> None:
    t, now = fed(*[GateStatus.UNKNOWN] * 121)
    assert production(t, now, []).reason == "no data for 10m00s (no data)"


# --- consecutive fails ------------------------------------------------------------------------


def test_n_consecutive_fails_roll_back_naming_the_gate() -> None:
    t, now = fed(GateStatus.FAIL, GateStatus.FAIL, GateStatus.FAIL)
    d = production(t, now, [ERR_PASS, ERR_FAIL])
    assert d.verdict is Verdict.ROLL_BACK
    assert d.reason == "error_rate 5.00% over 0.10% for 3 samples"


def test_a_failing_minimum_is_under_its_limit() -> None:
    t, now = fed(GateStatus.FAIL, GateStatus.FAIL, GateStatus.FAIL)
    assert (
        production(t, now, [RATE_LOW]).reason
        == "request_rate 0.2 req/s under 1.0 req/s for 3 samples"
    )


def test_one_bad_sample_does_not_roll_back() -> None:
    t, now = fed(GateStatus.PASS, GateStatus.FAIL)
    d = production(t, now, [ERR_FAIL])
    assert d.verdict is Verdict.HOLD
    assert not d.green


def test_fails_interrupted_by_a_pass_start_over() -> None:
    t, now = fed(GateStatus.FAIL, GateStatus.FAIL, GateStatus.PASS, GateStatus.FAIL)
    assert production(t, now, [ERR_FAIL]).verdict is Verdict.HOLD


def test_without_auto_rollback_fails_pause_and_ask_for_r() -> None:
    manual = GateSettings(consecutive_failures=3, auto_rollback=False)
    t, now = fed(GateStatus.FAIL, GateStatus.FAIL, GateStatus.FAIL)
    d = production(t, now, [ERR_FAIL], manual)
    assert d.verdict is Verdict.PAUSE
    assert d.reason == "rollback recommended: error_rate 5.00% over 0.10% for 3 samples — press R"
    assert d.alert == d.reason
    assert d.pause_by == ""


def test_without_auto_rollback_a_paused_run_just_holds() -> None:
    manual = GateSettings(consecutive_failures=3, auto_rollback=False)
    t, now = fed(*[GateStatus.FAIL] * 4)
    assert production(t, now, [ERR_FAIL], manual, paused=True).verdict is Verdict.HOLD


def test_the_failure_limit_is_configurable() -> None:
    five = GateSettings(consecutive_failures=5)
    t, now = fed(*[GateStatus.FAIL] * 4)
    assert production(t, now, [ERR_FAIL], five).verdict is Verdict.HOLD
    t, now = fed(*[GateStatus.FAIL] * 5)
    assert production(t, now, [ERR_FAIL], five).verdict is Verdict.ROLL_BACK


def test_staging_failures_abort_before_production() -> None:
    t, now = fed(GateStatus.FAIL, GateStatus.FAIL, GateStatus.FAIL)
    d = decide(t, [ERR_FAIL], GATES, Phase.SMOKE, production=False, now=now)
    assert d.verdict is Verdict.ABORT
    assert d.reason == "smoke: error_rate 5.00% over 0.10% for 3 samples"


def test_staging_aborts_even_without_auto_rollback() -> None:
    manual = GateSettings(auto_rollback=False)
    t, now = fed(GateStatus.FAIL, GateStatus.FAIL, GateStatus.FAIL)
    d = decide(t, [ERR_FAIL], manual, Phase.STAGING, production=False, now=now)
    assert d.verdict is Verdict.ABORT


# --- the engine's own pause -----------------------------------------------------------------


def test_autopilot_lifts_its_own_no_data_pause_when_green_again() -> None:
    t, now = fed(GateStatus.UNKNOWN, GateStatus.PASS)
    d = production(t, now, [ERR_PASS], paused=True, pause_by=NO_DATA_PAUSE, autopilot=True)
    assert d.verdict is Verdict.RESUME
    assert d.green


def test_an_operators_pause_is_never_lifted_by_the_engine() -> None:
    t, now = fed(GateStatus.PASS)
    d = production(t, now, [ERR_PASS], paused=True, pause_by="ana@jump", autopilot=True)
    assert d.verdict is Verdict.PROMOTE


def test_without_autopilot_a_no_data_pause_waits_for_a_person() -> None:
    t, now = fed(GateStatus.PASS)
    d = production(t, now, [ERR_PASS], paused=True, pause_by=NO_DATA_PAUSE)
    assert d.verdict is Verdict.PROMOTE


# --- readiness and validate block ---------------------------------------------------------------


def item(
    key: str, state: ItemState, *, required: bool = True, group: str = "readiness"
) -> ChecklistItem:
    title = key.replace("_", " ").title()
    return ChecklistItem(
        key, title, ItemKind.MANUAL, "tech lead", required=required, state=state, group=group
    )


def test_a_failed_required_readiness_item_blocks() -> None:
    d = readiness([item("tests", ItemState.FAILED), item("review", ItemState.PASSED)])
    assert d.verdict is Verdict.BLOCK
    assert d.reason == "readiness failed: Tests"


def test_a_failed_optional_item_does_not_block() -> None:
    d = readiness([item("docs", ItemState.FAILED, required=False), item("tests", ItemState.PASSED)])
    assert d.verdict is Verdict.PROMOTE


def test_pending_readiness_items_hold_and_say_who_signs() -> None:
    d = readiness([item("review", ItemState.PENDING), item("tests", ItemState.PASSED)])
    assert d.verdict is Verdict.HOLD
    assert d.reason == "readiness waiting for: Review (tech lead)"


def test_smoke_items_do_not_hold_readiness() -> None:
    d = readiness(
        [item("tests", ItemState.PASSED), item("login", ItemState.PENDING, group="smoke")]
    )
    assert d.verdict is Verdict.PROMOTE


def test_a_failing_validate_command_blocks_with_its_last_line() -> None:
    res = CommandResult(exit_code=1, duration=2.0, tail="building\nerror CS1002: ; expected\n")
    d = command(Phase.VALIDATE, "build", res)
    assert d.verdict is Verdict.BLOCK
    assert d.reason == "validate: build failed (exit 1): error CS1002: ; expected"


def test_a_timed_out_validate_command_blocks() -> None:
    d = command(
        Phase.VALIDATE, "test", CommandResult(exit_code=None, duration=1200.0, timed_out=True)
    )
    assert d.verdict is Verdict.BLOCK
    assert d.reason == "validate: test failed (timed out)"


def test_a_failing_smoke_command_aborts_before_production() -> None:
    d = command(Phase.SMOKE, "smoke", CommandResult(exit_code=3, duration=1.0, tail="x"))
    assert d.verdict is Verdict.ABORT
    assert d.reason == "smoke: smoke tests failed (exit 3)"


def test_a_passing_command_lets_the_phase_go_on() -> None:
    assert command(Phase.VALIDATE, "pull", CommandResult(exit_code=0, duration=0.1)).green
