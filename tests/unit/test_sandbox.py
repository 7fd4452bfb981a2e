"""The embedded sandbox: simulated cluster, metrics and tools, on a virtual clock."""

from __future__ import annotations

import dataclasses
import itertools
import json
import subprocess
import sys

import pytest

from b2tui.adapters.sandbox import SCENARIOS, Sandbox, build_sandbox
from b2tui.config import EnvironmentSettings, HttpCheck, Settings, sandbox_settings
from b2tui.domain.checklist import READINESS_ITEMS, RunConditions, build_checklist
from b2tui.domain.phases import Strategy
from b2tui.engine.clock import VirtualClock
from b2tui.ports import Notification, PodPhase, StepFailed, Target

NEW = "registry.sandbox/b2connect:production-a1b2c3d"
NEW_STAGING = "registry.sandbox/b2connect:staging-a1b2c3d"
HEALTHY_ERROR = (0.0001, 0.0006)
HEALTHY_P95 = (110.0, 160.0)


@pytest.fixture
def settings() -> Settings:
    return sandbox_settings()


@pytest.fixture
def prod(settings: Settings) -> EnvironmentSettings:
    return settings.environment("production")


@pytest.fixture
def staging(settings: Settings) -> EnvironmentSettings:
    return settings.environment("staging")


def make(
    scenario: str = "happy",
    seed: int = 1,
    strategy: Strategy = Strategy.CANARY,
    settings: Settings | None = None,
) -> tuple[Sandbox, VirtualClock]:
    clock = VirtualClock()
    return build_sandbox(scenario, seed, clock, settings or sandbox_settings(), strategy), clock


async def settle(
    sb: Sandbox,
    env: EnvironmentSettings,
    clock: VirtualClock,
    track: str | None = None,
    limit: int = 60,
) -> None:
    """Poll the rollout every 5 s, as the engine does, until it completes."""
    for _ in range(limit):
        if (await sb.ports.cluster.rollout(Target.of(env), track)).complete:
            return
        await clock.sleep(5)
    pytest.fail(f"rollout of {env.name} {track or ''} did not complete")


def healthy(readings: dict) -> bool:
    err, p95 = readings["error_rate"].value, readings["p95_ms"].value
    return (
        err is not None
        and p95 is not None
        and HEALTHY_ERROR[0] <= err <= HEALTHY_ERROR[1]
        and HEALTHY_P95[0] <= p95 <= HEALTHY_P95[1]
    )


# --- cluster ------------------------------------------------------------------------------


async def test_known_good_revision(prod: EnvironmentSettings) -> None:
    sb, _ = make()
    rev = await sb.ports.cluster.current_revision(Target.of(prod))
    assert (rev.deployment, rev.revision, rev.replicas) == ("b2connect", "7", 10)
    assert rev.image == "registry.sandbox/b2connect:prod-9f3c2a1"
    assert rev.template_hash and len(rev.template_hash) in (9, 10)
    pods = await sb.ports.cluster.pods(Target.of(prod))
    assert len(pods) == 10
    assert all(p.ready and p.track == "stable" and p.image == rev.image for p in pods)
    assert all(p.name.startswith(f"b2connect-{rev.template_hash}-") for p in pods)


async def test_demo_replicas_sets_the_production_pod_count() -> None:
    from b2tui.cli.parser import UsageError, build_parser

    args = build_parser().parse_args(["demo", "--replicas", "40"])
    settings = sandbox_settings(replicas=args.replicas)
    prod = settings.environment("production")
    sb, _ = make(settings=settings)
    assert prod.replicas == 40 and len(await sb.ports.cluster.pods(Target.of(prod))) == 40
    assert sandbox_settings().environment("production").replicas == 10
    with pytest.raises(UsageError, match="bad --replicas '0': expected a whole number"):
        build_parser().parse_args(["demo", "--replicas", "0"])


async def test_a_poll_gives_an_unchanged_pod_as_the_same_object(prod: EnvironmentSettings) -> None:
    sb, clock = make()
    cluster = sb.ports.cluster
    before = {p.name: p for p in await cluster.pods(Target.of(prod))}
    await cluster.set_canary(Target.of(prod), NEW, 5)
    await clock.sleep(3)
    after = await cluster.pods(Target.of(prod))
    kept = [p for p in after if p.name in before]
    assert kept and all(p is before[p.name] for p in kept)
    canary = [p for p in after if p.track == "canary"]
    await clock.sleep(30)  # the canary pod turned ready: a new value, a new object
    now = {p.name: p for p in await cluster.pods(Target.of(prod))}
    assert canary and all(now[p.name] != p and now[p.name].ready for p in canary)


async def test_replica_split_and_achieved_percent(prod: EnvironmentSettings) -> None:
    sb, clock = make()
    cluster = sb.ports.cluster
    split = await cluster.set_canary(Target.of(prod), NEW, 5)
    assert (split.asked_percent, split.achieved_percent, split.detail) == (5, 10.0, "1/10 replicas")
    await settle(sb, prod, clock, "canary")
    tracks = [p.track for p in await cluster.pods(Target.of(prod))]
    assert (tracks.count("canary"), tracks.count("stable")) == (1, 9)
    # Once the canary serves, its share of the ~60 req/s is the achieved 10 %.
    canary = await sb.ports.metrics.sample(prod, "canary")
    stable = await sb.ports.metrics.sample(prod, "stable")
    total = canary["request_rate"].value + stable["request_rate"].value
    assert 55 <= total <= 65
    assert canary["request_rate"].value / total == pytest.approx(0.10, abs=0.001)

    split = await cluster.set_canary(Target.of(prod), NEW, 50)
    assert (split.achieved_percent, split.detail) == (50.0, "5/10 replicas")
    await settle(sb, prod, clock, "canary")
    await clock.sleep(5)
    tracks = [p.track for p in await cluster.pods(Target.of(prod))]
    assert (tracks.count("canary"), tracks.count("stable")) == (5, 5)


async def test_pods_become_ready_over_clock_time(staging: EnvironmentSettings) -> None:
    sb, clock = make()
    cluster = sb.ports.cluster
    await cluster.deploy(Target.of(staging), NEW_STAGING)
    fresh = [p for p in await cluster.pods(Target.of(staging)) if p.image == NEW_STAGING]
    assert len(fresh) == 2
    assert all(p.phase is PodPhase.PENDING and p.reason == "ContainerCreating" for p in fresh)
    assert all(not p.ready and p.created == clock.now() for p in fresh)
    state = await cluster.rollout(Target.of(staging))
    assert not state.complete and state.ready == 0
    # The old pods keep serving until their replacements are Ready.
    assert len(await cluster.pods(Target.of(staging))) == 4
    seen_ready: list[int] = []
    for _ in range(8):
        await clock.sleep(3)
        state = await cluster.rollout(Target.of(staging))
        assert 0 <= state.ready <= state.updated <= state.desired == 2
        seen_ready.append(state.ready)
    assert seen_ready == sorted(seen_ready)
    assert state.complete and state.message == 'deployment "b2connect" successfully rolled out'
    pods = await cluster.pods(Target.of(staging))
    assert [p.image for p in pods] == [NEW_STAGING] * 2
    assert all(p.ready and p.phase is PodPhase.RUNNING for p in pods)


async def test_staging_crashloop(staging: EnvironmentSettings, settings: Settings) -> None:
    sb, clock = make("staging-crashloop")
    cluster = sb.ports.cluster
    await cluster.deploy(Target.of(staging), NEW_STAGING)
    await clock.sleep(60)
    crashing = [p for p in await cluster.pods(Target.of(staging)) if p.image == NEW_STAGING]
    assert len(crashing) == 2
    assert all(p.crash_looping and p.reason == "CrashLoopBackOff" for p in crashing)
    before = [p.restarts for p in crashing]
    await clock.sleep(120)
    after = [p.restarts for p in await cluster.pods(Target.of(staging)) if p.image == NEW_STAGING]
    # About one restart every 30 s.
    assert all(3 <= a - b <= 5 for a, b in zip(after, before, strict=True))
    state = await cluster.rollout(Target.of(staging))
    assert not state.complete and not state.failed and state.ready == 0
    # The old pods were never replaced, so staging still answers.
    old = [p for p in await cluster.pods(Target.of(staging)) if p.image != NEW_STAGING]
    assert len(old) == 2 and all(p.ready for p in old)
    counts = await cluster.scan_logs(Target.of(staging), settings.smoke.log_patterns, 300)
    assert counts["(?i)exception"] >= 10
    assert counts["(?i)database .* (error|timeout)"] >= 10
    await clock.sleep(600)
    state = await cluster.rollout(Target.of(staging))
    assert state.failed and "progress deadline" in state.message


async def test_healthy_logs_match_no_default_pattern(
    staging: EnvironmentSettings, settings: Settings
) -> None:
    sb, clock = make()
    await sb.ports.cluster.deploy(Target.of(staging), NEW_STAGING)
    await clock.sleep(300)
    counts = await sb.ports.cluster.scan_logs(Target.of(staging), settings.smoke.log_patterns, 600)
    assert counts == dict.fromkeys(settings.smoke.log_patterns, 0)
    # The scan does read lines: the health checks are there.
    assert (await sb.ports.cluster.scan_logs(Target.of(staging), ("healthz",), 600))["healthz"] > 10


async def test_rollback_during_canary_is_traffic_first_and_idempotent(
    prod: EnvironmentSettings,
) -> None:
    changes: list[int] = []
    sb, clock = make("prod-error-spike")
    sb.on_change = lambda: changes.append(1)
    cluster = sb.ports.cluster
    known_good = await cluster.current_revision(Target.of(prod))
    await cluster.set_canary(Target.of(prod), NEW, 50)
    await settle(sb, prod, clock, "canary")
    n = len(changes)
    result = await cluster.rollback(Target.of(prod), known_good)
    assert result.changed and "b2connect-canary scaled 5 → 0" in result.detail
    assert len(changes) == n + 1
    # Traffic left the canary at once: no new-version pod is left, none serves.
    assert all(p.image == known_good.image for p in await cluster.pods(Target.of(prod)))
    assert (await sb.ports.metrics.sample(prod, "canary"))["request_rate"].value == 0.0
    again = await cluster.rollback(Target.of(prod), known_good)
    assert not again.changed and "already on the target" in again.detail
    assert len(changes) == n + 1
    await settle(sb, prod, clock)
    assert await cluster.current_revision(Target.of(prod)) == known_good
    assert healthy(await sb.ports.metrics.sample(prod, None))


async def test_rollback_after_promote_restores_the_template(prod: EnvironmentSettings) -> None:
    sb, clock = make("late-regression")
    cluster = sb.ports.cluster
    known_good = await cluster.current_revision(Target.of(prod))
    await cluster.set_canary(Target.of(prod), NEW, 100)
    await settle(sb, prod, clock, "canary")
    await cluster.promote(Target.of(prod), NEW)
    await settle(sb, prod, clock)
    promoted = await cluster.current_revision(Target.of(prod))
    assert (promoted.image, promoted.revision) == (NEW, "8")
    assert {p.track for p in await cluster.pods(Target.of(prod))} == {"stable"}
    assert (await cluster.rollout(Target.of(prod), "canary")).desired == 0

    result = await cluster.rollback(Target.of(prod), known_good)
    assert result.changed
    assert not (await cluster.rollback(Target.of(prod), known_good)).changed
    await settle(sb, prod, clock)
    restored = await cluster.current_revision(Target.of(prod))
    # Kubernetes renumbers the reused ReplicaSet; its template hash stays the same.
    assert restored.revision == "9"
    assert (restored.image, restored.template_hash) == (known_good.image, known_good.template_hash)
    assert healthy(await sb.ports.metrics.sample(prod, None))


async def test_blue_green(prod: EnvironmentSettings) -> None:
    sb, clock = make(strategy=Strategy.BLUE_GREEN)
    cluster = sb.ports.cluster
    known_good = await cluster.current_revision(Target.of(prod))
    assert (known_good.deployment, known_good.colour) == ("b2connect-blue", "blue")
    assert await cluster.stage_colour(Target.of(prod), NEW) == "green"
    await settle(sb, prod, clock, "green")
    # Staged but not selected: green serves nothing yet.
    assert (await sb.ports.metrics.sample(prod, "green"))["error_rate"].reason == "no traffic"
    split = await cluster.switch_colour(Target.of(prod), "green")
    assert (split.asked_percent, split.achieved_percent) == (100, 100.0)
    assert (await sb.ports.metrics.sample(prod, "green"))["request_rate"].value > 50
    assert (await sb.ports.metrics.sample(prod, "blue"))["request_rate"].value == 0.0
    with pytest.raises(StepFailed, match="still selects"):
        await cluster.retire_colour(Target.of(prod), "green")
    assert (await cluster.rollback(Target.of(prod), known_good)).changed
    assert not (await cluster.rollback(Target.of(prod), known_good)).changed
    assert (await sb.ports.metrics.sample(prod, "blue"))["request_rate"].value > 50
    assert all(p.track == "blue" for p in await cluster.pods(Target.of(prod)))


async def test_strategy_mismatch_is_one_readable_line(prod: EnvironmentSettings) -> None:
    sb, _ = make(strategy=Strategy.DIRECT)
    with pytest.raises(StepFailed) as e:
        await sb.ports.cluster.set_canary(Target.of(prod), NEW, 5)
    assert "\n" not in str(e.value) and "--strategy canary" in str(e.value)


async def test_thousands_of_pods_have_unique_names(settings: Settings) -> None:
    prod = dataclasses.replace(settings.environment("production"), replicas=2000)
    big = dataclasses.replace(settings, environments={**settings.environments, "production": prod})
    sb, clock = make(settings=big)
    await sb.ports.cluster.set_canary(Target.of(prod), NEW, 50)
    await clock.sleep(30)
    pods = await sb.ports.cluster.pods(Target.of(prod))
    assert len({p.name for p in pods}) == len(pods) == 2000
    assert sum(p.track == "canary" for p in pods) == 1000


# --- metrics ------------------------------------------------------------------------------


async def test_no_traffic_track_has_no_error_rate(prod: EnvironmentSettings) -> None:
    sb, _ = make()
    readings = await sb.ports.metrics.sample(prod, "canary")
    assert readings["request_rate"].value == 0.0
    assert readings["error_rate"].value is None and readings["error_rate"].reason == "no traffic"


async def test_staging_traffic_is_synthetic_and_healthy(staging: EnvironmentSettings) -> None:
    sb, clock = make()
    for _ in range(20):
        readings = await sb.ports.metrics.sample(staging, None)
        assert 4 <= readings["request_rate"].value <= 6
        assert healthy(readings)
        await clock.sleep(5)


async def test_same_seed_same_values_other_seed_other_noise(prod: EnvironmentSettings) -> None:
    async def series(seed: int) -> list[tuple[float | None, ...]]:
        sb, clock = make(seed=seed)
        out = []
        for _ in range(12):
            r = await sb.ports.metrics.sample(prod, None)
            out.append((r["error_rate"].value, r["p95_ms"].value, r["request_rate"].value))
            await clock.sleep(5)
        return out

    a, b, c = await series(7), await series(7), await series(8)
    assert a == b
    assert a != c
    assert len({v for v in a}) > 6  # noise changes from one poll bucket to the next


async def test_history_replays_the_past(prod: EnvironmentSettings) -> None:
    sb, clock = make("prod-error-spike")
    await sb.ports.cluster.set_canary(Target.of(prod), NEW, 50)
    await settle(sb, prod, clock, "canary")
    await clock.sleep(60)
    hist = await sb.ports.metrics.history(prod, "canary", 600, 5)
    points = hist["error_rate"].points
    assert len(points) == 121
    # Before the canary existed there was no canary traffic; now it fails.
    assert points[0][1] is None and points[-1][1] is not None and points[-1][1] >= 0.01
    assert points[-1] == (clock.now().timestamp(), points[-1][1])


async def test_happy_everything_healthy(prod: EnvironmentSettings) -> None:
    sb, clock = make("happy")
    await sb.ports.cluster.set_canary(Target.of(prod), NEW, 5)
    await settle(sb, prod, clock, "canary")
    for _ in range(30):
        for track in ("canary", "stable", None):
            assert healthy(await sb.ports.metrics.sample(prod, track)), track
        await clock.sleep(5)


async def test_prod_error_spike(prod: EnvironmentSettings, staging: EnvironmentSettings) -> None:
    sb, clock = make("prod-error-spike")
    await sb.ports.cluster.deploy(Target.of(staging), NEW_STAGING)
    await settle(sb, staging, clock)
    assert healthy(await sb.ports.metrics.sample(staging, None))
    await sb.ports.cluster.set_canary(Target.of(prod), NEW, 5)
    await settle(sb, prod, clock, "canary")
    for _ in range(3):
        canary = await sb.ports.metrics.sample(prod, "canary")
        assert canary["error_rate"].value >= 0.01
        assert healthy(await sb.ports.metrics.sample(prod, "stable"))
        await clock.sleep(5)


async def test_latency_regression(prod: EnvironmentSettings) -> None:
    sb, clock = make("latency-regression")
    await sb.ports.cluster.set_canary(Target.of(prod), NEW, 5)
    await settle(sb, prod, clock, "canary")
    for _ in range(3):
        assert (await sb.ports.metrics.sample(prod, "canary"))["p95_ms"].value >= 280
        assert healthy(await sb.ports.metrics.sample(prod, "stable"))
        # A 10 % share at 320 ms lifts the service's P95, without reaching the canary's.
        mix = (await sb.ports.metrics.sample(prod, None))["p95_ms"].value
        assert 110 < mix < 280
        await clock.sleep(5)


async def test_metrics_outage(prod: EnvironmentSettings, staging: EnvironmentSettings) -> None:
    sb, clock = make("metrics-outage")
    assert healthy(await sb.ports.metrics.sample(prod, None))
    await sb.ports.cluster.deploy(Target.of(staging), NEW_STAGING)
    await settle(sb, staging, clock)
    assert healthy(await sb.ports.metrics.sample(staging, None))
    known_good = await sb.ports.cluster.current_revision(Target.of(prod))
    await sb.ports.cluster.set_canary(Target.of(prod), NEW, 5)
    # From the moment the new version's pod exists, before it is even Ready.
    for track in ("canary", "stable", None):
        readings = await sb.ports.metrics.sample(prod, track)
        assert {r.value for r in readings.values()} == {None}
        assert {r.reason for r in readings.values()} == {"target down"}
    assert healthy(await sb.ports.metrics.sample(staging, None))
    await sb.ports.cluster.rollback(Target.of(prod), known_good)
    await settle(sb, prod, clock)
    assert healthy(await sb.ports.metrics.sample(prod, None))


async def test_late_regression(prod: EnvironmentSettings) -> None:
    sb, clock = make("late-regression")
    await sb.ports.cluster.set_canary(Target.of(prod), NEW, 50)
    await settle(sb, prod, clock, "canary")
    await sb.ports.cluster.set_canary(Target.of(prod), NEW, 100)
    await settle(sb, prod, clock, "canary")
    full_at = sb.world.env("production").full_at
    assert full_at is not None and full_at <= clock.now().timestamp()
    await sb.ports.cluster.promote(Target.of(prod), NEW)
    clock.advance(full_at + 11 * 60 - clock.now().timestamp())
    for _ in range(6):
        assert healthy(await sb.ports.metrics.sample(prod, None))
        await clock.sleep(5)
    clock.advance(full_at + 13 * 60 - clock.now().timestamp())
    for _ in range(6):
        assert (await sb.ports.metrics.sample(prod, None))["error_rate"].value >= 0.02
        await clock.sleep(5)


async def test_flapping_never_bad_twice_in_a_row(prod: EnvironmentSettings) -> None:
    sb, clock = make("flapping")
    await sb.ports.cluster.set_canary(Target.of(prod), NEW, 5)
    await settle(sb, prod, clock, "canary")
    bad: list[bool] = []
    for _ in range(7 * 12):
        err = (await sb.ports.metrics.sample(prod, "canary"))["error_rate"].value
        bad.append(err >= 0.01)
        assert healthy(await sb.ports.metrics.sample(prod, "stable"))
        await clock.sleep(5)
    assert sum(bad) == 12
    assert not any(a and b for a, b in itertools.pairwise(bad))


# --- snapshot -----------------------------------------------------------------------------


async def test_snapshot_restore_behaves_identically(prod: EnvironmentSettings) -> None:
    a, clock_a = make("prod-error-spike", seed=3)
    a.on_change = lambda: None
    await a.ports.images.build(NEW, lambda _: None)
    await a.ports.cluster.set_canary(Target.of(prod), NEW, 50)
    await clock_a.sleep(7)
    await a.ports.notifier.notify(
        Notification("incident", "b2connect", "production", "a1b2c3d", NEW, "r1", "engine", 9.0)
    )
    state = json.loads(json.dumps(a.snapshot()))

    b, clock_b = make("prod-error-spike", seed=3)
    clock_b.advance((clock_a.now() - clock_b.now()).total_seconds())
    b.restore(state)
    assert b.snapshot() == state
    assert b.notes == a.notes

    async def observe(sb: Sandbox, clock: VirtualClock) -> list[object]:
        seen: list[object] = []
        for _ in range(5):
            seen.append(await sb.ports.cluster.pods(Target.of(prod)))
            seen.append(await sb.ports.cluster.rollout(Target.of(prod), "canary"))
            seen.append(await sb.ports.metrics.sample(prod, "canary"))
            await clock.sleep(5)
        seen.append(await sb.ports.images.push(NEW, lambda _: None))
        seen.append(
            await sb.ports.cluster.rollback(
                Target.of(prod), await sb.ports.cluster.current_revision(Target.of(prod))
            )
        )
        seen.append(await sb.ports.cluster.pods(Target.of(prod)))
        return seen

    assert await observe(a, clock_a) == await observe(b, clock_b)


def test_restore_refuses_another_scenario() -> None:
    a, _ = make("happy")
    b, _ = make("flapping")
    with pytest.raises(ValueError, match="build the sandbox with the snapshot's values"):
        b.restore(a.snapshot())


def test_unknown_scenario() -> None:
    with pytest.raises(ValueError, match="choose one of: happy, prod-error-spike"):
        make("no-such-thing")


def test_scenarios_in_table_order() -> None:
    assert list(SCENARIOS) == [
        "happy",
        "prod-error-spike",
        "latency-regression",
        "metrics-outage",
        "staging-crashloop",
        "late-regression",
        "failing-tests",
        "flapping",
    ]
    assert {s.outcome for s in SCENARIOS.values()} == {
        "succeeded",
        "rolled_back",
        "aborted",
        "blocked",
    }


# --- tools --------------------------------------------------------------------------------


async def test_commands_stream_over_clock_time() -> None:
    sb, clock = make()
    lines: list[str] = []
    start = clock.now()
    result = await sb.ports.commands.run(
        "test", "dotnet test B2Connect.slnx", cwd=".", timeout=1200, on_line=lines.append
    )
    assert result.ok
    took = (clock.now() - start).total_seconds()
    assert took == pytest.approx(result.duration)
    assert 35 <= took <= 55
    assert lines[-1].startswith("Passed!  - Failed:     0, Passed:   412")
    assert result.tail.splitlines()[-1] == lines[-1]


async def test_failing_tests_exit_1() -> None:
    sb, _ = make("failing-tests")
    lines: list[str] = []
    result = await sb.ports.commands.run(
        "test", "dotnet test", cwd=".", timeout=1200, on_line=lines.append
    )
    assert result.exit_code == 1
    assert any(line.strip().startswith("Failed B2Connect.Tests.") for line in lines)
    assert result.tail.splitlines()[-1].startswith("Failed!  - Failed:     2")
    # Only the tests fail: the build still passes.
    build = await sb.ports.commands.run(
        "build", "dotnet build", cwd=".", timeout=1200, on_line=lines.append
    )
    assert build.ok


async def test_command_timeout() -> None:
    sb, clock = make()
    start = clock.now()
    result = await sb.ports.commands.run(
        "test", "dotnet test", cwd=".", timeout=10, on_line=lambda _: None
    )
    assert result.timed_out and result.exit_code is None
    assert (clock.now() - start).total_seconds() == pytest.approx(10)


async def test_images_build_then_push() -> None:
    sb, clock = make()
    images = sb.ports.images
    with pytest.raises(StepFailed, match="build it first"):
        await images.push(NEW_STAGING, lambda _: None)
    lines: list[str] = []
    start = clock.now()
    image_id = await images.build(NEW_STAGING, lines.append)
    assert image_id.startswith("sha256:") and len(image_id) == 71
    assert lines[-1] == f"Successfully tagged {NEW_STAGING}"
    assert any(line.startswith("Step 5/12 : RUN dotnet restore") for line in lines)
    assert 30 <= (clock.now() - start).total_seconds() <= 50
    lines.clear()
    digest = await images.push(NEW_STAGING, lines.append)
    assert digest.startswith("sha256:") and lines[-1].endswith(f"digest: {digest} size: 1789")
    assert any("Pushing [" in line for line in lines)


async def test_checks() -> None:
    sb, _ = make()
    items = build_checklist(READINESS_ITEMS, RunConditions())
    for item in items:
        result = await sb.ports.checks.readiness(item)
        if item.key in ("code_merged", "tests_passing", "build_ok"):
            assert result.passed is True and result.detail
    result = await sb.ports.checks.http(HttpCheck("https://staging.example/healthz"))
    assert result.passed is True
    wrong = await sb.ports.checks.http(
        HttpCheck("https://staging.example/healthz", expect_status=204, retries=1)
    )
    assert wrong.passed is False and "expected 204 after 2 attempts" in wrong.detail


async def test_notifier_records() -> None:
    sb, _ = make()
    note = Notification("deployed", "b2connect", "production", "a1b2c3d", NEW, "r1", "me", 60.0)
    assert await sb.ports.notifier.notify(note) == [
        ("#deployments", True, "recorded by the sandbox (#1)")
    ]
    assert sb.notes == [note]


def test_sandbox_imports_neither_textual_nor_the_engine() -> None:
    code = (
        "import sys, b2tui.adapters.sandbox;"
        "bad = [m for m in sys.modules if m.startswith(('textual', 'b2tui.engine', 'b2tui.ui'))];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
