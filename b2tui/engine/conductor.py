"""The conductor: drives one run through the ports and decides promote / hold / rollback.

Rules it enforces (DESIGN.md):

- **Unknown never counts as pass.** A hold only ends on a green sample; unknown samples
  hold promotion, ``unknown_pause_after`` of them in a row pause the run and alert, and
  unknown for ``no_data_timeout`` rolls back (production, monitoring) or aborts (staging).
- ``consecutive_failures`` failing samples in a row roll back (or, with
  ``auto_rollback = false``, pause and ask the operator to press R).
- Failing validate commands or readiness checks **block**; staging failures **abort**
  before production is touched.
- Rollback restores the known-good revision recorded when the run started. It is
  idempotent: a second request is a no-op that says so. The request leaves at once: the
  intent creates the rollback task itself instead of waiting for the run loop.

State is persisted after every transition (:class:`RunState`); a killed process resumes
where it stood, holds keeping their original deadlines. One process drives a run: the
conductor holds a lease in the store while it runs.

Construction::

    conductor = Conductor(settings, ports, store, clock, user="ana@jump", autopilot=True)
    await conductor.start(version="1a2b3c4")        # new run (records the rollback target)
    # or conductor.resume(run_id)                    # continue an unfinished one
    outcome = await conductor.run()

Tests stop a run at a chosen state with :meth:`Conductor.run_until` and a
:class:`~b2tui.engine.clock.SteppedClock`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from b2tui.config import EnvironmentSettings, Settings
from b2tui.domain import events as ev
from b2tui.domain.canary import CanaryStep, hold_for, next_weight, previous_weight
from b2tui.domain.checklist import (
    READINESS_ITEMS,
    ChecklistItem,
    ItemKind,
    ItemState,
    RunConditions,
    blocker_text,
    blockers,
    build_checklist,
    manual_items,
)
from b2tui.domain.durations import format_duration
from b2tui.domain.gates import (
    TARGET,
    Comparison,
    GateResult,
    GateSpec,
    GateStatus,
    GateTracker,
    Reading,
    format_value,
    judge,
    judge_sample,
    overall,
)
from b2tui.domain.images import image_tag
from b2tui.domain.monitoring import STAGE_NUMBER, stage_at, stages
from b2tui.domain.phases import Outcome, Phase, Strategy
from b2tui.domain.view import RunView, apply
from b2tui.engine import intents, policy
from b2tui.engine.api import Action, IntentResult
from b2tui.engine.clock import Clock, SteppedClock
from b2tui.engine.policy import Decision, Verdict
from b2tui.engine.state import RunState, ts
from b2tui.gatespecs import compares, gate_specs, uses_samples
from b2tui.masking import mask_data
from b2tui.ports import (
    Claim,
    CommandResult,
    Lease,
    LeaseKeeper,
    Notification,
    Ports,
    Revision,
    RunRecord,
    SourceError,
    StepFailed,
    Store,
    StoreError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

PODS_GATE = GateSpec("pods", 1.0, Comparison.MAX, "crashing")
"""Crash-looping pods of the new version: any is a fail."""


class LeaseHeld(Exception):
    """Another process drives this run."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"run is driven by {holder}")
        self.holder = holder


class LeaseLost(LeaseHeld):
    """Another process took this run over while we drove it (our lease had lapsed)."""


class _Finish(Exception):
    """Ends the run with an outcome (blocked, aborted)."""

    def __init__(self, outcome: Outcome, reason: str) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason


class _Stop(Exception):
    """The phase stops because a rollback started."""


def driver_id(user: str) -> str:
    return f"{user} pid {os.getpid()} on {socket.gethostname()}"


class Conductor:
    """Drives a run; implements :class:`b2tui.engine.api.RunSession` for the UI.

    Args:
        settings: the configuration (sandbox or ``b2tui.toml``).
        ports: the adapters the run goes through.
        store: where state, events, sign-offs and the audit log are kept.
        clock: the run's clock (wall, scaled or virtual).
        env: production environment name; ``staging`` names the staging one.
        user: who drives (``user@host``); written to the audit log.
        autopilot: advance whenever gates allow and sign manual items as ``autopilot_user``.
        lease_ttl: seconds (real time) a driver lease lasts without renewal.
    """

    read_only = False

    def __init__(
        self,
        settings: Settings,
        ports: Ports,
        store: Store,
        clock: Clock,
        *,
        env: str = "production",
        staging: str = "staging",
        user: str,
        autopilot: bool = False,
        autopilot_user: str = "autopilot",
        lease_ttl: float = 15.0,
    ) -> None:
        self.settings = settings
        self.ports = ports
        self.store = store
        self.clock = clock
        self.env: EnvironmentSettings = settings.environment(env)
        self.staging_env: EnvironmentSettings = settings.environment(staging)
        self.user = user
        self.autopilot = autopilot
        self.autopilot_user = autopilot_user
        self.lease_ttl = lease_ttl
        self.view = RunView()
        self.state: RunState | None = None
        self._subscribers: list[Callable[[ev.Event], None]] = []
        self._wake = asyncio.Event()
        self._phase_task: asyncio.Task[None] | None = None
        self._rollback_task: asyncio.Task[None] | None = None
        self._run_task: asyncio.Task[Outcome] | None = None
        self._inflight: set[asyncio.Future[Any]] = set()
        self._keeper: LeaseKeeper | None = None
        self._specs = gate_specs(settings.gates, settings.prometheus)
        self._compares = compares(self._specs)
        self._mann_whitney = uses_samples(self._specs)
        self._driver = driver_id(user)

    # --- session protocol ----------------------------------------------------------------

    @property
    def driver(self) -> str:
        return self._driver

    @property
    def run_id(self) -> str:
        return self._st.run_id

    @property
    def _st(self) -> RunState:
        if self.state is None:
            raise RuntimeError("no run: call start() or resume() first")
        return self.state

    def subscribe(self, callback: Callable[[ev.Event], None]) -> Callable[[], None]:
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    # --- starting and resuming -----------------------------------------------------------

    async def _prepare(
        self,
        *,
        version: str,
        emergency: bool,
        scenario: str | None,
        params: dict[str, Any] | None,
        commit_at: datetime | None,
        run_id: str | None,
    ) -> tuple[RunState, RunRecord, str]:
        """A new run's state and record (nothing written yet), and why it cannot go on."""
        # The image reference must be valid before anything is recorded (raises ValueError).
        image_tag(self.settings.service.image, self.env.name, version)
        now = self.clock.now()
        rid = run_id or f"r{now:%Y%m%d-%H%M%S}-{version[:7]}"
        strategy = self.env.strategy.value
        st = RunState(
            run_id=rid,
            service=self.settings.service.name,
            environment=self.env.name,
            staging=self.staging_env.name,
            strategy=strategy,
            version=version[:7],
            image_repo=self.settings.service.image,
            emergency=emergency,
        )
        problem = ""
        try:
            st.known_good = (await self.ports.cluster.current_revision(self.env)).to_dict()
        except (SourceError, StepFailed) as e:
            problem = f"cannot record the rollback target: {e}"
        rec = RunRecord(
            id=rid,
            service=st.service,
            environment=st.environment,
            strategy=strategy,
            version=st.version,
            image=image_tag(st.image_repo, self.env.name, st.version),
            emergency=emergency,
            params=dict(params or {}, scenario=scenario),
            state=st.to_dict(),
            clock=now,
            started_at=now,
            commit_at=commit_at,
            finished_at=None,
            outcome=None,
            reason=None,
            created_by=self.user,
        )
        return st, rec, problem

    def _announce(self, st: RunState, rec: RunRecord, problem: str) -> None:
        """A new run is recorded: audit it, emit ``run_started`` (and block it if unsafe)."""
        st.run_id = rec.id
        self.state = st
        now = rec.started_at
        self.store.audit(rec.id, self.user, "start", f"version {st.version}", run_ts=now)
        self._emit(
            ev.RunStarted(
                ts=now,
                run_id=rec.id,
                service=st.service,
                environment=st.environment,
                strategy=st.strategy,
                version=st.version,
                image=rec.image,
                emergency=st.emergency,
                scenario=rec.params.get("scenario"),
                known_good=st.known_good,
            )
        )
        if problem:
            self._finish(Outcome.BLOCKED, problem)

    async def start(
        self,
        *,
        version: str,
        emergency: bool = False,
        scenario: str | None = None,
        params: dict[str, Any] | None = None,
        commit_at: datetime | None = None,
        run_id: str | None = None,
    ) -> str:
        """Create a run, record the rollback target, and emit ``run_started``.

        If the known-good revision cannot be read the run is created and ends *blocked*:
        deploying without a rollback target is not safe. Raises :class:`StoreError` if
        the service and environment already have an unfinished run (:meth:`claim` resumes
        it instead); the lease is taken by :meth:`run`.
        """
        st, rec, problem = await self._prepare(
            version=version,
            emergency=emergency,
            scenario=scenario,
            params=params,
            commit_at=commit_at,
            run_id=run_id,
        )
        n = 1
        base = rec.id
        while self.store.get_run(rec.id) is not None:  # two runs of one commit in one second
            n += 1
            rec = replace(rec, id=f"{base}-{n}")
        self.store.create_run(rec)
        self._announce(st, rec, problem)
        return rec.id

    async def claim(
        self,
        *,
        version: str | None,
        emergency: bool = False,
        scenario: str | None = None,
        params: dict[str, Any] | None = None,
        commit_at: datetime | None = None,
        accept: Callable[[RunRecord], bool] | None = None,
        take_over: bool = False,
    ) -> Claim:
        """Drive the active run of this service and environment, or a new one.

        Taking the run — an unfinished one, or the new run made of these arguments — and
        its lease is one atomic store transaction, so two processes started at the same
        moment never both drive. ``claim.driver`` False: another live process drives
        ``claim.run`` (attach a :class:`~b2tui.engine.watch.Watcher`). ``accept`` may
        refuse an unfinished run this conductor's ports were not built for (the lease is
        then given back and ``claim.driver`` is False with no holder: look again).
        ``take_over`` records the resume as a take-over in the audit log. ``version`` None:
        only an unfinished run is taken (``claim.run`` None when there is none).
        """
        sandbox = bool((params or {}).get("sandbox"))
        fresh = None
        if version is not None:
            fresh = await self._prepare(
                version=version,
                emergency=emergency,
                scenario=scenario,
                params=params,
                commit_at=commit_at,
                run_id=None,
            )
        claim = self.store.claim_run(
            self.settings.service.name,
            self.env.name,
            sandbox=sandbox,
            owner=self._driver,
            ttl=self.lease_ttl,
            new=fresh[1] if fresh else None,
        )
        if not claim.driver or claim.run is None:
            return claim
        if claim.created and fresh is not None:
            self._announce(fresh[0], claim.run, fresh[2])
            return claim
        if accept is not None and not accept(claim.run):
            self.store.release_lease(claim.run.id)
            return Claim(claim.run, False)
        self.resume(claim.run.id, previous=claim.previous, take_over=take_over)
        return claim

    def resume(
        self, run_id: str, *, previous: Lease | None = None, take_over: bool = False
    ) -> RunRecord:
        """Load an unfinished run, replay its events into the view, emit ``run_resumed``.

        Raises :class:`StoreError` naming the file and run if its state cannot be read.
        """
        rec = self.store.get_run(run_id)
        if rec is None:
            raise KeyError(run_id)
        try:
            self.state = RunState.from_dict(rec.state)
        except (ValueError, TypeError, KeyError, AttributeError) as bad:
            raise StoreError(
                f"state file {self.store.location}: run {run_id}: damaged state ({bad});"
                " move it aside or pass another --state PATH"
            ) from None
        for _, e in self.store.events(run_id):
            apply(self.view, e)
        if rec.outcome is None:
            gone = f"from {previous.owner} (its lease lapsed)" if previous else ""
            self.store.audit(
                run_id,
                self.user,
                "take-over" if take_over else "resume",
                gone,
                run_ts=self.clock.now(),
            )
            self._emit(
                ev.RunResumed(
                    ts=self.clock.now(), phase=self._st.phase, run_id=run_id, by=self.user
                )
            )
        return rec

    # --- the loop ------------------------------------------------------------------------

    async def run(self) -> Outcome:
        """Drive the run to its outcome. Raises :class:`LeaseHeld` if another process drives
        (or took the run over meanwhile: :class:`LeaseLost`)."""
        st = self._st
        if st.outcome is not None:
            return Outcome(st.outcome)
        won, holder = self.store.acquire_lease(st.run_id, self._driver, self.lease_ttl)
        if not won:
            raise LeaseHeld(holder.owner if holder else "another process")
        # Renewed by a thread of the store's: a busy event loop cannot lose the lease.
        self._keeper = self.store.keep_lease(st.run_id, self._driver, self.lease_ttl)
        try:
            while st.outcome is None:
                if st.rollback is not None:
                    if self._rollback_task is None:
                        # Resumed mid-rollback: the rollback is idempotent, run it again.
                        self._rollback_task = asyncio.create_task(self._rollback())
                    await self._rollback_task
                    continue
                self._phase_task = asyncio.create_task(self._run_phase())
                try:
                    await self._phase_task
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if task is not None and task.cancelling():
                        raise
                    # The phase was cancelled by a rollback intent; loop to await it.
                except _Stop:
                    pass
                except _Finish as f:
                    self._finish(f.outcome, f.reason)
        finally:
            self._keeper.stop()
            self._keeper = None
            self._release_lease()
        return Outcome(st.outcome)

    def _check_lease(self) -> None:
        """Stop driving if another process took the run over (its lease is the truth)."""
        keeper = self._keeper
        if keeper is not None and keeper.lost is not None:
            raise LeaseLost(keeper.lost.owner)

    async def run_until(self, predicate: Callable[[RunView], bool]) -> None:
        """Run in the background until ``predicate(view)`` holds after an event.

        With a :class:`SteppedClock` the clock is then held, so the run waits at its next
        pause while intents are still processed; call ``clock.release()`` to go on.
        Raises RuntimeError if the run ends first.
        """
        reached = asyncio.Event()

        def check(_: ev.Event) -> None:
            if predicate(self.view):
                reached.set()
                if isinstance(self.clock, SteppedClock):
                    self.clock.hold()

        unsubscribe = self.subscribe(check)
        try:
            if predicate(self.view):
                if isinstance(self.clock, SteppedClock):
                    self.clock.hold()
                return
            if self._run_task is None or self._run_task.done():
                self._run_task = asyncio.create_task(self.run())
            waiter = asyncio.create_task(reached.wait())
            await asyncio.wait({waiter, self._run_task}, return_when=asyncio.FIRST_COMPLETED)
            if not reached.is_set():
                waiter.cancel()
                if self._run_task.done() and self._run_task.exception():
                    raise RuntimeError(f"run failed: {self._run_task.exception()!r}")
                raise RuntimeError(
                    f"run ended ({self.view.outcome}) before the awaited state was reached"
                )
        finally:
            unsubscribe()

    async def stop(self) -> None:
        """Cancel a background run started by :meth:`run_until` (state stays in the store)."""
        if self._run_task is not None and not self._run_task.done():
            if isinstance(self.clock, SteppedClock):
                self.clock.release()
            self._run_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._run_task

    async def _run_phase(self) -> None:
        st = self._st
        phase = st.phase
        if not st.phase_open:
            st.phase_open = True
            st.phase_started = self.clock.now().isoformat()
            st.done = []
            self._save()
            self._emit(ev.PhaseStarted(ts=self.clock.now(), phase=phase))
        handler = {
            Phase.READINESS: self._readiness,
            Phase.VALIDATE: self._validate,
            Phase.STAGING: self._staging,
            Phase.SMOKE: self._smoke,
            Phase.PRODUCTION: self._production,
            Phase.MONITORING: self._monitoring,
        }[phase]
        await handler()
        started = ts(st.phase_started) or self.clock.now()
        self._emit(
            ev.PhaseCompleted(
                ts=self.clock.now(),
                phase=phase,
                duration=(self.clock.now() - started).total_seconds(),
            )
        )
        nxt = phase.next()
        if nxt is None:
            await self._succeed()
            return
        st.phase, st.phase_open, st.done, st.awaiting = nxt, False, [], None
        st.hold_until = None
        self._save()

    # --- phases --------------------------------------------------------------------------

    async def _readiness(self) -> None:
        st = self._st
        if "items" not in st.done:
            cond = RunConditions(
                pii=self.settings.readiness.pii,
                migrations=self.settings.readiness.migrations,
                emergency=st.emergency,
                direct=self.env.strategy is Strategy.DIRECT,
            )
            st.set_items(build_checklist(READINESS_ITEMS, cond))
            self._mark("items")
            for item in st.items():
                self._emit_item(item)
        while True:
            for item in st.items():
                if (
                    item.group == "readiness"
                    and item.kind is ItemKind.AUTOMATIC
                    and item.state is ItemState.PENDING
                    and not item.detail
                ):
                    res = await self.ports.checks.readiness(item)
                    if res.passed is None:
                        unknown = f"unknown: {res.detail} — sign off by hand"
                        self._update_item(item.key, partial(_with_detail, detail=unknown))
                    else:
                        self._update_item(
                            item.key,
                            partial(ChecklistItem.answered, passed=res.passed, detail=res.detail),
                        )
            d = policy.readiness(st.items())
            if d.verdict is Verdict.BLOCK:
                raise _Finish(Outcome.BLOCKED, d.reason)
            self._autopilot_sign("readiness")
            d = policy.readiness(st.items())
            if d.green:
                return
            pending = len(blockers([i for i in st.items() if i.group == "readiness"]))
            self._notice_once(f"ready-wait-{pending}", "info", d.reason)
            await self._wait(self.settings.gates.poll)

    async def _validate(self) -> None:
        cmds = self.settings.commands
        for name in ("pull", "test", "build"):
            command = getattr(cmds, name)
            if not command or name in self._st.done:
                continue
            res = await self._command(name, command)
            d = policy.command(Phase.VALIDATE, name, res)
            if d.verdict is Verdict.BLOCK:
                raise _Finish(Outcome.BLOCKED, d.reason)
            self._mark(name)
        problems: list[str] = []
        for env in (self.staging_env, self.env):
            try:
                problems += [f"{env.name}: {p}" for p in await self.ports.cluster.check_target(env)]
            except SourceError as e:
                problems.append(f"{env.name}: {e}")
        if problems:
            raise _Finish(Outcome.BLOCKED, "validate: target check: " + "; ".join(problems))
        self._log("engine", "target check: staging and production reachable")

    async def _staging(self) -> None:
        tag = self._image(self.staging_env.name)
        await self._build_and_push(tag, Outcome.ABORTED)
        if "deploy" not in self._st.done:
            try:
                await self._mutate(self.ports.cluster.deploy(self.staging_env, tag))
            except (SourceError, StepFailed) as e:
                raise _Finish(Outcome.ABORTED, f"staging: deploy failed: {e}") from None
            self._mark("deploy")
            self._log("kube", f"applied {self.staging_env.name} with {tag}")
        await self._await_rollout(self.staging_env, None, self._abort_staging)

    async def _smoke(self) -> None:
        st = self._st
        smoke = self.settings.smoke
        if smoke.manual and "manual_items" not in st.done:
            st.set_items([*st.items(), *manual_items(list(smoke.manual))])
            self._mark("manual_items")
            for item in st.items():
                if item.group == "smoke":
                    self._emit_item(item)
        if self.settings.commands.smoke and "smoke_cmd" not in st.done:
            res = await self._command("smoke", self.settings.commands.smoke)
            d = policy.command(Phase.SMOKE, "smoke", res)
            if d.verdict is Verdict.ABORT:
                raise _Finish(Outcome.ABORTED, d.reason)
            self._mark("smoke_cmd")
        if smoke.http and "http" not in st.done:
            for check in smoke.http:
                answer = await self.ports.checks.http(check)
                self._log("smoke", f"{check.method} {check.url}: {answer.detail}")
                if not answer.passed:
                    raise _Finish(Outcome.ABORTED, f"smoke: {check.url}: {answer.detail}")
            self._mark("http")
        if smoke.log_patterns and "logs" not in st.done:
            since = max(
                60.0,
                (self.clock.now() - (ts(st.phase_started) or self.clock.now())).total_seconds()
                + 600,
            )
            try:
                counts = await self.ports.cluster.scan_logs(
                    self.staging_env, smoke.log_patterns, since
                )
            except SourceError as e:
                raise _Finish(Outcome.ABORTED, f"smoke: log scan failed: {e}") from None
            summary = ", ".join(f"{p!r}: {n}" for p, n in counts.items())
            self._log("logs", f"log scan of new pods: {summary or 'no patterns'}")
            hits = {p: n for p, n in counts.items() if n}
            if hits:
                worst = max(hits, key=lambda p: hits[p])
                raise _Finish(
                    Outcome.ABORTED, f"smoke: log scan found {hits[worst]} lines matching {worst!r}"
                )
            self._mark("logs")
        stable_for = smoke.stable_for * (
            self.settings.readiness.emergency_hold_factor if st.emergency else 1.0
        )
        while True:
            self._autopilot_sign("smoke")
            results = await self._sample(self.staging_env, None, "staging", pods=True)
            self._decide("staging", results, production=False)
            now = self.clock.now()
            if self._st.tracker("staging").last is GateStatus.PASS:
                st.stable_since = st.stable_since or now.isoformat()
            else:
                st.stable_since = None
            self._save()
            green_since = ts(st.stable_since)
            stable = green_since is not None and (now - green_since).total_seconds() >= stable_for
            pending = blockers([i for i in st.items() if i.group == "smoke"])
            if stable and not pending:
                break
            if stable and pending:
                self._notice_once(
                    "smoke-manual",
                    "info",
                    "smoke " + blocker_text([i for i in st.items() if i.group == "smoke"]),
                )
            await self._wait(self.settings.gates.poll)
        await self._await_go("go-production", "staging verified — press n to start production")

    async def _production(self) -> None:
        st = self._st
        await self._build_and_push(self._image(self.env.name), None)
        strategy = Strategy(st.strategy)
        if strategy is Strategy.CANARY:
            await self._canary()
        elif strategy is Strategy.BLUE_GREEN:
            await self._blue_green()
        else:
            await self._direct()

    async def _canary(self) -> None:
        st = self._st
        steps = self._steps()
        image = self._image(self.env.name)
        if st.requested_percent is None and st.canary_percent == 0 and "canary" not in st.done:
            st.requested_percent = steps[0].weight
            self._mark("canary")
        while True:
            target = st.requested_percent
            if target is not None and target != st.canary_percent:
                await self._apply_canary(image, target, steps)
                continue
            pct = st.canary_percent
            if pct > 0 and f"rollout:{pct}" not in st.done:
                # Resumed before the canary's pods were ready: judging them now would
                # read "no traffic", so wait for the rollout as a fresh step would.
                await self._await_rollout(self.env, "canary", self._rollback_on)
                self._mark(f"rollout:{pct}")
            if pct > 0:
                # Stable first: with a relative rule the canary is judged against stable's
                # readings of the same window.
                stable = await self._readings(self.env, "stable", hold_for(steps, pct))
                await self._sample(
                    self.env, "stable", "stable", pods=False, decide=False, readings=stable
                )
                results = await self._sample(
                    self.env,
                    "canary",
                    "canary",
                    pods=True,
                    readings=await self._readings(self.env, "canary", hold_for(steps, pct)),
                    baseline=stable if self._compares else None,
                )
                self._decide("canary", results, production=True)
            hold_left = self._hold_left()
            last = st.tracker("canary").last
            green = pct == 0 or last is GateStatus.PASS
            if pct >= 100 and hold_left <= 0 and green:
                break
            if hold_left <= 0 and green and pct < 100:
                nxt = next_weight(steps, pct)
                if nxt is not None and not st.paused and (self.autopilot or st.advance_requested):
                    st.advance_requested = False
                    st.requested_percent = nxt
                    self._save()
                    continue
                if nxt is not None:
                    self._notice_once(
                        f"ready-{pct}", "info", f"gates green at {pct}% — press n to go to {nxt}%"
                    )
            await self._wait(
                min(self.settings.gates.poll, max(hold_left, 0.001))
                if hold_left > 0
                else self.settings.gates.poll
            )
        await self._production_change(
            "promotion to stable", lambda: self.ports.cluster.promote(self.env, image)
        )
        self._log("kube", f"promoted {image} to stable; canary scaled down")
        await self._await_rollout(self.env, None, self._rollback_on)

    async def _apply_canary(self, image: str, target: int, steps: tuple[CanaryStep, ...]) -> None:
        st = self._st
        st.production_touched = True
        self._save()
        split = await self._production_change(
            f"traffic change to {target}%",
            lambda: self.ports.cluster.set_canary(self.env, image, target),
        )
        st.canary_percent = target
        st.requested_percent = None
        st.put_tracker("canary", _fresh())
        self._emit(
            ev.TrafficChanged(
                ts=self.clock.now(),
                phase=st.phase,
                canary_percent=target,
                achieved_percent=round(split.achieved_percent, 2),
                detail=split.detail,
            )
        )
        # At 0 % nothing is exposed, so there is nothing to hold for.
        self._start_hold(self._scaled(hold_for(steps, target)) if target > 0 else 0.0)
        if target > 0:
            await self._await_rollout(self.env, "canary", self._rollback_on)
            self._mark(f"rollout:{target}")

    async def _blue_green(self) -> None:
        st = self._st
        image = self._image(self.env.name)
        if "stage" not in st.done:
            st.production_touched = True
            self._save()
            st.colour = await self._production_change(
                "staging the idle colour", lambda: self.ports.cluster.stage_colour(self.env, image)
            )
            self._mark("stage")
            self._log("kube", f"staged {image} on the idle colour {st.colour}")
        assert st.colour is not None
        await self._await_rollout(self.env, st.colour, self._rollback_on)
        await self._await_go("switch", f"{st.colour} is ready — press n to switch traffic to it")
        if "switch" not in st.done or st.canary_percent != 100:
            colour = st.colour
            split = await self._production_change(
                f"switching traffic to {colour}",
                lambda: self.ports.cluster.switch_colour(self.env, colour),
            )
            st.canary_percent = 100
            self._emit(
                ev.TrafficChanged(
                    ts=self.clock.now(),
                    phase=st.phase,
                    canary_percent=100,
                    achieved_percent=split.achieved_percent,
                    detail=split.detail,
                )
            )
            self._start_hold(self._scaled(self._steps()[0].hold))
        await self._watch_until_green("service")

    async def _direct(self) -> None:
        st = self._st
        image = self._image(self.env.name)
        if "deploy" not in st.done:
            st.production_touched = True
            self._save()
            await self._production_change(
                "rolling update", lambda: self.ports.cluster.deploy(self.env, image)
            )
            self._mark("deploy")
            st.canary_percent = 100
            self._emit(
                ev.TrafficChanged(
                    ts=self.clock.now(),
                    phase=st.phase,
                    canary_percent=100,
                    achieved_percent=100.0,
                    detail="rolling update",
                )
            )
        await self._await_rollout(self.env, None, self._rollback_on)
        await self._watch_until_green("service")

    async def _watch_until_green(self, scope: str) -> None:
        """Sample the whole service until the hold ended and a sample is green."""
        while True:
            results = await self._sample(self.env, None, scope, pods=True)
            self._decide(scope, results, production=True)
            left = self._hold_left()
            if left <= 0 and self._st.tracker(scope).last is GateStatus.PASS:
                return
            await self._wait(
                min(self.settings.gates.poll, left) if left > 0 else self.settings.gates.poll
            )

    async def _monitoring(self) -> None:
        st = self._st
        window = self.env.monitoring_window
        if st.monitoring_started is None:
            st.monitoring_started = self.clock.now().isoformat()
            st.put_tracker("service", _fresh())
            self._save()
        start = ts(st.monitoring_started)
        assert start is not None
        spans = stages(window)
        while True:
            now = self.clock.now()
            elapsed = (now - start).total_seconds()
            stage = stage_at(elapsed, window)
            number = STAGE_NUMBER[stage]
            if number != st.stage_number:
                st.stage_number = number
                self._save()
                span = spans[number - 1]
                self._emit(
                    ev.StageChanged(
                        ts=now,
                        phase=st.phase,
                        stage=stage.value,
                        number=number,
                        until=start + timedelta(seconds=span.end),
                    )
                )
            results = await self._sample(self.env, None, "service", pods=True)
            self._decide("service", results, production=True)
            elapsed = (self.clock.now() - start).total_seconds()
            if elapsed >= window and st.tracker("service").last is GateStatus.PASS:
                return
            left = window - elapsed
            await self._wait(
                min(self.settings.gates.poll, left) if left > 0 else self.settings.gates.poll
            )

    async def _succeed(self) -> None:
        st = self._st
        if st.strategy == Strategy.BLUE_GREEN.value and st.known_good.get("colour"):
            old = st.known_good["colour"]
            try:
                await self._mutate(self.ports.cluster.retire_colour(self.env, old))
                self._log("kube", f"old colour {old} scaled down")
            except (SourceError, StepFailed) as e:
                self._notice("warn", f"could not scale down {old}: {e}")
        await self._notify("deployed", "")
        self._finish(Outcome.SUCCEEDED, "monitoring window ended green")

    # --- steps ---------------------------------------------------------------------------

    async def _build_and_push(self, tag: str, fail: Outcome | None) -> None:
        st = self._st
        key = f"build:{tag}"
        try:
            if key not in st.done:
                self._log("engine", f"building {tag}")
                await self.ports.images.build(tag, self._sink("build"))
                self._mark(key)
            key = f"push:{tag}"
            if key not in st.done:
                self._log("engine", f"pushing {tag}")
                digest = await self.ports.images.push(tag, self._sink("push"))
                self._log("engine", f"pushed {tag} {digest}")
                self._mark(key)
        except (StepFailed, SourceError) as e:
            if fail is None:
                # Production not yet touched: nothing to roll back, the run is aborted.
                raise _Finish(Outcome.ABORTED, f"{st.phase.value}: {e}") from None
            raise _Finish(fail, f"{st.phase.value}: {e}") from None

    async def _command(self, name: str, command: str) -> CommandResult:
        self._emit(
            ev.CommandStarted(ts=self.clock.now(), phase=self._st.phase, name=name, command=command)
        )
        res = await self.ports.commands.run(
            name,
            command,
            cwd=self.settings.service.repo,
            timeout=self.settings.commands.timeout,
            on_line=self._sink(name),
        )
        self._emit(
            ev.CommandFinished(
                ts=self.clock.now(),
                phase=self._st.phase,
                name=name,
                exit_code=res.exit_code,
                duration=res.duration,
                detail="timed out" if res.timed_out else "",
            )
        )
        return res

    async def _await_rollout(
        self, env: EnvironmentSettings, track: str | None, on_fail: Callable[[str], None]
    ) -> None:
        """Poll the rollout like ``kubectl rollout status``; crash-looping pods fail it."""
        deadline = self.clock.now() + timedelta(seconds=env.rollout_timeout)
        crash_streak = 0
        last_msg = ""
        while True:
            try:
                state = await self.ports.cluster.rollout(env, track)
                pods = await self.ports.cluster.pods(env)
            except SourceError as e:
                self._notice_once(f"rollout-err-{e}", "warn", f"rollout status: {e}")
                await self._wait(self.settings.gates.poll)
                continue
            crashing = [p for p in pods if p.crash_looping and (track is None or p.track == track)]
            crash_streak = crash_streak + 1 if crashing else 0
            msg = (
                f"{env.name} rollout{f' ({track})' if track else ''}: {state.ready}/"
                f"{state.desired} ready" + (f" — {state.message}" if state.message else "")
            )
            if msg != last_msg:
                self._log("kube", msg)
                last_msg = msg
            if state.complete and not crashing:
                return
            if state.failed:
                on_fail(f"rollout failed: {state.message}")
            if crash_streak >= self.settings.gates.consecutive_failures:
                names = ", ".join(
                    f"{p.name} ({p.reason}, {p.restarts} restarts)" for p in crashing[:2]
                )
                on_fail(f"pods crash-looping: {names}")
            if self.clock.now() >= deadline:
                on_fail(f"rollout not complete after {format_duration(env.rollout_timeout)}")
            await self._wait(self.settings.gates.poll)

    def _abort_staging(self, reason: str) -> None:
        raise _Finish(Outcome.ABORTED, f"staging: {reason}")

    def _rollback_on(self, reason: str) -> None:
        self._begin_rollback(reason, "engine")
        raise _Stop

    async def _readings(
        self, env: EnvironmentSettings, track: str | None, step_seconds: float = 0.0
    ) -> dict[str, Reading]:
        """One sample's readings; a source error becomes an unknown reading per gate. With
        the Mann–Whitney rule the P95 reading carries the step's samples (one per poll)."""
        try:
            readings = await self.ports.metrics.sample(env, track)
        except SourceError as e:
            return {s.name: Reading(s.name, None, f"source error: {e}") for s in self._specs}
        if self._mann_whitney and track is not None and "p95_ms" in readings:
            g = self.settings.gates
            seconds = max(step_seconds, g.mw_min_samples * g.poll)
            try:
                history = await self.ports.metrics.history(env, track, seconds, g.poll)
            except SourceError:
                history = {}  # too few samples: the absolute limit decides, and says so
            points = history.get("p95_ms")
            values = tuple(v for _, v in points.points if v is not None) if points else ()
            readings["p95_ms"] = replace(readings["p95_ms"], series=values)
        return readings

    async def _sample(
        self,
        env: EnvironmentSettings,
        track: str | None,
        scope: str,
        *,
        pods: bool,
        decide: bool = True,
        readings: dict[str, Reading] | None = None,
        baseline: dict[str, Reading] | None = None,
    ) -> list[GateResult]:
        """One sample of every gate (and crash-looping pods), emitted as ``gate`` events.

        Args:
            readings: Already fetched readings (else sampled now).
            baseline: Stable's readings of the same window: the canary's gates are judged
                by their rule against it.
        """
        if readings is None:
            readings = await self._readings(env, track)
        target = readings.get(TARGET)
        if target is not None and target.value is None and target.reason:
            self._notice_once(f"no-target-{env.name}", "warn", target.reason)
        results = judge_sample(self._specs, readings, baseline)
        if pods:
            try:
                all_pods = await self.ports.cluster.pods(env)
                mine = [p for p in all_pods if track is None or p.track == track]
                crashing = sum(1 for p in mine if p.crash_looping)
                results.append(judge(PODS_GATE, Reading("pods", float(crashing))))
            except SourceError as e:
                results.append(judge(PODS_GATE, Reading("pods", None, f"source error: {e}")))
        now = self.clock.now()
        for r in results:
            self._emit(
                ev.GateSampled.of(
                    r, ts=now, phase=self._st.phase, track=track, environment=env.name
                )
            )
        if decide:
            tracker = self._st.tracker(scope)
            tracker.feed(overall(results), now.timestamp())
            self._st.put_tracker(scope, tracker)
            self._save()
        return results

    def _decide(self, scope: str, results: list[GateResult], *, production: bool) -> Decision:
        """Act on the policy's decision for ``scope`` after a sample (see :mod:`.policy`)."""
        st = self._st
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
            raise _Finish(Outcome.ABORTED, d.reason)
        if d.verdict is Verdict.ROLL_BACK:
            self._begin_rollback(d.reason, "engine")
            raise _Stop
        if d.verdict is Verdict.PAUSE:
            self._set_pause(True, d.reason, by=d.pause_by)
            self._notice("alert", d.alert)
        elif d.verdict is Verdict.RESUME:
            self._set_pause(False, d.reason)
        return d

    # --- rollback ------------------------------------------------------------------------

    def _begin_rollback(self, reason: str, by: str) -> bool:
        """Record the rollback and send its first request now. False if one already started."""
        st = self._st
        if st.rollback is not None or st.outcome is not None:
            return False
        now = self.clock.now()
        st.rollback = {"reason": reason, "by": by, "started": now.isoformat()}
        st.hold_until = None
        self._save()
        # The task is created before the event is emitted so that the API request is
        # already scheduled when the screen hears about it.
        self._rollback_task = asyncio.create_task(self._rollback())
        self._emit(
            ev.RollbackStarted(ts=now, phase=st.phase, reason=reason, target=st.known_good, by=by)
        )
        current = asyncio.current_task()
        if self._phase_task is not None and self._phase_task is not current:
            self._phase_task.cancel()
        self._wake.set()
        return True

    async def _rollback(self) -> None:
        st = self._st
        assert st.rollback is not None
        target = Revision.from_dict(st.known_good)
        started = ts(st.rollback["started"]) or self.clock.now()
        attempt = 0
        changed = False
        while True:
            try:
                res = await self.ports.cluster.rollback(self.env, target)
                changed = changed or res.changed
                # A traffic change already in flight when the rollback began may land after
                # it; rolling back again (idempotent) restores the target regardless.
                while self._inflight:
                    await asyncio.wait(set(self._inflight))
                    res = await self.ports.cluster.rollback(self.env, target)
                    changed = changed or res.changed
                break
            except (SourceError, StepFailed) as e:
                attempt += 1
                self._notice("alert", f"rollback attempt {attempt} failed: {e}; retrying")
                await self.clock.sleep(min(30.0, 2.0 ** min(attempt, 5)))
        self._log("kube", f"rollback to {target.describe()}: {res.detail or 'done'}")
        recovered = await self._verify_recovery()
        now = self.clock.now()
        self._emit(
            ev.RollbackCompleted(
                ts=now,
                phase=st.phase,
                target=st.known_good,
                changed=changed,
                duration=(now - started).total_seconds(),
                recovered=recovered,
                detail=res.detail,
            )
        )
        await self._notify("incident", st.rollback["reason"])
        self._finish(Outcome.ROLLED_BACK, st.rollback["reason"])

    async def _verify_recovery(self) -> bool:
        """Wait for the rollout of the restored revision, then for a green sample."""
        deadline = self.clock.now() + timedelta(seconds=self.env.rollout_timeout)
        poll = self.settings.gates.poll
        while self.clock.now() < deadline:
            try:
                state = await self.ports.cluster.rollout(self.env, None)
            except SourceError:
                state = None
            if state is not None and state.complete:
                break
            await self.clock.sleep(poll)
        for _ in range(self.settings.gates.consecutive_failures * 2):
            results = await self._sample(self.env, None, "recovery", pods=True)
            status = overall(results)
            if status is GateStatus.PASS:
                self._log("engine", "service recovered: gates green after rollback")
                return True
            await self.clock.sleep(poll)
        self._notice("alert", "service not verified green after rollback — investigate")
        return False

    # --- operator intents ----------------------------------------------------------------

    def why_not(self, action: Action, item: str | None = None) -> str | None:
        return intents.why_not(
            self.state, self.view, action, item, steps=self._steps(), now=self.clock.now()
        )

    def _intent(self, action: str, user: str, detail: str, refusal: str | None) -> IntentResult:
        st = self.state
        now = self.clock.now()
        accepted = refusal is None
        message = detail if accepted else refusal or ""
        self.store.audit(
            st.run_id if st else None, user, action, message, accepted=accepted, run_ts=now
        )
        if st is not None:
            self._emit(
                ev.OperatorActed(
                    ts=now,
                    phase=st.phase,
                    user=user,
                    action=action,
                    detail=message,
                    accepted=accepted,
                )
            )
        return IntentResult(accepted, message)

    def advance(self, user: str) -> IntentResult:
        refusal = self.why_not(Action.ADVANCE)
        if refusal is None:
            st = self._st
            st.advance_requested = True
            self._save()
            self._wake.set()
            what = st.awaiting or (
                f"promote to {next_weight(self._steps(), st.canary_percent)}%"
                if st.phase is Phase.PRODUCTION
                else "advance"
            )
            return self._intent("advance", user, what, None)
        return self._intent("advance", user, "", refusal)

    def step_canary(self, delta: int, user: str) -> IntentResult:
        if delta > 0:
            refusal = self.why_not(Action.CANARY_UP)
            if refusal is not None:
                return self._intent("canary+", user, "", refusal)
            st = self._st
            nxt = next_weight(self._steps(), st.canary_percent)
            return self._set_percent("canary+", user, nxt or 100)
        refusal = self.why_not(Action.CANARY_DOWN)
        if refusal is not None:
            return self._intent("canary-", user, "", refusal)
        prev = previous_weight(self._steps(), self._st.canary_percent)
        return self._set_percent("canary-", user, prev)

    def set_canary(self, percent: int, user: str) -> IntentResult:
        st = self.state
        if st is None or not 0 <= percent <= 100:
            return self._intent("set-canary", user, "", "percent must be 0–100")
        if percent < st.canary_percent:
            refusal = self.why_not(Action.CANARY_DOWN)
        else:
            refusal = self.why_not(Action.CANARY_UP) or intents.canary_limit(
                st, percent, self._steps()
            )
        if refusal is not None:
            return self._intent("set-canary", user, "", refusal)
        return self._set_percent("set-canary", user, percent)

    def _set_percent(self, action: str, user: str, percent: int) -> IntentResult:
        st = self._st
        st.requested_percent = percent
        self._save()
        self._wake.set()
        return self._intent(action, user, f"canary {st.canary_percent}% → {percent}%", None)

    def toggle_pause(self, user: str) -> IntentResult:
        refusal = self.why_not(Action.PAUSE)
        if refusal is not None:
            return self._intent("pause", user, "", refusal)
        st = self._st
        if st.paused:
            self._set_pause(False, f"resumed by {user}")
            if (
                st.tracker("canary").consecutive_unknowns
                or st.tracker("service").last is GateStatus.UNKNOWN
            ):
                self._notice(
                    "warn",
                    "resumed while gates are unknown: promotion still waits for a green sample",
                )
            result = self._intent("resume", user, "run resumed", None)
        else:
            self._set_pause(True, f"paused by {user}")
            result = self._intent("pause", user, "run paused: no promotion until resumed", None)
        self._wake.set()
        return result

    def sign_off(self, item: str, user: str) -> IntentResult:
        refusal = self.why_not(Action.SIGN_OFF, item)
        if refusal is not None:
            return self._intent("sign-off", user, item, refusal)
        now = self.clock.now()
        self.store.sign_off(self._st.run_id, item, user, now)
        title = self._update_item(item, lambda i: i.signed(user, now))
        self._wake.set()
        return self._intent("sign-off", user, f"{title} signed off", None)

    def rollback(self, user: str, reason: str = "operator request") -> IntentResult:
        refusal = self.why_not(Action.ROLLBACK)
        if refusal is not None:
            return self._intent("rollback", user, "", refusal)
        self._begin_rollback(f"{reason} by {user}", user)
        target = Revision.from_dict(self._st.known_good)
        return self._intent("rollback", user, f"rolling back to {target.describe()}", None)

    def abort(self, user: str) -> IntentResult:
        refusal = self.why_not(Action.ABORT)
        if refusal is not None:
            return self._intent("abort", user, "", refusal)
        st = self._st
        reason = f"aborted by {user}"
        if st.production_touched:
            self._begin_rollback(reason, user)
            target = Revision.from_dict(st.known_good)
            return self._intent(
                "abort", user, f"production touched: rolling back to {target.describe()}", None
            )
        result = self._intent("abort", user, "run aborted: production untouched", None)
        self._finish(Outcome.ABORTED, reason)
        if self._phase_task is not None and self._phase_task is not asyncio.current_task():
            self._phase_task.cancel()
        return result

    # --- helpers -------------------------------------------------------------------------

    def _image(self, env_name: str) -> str:
        st = self._st
        return image_tag(st.image_repo, env_name, st.version)

    def _steps(self) -> tuple[CanaryStep, ...]:
        return self.env.canary_steps

    def _scaled(self, seconds: float) -> float:
        if self._st.emergency:
            return seconds * self.settings.readiness.emergency_hold_factor
        return seconds

    def _start_hold(self, seconds: float) -> None:
        st = self._st
        now = self.clock.now()
        until = now + timedelta(seconds=seconds)
        st.hold_until = until.isoformat()
        self._save()
        self._emit(ev.HoldStarted(ts=now, phase=st.phase, seconds=seconds, until=until))

    def _hold_left(self) -> float:
        return intents.hold_left(self._st, self.clock.now())

    async def _await_go(self, key: str, message: str) -> None:
        """Wait for the operator's advance (or autopilot) before a step that changes traffic."""
        st = self._st
        if key in st.done:
            return
        st.awaiting = message
        st.advance_requested = False
        self._save()
        self._notice_once(f"await-{key}", "info", message)
        while not (st.advance_requested or (self.autopilot and not st.paused)):
            await self._wait(self.settings.gates.poll)
        st.awaiting = None
        st.advance_requested = False
        self._mark(key)

    def _autopilot_sign(self, group: str) -> None:
        if not self.autopilot or self._st.paused:
            return
        for item in self._st.items():
            if item.group == group and intents.signable(item):
                self.sign_off(item.key, self.autopilot_user)

    def _update_item(self, key: str, change: Callable[[ChecklistItem], ChecklistItem]) -> str:
        st = self._st
        items = st.items()
        title = key
        for n, i in enumerate(items):
            if i.key == key:
                items[n] = change(i)
                title = i.title
                st.set_items(items)
                self._save()
                self._emit_item(items[n])
        return title

    def _emit_item(self, item: ChecklistItem) -> None:
        self._emit(
            ev.ChecklistChanged(
                ts=self.clock.now(),
                phase=self._st.phase,
                item=item.key,
                title=item.title,
                state=item.state.value,
                by=item.signed_by,
                detail=item.detail,
                owner=item.owner,
                manual=item.kind is ItemKind.MANUAL,
                required=item.required,
                group=item.group,
            )
        )

    def _set_pause(self, paused: bool, reason: str, by: str = "") -> None:
        st = self._st
        st.paused, st.pause_reason = paused, reason if paused else ""
        st.pause_by = by if paused else ""
        self._save()
        self._emit(
            ev.PauseChanged(ts=self.clock.now(), phase=st.phase, paused=paused, reason=reason)
        )

    async def _production_change(self, what: str, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """A change to production, retried on API errors; persistent failure rolls back.

        Production is already touched when these run, so giving up means restoring the
        known-good revision, not leaving a half-done change behind.
        """
        attempts = self.settings.gates.consecutive_failures
        for attempt in range(1, attempts + 1):
            try:
                return await self._mutate(make())
            except (SourceError, StepFailed) as e:
                if attempt == attempts:
                    self._begin_rollback(f"{what} failed {attempts} times: {e}", "engine")
                    raise _Stop from None
                self._notice("alert", f"{what} failed (attempt {attempt}/{attempts}): {e}")
                await self._wait(self.settings.gates.poll)
        raise AssertionError("unreachable")

    async def _mutate(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a cluster change so that cancelling the phase does not lose track of it."""
        fut: asyncio.Future[T] = asyncio.ensure_future(coro)
        self._inflight.add(fut)
        fut.add_done_callback(self._inflight.discard)
        return await asyncio.shield(fut)

    async def _notify(self, kind: str, reason: str) -> None:
        st = self._st
        started = self.view.started_at or self.clock.now()
        gates = {
            f"{track or 'service'}:{g.gate}": format_value(g.value, g.unit)
            for (track, _), g in self.view.gates.items()
        }
        target = Revision.from_dict(st.known_good).describe() if st.known_good else ""
        note = Notification(
            kind=kind,
            service=st.service,
            environment=st.environment,
            version=st.version,
            image=self._image(self.env.name),
            run_id=st.run_id,
            by=st.rollback["by"] if kind == "incident" and st.rollback else self.user,
            duration=(self.clock.now() - started).total_seconds(),
            reason=reason,
            target=target,
            gates=gates,
        )
        try:
            results = await self.ports.notifier.notify(note)
        except Exception as e:  # a notification never decides a run
            log.warning("notifier failed: %s", e)
            results = [("notifier", False, str(e))]
        for channel, ok, detail in results:
            self._emit(
                ev.Notified(
                    ts=self.clock.now(), phase=st.phase, channel=channel, ok=ok, detail=detail
                )
            )

    def _finish(self, outcome: Outcome, reason: str) -> None:
        st = self._st
        if st.outcome is not None:
            return
        now = self.clock.now()
        st.outcome, st.reason = outcome.value, reason
        st.hold_until = None
        self._save()
        self.store.finish_run(st.run_id, outcome.value, reason, now)
        self._emit(ev.RunFinished(ts=now, phase=st.phase, outcome=outcome.value, reason=reason))
        self._wake.set()

    def _mark(self, step: str) -> None:
        self._st.done.append(step)
        self._save()

    def _save(self) -> None:
        st = self._st
        self.store.save_state(st.run_id, st.to_dict(), self.clock.now())

    def _emit(self, event: ev.Event) -> None:
        # The one fan-out: store, view, TUI and printers all get the masked event.
        event = mask_data(event)
        if self.state is not None:
            self.store.append_event(self.state.run_id, event)
        apply(self.view, event)
        for cb in list(self._subscribers):
            try:
                cb(event)
            except Exception:  # a broken subscriber must not stop the run
                log.exception("event subscriber failed")

    def _log(self, source: str, line: str) -> None:
        self._emit(ev.LogLine(ts=self.clock.now(), phase=self._st.phase, source=source, line=line))

    def _sink(self, source: str) -> Callable[[str], None]:
        return lambda line: self._log(source, line)

    def _notice(self, level: str, message: str) -> None:
        self._emit(
            ev.Notice(ts=self.clock.now(), phase=self._st.phase, level=level, message=message)
        )

    def _notice_once(self, key: str, level: str, message: str) -> None:
        st = self._st
        if key in st.notified:
            return
        st.notified.append(key)
        self._save()
        self._notice(level, message)

    async def _wait(self, seconds: float) -> None:
        """Let run time pass, returning early when an intent wakes the run."""
        self._check_lease()
        if self._wake.is_set():
            self._wake.clear()
            await asyncio.sleep(0)
            return
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()
        self._wake.clear()

    def _release_lease(self) -> None:
        if self.state is not None:
            self.store.release_lease(self.state.run_id)


def _with_detail(item: ChecklistItem, detail: str) -> ChecklistItem:
    return replace(item, detail=detail)


def _fresh() -> GateTracker:
    return GateTracker()
