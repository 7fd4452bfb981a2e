"""The conductor: the run loop, the driver lease, persistence and the event fan-out.

What it runs lives elsewhere, one home per concern:

- :mod:`b2tui.engine.workflow`: the phases readiness, validate, staging, smoke,
  monitoring; :mod:`b2tui.engine.strategies`: production (canary, blue-green, direct),
  all over a :class:`~b2tui.engine.context.RunContext` with the steps they share.
- :mod:`b2tui.engine.policy`: what to do after a sample (pure); the context acts on it.
- :mod:`b2tui.engine.intents`: whether an operator action may happen now (pure);
  :class:`~b2tui.engine.operator.OperatorIntents` applies accepted intents.
- :mod:`b2tui.engine.rollback`: sending the rollback (first request and retries),
  verifying recovery.
- :mod:`b2tui.engine.session`: opening a run (claim → driver or watcher) for the CLI.
- :class:`~b2tui.engine.opening.RunOpening`: starting, claiming and resuming a run, and
  its lease (:class:`LeaseHeld`, :class:`LeaseLost`).
- :class:`~b2tui.engine.journal.RunJournal`: the run's state, view and subscribers, and
  every write to the store (``emit``, the one fan-out; ``save``; held while the store
  fails). Each collaborator above gets it by constructor.

The conductor moves the run from phase to phase, persists :class:`RunState` after every
transition (a killed process resumes where it stood, holds keeping their deadlines), and
keeps the run's lease in the store while it drives (one driver per run).
A rollback is begun by :meth:`Conductor.begin_rollback`: recorded, then its first request
is under way (:func:`b2tui.engine.rollback.start`; with the kube adapter the API request
leaves) before the screen hears of it; the rest runs as its own task, and the phase task
is cancelled.

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
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from typing import Any

from b2tui.config import EnvironmentSettings, Settings
from b2tui.domain import events as ev
from b2tui.domain.people import Person, SignContext
from b2tui.domain.people import person_named as unvouched
from b2tui.domain.phases import Outcome, Phase
from b2tui.domain.revision import Rollback
from b2tui.domain.view import RunView
from b2tui.engine import rollback, strategies, workflow
from b2tui.engine.api import Action, IntentResult
from b2tui.engine.clock import SteppedClock
from b2tui.engine.context import Finish, RunContext, Services, Stop
from b2tui.engine.journal import RunJournal
from b2tui.engine.notify import notify
from b2tui.engine.opening import LeaseHeld, LeaseLost, RunOpening, driver_id
from b2tui.engine.operator import OperatorIntents
from b2tui.engine.state import RunState, ts
from b2tui.ports import Claim, Lease, Ports, RunRecord, Store, StoreError, Target
from b2tui.ports.clock import Clock

__all__ = ["Conductor", "LeaseHeld", "LeaseLost", "driver_id"]

log = logging.getLogger(__name__)


class Conductor:
    """Drives a run; implements :class:`b2tui.engine.api.RunSession` for the UI.

    Its collaborators, each given the run's :class:`RunJournal` by constructor:
    ``opening`` (:class:`RunOpening`), ``context`` (:class:`RunContext`), ``operator``
    (:class:`OperatorIntents`). The session methods below hand over to them.

    Args:
        settings: the configuration (sandbox or ``b2tui.toml``).
        ports: the adapters the run goes through.
        store: where state, events, sign-offs and the audit log are kept.
        clock: the run's clock (wall, scaled or virtual).
        env: the production environment of ``settings``, as the caller validated it
            (None: ``production``); ``staging`` the staging one (None: ``staging``).
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
        env: EnvironmentSettings | None = None,
        staging: EnvironmentSettings | None = None,
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
        self.env: EnvironmentSettings = env or settings.environment("production")
        self.staging_env: EnvironmentSettings = staging or settings.environment("staging")
        self.target = Target.of(self.env)
        """Production's cluster target, built once; ``staging_target`` staging's."""
        self.staging_target = Target.of(self.staging_env)
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
        self.journal = RunJournal(store, clock)
        self.view: RunView = self.journal.view
        self._driver = driver_id(user)
        self.opening = RunOpening(
            settings=settings,
            ports=ports,
            journal=self.journal,
            env=self.env,
            staging_env=self.staging_env,
            target=self.target,
            user=user,
            person=self.person,
            driver=self._driver,
            lease_ttl=lease_ttl,
        )
        self.context = RunContext(
            settings=settings,
            ports=ports,
            clock=clock,
            journal=self.journal,
            env=self.env,
            staging_env=self.staging_env,
            target=self.target,
            staging_target=self.staging_target,
            user=user,
            autopilot_user=autopilot_user,
            services=Services(
                begin_rollback=self.begin_rollback,
                sign_off=self.sign_off,
                may_sign=self.sign_refusal,
                autopilot=lambda: self.autopilot,
                check_lease=self.opening.check_lease,
            ),
        )
        self.journal.alert = self._alert
        self.operator = OperatorIntents(
            settings=settings,
            env=self.env,
            journal=self.journal,
            context=self.context,
            people=self.people,
            stop_phase=self._stop_phase,
        )
        self._phase_task: asyncio.Task[None] | None = None
        self._rollback_task: asyncio.Task[None] | None = None
        self._run_task: asyncio.Task[Outcome] | None = None
        self.ran = False
        """True once :meth:`run` began: its end gives the lease back. Until then the claim
        of :meth:`claim` is given back by :meth:`release` (a room left before it drove)."""

    # --- session protocol ----------------------------------------------------------------

    @property
    def driver(self) -> str:
        return self._driver

    @property
    def state(self) -> RunState | None:
        return self.journal.state

    @property
    def run_id(self) -> str:
        return self.journal.st.run_id

    @property
    def unsaved(self) -> str | None:
        """Why the state file is behind the run (writes held in memory), or None."""
        return self.journal.unsaved

    def subscribe(self, callback: Callable[[ev.Event], None]) -> Callable[[], None]:
        return self.journal.subscribers.add(callback)

    def keep_blob(self, key: str, value: dict[str, Any]) -> None:
        """Keep a snapshot with the run (the sandbox world), through the journal."""
        self.journal.keep_blob(key, value)

    # --- opening the run (engine/opening.py) -----------------------------------------------

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
        """Create a run and record its rollback target (:meth:`RunOpening.start`)."""
        return await self.opening.start(
            version=version,
            emergency=emergency,
            scenario=scenario,
            params=params,
            commit_at=commit_at,
            run_id=run_id,
        )

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
        """Drive the active run of this service and environment, or a new one
        (:meth:`RunOpening.claim`)."""
        return await self.opening.claim(
            version=version,
            emergency=emergency,
            scenario=scenario,
            params=params,
            commit_at=commit_at,
            accept=accept,
            take_over=take_over,
        )

    def resume(
        self, run_id: str, *, previous: Lease | None = None, take_over: bool = False
    ) -> RunRecord:
        """Load an unfinished run (:meth:`RunOpening.resume`)."""
        return self.opening.resume(run_id, previous=previous, take_over=take_over)

    def release(self) -> None:
        """Give the run's lease back (after driving it without :meth:`run`)."""
        self.opening.release()

    # --- operator intents (engine/operator.py) ---------------------------------------------

    def why_not(self, action: Action, item: str | None = None) -> str | None:
        return self.operator.why_not(action, item)

    def advance(self, user: str) -> IntentResult:
        return self.operator.advance(user)

    def step_canary(self, delta: int, user: str) -> IntentResult:
        return self.operator.step_canary(delta, user)

    def set_canary(self, percent: int, user: str) -> IntentResult:
        return self.operator.set_canary(percent, user)

    def toggle_pause(self, user: str) -> IntentResult:
        return self.operator.toggle_pause(user)

    def sign_off(self, item: str, user: str) -> IntentResult:
        return self.operator.sign_off(item, user)

    def sign_refusal(self, item: str, user: str) -> str | None:
        return self.operator.sign_refusal(item, user)

    def sign_context(self) -> SignContext:
        return self.operator.sign_context()

    def rollback(self, user: str, reason: str = "operator request") -> IntentResult:
        return self.operator.rollback(user, reason)

    def abort(self, user: str) -> IntentResult:
        return self.operator.abort(user)

    def vouch(self, person: Person) -> None:
        self.operator.vouch(person)

    def person_of(self, user: str) -> Person:
        return self.operator.person_of(user)

    @contextlib.contextmanager
    def untrusted_names(self) -> Iterator[None]:
        with self.operator.untrusted_names():
            yield

    # --- the loop ------------------------------------------------------------------------

    async def run(self) -> Outcome:
        """Drive the run to its outcome. Raises :class:`LeaseHeld` if another process drives
        (or took the run over meanwhile: :class:`LeaseLost`)."""
        st = self.journal.st
        self.ran = True
        if st.outcome is not None:
            return Outcome(st.outcome)
        self.opening.take_lease(st.run_id)
        try:
            while st.outcome is None:
                if st.rollback is not None:
                    if self._rollback_task is None:
                        # Resumed mid-rollback: the rollback is idempotent, run it again.
                        self._rollback_task = rollback.start(self.context)
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
                    self.journal.finish(f.outcome, f.reason)
            # A safe state is reached; leave only once it is saved too.
            await self.journal.drain()
        finally:
            self.opening.stop_renewing()
            self.journal.stop_retrying()
            if not self.journal.writes.failing:
                with contextlib.suppress(StoreError):
                    self.opening.release_lease()
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
        st = self.journal.st
        phase = st.phase
        if not st.phase_open:
            st.phase_open = True
            st.phase_started = self.clock.now().isoformat()
            st.done = []
            self.journal.save()
            self.journal.emit(ev.PhaseStarted(ts=self.clock.now(), phase=phase))
        handler = {
            Phase.READINESS: workflow.readiness,
            Phase.VALIDATE: workflow.validate,
            Phase.STAGING: workflow.staging,
            Phase.SMOKE: workflow.smoke,
            Phase.PRODUCTION: strategies.production,
            Phase.MONITORING: workflow.monitoring,
        }[phase]
        await handler(self.context)
        while phase.position < Phase.PRODUCTION.position and self.context.unsaved:
            # Before production nothing needs watching: wait here until the state is saved.
            await self.context.wait(self.settings.gates.poll)
        started = ts(st.phase_started) or self.clock.now()
        self.journal.emit(
            ev.PhaseCompleted(
                ts=self.clock.now(),
                phase=phase,
                duration=(self.clock.now() - started).total_seconds(),
            )
        )
        nxt = phase.next()
        if nxt is None:
            await workflow.succeed(self.context)
            return
        st.phase, st.phase_open, st.done, st.awaiting = nxt, False, [], None
        st.hold_until = None
        self.journal.save()

    # --- rollback ------------------------------------------------------------------------

    def begin_rollback(self, reason: str, by: str) -> bool:
        """Record the rollback and send its first request now. False if one already started."""
        st = self.journal.st
        if st.rollback is not None or st.outcome is not None:
            return False
        now = self.clock.now()
        st.rollback = Rollback(reason=reason, by=by, started=now)
        st.hold_until = None
        self.journal.save()
        # The first request leaves here, before the event is emitted: it may be sent
        # before the screen hears about it (the kube adapter sends it at once).
        self._rollback_task = rollback.start(self.context)
        self.journal.emit(
            ev.RollbackStarted(
                ts=now, phase=st.phase, reason=reason, target=st.target.to_dict(), by=by
            )
        )
        self._stop_phase()
        self.journal.wake.set()
        return True

    def _stop_phase(self) -> None:
        """Cancel the running phase (unless it is the caller)."""
        if self._phase_task is not None and self._phase_task is not asyncio.current_task():
            self._phase_task.cancel()

    async def _alert(self, message: str) -> None:
        await notify(self.context, "alert", message)
