"""Records copied by field name: gate verdict ↔ event, environment settings → target."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from b2tui.config import EnvironmentSettings
from b2tui.domain.events import GateSampled
from b2tui.domain.gates import Comparison, GateResult, GateStatus, Rule
from b2tui.domain.phases import Phase, Strategy, Traffic
from b2tui.domain.records import copy_fields
from b2tui.ports import Target

TS = datetime(2026, 1, 5, 14, 0, tzinfo=UTC)


def test_a_gate_verdict_survives_its_event() -> None:
    r = GateResult(
        "p95_ms",
        312.5,
        250.0,
        GateStatus.FAIL,
        "over threshold",
        "ms",
        Comparison.MAX,
        Rule.MANN_WHITNEY,
        absolute=300.0,
        baseline=140.0,
        requests=3600.0,
        baseline_requests=34000.0,
        detail="shift 170 ms",
        query="histogram_quantile(0.95, …)",
    )
    e = GateSampled.of(r, ts=TS, phase=Phase.PRODUCTION, track="canary", environment="production")
    assert (e.ts, e.phase, e.track, e.environment) == (TS, Phase.PRODUCTION, "canary", "production")
    assert (e.status, e.comparison, e.rule) == ("fail", "max", "mann-whitney")
    assert e.result() == r


def test_a_target_names_what_its_environment_names() -> None:
    env = EnvironmentSettings(
        name="production",
        context="prod-eu",
        namespace="shop",
        deployment="web",
        service="web-svc",
        manifests=("k8s/web.yaml",),
        track_label="tier",
        strategy=Strategy.BLUE_GREEN,
        traffic=Traffic.NGINX,
        rollout_timeout=300.0,
        colour_label="slot",
        ingress="web",
        route="web-route",
        replicas=6,
    )
    assert Target.of(env) == Target(
        name="production",
        context="prod-eu",
        namespace="shop",
        deployment="web",
        service="web-svc",
        track_label="tier",
        colour_label="slot",
        strategy=Strategy.BLUE_GREEN,
        traffic=Traffic.NGINX,
        ingress="web",
        route="web-route",
        replicas=6,
        manifests=("k8s/web.yaml",),
        rollout_timeout=300.0,
    )


def test_a_field_the_source_lacks_must_be_given() -> None:
    @dataclass(frozen=True)
    class Pair:
        a: int
        b: int

    @dataclass(frozen=True)
    class One:
        a: int

    assert copy_fields(Pair, One(1), b=2) == Pair(1, 2)
    with pytest.raises(AttributeError):
        copy_fields(Pair, One(1))
    with pytest.raises(TypeError):
        copy_fields(One, One(1), c=3)
