"""The run context: what phases and strategies work with, and the steps they share.

A :class:`RunContext` is built by the :class:`~b2tui.engine.conductor.Conductor`. It
holds the run's :class:`~b2tui.engine.journal.RunJournal` (state, view, persist, fan an
event out, the wake-up of an intent), its ports, clock and settings, and the few
:class:`Services` of the conductor and its intents (begin a rollback, sign off, the
lease). The phase functions (:mod:`b2tui.engine.workflow`) and the strategies
(:mod:`b2tui.engine.strategies`) are flat runs of idempotent steps over it: each step
checks ``state.done`` (or the state it would produce) first, so a resumed run skips
what already happened. Steps of their own concern live beside it, as functions over the
context: :mod:`.artifacts` (build, pin, promote), :mod:`.checklist` (items, autopilot's
sign-offs), :mod:`.notify` (telling people), :mod:`.commands` (the service's commands),
:mod:`.rollback`.

Two exceptions end a phase early: :class:`Finish` (the run ends blocked or aborted; the
conductor records it) and :class:`Stop` (a rollback started; the conductor awaits it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from b2tui.config import EnvironmentSettings, Settings
from b2tui.domain import events as ev
from b2tui.domain.canary import CanaryStep
from b2tui.domain.durations import format_duration
from b2tui.domain.gates import (
    TARGET,
    Comparison,
    Gate,
    GateResult,
    GateSpec,
    GateStatus,
    Reading,
    judge,
    judge_sample,
    overall,
)
from b2tui.domain.images import image_tag, split_image
from b2tui.domain.phases import Outcome
from b2tui.domain.view import RunView
from b2tui.engine import intents, policy
from b2tui.engine.api import IntentResult
from b2tui.engine.journal import RunJournal
from b2tui.engine.policy import Decision, Verdict
from b2tui.engine.series import p95_series, p95_window, with_p95_series
from b2tui.engine.state import RunState, Step
from b2tui.gatespecs import compares, gate_specs, uses_samples
from b2tui.ports import Ports, SourceError, StepFailed, Target
from b2tui.ports.clock import Clock

T = TypeVar("T")

PODS_GATE = GateSpec(Gate.PODS, 1.0, Comparison.MAX, "crashing")
"""Crash-looping pods of the new version: any is a fail."""


class Finish(Exception):
    """Ends the run with an outcome (blocked, aborted, succeeded)."""

    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


class Stop(Exception):
    """The phase stops because a rollback started."""


@dataclass
class Services:
    """What the conductor lends the context: beginning a rollback, sign-offs, the lease."""

    begin_rollback: Callable[[str, str], bool]
    """Record a rollback (reason, by) and send its first request now."""
    sign_off: Callable[[str, str], IntentResult]
    """Sign a checklist item off (item, user) as an audited intent."""
    may_sign: Callable[[str, str], str | None]
    """Why ``user`` may not sign item ``key`` (roles, four eyes), or None."""
    autopilot: Callable[[], bool]
    """Whether the run advances on its own right now (the operator may switch it)."""
    check_lease: Callable[[], None]
    """Raise if another process took the run over (called before every wait)."""


class RunContext:
    """One run's state, ports and settings, and the steps every phase uses.

    Args:
        settings: the configuration.
        ports: the adapters the run goes through.
        clock: the run's clock.
        journal: the run's state (mutated in place, saved by ``save``), its view and
            every write about it.
        env: the production environment; ``staging_env`` the staging one.
        target: the production environment's cluster target; ``staging_target`` staging's
            (built once by the conductor).
        user: who drives (named in notifications).
        autopilot_user: who autopilot signs items off as.
        services: the conductor's services.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        ports: Ports,
        clock: Clock,
        journal: RunJournal,
        env: EnvironmentSettings,
        staging_env: EnvironmentSettings,
        target: Target,
        staging_target: Target,
        user: str,
        autopilot_user: str,
        services: Services,
    ) -> None:
        self.settings = settings
        self.ports = ports
        self.clock = clock
        self.journal = journal
        self.env = env
        self.staging_env = staging_env
        self.target = target
        self.staging_target = staging_target
        self.user = user
        self.autopilot_user = autopilot_user
        self.services = services
        self.specs = gate_specs(settings.gates, settings.prometheus)
        self.compares = compares(self.specs)
        """True when a gate judges the canary against stable (a baseline is sampled)."""
        self.mann_whitney = uses_samples(self.specs)
        """True when the P95 gate needs the step's samples (Mann–Whitney)."""
        self.inflight: set[asyncio.Future[Any]] = set()
        """Cluster changes under way: a rollback waits for them, then restores again."""

    # --- the run's record and the conductor's services ------------------------------------

    @property
    def st(self) -> RunState:
        """The run's persisted state (mutated in place, saved by :meth:`save`)."""
        return self.journal.st

    @property
    def view(self) -> RunView:
        return self.journal.view

    @property
    def autopilot(self) -> bool:
        return self.services.autopilot()

    @property
    def unsaved(self) -> bool:
        """The state file is behind (writes held in memory): promotion waits."""
        return self.journal.unsaved is not None

    @property
    def poll(self) -> float:
        return self.settings.gates.poll

    def emit(self, event: ev.Event) -> None:
        self.journal.emit(event)

    def save(self) -> None:
        self.journal.save()

    def begin_rollback(self, reason: str, by: str = "engine") -> bool:
        return self.services.begin_rollback(reason, by)

    async def wait(self, seconds: float) -> None:
        """Let run time pass, returning early when an intent wakes the run."""
        self.services.check_lease()
        wake = self.journal.wake
        if wake.is_set():
            wake.clear()
            await asyncio.sleep(0)
            return
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waker = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()
        wake.clear()

    # --- small steps -----------------------------------------------------------------------

    def image(self, env_name: str) -> str:
        """The tag of ``env_name``'s image: this run's ``<image>:<env>-<sha>``; with
        ``--image REF``, REF for staging and REF's repository tagged for the others."""
        st = self.st
        if st.image is None:
            return image_tag(st.image_repo, env_name, st.version)
        if env_name == self.staging_env.name:
            return st.image
        return image_tag(split_image(st.image)[0], env_name, st.version)

    def deployed(self, env_name: str) -> str:
        """What ``env_name`` runs: its tag pinned to the digest staging verified
        (``repo:production-1a2b3c4@sha256:…``); the bare tag before there is one."""
        artifact = self.st.artifact
        return artifact.pinned(self.image(env_name)) if artifact else self.image(env_name)

    def target_of(self, env: EnvironmentSettings) -> Target:
        """The cluster target of ``env``: staging's or production's."""
        return self.staging_target if env.name == self.staging_env.name else self.target

    def steps(self) -> tuple[CanaryStep, ...]:
        return self.env.canary_steps

    def scaled(self, seconds: float) -> float:
        """A hold's length: shortened by ``emergency_hold_factor`` in an emergency run."""
        if self.st.emergency:
            return seconds * self.settings.readiness.emergency_hold_factor
        return seconds

    def mark(self, step: Step, arg: object = "") -> None:
        """Record ``step`` (for ``arg``) as done in this phase and persist it."""
        self.st.done.append(step.at(arg))
        self.save()

    def log(self, source: str, line: str) -> None:
        self.emit(ev.LogLine(ts=self.clock.now(), phase=self.st.phase, source=source, line=line))

    def sink(self, source: str) -> Callable[[str], None]:
        return lambda line: self.log(source, line)

    def notice(self, level: str, message: str) -> None:
        self.emit(ev.Notice(ts=self.clock.now(), phase=self.st.phase, level=level, message=message))

    def notice_once(self, key: str, level: str, message: str) -> None:
        st = self.st
        if key in st.notified:
            return
        st.notified.append(key)
        self.save()
        self.notice(level, message)

    def start_hold(self, seconds: float) -> None:
        st = self.st
        now = self.clock.now()
        until = now + timedelta(seconds=seconds)
        st.hold_until = until.isoformat()
        self.save()
        self.emit(ev.HoldStarted(ts=now, phase=st.phase, seconds=seconds, until=until))

    def hold_left(self) -> float:
        return intents.hold_left(self.st, self.clock.now())

    def set_pause(self, paused: bool, reason: str, by: str = "") -> None:
        st = self.st
        st.paused, st.pause_reason = paused, reason if paused else ""
        st.pause_by = by if paused else ""
        self.save()
        self.emit(
            ev.PauseChanged(ts=self.clock.now(), phase=st.phase, paused=paused, reason=reason)
        )

    async def await_go(self, key: Step, message: str) -> None:
        """Wait for the operator's advance (or autopilot) before a step that changes traffic."""
        st = self.st
        if st.did(key):
            return
        st.awaiting = message
        st.advance_requested = False
        self.save()
        self.notice_once(f"await-{key.value}", "info", message)
        while not (st.advance_requested or (self.autopilot and not st.paused)) or self.unsaved:
            await self.wait(self.poll)
        st.awaiting = None
        st.advance_requested = False
        self.mark(key)

    # --- changes to the world ----------------------------------------------------------------

    async def mutate(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a cluster change so that cancelling the phase does not lose track of it."""
        fut: asyncio.Future[T] = asyncio.ensure_future(coro)
        self.inflight.add(fut)
        fut.add_done_callback(self.inflight.discard)
        return await asyncio.shield(fut)

    async def production_change(self, what: str, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """A change to production, retried on API errors; persistent failure rolls back.

        Before each attempt the registry must still have the digest staging verified
        (:meth:`check_artifact`): without it the run aborts while production is untouched.
        The first change marks production touched; from then on giving up means restoring
        the known-good revision, not leaving a half-done change behind.
        """
        st = self.st
        attempts = self.settings.gates.consecutive_failures
        for attempt in range(1, attempts + 1):
            try:
                await self.check_artifact()
                if not st.production_touched:
                    st.production_touched = True
                    self.save()
                return await self.mutate(make())
            except (SourceError, StepFailed) as e:
                if not st.production_touched:
                    raise Finish(Outcome.ABORTED, f"{st.phase.value}: {e}") from None
                if attempt == attempts:
                    self.begin_rollback(f"{what} failed {attempts} times: {e}")
                    raise Stop from None
                self.notice("alert", f"{what} failed (attempt {attempt}/{attempts}): {e}")
                await self.wait(self.poll)
        raise AssertionError("unreachable")

    def traffic_changed(self, percent: int, achieved: float, detail: str) -> None:
        self.st.canary_percent = percent
        self.emit(
            ev.TrafficChanged(
                ts=self.clock.now(),
                phase=self.st.phase,
                canary_percent=percent,
                achieved_percent=achieved,
                detail=detail,
            )
        )

    async def check_artifact(self) -> None:
        """The registry still has the pinned digest (a HEAD). Raises StepFailed."""
        artifact = self.st.artifact
        if artifact is None:
            return
        try:
            await self.ports.images.check(artifact.by_digest)
        except StepFailed as e:
            raise StepFailed(
                f"digest {artifact.digest} that staging verified is not available: {e}"
            ) from None

    # --- watching the world --------------------------------------------------------------------

    async def await_rollout(
        self, env: EnvironmentSettings, track: str | None, on_fail: Callable[[str], None]
    ) -> None:
        """Poll the rollout like ``kubectl rollout status``; crash-looping pods fail it."""
        deadline = self.clock.now() + timedelta(seconds=env.rollout_timeout)
        crash_streak = 0
        last_msg = ""
        while True:
            try:
                state = await self.ports.cluster.rollout(self.target_of(env), track)
                pods = await self.ports.cluster.pods(self.target_of(env))
            except SourceError as e:
                self.notice_once(f"rollout-err-{e}", "warn", f"rollout status: {e}")
                await self.wait(self.poll)
                continue
            crashing = [p for p in pods if p.crash_looping and (track is None or p.track == track)]
            crash_streak = crash_streak + 1 if crashing else 0
            msg = (
                f"{env.name} rollout{f' ({track})' if track else ''}: {state.ready}/"
                f"{state.desired} ready" + (f" — {state.message}" if state.message else "")
            )
            if msg != last_msg:
                self.log("kube", msg)
                last_msg = msg
            if state.complete and not crashing:
                return
            if state.failed:
                on_fail(f"rollout failed: {state.message}")
            if crash_streak >= self.settings.gates.consecutive_failures:
                names = ", ".join(
                    f"{p.name} ({p.reason}, {p.restarts} restart{'' if p.restarts == 1 else 's'})"
                    for p in crashing[:2]
                )
                on_fail(f"pods crash-looping: {names}")
            if self.clock.now() >= deadline:
                on_fail(f"rollout not complete after {format_duration(env.rollout_timeout)}")
            await self.wait(self.poll)

    def rollback_on(self, reason: str) -> None:
        """``on_fail`` of a production rollout: roll back."""
        self.begin_rollback(reason)
        raise Stop

    async def readings(
        self, env: EnvironmentSettings, track: str | None, step_seconds: float = 0.0
    ) -> dict[str, Reading]:
        """One sample's readings; a source error becomes an unknown reading per gate. With
        the Mann–Whitney rule the P95 reading carries the step's samples (one per poll)."""
        try:
            readings = await self.ports.metrics.sample(env, track)
        except SourceError as e:
            return {s.name: Reading(s.name, None, f"source error: {e}") for s in self.specs}
        if self.mann_whitney and track is not None and Gate.P95_MS in readings:
            g = self.settings.gates
            seconds = p95_window(g, step_seconds)
            try:
                values = await p95_series(self.ports.metrics, env, track, seconds, g.poll)
            except SourceError:
                values = ()  # too few samples: the absolute limit decides, and says so
            with_p95_series(readings, values)
        return readings

    async def sample(
        self,
        env: EnvironmentSettings,
        track: str | None,
        scope: str,
        *,
        pods: bool,
        decide: bool = True,
        readings: dict[str, Reading] | None = None,
        baseline: dict[str, Reading] | None = None,
        extra: list[GateResult] | None = None,
    ) -> list[GateResult]:
        """One sample of every gate (and crash-looping pods), emitted as ``gate`` events.

        Args:
            readings: Already fetched readings (else sampled now).
            baseline: Stable's readings of the same window: the canary's gates are judged
                by their rule against it.
            extra: Results judged elsewhere (monitoring's automatic checks): part of the
                sample, they count like any gate.
        """
        if readings is None:
            readings = await self.readings(env, track)
        target = readings.get(TARGET)
        if target is not None and target.value is None and target.reason:
            self.notice_once(f"no-target-{env.name}", "warn", target.reason)
        results = judge_sample(self.specs, readings, baseline)
        if pods:
            try:
                all_pods = await self.ports.cluster.pods(self.target_of(env))
                mine = [p for p in all_pods if track is None or p.track == track]
                crashing = sum(1 for p in mine if p.crash_looping)
                results.append(judge(PODS_GATE, Reading(Gate.PODS, float(crashing))))
            except SourceError as e:
                results.append(judge(PODS_GATE, Reading(Gate.PODS, None, f"source error: {e}")))
        results.extend(extra or ())
        now = self.clock.now()
        for r in results:
            self.emit(
                ev.GateSampled.of(r, ts=now, phase=self.st.phase, track=track, environment=env.name)
            )
        if decide:
            tracker = self.st.tracker(scope)
            tracker.feed(overall(results), now.timestamp())
            self.st.put_tracker(scope, tracker)
            self.save()
        return results

    def decide(self, scope: str, results: list[GateResult], *, production: bool) -> Decision:
        """Act on the policy's decision for ``scope`` after a sample (see :mod:`.policy`)."""
        st = self.st
        d = policy.decide(
            st.tracker(scope),
            results,
            self.settings.gates,
            st.phase,
            production=production,
            now=self.clock.now().timestamp(),
            paused=st.paused,
            pause_by=st.pause_by,
            autopilot=self.autopilot,
        )
        if d.verdict is Verdict.ABORT:
            raise Finish(Outcome.ABORTED, d.reason)
        if d.verdict is Verdict.ROLL_BACK:
            self.begin_rollback(d.reason)
            raise Stop
        if d.verdict is Verdict.PAUSE:
            self.set_pause(True, d.reason, by=d.pause_by)
            self.notice("alert", d.alert)
        elif d.verdict is Verdict.RESUME:
            self.set_pause(False, d.reason)
        return d

    async def watch_until_green(self, scope: str) -> None:
        """Sample the whole service until the hold ended and a sample is green."""
        while True:
            results = await self.sample(self.env, None, scope, pods=True)
            self.decide(scope, results, production=True)
            left = self.hold_left()
            if left <= 0 and self.st.tracker(scope).last is GateStatus.PASS:
                return
            await self.wait(min(self.poll, left) if left > 0 else self.poll)
