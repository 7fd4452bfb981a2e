"""``[monitoring]``: manual and automatic checks next to the gates (sandbox, virtual time)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from b2tui.config import HttpCheck, MonitoringCheck, MonitoringSettings, Settings
from b2tui.domain import events as ev
from b2tui.domain.phases import Outcome, Phase
from tests.engine.conftest import Rig, settings_for

Make = Callable[..., Rig]


def _settings(*http: HttpCheck) -> Settings:
    s = settings_for()
    mon = MonitoringSettings(
        manual=(
            MonitoringCheck("Spot check key features"),
            MonitoringCheck("No data issues", "settle", "@qa-engineer"),
        ),
        http=http or (HttpCheck(url="https://shop.example/healthz"),),
    )
    return dataclasses.replace(s, monitoring=mon)


async def test_checks_join_the_checklist_and_the_timeline_and_success_needs_them(
    make_rig: Make,
) -> None:
    rig = make_rig("happy", settings=_settings())
    await rig.conductor.start(version="1a2b3c4d")
    assert await rig.conductor.run() is Outcome.SUCCEEDED
    view = rig.conductor.view
    mon = {k: c for k, c in view.checks.items() if c.group == "monitoring"}
    assert [(c.title, c.state) for c in mon.values()] == [
        ("Spot check key features", "passed"),
        ("No data issues", "passed"),
        ("HTTP checks at every poll (1)", "passed"),
    ]
    assert mon["monitoring_2"].owner == "@qa-engineer" and mon["monitoring_2"].by == "sandbox"
    texts = [t.text for t in view.timeline]
    assert "signed: Spot check key features (sandbox)" in texts
    assert "check passed: HTTP checks at every poll (1)" in texts
    # The automatic check is a gate of every monitoring sample.
    http = [g for g in rig.of(ev.GateSampled) if g.gate == "http_checks"]
    assert http and {g.phase for g in http} == {Phase.MONITORING}
    assert {g.status for g in http} == {"pass"}


async def test_an_unsigned_check_holds_success_and_names_who_must_sign(make_rig: Make) -> None:
    rig = make_rig("happy", settings=_settings())
    c = rig.conductor
    await c.start(version="1a2b3c4d")
    await c.run_until(lambda v: v.canary_percent == 100)
    c.autopilot = False  # nobody signs on their own from here (no step needs an `n`)
    rig.clock.release()
    await c.run_until(
        lambda v: v.last_notice is not None and "success waits" in v.last_notice.message
    )
    notice = c.view.last_notice
    assert notice is not None and notice.level == "alert"
    assert notice.message == (
        "monitoring window ended green; success waits for sign-off of"
        " Spot check key features (@devops-engineer), No data issues (@qa-engineer)"
    )
    overdue = [n.message for n in rig.of(ev.Notice) if n.message.startswith("overdue: ")]
    assert overdue[0] == (
        "overdue: Spot check key features was due by the end of key metrics;"
        " @devops-engineer must sign it"
    )
    assert c.view.outcome is None
    for key in ("monitoring_1", "monitoring_2"):
        assert c.sign_off(key, "ana@jump").accepted
    rig.clock.release()
    await c.run_until(lambda v: v.finished)
    assert c.view.outcome is Outcome.SUCCEEDED


async def test_a_failing_automatic_check_rolls_back_like_a_gate(make_rig: Make) -> None:
    teapot = HttpCheck(url="https://shop.example/teapot", expect_status=418, retries=0)
    rig = make_rig("happy", settings=_settings(teapot))
    await rig.conductor.start(version="1a2b3c4d")
    assert await rig.conductor.run() is Outcome.ROLLED_BACK
    started = rig.of(ev.RollbackStarted)[0]
    assert started.phase is Phase.MONITORING
    assert "http_checks" in started.reason
    failed = [g for g in rig.of(ev.GateSampled) if g.gate == "http_checks"]
    assert [g.status for g in failed[:3]] == ["fail", "fail", "fail"]
    texts = [t.text for t in rig.conductor.view.timeline]
    assert any(t.startswith("check failed: HTTP checks at every poll (1) — ") for t in texts)
    assert rig.conductor.view.checks["monitoring_http"].state == "failed"
