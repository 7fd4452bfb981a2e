"""The conductor against the sandbox, on virtual time: whole runs in milliseconds."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from b2tui.adapters.sandbox import SCENARIOS
from b2tui.adapters.store import Store
from b2tui.domain import events as ev
from b2tui.domain.phases import Outcome, Phase, Strategy
from b2tui.domain.view import RunView
from b2tui.engine.api import Action
from b2tui.engine.watch import Watcher
from b2tui.ports import Revision, SourceError
from tests.engine.conftest import Rig, settings_for

Make = Callable[..., Rig]


async def run_to_end(rig: Rig, **start: Any) -> Outcome:
    await rig.conductor.start(version="1a2b3c4d", **start)
    return await rig.conductor.run()


async def serving_images(rig: Rig) -> set[str]:
    env = rig.conductor.target
    pods = await rig.sandbox.ports.cluster.pods(env)
    return {p.image for p in pods if p.ready}


EXPECTED: dict[str, tuple[Outcome, Phase | None]] = {
    "happy": (Outcome.SUCCEEDED, None),
    "prod-error-spike": (Outcome.ROLLED_BACK, Phase.PRODUCTION),
    "latency-regression": (Outcome.ROLLED_BACK, Phase.PRODUCTION),
    "metrics-outage": (Outcome.ROLLED_BACK, Phase.PRODUCTION),
    "staging-crashloop": (Outcome.ABORTED, Phase.STAGING),
    "late-regression": (Outcome.ROLLED_BACK, Phase.MONITORING),
    "failing-tests": (Outcome.BLOCKED, Phase.VALIDATE),
    "flapping": (Outcome.SUCCEEDED, None),
}


def test_every_scenario_has_an_expectation() -> None:
    assert set(EXPECTED) == set(SCENARIOS)


@pytest.mark.parametrize("strategy", [Strategy.CANARY, Strategy.BLUE_GREEN, Strategy.DIRECT])
@pytest.mark.parametrize("scenario", list(EXPECTED))
async def test_scenario_outcomes(make_rig: Make, scenario: str, strategy: Strategy) -> None:
    rig = make_rig(scenario, strategy=strategy)
    outcome = await run_to_end(rig)
    expected, where = EXPECTED[scenario]
    assert outcome is expected, rig.of(ev.RunFinished)[-1].reason
    finished = rig.of(ev.RunFinished)[-1]
    if where is not None:
        assert finished.phase is where
    rollbacks = rig.of(ev.RollbackStarted)
    traffic = [t.canary_percent for t in rig.of(ev.TrafficChanged)]
    known_good = rig.conductor.view.known_good["image"]
    if expected is Outcome.ROLLED_BACK:
        assert len(rollbacks) == 1
        completed = rig.of(ev.RollbackCompleted)
        assert completed and completed[0].recovered
        assert await serving_images(rig) == {known_good}
    else:
        assert not rollbacks
    if scenario in ("prod-error-spike", "metrics-outage") and strategy is Strategy.CANARY:
        # Rolled back before traffic passed the first step.
        assert traffic == [5]
    if scenario == "metrics-outage":
        assert "no data" in rollbacks[0].reason
        paused = [p for p in rig.of(ev.PauseChanged) if p.paused]
        assert paused and "no data" in paused[0].reason
    if scenario in ("staging-crashloop", "failing-tests"):
        assert not traffic
        assert Phase.PRODUCTION not in rig.conductor.view.phase_started
        assert await serving_images(rig) == {known_good}
    if scenario == "late-regression":
        assert rig.conductor.view.stage_number == 2
    if scenario == "flapping":
        fails = [g for g in rig.of(ev.GateSampled) if g.status == "fail"]
        assert fails, "the flapping scenario must actually produce bad samples"
    if expected is Outcome.SUCCEEDED:
        assert await serving_images(rig) != {known_good}
        assert rig.sandbox.notes and rig.sandbox.notes[-1].kind == "deployed"


async def test_a_30_minute_monitoring_window_runs_on_virtual_time(make_rig: Make) -> None:
    rig = make_rig("happy")
    assert await run_to_end(rig) is Outcome.SUCCEEDED
    view = rig.conductor.view
    assert view.phase_durations[Phase.MONITORING] == pytest.approx(1800, abs=6)
    stages = [(s.number, s.stage) for s in rig.of(ev.StageChanged)]
    assert stages == [(1, "high alert"), (2, "key metrics"), (3, "settle")]
    assert [t.canary_percent for t in rig.of(ev.TrafficChanged)] == [5, 50, 100]
    holds = [h.seconds for h in rig.of(ev.HoldStarted)]
    assert holds[:2] == [300, 300]


def _notice(prefix: str) -> Callable[[RunView], bool]:
    return lambda v: v.last_notice is not None and v.last_notice.message.startswith(prefix)


async def test_operator_walks_the_run_by_keyboard(make_rig: Make) -> None:
    rig = make_rig("happy", autopilot=False)
    c = rig.conductor
    await c.start(version="1a2b3c4")
    await c.run_until(
        lambda v: (
            v.checks.get("review_approved") is not None
            and v.phase is Phase.READINESS
            and v.last_notice is not None
        )
    )
    why = c.why_not(Action.ADVANCE)
    assert why is not None and "Code review approved (code author)" in why
    assert c.advance("ana").accepted is False
    for key in ("review_approved", "docs_updated", "rollback_plan"):
        assert c.sign_off(key, "ana@jump").accepted
    assert c.sign_off("review_approved", "bo").message.startswith("Code review approved already")
    rig.clock.release()
    await c.run_until(_notice("smoke waiting for"))
    for item in [i for i in c.view.checks.values() if i.group == "smoke"]:
        assert c.sign_off(item.key, "qa@jump").accepted
    rig.clock.release()
    await c.run_until(
        lambda v: (
            v.last_notice is not None and "press n to start production" in v.last_notice.message
        )
    )
    assert c.why_not(Action.ADVANCE) is None
    assert c.advance("ana@jump").accepted
    rig.clock.release()
    await c.run_until(lambda v: v.canary_percent == 5 and v.hold_until is not None)
    refused = c.advance("ana@jump")
    assert not refused.accepted and refused.message.startswith("holding 5% for")
    assert c.why_not(Action.CANARY_UP) == refused.message
    assert c.set_canary(100, "ana@jump").accepted is False
    rig.clock.release()
    await c.run_until(_notice("gates green at 5%"))
    assert c.step_canary(+1, "ana@jump").accepted
    rig.clock.release()
    await c.run_until(lambda v: v.canary_percent == 50)
    # Stepping back is always allowed: less exposure.
    assert c.step_canary(-1, "ana@jump").accepted
    rig.clock.release()
    await c.run_until(lambda v: [t.canary_percent for t in rig.of(ev.TrafficChanged)][-1] == 5)
    audit = [(a.user, a.action, a.accepted) for a in rig.store.audit_log(c.run_id)]
    assert ("ana", "advance", False) in audit
    assert ("ana@jump", "canary+", True) in audit
    assert ("ana@jump", "canary-", True) in audit
    assert ("ana@jump", "set-canary", False) in audit
    signed = rig.store.signoffs(c.run_id)  # type: ignore[attr-defined]
    assert signed["review_approved"][0] == "ana@jump"
    await c.stop()


async def test_rollback_is_sent_at_once_and_is_idempotent(make_rig: Make) -> None:
    rig = make_rig("happy", autopilot=True)
    c = rig.conductor
    await c.start(version="1a2b3c4")
    await c.run_until(lambda v: v.canary_percent == 5 and v.hold_until is not None)
    env = rig.conductor.target
    assert any(p.track == "canary" for p in await rig.sandbox.ports.cluster.pods(env))
    first = c.rollback("ana@jump")
    assert first.accepted and "rev 7" in first.message
    # The clock is still held: nothing but the intent itself sent the request.
    for _ in range(5):
        await asyncio.sleep(0)
    canary = [p for p in await rig.sandbox.ports.cluster.pods(env) if p.track == "canary"]
    assert canary == []
    second = c.rollback("bo@jump")
    assert not second.accepted and "already" in second.message
    rig.clock.release()
    assert await c._run_task is Outcome.ROLLED_BACK  # type: ignore[misc]
    assert len(rig.of(ev.RollbackStarted)) == 1
    assert rig.of(ev.RollbackStarted)[0].by == "ana@jump"
    assert await serving_images(rig) == {c.view.known_good["image"]}
    # Asking the cluster again (a second operator, the CLI) changes nothing.
    again = await rig.sandbox.ports.cluster.rollback(env, Revision.from_dict(c.view.known_good))
    assert again.changed is False
    third = c.rollback("carla@jump")
    assert not third.accepted and third.message.startswith("already rolled back to b2connect")
    assert [a.accepted for a in rig.store.audit_log(c.run_id) if a.action == "rollback"] == [
        True,
        False,
        False,
    ]


async def test_a_traffic_change_in_flight_when_the_rollback_began_is_rolled_back_too(
    make_rig: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The canary goes from 5 to 50 %; that change is still on its way to the cluster when
    # the operator rolls back. It lands after the first rollback request: the rollback
    # must be sent again, or the canary would serve 50 % of traffic after "rolled back".
    rig = make_rig("happy", autopilot=True)
    c = rig.conductor
    await c.start(version="1a2b3c4")
    await c.run_until(lambda v: v.canary_percent == 5 and v.hold_until is not None)
    cluster = rig.sandbox.ports.cluster
    env = rig.conductor.target
    in_flight, land = asyncio.Event(), asyncio.Event()
    set_canary, rollback = cluster.set_canary, cluster.rollback
    rolled_back: list[bool] = []

    async def slow_set_canary(env_: Any, image: str, percent: int) -> Any:
        if percent == 50:
            in_flight.set()
            await land.wait()
        return await set_canary(env_, image, percent)

    async def counted_rollback(env_: Any, target: Revision) -> Any:
        result = await rollback(env_, target)
        rolled_back.append(result.changed)
        return result

    monkeypatch.setattr(cluster, "set_canary", slow_set_canary)
    monkeypatch.setattr(cluster, "rollback", counted_rollback)
    rig.clock.release()  # the hold runs out; autopilot asks for 50 %
    await asyncio.wait_for(in_flight.wait(), 60)
    assert c.rollback("ana@jump").accepted
    await _until(lambda: bool(rolled_back), "the first rollback request to be answered")
    land.set()  # the 50 % change lands after the rollback
    assert await asyncio.wait_for(c._run_task, 60) is Outcome.ROLLED_BACK  # type: ignore[arg-type]
    assert len(rolled_back) >= 2, "the rollback was not sent again after the change landed"
    canary = [p for p in await cluster.pods(env) if p.track == "canary"]
    assert canary == []
    assert await serving_images(rig) == {c.view.known_good["image"]}


async def _until(done: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not done():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_rollback_calls_the_cluster_before_anyone_hears_of_it(
    make_rig: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An adapter that sends on the call (the kube adapter) has its first request out
    # before the screen, a subscriber, can draw the rollback.
    rig = make_rig("happy", autopilot=True)
    c = rig.conductor
    await c.start(version="1a2b3c4")
    await c.run_until(lambda v: v.canary_percent == 5 and v.hold_until is not None)
    order: list[str] = []
    cluster = rig.sandbox.ports.cluster
    send = cluster.rollback

    def rollback(env: Any, target: Revision) -> Any:
        order.append("cluster called")
        return send(env, target)

    monkeypatch.setattr(cluster, "rollback", rollback)
    c.subscribe(lambda e: order.append("event") if isinstance(e, ev.RollbackStarted) else None)
    assert c.rollback("ana@jump").accepted
    assert order == ["cluster called", "event"]
    rig.clock.release()
    assert await c._run_task is Outcome.ROLLED_BACK  # type: ignore[misc]
    assert order.count("cluster called") == 1


async def test_rollback_before_production_is_refused(make_rig: Make) -> None:
    rig = make_rig("happy")
    c = rig.conductor
    await c.start(version="1a2b3c4")
    await c.run_until(lambda v: v.phase is Phase.STAGING)
    res = c.rollback("ana")
    assert not res.accepted and "production untouched" in res.message
    await c.stop()


async def test_pause_holds_promotion_until_resumed(make_rig: Make) -> None:
    rig = make_rig("happy", autopilot=True)
    c = rig.conductor
    await c.start(version="1a2b3c4")
    await c.run_until(lambda v: v.canary_percent == 5 and v.hold_until is not None)
    hold_until = c.view.hold_until
    assert hold_until is not None
    assert c.toggle_pause("ana").accepted
    assert c.why_not(Action.ADVANCE) is not None
    rig.clock.release()
    await c.run_until(
        lambda v: v.last_ts is not None and v.last_ts > hold_until + timedelta(minutes=3)
    )
    assert c.view.canary_percent == 5
    assert c.toggle_pause("ana").accepted
    rig.clock.release()
    await c.run_until(lambda v: v.canary_percent == 50)
    await c.stop()


async def test_without_auto_rollback_a_failing_canary_pauses_and_asks(make_rig: Make) -> None:
    settings = settings_for(auto_rollback=False)
    rig = make_rig("prod-error-spike", settings=settings)
    c = rig.conductor
    await c.start(version="1a2b3c4")
    await c.run_until(lambda v: v.paused)
    assert "rollback recommended" in c.view.pause_reason
    assert not rig.of(ev.RollbackStarted)
    assert c.why_not(Action.ROLLBACK) is None
    assert c.rollback("ana@jump").accepted
    rig.clock.release()
    assert await c._run_task is Outcome.ROLLED_BACK  # type: ignore[misc]


async def test_killed_run_resumes_with_its_original_hold(make_rig: Make, tmp_path: Any) -> None:
    store = Store(tmp_path / "kill.db")
    rig = make_rig("happy", store=store)
    await rig.conductor.start(version="1a2b3c4")
    run_id = rig.conductor.run_id
    await rig.conductor.run_until(lambda v: v.canary_percent == 5 and v.hold_until is not None)
    hold_until = rig.conductor.view.hold_until
    snapshot = rig.sandbox.snapshot()
    await rig.conductor.stop()  # the process is gone; the store has everything

    again = make_rig("happy", store=Store(tmp_path / "kill.db"))
    again.sandbox.restore(snapshot)
    again.clock.advance((rig.clock.now() - again.clock.now()).total_seconds())
    again.conductor.resume(run_id)
    assert again.conductor.view.canary_percent == 5
    assert again.conductor.view.hold_until == hold_until
    assert await again.conductor.run() is Outcome.SUCCEEDED
    assert isinstance(again.events[0], ev.RunResumed)
    fifty = [t for t in again.of(ev.TrafficChanged) if t.canary_percent == 50]
    assert fifty and fifty[0].ts == hold_until
    assert [r.id for r in again.store.runs()] == [run_id]
    assert not again.of(ev.RunStarted)


async def test_watcher_follows_read_only(make_rig: Make, tmp_path: Any) -> None:
    rig = make_rig("happy")
    c = rig.conductor
    await c.start(version="1a2b3c4")
    await c.run_until(lambda v: v.canary_percent == 5)
    watcher = Watcher(Store(tmp_path / "state.db"), c.run_id, poll=0.01)
    assert watcher.view.canary_percent == 5
    assert watcher.view.last_ts is not None
    assert watcher.clock.now() >= watcher.view.last_ts  # the run's clock, not the wall's
    assert watcher.driver.startswith("ana@jump pid")
    assert watcher.why_not(Action.ROLLBACK) == f"watching — driven by {watcher.driver}"
    assert not watcher.rollback("bo").accepted
    seen: list[ev.Event] = []
    watcher.subscribe(seen.append)
    rig.clock.release()
    follow = asyncio.create_task(watcher.follow())
    assert await c._run_task is Outcome.SUCCEEDED  # type: ignore[misc]
    await asyncio.wait_for(follow, 10)
    assert watcher.view.outcome is Outcome.SUCCEEDED
    assert isinstance(seen[-1], ev.RunFinished)


async def test_emergency_path_needs_only_tests_and_tech_lead(make_rig: Make) -> None:
    rig = make_rig("happy")
    assert await run_to_end(rig, emergency=True) is Outcome.SUCCEEDED
    required = {
        k for k, i in rig.conductor.view.checks.items() if i.required and i.group == "readiness"
    }
    assert required == {"tests_passing", "tech_lead_approval"}
    holds = [h.seconds for h in rig.of(ev.HoldStarted)]
    assert holds[:2] == [60, 60]
    assert rig.conductor.view.phase_durations[Phase.MONITORING] >= 1800


async def test_no_rollback_target_blocks_the_run(make_rig: Make) -> None:
    rig = make_rig("happy")
    cluster = rig.sandbox.ports.cluster

    async def broken(env: Any) -> Revision:
        raise SourceError("API server unreachable at https://10.0.0.1:6443")

    cluster.current_revision = broken  # type: ignore[method-assign]
    assert await run_to_end(rig) is Outcome.BLOCKED
    assert "rollback target" in rig.of(ev.RunFinished)[0].reason


async def test_a_traffic_change_that_keeps_failing_rolls_back(make_rig: Make) -> None:
    rig = make_rig("happy")
    cluster = rig.sandbox.ports.cluster
    real = cluster.set_canary
    calls: list[int] = []

    async def flaky(env: Any, image: str, percent: int) -> Any:
        calls.append(percent)
        if percent == 50:
            raise SourceError("API server unreachable at https://10.0.0.1:6443")
        if len(calls) == 1:
            raise SourceError("etcdserver: request timed out")  # one transient failure
        return await real(env, image, percent)

    cluster.set_canary = flaky  # type: ignore[method-assign]
    assert await run_to_end(rig) is Outcome.ROLLED_BACK
    assert calls == [5, 5, 50, 50, 50]
    rollback = rig.of(ev.RollbackStarted)[0]
    assert rollback.reason.startswith("traffic change to 50% failed 3 times")
    alerts = [n.message for n in rig.of(ev.Notice) if n.level == "alert"]
    assert any("attempt 1/3" in a for a in alerts)
    assert await serving_images(rig) == {rig.conductor.view.known_good["image"]}


async def test_abort_before_production_ends_the_run_aborted(make_rig: Make) -> None:
    rig = make_rig("happy", autopilot=False)
    c = rig.conductor
    await c.start(version="1a2b3c4")
    await c.run_until(lambda v: v.phase is Phase.READINESS and bool(v.checks))
    assert c.why_not(Action.ABORT) is None
    res = c.abort("ana@jump")
    assert res.accepted and "production untouched" in res.message
    rig.clock.release()
    assert await c._run_task is Outcome.ABORTED  # type: ignore[misc]
    finished = rig.of(ev.RunFinished)
    assert [(f.outcome, f.reason) for f in finished] == [("aborted", "aborted by ana@jump")]
    assert not rig.of(ev.RollbackStarted)
    rec = rig.store.get_run(c.run_id)
    assert rec is not None and rec.outcome == "aborted"
    again = c.abort("bo@jump")
    assert not again.accepted and "nothing to abort" in again.message
    audit = [(a.user, a.action, a.accepted) for a in rig.store.audit_log(c.run_id)]
    assert ("ana@jump", "abort", True) in audit and ("bo@jump", "abort", False) in audit


async def test_abort_after_production_is_a_rollback(make_rig: Make) -> None:
    rig = make_rig("happy", autopilot=True)
    c = rig.conductor
    await c.start(version="1a2b3c4")
    await c.run_until(lambda v: v.canary_percent == 5 and v.hold_until is not None)
    res = c.abort("ana@jump")
    assert res.accepted and "rolling back to" in res.message
    assert not c.abort("bo@jump").accepted  # the rollback runs: a second abort is a no-op
    rig.clock.release()
    assert await c._run_task is Outcome.ROLLED_BACK  # type: ignore[misc]
    [rollback] = rig.of(ev.RollbackStarted)
    assert (rollback.reason, rollback.by) == ("aborted by ana@jump", "ana@jump")
    assert await serving_images(rig) == {c.view.known_good["image"]}
    assert rig.of(ev.RunFinished)[0].reason == "aborted by ana@jump"


async def test_a_watcher_cannot_abort(make_rig: Make, tmp_path: Any) -> None:
    rig = make_rig("happy")
    c = rig.conductor
    await c.start(version="1a2b3c4")
    await c.run_until(lambda v: v.phase is Phase.VALIDATE)
    watcher = Watcher(Store(tmp_path / "state.db"), c.run_id, poll=0.01)
    res = watcher.abort("bo")
    assert not res.accepted and "read-only" in res.message
    await c.stop()


# --- pre-built images (run --image REF, [service] prebuilt) ------------------------------

PREBUILT = "registry.sandbox/b2connect:ci-build-42"


async def test_a_prebuilt_image_is_deployed_without_build_or_push(make_rig: Make) -> None:
    rig = make_rig()
    rig.sandbox.world.images[PREBUILT] = {"id": "sha256:ci", "digest": "sha256:" + "c" * 64}
    outcome = await run_to_end(rig, params={"image": PREBUILT})
    assert outcome is Outcome.SUCCEEDED, rig.of(ev.RunFinished)[-1].reason
    lines = [e.line for e in rig.of(ev.LogLine)]
    assert not any(line.startswith(("building ", "pushing ")) for line in lines), lines
    assert f"pre-built {PREBUILT} is in the registry (sha256:{'c' * 64})" in lines
    # The tag resolved to its digest before staging; production runs that digest.
    digest = "sha256:" + "c" * 64
    assert await serving_images(rig) == {f"registry.sandbox/b2connect:production-1a2b3c4@{digest}"}


async def test_a_missing_prebuilt_image_aborts_before_any_environment(make_rig: Make) -> None:
    rig = make_rig()
    before = await serving_images(rig)
    outcome = await run_to_end(rig, params={"image": PREBUILT})
    assert outcome is Outcome.ABORTED
    reason = rig.of(ev.RunFinished)[-1].reason
    assert reason.endswith(f"image {PREBUILT} is not in the sandbox registry: push it first")
    assert not rig.of(ev.TrafficChanged) and await serving_images(rig) == before
    assert not any(e.line.startswith("applied ") for e in rig.of(ev.LogLine))


async def test_prebuilt_setting_checks_the_runs_own_tags(make_rig: Make) -> None:
    settings = settings_for()
    settings = dataclasses.replace(
        settings, service=dataclasses.replace(settings.service, prebuilt=True)
    )
    rig = make_rig(settings=settings)
    outcome = await run_to_end(rig)
    assert outcome is Outcome.ABORTED
    tag = f"{settings.service.image}:staging-1a2b3c4"
    assert f"image {tag} is not in the sandbox registry" in rig.of(ev.RunFinished)[-1].reason
