"""Canary: the smoke checks reach the canary before its first weight, through its header
route or the preview Service on its pods (sandbox, virtual time)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from b2tui.config import HttpCheck, Settings
from b2tui.domain import events as ev
from b2tui.domain.phases import Outcome, Phase, Strategy
from b2tui.ports import CheckResult, Target
from tests.engine.conftest import Rig, settings_for

Make = Callable[..., Rig]


def _canary(**prod: object) -> Settings:
    s = settings_for(Strategy.CANARY)
    smoke = dataclasses.replace(s.smoke, http=(HttpCheck(url="https://shop.example/healthz"),))
    prod = {"preview_service": None, **prod}  # the sandbox names one for blue-green
    env = dataclasses.replace(s.environment("production"), **prod)  # type: ignore[arg-type]
    return dataclasses.replace(s, smoke=smoke, environments={**s.environments, "production": env})


def _order(rig: Rig) -> list[tuple[str, str]]:
    return [
        (type(e).__name__, getattr(e, "message", "") or getattr(e, "line", ""))
        for e in rig.events
        if e.phase is Phase.PRODUCTION and isinstance(e, ev.Notice | ev.LogLine | ev.TrafficChanged)
    ]


async def test_the_canary_is_smoked_through_the_preview_before_its_first_weight(
    make_rig: Make,
) -> None:
    rig = make_rig("happy", settings=_canary(preview_service="b2connect-preview"))
    sent: list[HttpCheck] = []
    cluster = rig.sandbox.ports.cluster
    real = cluster.preview_check

    async def recorded(env: Target, check: HttpCheck) -> CheckResult:
        sent.append(check)
        return await real(env, check)

    cluster.preview_check = recorded  # type: ignore[method-assign]
    await rig.conductor.start(version="1a2b3c4d")
    assert await rig.conductor.run() is Outcome.SUCCEEDED
    order = _order(rig)
    checked = next(i for i, (_, t) in enumerate(order) if "/healthz on the canary: 200" in t)
    passed = next(i for i, (_, t) in enumerate(order) if "the canary passed the smoke" in t)
    first = next(i for i, (k, _) in enumerate(order) if k == "TrafficChanged")
    assert checked < passed < first
    assert "through b2connect-preview" in order[passed][1]
    assert [c.headers for c in sent] == [{}]  # no header: the preview Service routes
    smoke_runs = [e for e in rig.of(ev.CommandStarted) if e.name == "smoke"]
    assert [e.phase for e in smoke_runs] == [Phase.SMOKE, Phase.PRODUCTION]
    assert rig.of(ev.TrafficChanged)[0].canary_percent == 5


async def test_with_a_canary_header_every_check_carries_it(make_rig: Make) -> None:
    rig = make_rig("happy", settings=_canary(canary_header="X-Canary", canary_header_value="yes"))
    sent: list[HttpCheck] = []
    cluster = rig.sandbox.ports.cluster
    real = cluster.preview_check

    async def recorded(env: Target, check: HttpCheck) -> CheckResult:
        sent.append(check)
        return await real(env, check)

    cluster.preview_check = recorded  # type: ignore[method-assign]
    await rig.conductor.start(version="1a2b3c4d")
    assert await rig.conductor.run() is Outcome.SUCCEEDED
    assert [c.headers for c in sent] == [{"X-Canary": "yes"}]
    assert any("through b2connect-canary, where X-Canary routes" in t for _, t in _order(rig))


async def test_a_failing_canary_check_aborts_before_any_weight(make_rig: Make) -> None:
    rig = make_rig("happy", settings=_canary(preview_service="b2connect-preview"))
    cluster = rig.sandbox.ports.cluster
    prod = rig.settings.environment("production")
    before = await cluster.current_revision(prod)

    async def broken(env: Target, check: HttpCheck) -> CheckResult:
        return CheckResult(False, "expected 200, got 500 (GET b2connect-preview/healthz)")

    cluster.preview_check = broken  # type: ignore[method-assign]
    await rig.conductor.start(version="1a2b3c4d")
    assert await rig.conductor.run() is Outcome.ABORTED
    finished = rig.of(ev.RunFinished)[-1]
    assert finished.phase is Phase.PRODUCTION
    assert finished.reason == (
        "production smoke on the canary: expected 200, got 500 (GET b2connect-preview/healthz);"
        " traffic stays on stable"
    )
    assert not rig.of(ev.TrafficChanged) and not rig.of(ev.RollbackStarted)
    after = await cluster.current_revision(prod)
    assert (after.image, after.revision, after.replicas) == (
        before.image,
        before.revision,
        before.replicas,
    )
    canary = {d.track: d for d in await cluster.workloads(prod)}["canary"]
    assert canary.desired == 0
    assert any(e.line == "canary out of traffic and scaled down" for e in rig.of(ev.LogLine))


async def test_without_a_way_to_reach_it_the_canary_is_not_smoked_early(make_rig: Make) -> None:
    rig = make_rig("happy", settings=_canary())
    await rig.conductor.start(version="1a2b3c4d")
    assert await rig.conductor.run() is Outcome.SUCCEEDED
    assert not any("on the canary" in t for _, t in _order(rig))
    smoke_runs = [e for e in rig.of(ev.CommandStarted) if e.name == "smoke"]
    assert [e.phase for e in smoke_runs] == [Phase.SMOKE]
