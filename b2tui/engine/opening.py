"""Opening a run in the store — new, claimed or resumed — and the driver's lease on it.

:class:`RunOpening` is the conductor's collaborator for it: :meth:`RunOpening.start`
creates a run and records its rollback target, :meth:`RunOpening.claim` takes the active
run of a service and environment (or a new one) together with its lease in one store
transaction, :meth:`RunOpening.resume` replays an unfinished run into the view; the run's
state lands in the :class:`~b2tui.engine.journal.RunJournal`. The lease is taken by
:meth:`RunOpening.take_lease` when the conductor drives and renewed by the store's keeper
thread; losing it raises :class:`LeaseLost` at the next :meth:`RunOpening.check_lease`.
"""

from __future__ import annotations

import contextlib
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
from b2tui.domain.people import Person
from b2tui.domain.phases import Outcome
from b2tui.domain.view import apply
from b2tui.engine.journal import RunJournal
from b2tui.engine.state import RunState
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
    Target,
)
from b2tui.ports.clock import Clock


class LeaseHeld(Exception):
    """Another process drives this run."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"run is driven by {holder}")
        self.holder = holder


class LeaseLost(LeaseHeld):
    """Another process took this run over while we drove it (our lease had lapsed)."""


def driver_id(user: str) -> str:
    return f"{user} pid {os.getpid()} on {socket.gethostname()}"


class RunOpening:
    """Start, claim or resume a run; take, check and give back its lease.

    Args:
        settings: the configuration.
        ports: the adapters (the cluster reads the rollback target).
        journal: the run's record; the opened run's state is set on it.
        env: the production environment; ``staging_env`` the staging one.
        target: the production environment's cluster target (built once by the conductor).
        user: who drives (written to the audit log); ``person``: who that is.
        driver: this process's name on the lease (:func:`driver_id`).
        lease_ttl: seconds (real time) a driver lease lasts without renewal.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        ports: Ports,
        journal: RunJournal,
        env: EnvironmentSettings,
        staging_env: EnvironmentSettings,
        target: Target,
        user: str,
        person: Person,
        driver: str,
        lease_ttl: float,
    ) -> None:
        self.settings = settings
        self.ports = ports
        self.journal = journal
        self.store: Store = journal.store
        self.clock: Clock = journal.clock
        self.env = env
        self.staging_env = staging_env
        self.target = target
        self.user = user
        self.person = person
        self.driver = driver
        self.lease_ttl = lease_ttl
        self._keeper: LeaseKeeper | None = None

    async def _prepare(
        self,
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
            flags=sorted({str(f) for f in (params or {}).get("flags", [])}),
            authors=list((params or {}).get("authors", [])),
            author_emails=list((params or {}).get("author_emails", [])),
            starter=self.person.name,
        )
        problem = ""
        try:
            st.known_good = await self.ports.cluster.current_revision(self.target)
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
        self.journal.state = st
        now = rec.started_at
        self.journal.write(
            partial(
                self.store.audit, rec.id, self.user, "start", f"version {st.version}", run_ts=now
            )
        )
        self.journal.emit(
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
                known_good=st.known_good.to_dict() if st.known_good else {},
            )
        )
        if problem:
            self.journal.finish(Outcome.BLOCKED, problem)

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
            version, emergency, scenario, params, commit_at, run_id
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
            fresh = await self._prepare(version, emergency, scenario, params, commit_at, None)
        claim = self.store.claim_run(
            self.settings.service.name,
            self.env.name,
            sandbox=sandbox,
            owner=self.driver,
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
            self.journal.state = RunState.from_dict(rec.state)
        except (ValueError, TypeError, KeyError, AttributeError) as bad:
            raise StoreError(
                f"state file {self.store.location}: run {run_id}: damaged state ({bad});"
                " move it aside or pass another --state PATH"
            ) from None
        for _, e in self.store.events(run_id):
            apply(self.journal.view, e)
        if rec.outcome is None:
            gone = (
                f"from {previous.owner} (gone: process ended or lease lapsed)" if previous else ""
            )
            self.journal.write(
                partial(
                    self.store.audit,
                    run_id,
                    self.user,
                    "take-over" if take_over else "resume",
                    gone,
                    run_ts=self.clock.now(),
                )
            )
            self.journal.emit(
                ev.RunResumed(
                    ts=self.clock.now(), phase=self.journal.st.phase, run_id=run_id, by=self.user
                )
            )
        return rec

    def take_lease(self, run_id: str) -> None:
        """Take the run's lease and keep it renewed. Raises :class:`LeaseHeld`."""
        won, holder = self.store.acquire_lease(run_id, self.driver, self.lease_ttl)
        if not won:
            raise LeaseHeld(holder.owner if holder else "another process")
        # Renewed by a thread of the store's: a busy event loop cannot lose the lease.
        self._keeper = self.store.keep_lease(run_id, self.driver, self.lease_ttl)

    def stop_renewing(self) -> None:
        """Stop renewing the lease (the run's end)."""
        if self._keeper is not None:
            self._keeper.stop()
            self._keeper = None

    def check_lease(self) -> None:
        """Stop driving if another process took the run over (its lease is the truth)."""
        keeper = self._keeper
        if keeper is not None and keeper.lost is not None:
            raise LeaseLost(keeper.lost.owner)

    def release(self) -> None:
        """Give the run's lease back (after driving it without :meth:`run`)."""
        with contextlib.suppress(StoreError):
            self.release_lease()

    def release_lease(self) -> None:
        if self.journal.state is not None:
            self.store.release_lease(self.journal.state.run_id)
