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
- :mod:`b2tui.engine.opening`: starting, claiming and resuming a run and its lease
  (a mixin of the conductor: :meth:`~RunOpening.start`, :meth:`~RunOpening.claim`,
  :meth:`~RunOpening.resume`, :class:`LeaseHeld`, :class:`LeaseLost`).
- :mod:`b2tui.engine.journal`: store writes that survive a failing store (the
  :class:`~b2tui.engine.journal.HeldWrites` mixin alerts, retries and drains).

The conductor moves the run from phase to phase, persists :class:`RunState` after every
transition (a killed process resumes where it stood, holds keeping their deadlines),
appends every event to the store before folding it into the view and calling the
subscribers (:meth:`Conductor._emit`, the one fan-out), and keeps the run's lease in the
store while it drives (one driver per run).
A rollback is started by :meth:`Conductor._begin_rollback` at once: its first attempt is
under way (with the kube adapter the API request leaves) before the screen hears of it;
the rest runs as its own task, and the phase task is cancelled.

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
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial

from b2tui.config import EnvironmentSettings, Settings
from b2tui.domain import events as ev
from b2tui.domain.people import Person
from b2tui.domain.people import person_named as unvouched
from b2tui.domain.phases import Outcome, Phase
from b2tui.domain.revision import Rollback
from b2tui.domain.view import RunView, apply
from b2tui.engine import rollback, strategies, workflow
from b2tui.engine.api import Subscribers
from b2tui.engine.clock import SteppedClock
from b2tui.engine.context import Finish, RunContext, Services, Stop
from b2tui.engine.journal import HeldWrites, Journal
from b2tui.engine.opening import LeaseHeld, LeaseLost, RunOpening, driver_id
from b2tui.engine.operator import OperatorIntents
from b2tui.engine.state import RunState, ts
from b2tui.masking import mask_data
from b2tui.ports import (
    LeaseKeeper,
    Ports,
    RollbackResult,
    Store,
    StoreError,
)
from b2tui.ports.clock import Clock

__all__ = ["Conductor", "LeaseHeld", "LeaseLost", "driver_id"]

log = logging.getLogger(__name__)


class Conductor(RunOpening, HeldWrites, OperatorIntents):
    """Drives a run; implements :class:`b2tui.engine.api.RunSession` for the UI.

    Args:
        settings: the configuration (sandbox or ``b2tui.toml``).
        ports: the adapters the run goes through.
        store: where state, events, sign-offs and the audit log are kept.
        clock: the run's clock (wall, scaled or virtual).
        env: production environment name; ``staging`` names the staging one.
        user: who drives (``user@host``); written to the audit log.
        autopilot: advance whenever gates allow and sign manual items as ``autopilot_user``
            (only those ``person`` may sign).
        lease_ttl: seconds (real time) a driver lease lasts without renewal.
        person: who ``user`` is, as the OS vouches for it (:mod:`b2tui.domain.people`);
            None: ``user`` names a person nothing vouched for (the sandbox, the tests).
        autopilot_person: who autopilot signs as (a real run: the driver's own person,
            so its roles and the four-eyes rules apply); None: a person of its own.
    """

    read_only = False
    drives_here = True

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
        person: Person | None = None,
        autopilot_person: Person | None = None,
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
        self.person = person or unvouched(user, verified=True)
        """Who drives, as the OS vouches for it (the tests name one)."""
        self.people: dict[str, Person] = {user: self.person}
        """Audit name → person, for every name this process vouched for (its own, the
        autopilot's, peers of the local inbox)."""
        auto = autopilot_person or unvouched(autopilot_user, verified=True)
        self.people.setdefault(autopilot_user, replace(auto, display=autopilot_user))
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
        self.ran = False
        """True once :meth:`run` began: its end gives the lease back. Until then the claim
        of :meth:`claim` is given back by :meth:`release` (a room left before it drove)."""

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

    # --- the loop ------------------------------------------------------------------------

    async def run(self) -> Outcome:
        """Drive the run to its outcome. Raises :class:`LeaseHeld` if another process drives
        (or took the run over meanwhile: :class:`LeaseLost`)."""
        st = self._st
        self.ran = True
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
        st.rollback = Rollback(reason=reason, by=by, started=now)
        st.hold_until = None
        self._save()
        # The first attempt starts here, before the event is emitted: the request may
        # leave before the screen hears about it (the kube adapter sends it at once).
        first = asyncio.ensure_future(self.ports.cluster.rollback(self.env, st.target))
        self._rollback_task = asyncio.create_task(self._rollback(first))
        self._emit(
            ev.RollbackStarted(
                ts=now, phase=st.phase, reason=reason, target=st.target.to_dict(), by=by
            )
        )
        current = asyncio.current_task()
        if self._phase_task is not None and self._phase_task is not current:
            self._phase_task.cancel()
        self._wake.set()
        return True

    async def _rollback(self, first: Awaitable[RollbackResult] | None = None) -> None:
        st = self._st
        assert st.rollback is not None
        await rollback.restore(self._ctx, first)
        self._finish(Outcome.ROLLED_BACK, st.rollback.reason)

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
                    may_sign=self.sign_refusal,
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

    async def _alert(self, message: str) -> None:
        await self._ctx.notify("alert", message)

    def _emit(self, event: ev.Event) -> None:
        # The one fan-out: store, view, TUI and printers all get the masked event.
        event = mask_data(event)
        if self.state is not None:
            self._write(partial(self.store.append_event, self.state.run_id, event))
        apply(self.view, event)
        self._subscribers(event)
