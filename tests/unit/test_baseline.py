"""Canary against baseline: the relative rule, fallbacks, sample size, Mann–Whitney, and
the text that explains a verdict — plain values, no server."""

from __future__ import annotations

import math

import pytest

from b2tui.domain.gates import (
    Comparison,
    GateSpec,
    GateStatus,
    Reading,
    Rule,
    ShiftTest,
    comparison_sign,
    judge,
    judge_against,
    judge_sample,
    verdict_text,
)
from b2tui.domain.mannwhitney import judge_shift, mann_whitney, ranks

ERR = GateSpec(
    "error_rate",
    0.001,
    Comparison.MAX,
    unit="%",
    rule=Rule.RELATIVE,
    factor=1.5,
    margin=0.0005,
    ceiling=0.01,
    min_requests=50,
)
P95_MW = GateSpec(
    "p95_ms", 200.0, Comparison.MAX, unit="ms", rule=Rule.MANN_WHITNEY, min_requests=50
)


def r(value: float | None, requests: float | None = 3000, **kw: object) -> Reading:
    return Reading("error_rate", value, requests=requests, **kw)  # type: ignore[arg-type]


# --- relative rule -----------------------------------------------------------------------


def test_a_canary_no_worse_than_a_noisy_stable_passes_relative_but_fails_absolute() -> None:
    canary, stable = r(0.003), r(0.003)
    relative = judge_against(ERR, canary, stable)
    assert relative.status is GateStatus.PASS
    assert relative.rule is Rule.RELATIVE
    assert relative.threshold == pytest.approx(0.005)
    assert relative.baseline == 0.003
    assert verdict_text(relative) == (
        "0.30% < 0.50% (relative: stable 0.30% × 1.5 + 0.05%; 3000 vs 3000 requests)"
    )
    absolute = judge_against(GateSpec("error_rate", 0.001, unit="%"), canary, stable)
    assert absolute.status is GateStatus.FAIL
    assert absolute.rule is Rule.ABSOLUTE
    assert verdict_text(absolute) == "0.30% > 0.10% (absolute: 3000 requests)"


def test_a_canary_clearly_worse_than_stable_fails_relative() -> None:
    res = judge_against(ERR, r(0.02), r(0.003))
    assert res.status is GateStatus.FAIL
    assert res.rule is Rule.RELATIVE
    assert comparison_sign(res) == ">"
    assert verdict_text(res).startswith("2.00% > 0.50% (relative")


def test_the_ceiling_bounds_a_noisy_baseline() -> None:
    # A stable burst at 3 % would lift the limit to 4.55 %; the ceiling keeps it at 1 %.
    res = judge_against(ERR, r(0.02), r(0.03))
    assert res.status is GateStatus.FAIL
    assert res.threshold == 0.01
    assert "capped at 1.00%" in res.detail


def test_when_the_absolute_limit_is_higher_it_decides() -> None:
    res = judge_against(ERR, r(0.0005), r(0.0001))
    assert res.status is GateStatus.PASS
    assert res.rule is Rule.ABSOLUTE
    assert res.threshold == 0.001
    assert "is below it" in res.detail


@pytest.mark.parametrize(
    ("baseline", "why"),
    [
        (r(0.0), "baseline 0.00%: absolute limit"),
        (Reading("error_rate", None, "no traffic (NaN)"), "baseline unknown (no traffic (NaN))"),
        (None, "baseline unknown (no value)"),
        (r(math.nan), "baseline unknown"),
        (r(0.004, requests=12), "stable has too little traffic (12 requests < 50)"),
    ],
)
def test_zero_nan_absent_or_thin_baseline_falls_back_to_absolute(
    baseline: Reading | None, why: str
) -> None:
    res = judge_against(ERR, r(0.003), baseline)
    assert res.status is GateStatus.FAIL  # 0.3 % against the absolute 0.1 %
    assert res.rule is Rule.ABSOLUTE
    assert res.threshold == 0.001
    assert why in res.detail
    assert why in verdict_text(res)


def test_a_canary_below_min_requests_is_unknown() -> None:
    res = judge_against(ERR, r(0.0, requests=12), r(0.0))
    assert res.status is GateStatus.UNKNOWN
    assert res.reason == "too little traffic: 12 requests < 50"
    assert res.value == 0.0  # the value is still shown


def test_unknown_canary_stays_unknown() -> None:
    res = judge_against(ERR, Reading("error_rate", None, "no series yet"), r(0.003))
    assert res.status is GateStatus.UNKNOWN
    assert verdict_text(res) == "NO DATA: no series yet"


def test_minimum_gates_ignore_the_baseline() -> None:
    spec = GateSpec("request_rate", 1.0, Comparison.MIN, unit="req/s", rule=Rule.RELATIVE)
    res = judge_against(spec, Reading("request_rate", 0.5), Reading("request_rate", 50.0))
    assert res.status is GateStatus.FAIL
    assert comparison_sign(res) == "<"


def test_judge_sample_with_baseline_judges_each_gate_by_its_rule() -> None:
    specs = [ERR, GateSpec("request_rate", 1.0, Comparison.MIN, unit="req/s", traffic_guard=True)]
    canary = {"error_rate": r(0.003), "request_rate": Reading("request_rate", 50.0)}
    stable = {"error_rate": r(0.003), "request_rate": Reading("request_rate", 50.0)}
    assert [x.status for x in judge_sample(specs, canary, stable)] == [GateStatus.PASS] * 2
    assert judge_sample(specs, canary)[0].status is GateStatus.FAIL


def test_query_and_sample_size_are_carried() -> None:
    res = judge(ERR, r(0.0, query='sum(x{a="b"})'))
    assert res.query == 'sum(x{a="b"})'
    assert res.requests == 3000
    assert res.absolute == 0.001


# --- Mann–Whitney U ----------------------------------------------------------------------

# ClickHouse's test data (tests/queries/0_stateless/01560_mann_whitney.sql): U = 223,
# two-sided p = 0.5426959774289482 with continuity correction (scipy agrees).
CH_LEFT = [310, 195, 530, 155, 530, 245, 385, 450, 465, 545,
           170, 180, 125, 180, 230, 75, 430, 480, 495, 295]  # fmt: skip
CH_RIGHT = [116, 171, 176, 421, 111, 326, 481, 111, 346, 441,
            261, 411, 206, 521, 456, 446, 296, 51, 426, 261]  # fmt: skip


def test_u_and_p_match_known_values_with_ties() -> None:
    t = mann_whitney(CH_LEFT, CH_RIGHT)
    assert t.u == 223.0
    assert t.p_value == pytest.approx(0.5426959774289482, rel=1e-12)
    assert mann_whitney(CH_RIGHT, CH_LEFT).u == 177.0  # n1·n2 − U


@pytest.mark.parametrize(
    ("x", "y", "continuity", "u", "p"),
    [
        # scipy.stats.mannwhitneyu(..., method="asymptotic")
        ([19, 22, 16, 29, 24], [20, 11, 17, 12], True, 17.0, 0.11134688653314041),
        ([1, 2, 2, 3, 3, 3, 4, 5], [3, 4, 4, 5, 5, 6, 7, 7, 7], True, 7.5, 0.006274233849838661),
        ([1, 2, 2, 3, 3, 3, 4, 5], [3, 4, 4, 5, 5, 6, 7, 7, 7], False, 7.5, 0.00540417385627722),
    ],
)
def test_u_and_p_match_scipy(
    x: list[float], y: list[float], continuity: bool, u: float, p: float
) -> None:
    t = mann_whitney(x, y, continuity=continuity)
    assert t.u == u
    assert t.p_value == pytest.approx(p, rel=1e-12)


def test_ranks_average_ties() -> None:
    assert ranks([10, 20, 20, 30]) == [1.0, 2.5, 2.5, 4.0]


def test_hodges_lehmann_shift_and_interval() -> None:
    x = [v + 100 for v in range(20)]
    t = mann_whitney(x, list(range(20)), confidence=0.98)
    assert t.estimate == 100.0
    assert t.low < 100.0 < t.high
    assert t.low > 90.0


def test_empty_sample_is_refused() -> None:
    with pytest.raises(ValueError):
        mann_whitney([], [1.0])


def test_shift_verdicts() -> None:
    stable = [40.0 + (i % 7) for i in range(30)]
    slow = [300.0 + (i % 5) for i in range(30)]
    assert judge_shift(slow, stable).worse
    same = judge_shift([41.0 + (i % 7) for i in range(30)], stable, min_shift=10.0)
    assert not same.worse
    assert not judge_shift(stable, stable).worse  # identical
    # Significant but under the absolute floor of the shift.
    assert not judge_shift([v + 4 for v in stable], stable, min_shift=10.0).worse
    # Significant shift but the mean ratio is under the effect-size floor.
    big = [1000.0 + (i % 7) for i in range(30)]
    assert not judge_shift([v + 20 for v in big], big, effect_min=1.1).worse


def test_mann_whitney_rule_fails_a_slow_canary_and_says_so() -> None:
    stable = tuple(40.0 + (i % 7) for i in range(30))
    canary = tuple(300.0 + (i % 5) for i in range(30))
    res = judge_against(
        P95_MW,
        Reading("p95_ms", 302.0, requests=3000, series=canary),
        Reading("p95_ms", 43.0, requests=3000, series=stable),
    )
    assert res.status is GateStatus.FAIL
    assert res.rule is Rule.MANN_WHITNEY
    assert verdict_text(res).startswith("302ms vs stable 43ms (mann-whitney: shift +")
    assert "significantly higher" in res.detail


def test_mann_whitney_passes_a_canary_like_stable_even_above_the_absolute_limit() -> None:
    stable = tuple(250.0 + (i % 7) for i in range(30))
    canary = tuple(251.0 + (i % 6) for i in range(30))
    res = judge_against(
        P95_MW,
        Reading("p95_ms", 253.0, requests=3000, series=canary),
        Reading("p95_ms", 252.0, requests=3000, series=stable),
    )
    assert res.status is GateStatus.PASS
    assert res.rule is Rule.MANN_WHITNEY


def test_mann_whitney_with_too_few_samples_uses_the_absolute_limit() -> None:
    spec = GateSpec(
        "p95_ms", 200.0, unit="ms", rule=Rule.MANN_WHITNEY, shift=ShiftTest(min_points=10)
    )
    res = judge_against(
        spec,
        Reading("p95_ms", 300.0, series=(300.0,) * 3),
        Reading("p95_ms", 40.0, series=(40.0,) * 30),
    )
    assert res.status is GateStatus.FAIL
    assert res.rule is Rule.ABSOLUTE
    assert "3 samples < 10 for Mann–Whitney" in res.detail


# --- the gate event carries the whole verdict ---------------------------------------------


def test_gate_event_round_trips_the_verdict_and_old_records_still_load() -> None:
    from datetime import UTC, datetime

    from b2tui.domain import events as ev
    from b2tui.domain.phases import Phase

    res = judge_against(ERR, r(0.003, query="q{x}"), r(0.003))
    e = ev.GateSampled.of(
        res, ts=datetime(2026, 1, 5, tzinfo=UTC), phase=Phase.PRODUCTION, track="canary",
        environment="production",
    )  # fmt: skip
    back = ev.event_from_dict(e.to_dict())
    assert isinstance(back, ev.GateSampled)
    assert back.rule == "relative" and back.baseline == 0.003 and back.query == "q{x}"
    assert verdict_text(back.result()) == verdict_text(res)
    # A record written before these fields existed replays with the defaults.
    old = {k: v for k, v in e.to_dict().items() if k not in ("rule", "baseline", "comparison")}
    legacy = ev.event_from_dict(old)
    assert isinstance(legacy, ev.GateSampled)
    assert legacy.result().rule is Rule.ABSOLUTE
