"""Pure domain rules: canary math, gates, checklist, monitoring stages, durations, DORA."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from b2tui.domain.canary import (
    DEFAULT_STEPS,
    hold_for,
    next_weight,
    previous_weight,
    replica_split,
)
from b2tui.domain.checklist import (
    READINESS_ITEMS,
    ItemState,
    RunConditions,
    blocker_text,
    blockers,
    build_checklist,
)
from b2tui.domain.dora import RunSummary, dora
from b2tui.domain.durations import format_duration, parse_duration
from b2tui.domain.gates import (
    Comparison,
    GateSpec,
    GateStatus,
    GateTracker,
    Reading,
    format_value,
    judge,
    judge_sample,
    overall,
)
from b2tui.domain.monitoring import Stage, stage_at
from b2tui.domain.phases import Outcome, Phase


@pytest.mark.parametrize(
    ("percent", "total", "canary", "achieved"),
    [
        (5, 10, 1, 10.0),
        (5, 20, 1, 5.0),
        (50, 10, 5, 50.0),
        (50, 3, 2, 66.67),
        (100, 10, 10, 100.0),
        (0, 10, 0, 0.0),
        (5, 1, 1, 50.0),
        (99, 4, 3, 75.0),
    ],
)
def test_replica_split_gives_the_achievable_percentage(
    percent: int, total: int, canary: int, achieved: float
) -> None:
    split = replica_split(percent, total)
    assert split.canary == canary
    assert round(split.achieved_percent, 2) == achieved


def test_a_canary_below_100_never_takes_every_replica() -> None:
    for total in range(2, 30):
        for pct in range(1, 100):
            assert replica_split(pct, total).stable >= 1


def test_steps_navigation() -> None:
    assert next_weight(DEFAULT_STEPS, 0) == 5
    assert next_weight(DEFAULT_STEPS, 5) == 50
    assert next_weight(DEFAULT_STEPS, 100) is None
    assert previous_weight(DEFAULT_STEPS, 50) == 5
    assert previous_weight(DEFAULT_STEPS, 5) == 0
    assert hold_for(DEFAULT_STEPS, 50) == 300
    assert hold_for(DEFAULT_STEPS, 20) == 300
    assert hold_for(DEFAULT_STEPS, 100) == 0


def test_unknown_is_never_pass() -> None:
    spec = GateSpec("error_rate", 0.001, unit="%")
    assert judge(spec, Reading("error_rate", None, "empty result")).status is GateStatus.UNKNOWN
    assert judge(spec, Reading("error_rate", math.nan)).status is GateStatus.UNKNOWN
    assert judge(spec, Reading("error_rate", math.inf)).status is GateStatus.UNKNOWN
    assert judge(spec, None).status is GateStatus.UNKNOWN
    assert judge(spec, Reading("error_rate", 0.0005)).status is GateStatus.PASS
    assert judge(spec, Reading("error_rate", 0.001)).status is GateStatus.FAIL
    assert overall([]) is GateStatus.UNKNOWN


def test_the_overall_verdict_of_passes_and_one_unknown_is_unknown() -> None:
    spec = GateSpec("error_rate", 0.001, unit="%")
    passed = judge(spec, Reading("error_rate", 0.0002))
    unknown = judge(spec, Reading("error_rate", None, "empty result"))
    failed = judge(spec, Reading("error_rate", 0.5))
    assert overall([passed, passed]) is GateStatus.PASS
    # One gate without data among green ones: the sample is not green, in any order.
    assert overall([passed, unknown]) is GateStatus.UNKNOWN
    assert overall([unknown, passed, passed]) is GateStatus.UNKNOWN
    # A failure outweighs both.
    assert overall([passed, unknown, failed]) is GateStatus.FAIL


def test_low_traffic_turns_passes_into_unknown_but_keeps_fails() -> None:
    specs = [
        GateSpec("error_rate", 0.001, unit="%"),
        GateSpec("p95_ms", 200, unit="ms"),
        GateSpec("request_rate", 1.0, Comparison.MIN, "req/s", traffic_guard=True),
    ]
    quiet = judge_sample(
        specs,
        {
            "error_rate": Reading("error_rate", 0.0),
            "p95_ms": Reading("p95_ms", 900.0),
            "request_rate": Reading("request_rate", 0.2),
        },
    )
    by = {r.gate: r.status for r in quiet}
    assert by == {
        "error_rate": GateStatus.UNKNOWN,
        "p95_ms": GateStatus.FAIL,
        "request_rate": GateStatus.UNKNOWN,
    }
    assert overall(quiet) is GateStatus.FAIL
    busy = judge_sample(
        specs,
        {
            "error_rate": Reading("error_rate", 0.0002),
            "p95_ms": Reading("p95_ms", 120.0),
            "request_rate": Reading("request_rate", 40.0),
        },
    )
    assert overall(busy) is GateStatus.PASS


def test_tracker_counts_streaks() -> None:
    t = GateTracker()
    for s in (GateStatus.FAIL, GateStatus.FAIL):
        t.feed(s, 0)
    assert t.consecutive_failures == 2
    t.feed(GateStatus.PASS, 5)
    assert t.consecutive_failures == 0
    t.feed(GateStatus.UNKNOWN, 10)
    t.feed(GateStatus.UNKNOWN, 15)
    assert t.consecutive_unknowns == 2
    assert t.unknown_for(40) == 30
    t.feed(GateStatus.FAIL, 45)
    assert t.unknown_since is None


def test_format_value() -> None:
    assert format_value(0.0005, "%") == "0.05%"
    assert format_value(182.4, "ms") == "182ms"
    assert format_value(None, "ms") == "NO DATA"


def test_checklist_conditions_and_emergency() -> None:
    normal = build_checklist(READINESS_ITEMS, RunConditions())
    by = {i.key: i for i in normal}
    assert by["security_approved"].state is ItemState.SKIPPED
    assert by["review_approved"].required
    pii = {i.key: i for i in build_checklist(READINESS_ITEMS, RunConditions(pii=True))}
    assert pii["security_approved"].required
    emergency = build_checklist(READINESS_ITEMS, RunConditions(emergency=True))
    assert {i.key for i in emergency if i.required} == {"tests_passing", "tech_lead_approval"}
    at = datetime(2026, 1, 1, tzinfo=UTC)
    signed = [i.signed("ana", at) if i.key == "review_approved" else i for i in normal]
    assert "Code review approved" not in blocker_text(signed)
    assert "Rollback plan known (@devops-engineer)" in blocker_text(signed)
    assert all(b.required for b in blockers(signed))


@pytest.mark.parametrize(
    ("elapsed", "stage"),
    [
        (0, Stage.HIGH_ALERT),
        (299, Stage.HIGH_ALERT),
        (300, Stage.KEY_METRICS),
        (899, Stage.KEY_METRICS),
        (900, Stage.SETTLE),
        (1799, Stage.SETTLE),
    ],
)
def test_monitoring_stages(elapsed: float, stage: Stage) -> None:
    assert stage_at(elapsed, 1800) is stage


def test_durations() -> None:
    assert parse_duration("30s") == 30
    assert parse_duration("5m") == 300
    assert parse_duration("1h30m") == 5400
    assert parse_duration("250ms") == 0.25
    for bad in ("", "5", "m5", "5 minutes", "-5m"):
        with pytest.raises(ValueError):
            parse_duration(bad)
    assert format_duration(245) == "4m05s"
    assert format_duration(3720) == "1h02m"


def test_phases_and_exit_codes() -> None:
    assert Phase.READINESS.next() is Phase.VALIDATE
    assert Phase.MONITORING.next() is None
    assert [o.exit_code for o in Outcome] == [0, 3, 5, 4]


def test_dora_figures() -> None:
    t0 = datetime(2026, 1, 5, 9, tzinfo=UTC)
    runs = [
        RunSummary(t0, t0 + timedelta(minutes=50), "succeeded", t0 - timedelta(minutes=10)),
        RunSummary(
            t0 + timedelta(days=1),
            t0 + timedelta(days=1, minutes=20),
            "rolled_back",
            rollback_started=t0 + timedelta(days=1, minutes=19),
        ),
        RunSummary(
            t0 + timedelta(days=2),
            t0 + timedelta(days=2, minutes=40),
            "succeeded",
            t0 + timedelta(days=2) - timedelta(minutes=20),
        ),
        RunSummary(t0 + timedelta(days=3), None, "blocked"),
    ]
    d = dora(runs)
    assert d.deployments == 3
    assert d.change_failure_rate == pytest.approx(1 / 3)
    assert d.lead_time_s == pytest.approx(60 * 60)
    assert d.time_to_restore_s == pytest.approx(60)
    assert d.per_week is not None and d.per_week > 0


def test_a_guard_without_data_keeps_its_own_reason() -> None:
    specs = [
        GateSpec("error_rate", 0.001, unit="%"),
        GateSpec("request_rate", 1.0, Comparison.MIN, "req/s", traffic_guard=True),
    ]
    down = judge_sample(
        specs,
        {
            "error_rate": Reading("error_rate", 0.0),
            "request_rate": Reading("request_rate", None, "target down: 1 of 1"),
        },
    )
    assert [(r.status, r.reason) for r in down] == [
        (GateStatus.UNKNOWN, "target down: 1 of 1"),
        (GateStatus.UNKNOWN, "target down: 1 of 1"),
    ]
