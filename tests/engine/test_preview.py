"""Blue-green: the smoke checks reach the idle colour through the preview Service before
the switch (sandbox, virtual time)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from b2tui.config import HttpCheck
from b2tui.domain import events as ev
from b2tui.domain.phases import Outcome, Phase, Strategy
from b2tui.ports import CheckResult, Target
from tests.engine.conftest import Rig, settings_for

Make = Callable[..., Rig]


def _with_http(strategy: Strategy = Strategy.BLUE_GREEN, **prod: object) -> object:
    s = settings_for(strategy)
    smoke = dataclasses.replace(
        s.smoke, http=(HttpCheck(url="https://shop.example/healthz?deep=1"),)
    )
    env = dataclasses.replace(s.environment("production"), **prod)  # type: ignore[arg-type]
    return dataclasses.replace(s, smoke=smoke, environments={**s.environments, "production": env})


async def test_the_idle_colour_is_smoked_through_the_preview_before_the_switch(
    make_rig: Make,
) -> None:
    rig = make_rig("happy", strategy=Strategy.BLUE_GREEN, settings=_with_http())
    await rig.conductor.start(version="1a2b3c4d")
    assert await rig.conductor.run() is Outcome.SUCCEEDED
    order = [
        (type(e).__name__, getattr(e, "message", "") or getattr(e, "line", ""))
        for e in rig.events
        if e.phase is Phase.PRODUCTION and isinstance(e, ev.Notice | ev.LogLine | ev.TrafficChanged)
    ]
    passed = next(i for i, (_, t) in enumerate(order) if "passed the smoke checks" in t)
    checked = next(i for i, (_, t) in enumerate(order) if "/healthz?deep=*** on green: 200" in t)
    switched = next(i for i, (k, _) in enumerate(order) if k == "TrafficChanged")
    assert checked < passed < switched
    smoke_runs = [e for e in rig.of(ev.CommandStarted) if e.name == "smoke"]
    assert [e.phase for e in smoke_runs] == [Phase.SMOKE, Phase.PRODUCTION]


async def test_a_failing_idle_colour_check_aborts_before_the_selector_moves(
    make_rig: Make,
) -> None:
    rig = make_rig("happy", strategy=Strategy.BLUE_GREEN, settings=_with_http())
    cluster = rig.sandbox.ports.cluster
    prod = Target.of(rig.settings.environment("production"))
    live = (await cluster.current_revision(prod)).colour

    async def broken(env: Target, check: HttpCheck) -> CheckResult:
        return CheckResult(False, "expected 200, got 500 (GET b2connect-preview/healthz)")

    cluster.preview_check = broken  # type: ignore[method-assign]
    await rig.conductor.start(version="1a2b3c4d")
    assert await rig.conductor.run() is Outcome.ABORTED
    finished = rig.of(ev.RunFinished)[-1]
    assert finished.phase is Phase.PRODUCTION
    assert finished.reason.startswith("production smoke on the idle colour ")
    assert (
        "expected 200, got 500" in finished.reason and f"traffic stays on {live}" in finished.reason
    )
    assert not rig.of(ev.TrafficChanged) and not rig.of(ev.RollbackStarted)
    assert (await cluster.current_revision(prod)).colour == live
    assert any(e.line.endswith("scaled down") for e in rig.of(ev.LogLine))


async def test_a_preview_service_that_is_the_live_one_is_refused_before_production(
    make_rig: Make,
) -> None:
    rig = make_rig(
        "happy", strategy=Strategy.BLUE_GREEN, settings=_with_http(preview_service="b2connect")
    )
    await rig.conductor.start(version="1a2b3c4d")
    assert await rig.conductor.run() is Outcome.ABORTED
    finished = rig.of(ev.RunFinished)[-1]
    assert finished.reason == (
        "production: preview Service b2connect is the live Service: it selects the live"
        " colour; name another Service in preview_service"
    )
    assert rig.conductor.state is not None and not rig.conductor.state.production_touched
