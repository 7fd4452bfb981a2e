"""The conductor: the run loop, the driver lease, persistence and the event fan-out.

What it runs lives elsewhere, one home per concern:

- :mod:`b2tui.engine.workflow`: the phases readiness, validate, staging, smoke,
  monitoring; :mod:`b2tui.engine.strategies`: production (canary, blue-green, direct),
  all over a :class:`~b2tui.engine.context.RunContext` with the steps they share.
- :mod:`b2tui.engine.policy`: what to do after a sample (pure); the context acts on it.
- :mod:`b2tui.engine.intents`: whether an operator action may happen now (pure);
  :mod:`b2tui.engine.operator` applies accepted intents (a mixin of the conductor).
- :mod:`b2tui.engine.rollback`: restoring the known-good revision and verifying it.
- :mod:`b2tui.engine.session`: opening a run (claim → driver or watcher) for the CLI.
- :mod:`b2tui.engine.journal`: store writes that survive a failing store.

The conductor moves the run from phase to phase, persists :class:`RunState` after every
transition (a killed process resumes where it stood, holds keeping their deadlines),
appends every event to the store before folding it into the view and calling the
subscribers, and holds the run's lease in the store while it drives (one driver per run).
A rollback is started by :meth:`Conductor._begin_rollback` as its own task at once (the
API request leaves before the screen hears of it) and cancels the phase task.

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
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Any

from b2tui.config import EnvironmentSettings, Settings
from b2tui.domain import events as ev
from b2tui.domain.images import image_tag
from b2tui.domain.phases import Outcome, Phase
from b2tui.domain.view import RunView, apply
from b2tui.engine import rollback, strategies, workflow
from b2tui.engine.api import Subscribers
from b2tui.engine.clock import Clock, SteppedClock
from b2tui.engine.context import Finish, RunContext, Services, Stop
from b2tui.engine.journal import Journal
from b2tui.engine.operator import OperatorIntents
from b2tui.engine.state import RunState, ts
from b2tui.masking import mask_data
from b2tui.ports import (
    Claim,
    Lease,
    LeaseKeeper,
    Ports,
    RunRecord,
    SourceError,
    StepFailed,
    Store,
    StoreError,
)

log = logging.getLogger(__name__)


class LeaseHeld(Exception):
    """Another process drives this run."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"run is driven by {holder}")
        self.holder = holder


class LeaseLost(LeaseHeld):
    """Another process took this run over while we drove it (our lease had lapsed)."""


def driver_id(user: str) -> str:
    return f"{user} pid {os.getpid()} on {socket.gethostname()}"


class Conductor(OperatorIntents):
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
        self._subscribers = Subscribers()
        self._wake = asyncio.Event()
        self._phase_task: asyncio.Task[None] | None = None
        self._rollback_task: asyncio.Task[None] | None = None
        self._run_task: asyncio.Task[Outcome] | None = None
        self._keeper: LeaseKeeper | None = None
        self._context: RunContext | None = None
        self._journal = Journal(store)
        self._flusher: asyncio.Task[None] | None = None
        self._notes: set[asyncio.Task[None]] = set()
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
        return self._subscribers.add(callback)

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
            image=(params or {}).get("image") or None,
            prebuilt=bool((params or {}).get("image")) or self.settings.service.prebuilt,
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
            image=st.image or image_tag(st.image_repo, self.env.name, st.version),
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
        self._write(
            partial(
                self.store.audit, rec.id, self.user, "start", f"version {st.version}", run_ts=now
            )
        )
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
            gone = (
                f"from {previous.owner} (gone: process ended or lease lapsed)" if previous else ""
            )
            self._write(
                partial(
                    self.store.audit,
                    run_id,
                    self.user,
                    "take-over" if take_over else "resume",
                    gone,
                    run_ts=self.clock.now(),
                )
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
                except Stop:
                    pass
                except Finish as f:
                    self._finish(f.outcome, f.reason)
            # A safe state is reached; leave only once it is saved too.
            await self._drain()
        finally:
            self._keeper.stop()
            self._keeper = None
            if self._flusher is not None:
                self._flusher.cancel()
            if not self._journal.failing:
                with contextlib.suppress(StoreError):
                    self._release_lease()
        return Outcome(st.outcome)

    # --- writes that survive a failing store -----------------------------------------

    @property
    def unsaved(self) -> str | None:
        """Why the state file is behind the run (writes held in memory), or None."""
        j = self._journal
        if not j.failing:
            return None
        return f"{j.held} records not saved: {j.failing}"

    def _unsaved(self) -> bool:
        return self._journal.failing is not None

    def _write(self, write: Callable[[], object], *, key: str | None = None) -> None:
        """Write through the journal; the first failure alerts and starts the retries."""
        failing = self._journal.failing
        if self._journal.write(write, key=key) or failing is not None:
            return
        self._on_store_failed()

    def keep_blob(self, key: str, value: dict[str, Any]) -> None:
        """Keep a snapshot with the run (the sandbox world), through the journal."""
        run_id = self._st.run_id
        self._write(partial(self.store.put_blob, run_id, key, value), key=f"blob:{key}")

    def _say(self, level: str, message: str) -> None:
        self._emit(
            ev.Notice(ts=self.clock.now(), phase=self._st.phase, level=level, message=message)
        )

    def _on_store_failed(self) -> None:
        message = (
            f"the state could not be saved ({self._journal.failing}): deciding from memory,"
            " promotion held, a breach still rolls back; retrying"
        )
        self._say("alert", message)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        note = loop.create_task(self._ctx.notify("alert", message))
        self._notes.add(note)
        note.add_done_callback(self._notes.discard)
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        """Retry the held writes with backoff (real time: a virtual clock must not spin)."""
        j = self._journal
        while j.failing:
            await asyncio.sleep(j.backoff())
            held = j.held
            if j.flush():
                self._say("info", f"the state is saved again ({held} held records written)")
                self._wake.set()
                return

    async def _drain(self) -> None:
        """At the run's end: wait until what was held is written."""
        j = self._journal
        if not j.failing:
            return
        self._say("alert", f"run {self._st.outcome}; waiting for the state file: {j.failing}")
        while j.failing:
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.create_task(self._flush_loop())
            await asyncio.shield(self._flusher)

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
            Phase.READINESS: workflow.readiness,
            Phase.VALIDATE: workflow.validate,
            Phase.STAGING: workflow.staging,
            Phase.SMOKE: workflow.smoke,
            Phase.PRODUCTION: strategies.production,
            Phase.MONITORING: workflow.monitoring,
        }[phase]
        await handler(self._ctx)
        while phase.position < Phase.PRODUCTION.position and self._unsaved():
            # Before production nothing needs watching: wait here until the state is saved.
            await self._ctx.wait(self.settings.gates.poll)
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
            await workflow.succeed(self._ctx)
            return
        st.phase, st.phase_open, st.done, st.awaiting = nxt, False, [], None
        st.hold_until = None
        self._save()

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
        await rollback.restore(self._ctx)
        self._finish(Outcome.ROLLED_BACK, st.rollback["reason"])

    # --- persistence and fan-out -----------------------------------------------------------

    @property
    def _ctx(self) -> RunContext:
        """The context phases and strategies run over (built once the run exists)."""
        st = self._st
        if self._context is None or self._context.st is not st:
            self._context = RunContext(
                settings=self.settings,
                ports=self.ports,
                clock=self.clock,
                state=st,
                view=self.view,
                env=self.env,
                staging_env=self.staging_env,
                user=self.user,
                autopilot_user=self.autopilot_user,
                services=Services(
                    emit=self._emit,
                    save=self._save,
                    wake=self._wake,
                    begin_rollback=self._begin_rollback,
                    sign_off=self.sign_off,
                    autopilot=lambda: self.autopilot,
                    check_lease=self._check_lease,
                    unsaved=self._unsaved,
                ),
            )
        return self._context

    def _finish(self, outcome: Outcome, reason: str) -> None:
        st = self._st
        if st.outcome is not None:
            return
        now = self.clock.now()
        st.outcome, st.reason = outcome.value, reason
        st.hold_until = None
        self._save()
        self._write(partial(self.store.finish_run, st.run_id, outcome.value, reason, now))
        self._emit(ev.RunFinished(ts=now, phase=st.phase, outcome=outcome.value, reason=reason))
        self._wake.set()

    def _save(self) -> None:
        st = self._st
        self._write(
            partial(self.store.save_state, st.run_id, st.to_dict(), self.clock.now()), key="state"
        )

    def _emit(self, event: ev.Event) -> None:
        # The one fan-out: store, view, TUI and printers all get the masked event.
        event = mask_data(event)
        if self.state is not None:
            self._write(partial(self.store.append_event, self.state.run_id, event))
        apply(self.view, event)
        self._subscribers(event)

    def release(self) -> None:
        """Give the run's lease back (after driving it without :meth:`run`)."""
        with contextlib.suppress(StoreError):
            self._release_lease()

    def _release_lease(self) -> None:
        if self.state is not None:
            self.store.release_lease(self.state.run_id)
