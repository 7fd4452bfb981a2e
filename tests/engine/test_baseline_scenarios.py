"""Every sandbox scenario's baseline variant: the canary judged against stable (relative
rule; relative errors + Mann–Whitney latency) still ends as the README's table says, and
the verdicts show the comparison really happened."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from b2tui.config import SANDBOX_RULES, sandbox_settings
from b2tui.domain import events as ev
from b2tui.domain.phases import Outcome, Strategy
from tests.engine.conftest import Rig
from tests.engine.test_conductor import EXPECTED, run_to_end

Make = Callable[..., Rig]


@pytest.mark.parametrize("rule", ["relative", "mann-whitney"])
@pytest.mark.parametrize("scenario", list(EXPECTED))
async def test_baseline_variant_outcomes(make_rig: Make, scenario: str, rule: str) -> None:
    settings = sandbox_settings(rule)
    rig = make_rig(scenario, strategy=Strategy.CANARY, settings=settings)
    outcome = await run_to_end(rig)
    expected, where = EXPECTED[scenario]
    finished = rig.of(ev.RunFinished)[-1]
    assert outcome is expected, finished.reason
    if where is not None:
        assert finished.phase is where
    canary = [g for g in rig.of(ev.GateSampled) if g.track == "canary"]
    if expected is Outcome.SUCCEEDED or scenario in ("prod-error-spike", "latency-regression"):
        errors = [g for g in canary if g.gate == "error_rate" and g.value is not None]
        compared = [g for g in errors if g.baseline is not None]
        assert compared and all(g.requests and g.baseline_requests for g in compared)
        # Where stable had no value (at 100 % it serves nothing) the verdict says so and
        # the absolute limit decided.
        for g in errors:
            if g.baseline is None:
                assert g.rule == "absolute" and "baseline unknown" in g.detail, g
    if rule == "mann-whitney" and expected is Outcome.SUCCEEDED:
        assert any(g.rule == "mann-whitney" for g in canary if g.gate == "p95_ms")
    if scenario == "latency-regression" and rule == "mann-whitney":
        failing = [g for g in canary if g.gate == "p95_ms" and g.status == "fail"]
        assert failing
        # Early in the step there are too few samples: the absolute limit decides and
        # says so; once there are enough, the test itself does.
        assert {g.rule for g in failing} <= {"absolute", "mann-whitney"}
    if expected is Outcome.ROLLED_BACK and scenario == "prod-error-spike":
        [rollback] = rig.of(ev.RollbackStarted)
        assert "error_rate" in rollback.reason


def test_each_rule_is_a_variant() -> None:
    assert set(SANDBOX_RULES) == {"absolute", "relative", "mann-whitney"}
    assert dataclasses.asdict(sandbox_settings("mann-whitney").gates)["p95_rule"] == (
        "mann-whitney"
    )
