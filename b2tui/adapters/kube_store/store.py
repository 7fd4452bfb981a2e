"""The Kubernetes store: a run lives in the cluster, not in one host's SQLite file.

``[store] backend = "kube"``. Objects, all in the store's namespace and labelled
``app.kubernetes.io/managed-by=b2tui``:

* ``Lease b2tui-<service>-<env>`` (coordination.k8s.io/v1): the driver lease
  (:mod:`b2tui.adapters.kube_store.lease`); every take and renewal is an update with the
  resourceVersion it read, so of two drivers racing on two hosts the API server lets
  exactly one write through.
* ``ConfigMap b2tui-run-<run>``: the run record and its state, label
  ``b2tui.io/finished`` for ``unfinished_run`` and ``history``
  (:mod:`b2tui.adapters.kube_store.runs`).
* ``ConfigMap b2tui-run-<run>-events-N``, ``…-audit-N``, ``…-signoffs-N`` and
  ``b2tui-audit-N`` (audit outside a run): append-only journals
  (:mod:`b2tui.adapters.kube_store.journal`), chunked far below the 1 MiB object limit.
* ``ConfigMap b2tui-intents-<service>-<env>``: the inbox operators on other hosts write
  intents to (:mod:`b2tui.adapters.kube_store.intents`).
* With ``[roles]``, ``ConfigMap b2tui-sign-<service>-<env>-<role>`` and
  ``…-<role>.<user>``: the sign-off inboxes RBAC lets only that role's groups, or that
  one user, write (``b2tui rbac``; same module).

Names, labels and bodies are in :mod:`b2tui.adapters.kube_store.objects`, the calls in
:mod:`b2tui.adapters.kube_store.api`. Every write carries a resourceVersion precondition.
Events are written behind, in order; state, outcome, sign-offs, audit entries and the
lease are written at once (after the pending events, keeping the order). No CRD or
controller is needed in the cluster.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from b2tui.adapters.kube.client import Conn
from b2tui.adapters.kube_store.api import NamespaceApi
from b2tui.adapters.kube_store.audit import AuditLog
from b2tui.adapters.kube_store.journal import CHUNK_BYTES
from b2tui.adapters.kube_store.lease import Leases, RunDriven
from b2tui.adapters.kube_store.objects import RUN, lease_name, run_selector, slug
from b2tui.adapters.kube_store.runs import EventWriter, Runs
from b2tui.adapters.kube_store.watch import ConfigMapWatch
from b2tui.adapters.lease_keeper import LeaseKeeper
from b2tui.adapters.store.common import other_driver
from b2tui.domain.events import Event
from b2tui.masking import mask
from b2tui.ports import AuditEntry, Claim, Lease, RunRecord, StoreError


class KubeStore:
    """The Store port on a Kubernetes namespace.

    Args:
        conn: the API connection (kubeconfig context, or in-cluster).
        namespace: where the run's objects live.
        chunk_bytes: bytes per journal chunk (tests make it small).
        request_timeout: seconds per request.
    """

    def __init__(
        self,
        conn: Conn,
        namespace: str,
        *,
        chunk_bytes: int = CHUNK_BYTES,
        request_timeout: float = 10.0,
    ) -> None:
        self.conn = conn
        self.namespace = namespace
        self.api = NamespaceApi(
            conn, namespace, chunk_bytes=chunk_bytes, request_timeout=request_timeout
        )
        self.path = self.api.path
        self._events = EventWriter(self.api)
        self._runs = Runs(self.api, self.flush)
        self._leases = Leases(self.api)
        self._audit = AuditLog(self.api)
        self._watches: list[ConfigMapWatch] = []

    @property
    def location(self) -> str:
        """``kube:<context>/<namespace>``, for messages."""
        return self.path

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Each write here is one object written atomically by the API server; there is no
        multi-object transaction. The block's writes are in the cluster when it ends."""
        yield
        self.flush()

    # --- runs ------------------------------------------------------------------------------

    def create_run(self, rec: RunRecord) -> None:
        """Record a run, lease first: of two hosts starting a run of one service and
        environment at once, one takes the lease and records its run; the other records
        nothing and gets :class:`RunDriven` (:meth:`claim_run` is the usual way in)."""
        owner = f"{rec.created_by} pid {os.getpid()} on {socket.gethostname()}"
        name = lease_name(rec.service, rec.environment)
        won, holder, _ = self._leases.take(name, rec.id, owner, 15.0)
        if not won:
            raise RunDriven(holder.owner if holder else "another process")
        self._runs.record(rec)

    def claim_run(
        self,
        service: str,
        environment: str,
        *,
        sandbox: bool,
        owner: str,
        ttl: float,
        new: RunRecord | None = None,
    ) -> Claim:
        """The active run of ``service`` in ``environment`` and its lease, or ``new`` with
        the lease. The Lease decides: it is taken (an update under the resourceVersion
        read) before a run is recorded, so of two hosts claiming at once exactly one wins;
        the other gets the winner as ``holder`` (and the run once it is recorded)."""
        self.flush()
        name = lease_name(service, environment)

        def active() -> RunRecord | None:
            return self.unfinished_run(service, sandbox=sandbox, environment=environment)

        existing = active()
        if existing is None and new is not None:
            new = self._runs.unique(new)
        target = existing or new
        if target is None:
            return Claim(None, False)
        won, holder, previous = self._leases.take(name, target.id, owner, ttl)
        if not won:
            return Claim(existing or active(), False, holder=holder)
        existing = active() or existing
        if existing is not None:
            if existing.id != target.id:  # recorded by the previous holder meanwhile
                self._leases.take(name, existing.id, owner, ttl)
            return Claim(existing, True, previous=previous)
        if new is None:
            self.release_lease(target.id)
            return Claim(None, False)
        self._runs.record(new)
        return Claim(new, True, created=True, previous=previous)

    def save_state(self, run_id: str, state: dict[str, Any], clock: datetime) -> None:
        self._runs.save_state(run_id, state, clock)

    def finish_run(self, run_id: str, outcome: str, reason: str, at: datetime) -> None:
        self._runs.finish(run_id, outcome, reason, at)

    def get_run(self, run_id: str) -> RunRecord | None:
        return self._runs.get(run_id)

    def unfinished_run(
        self,
        service: str | None = None,
        *,
        sandbox: bool | None = None,
        environment: str | None = None,
    ) -> RunRecord | None:
        """The newest run without an outcome (for ``service``, kind and environment if
        given)."""
        return self._runs.unfinished(service, sandbox=sandbox, environment=environment)

    def runs(self, limit: int = 100) -> list[RunRecord]:
        return self._runs.matching(run_selector())[:limit]

    def last_known_good(self, service: str, environment: str) -> dict[str, Any] | None:
        """Rollback target recorded by the newest run of ``service`` to ``environment``."""
        return self._runs.last_known_good(service, environment)

    def last_time(self, run_id: str) -> datetime | None:
        """Newest run-clock time recorded for a run (its state or its last event)."""
        rec = self.get_run(run_id)
        times = [rec.clock] if rec and rec.clock else []
        evs = self.events(run_id, after=max(0, self.api.journal("events", run_id).last_seq() - 1))
        if evs:
            times.append(evs[-1][1].ts)
        return max(times) if times else None

    def put_blob(self, run_id: str, key: str, value: dict[str, Any]) -> None:
        self._runs.put_blob(run_id, key, value)

    def get_blob(self, run_id: str, key: str) -> dict[str, Any] | None:
        return self._runs.get_blob(run_id, key)

    # --- events (written behind, in order) -------------------------------------------------

    def append_event(self, run_id: str, event: Event) -> int:
        return self._events.append(run_id, event)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every event handed to :meth:`append_event` is written."""
        self._events.flush(timeout)

    def events(self, run_id: str, after: int = 0) -> list[tuple[int, Event]]:
        fresh = not any(w.live and w.run_id == run_id for w in self._watches)
        return self._events.read(run_id, after, fresh=fresh)

    # --- sign-offs and audit -------------------------------------------------------------

    def sign_off(self, run_id: str, item: str, user: str, run_ts: datetime) -> None:
        self._audit.sign_off(run_id, item, user, run_ts)

    def signoffs(self, run_id: str) -> dict[str, tuple[str, datetime]]:
        return self._audit.signoffs(run_id)

    def audit(
        self,
        run_id: str | None,
        user: str,
        action: str,
        detail: str = "",
        *,
        accepted: bool = True,
        run_ts: datetime | None = None,
    ) -> None:
        self._audit.append(
            run_id,
            {
                "run_id": run_id,
                "wall_ts": datetime.now().astimezone().isoformat(),
                "run_ts": run_ts.isoformat() if run_ts else None,
                "user": user,
                "action": action,
                "detail": mask(detail),
                "accepted": accepted,
            },
        )

    def audit_log(self, run_id: str | None = None) -> list[AuditEntry]:
        return self._audit.entries(run_id)

    def audit_chains(self) -> list[list[AuditEntry]]:
        """Each audit journal (a run's, or the one outside runs) in its own order: each is
        a hash chain of its own (``b2tui audit --verify``)."""
        return self._audit.journals()

    # --- the lease -------------------------------------------------------------------------

    def _lease_of(self, run_id: str) -> str:
        rec = self._runs.known(run_id)
        if rec is None:
            raise StoreError(f"kube store {self.path}: run {run_id} does not exist")
        return lease_name(rec.service, rec.environment)

    def acquire_lease(self, run_id: str, owner: str, ttl: float) -> tuple[bool, Lease | None]:
        """Take or renew the driver lease of the run's service and environment.

        Free when absent, released, expired, ours, or held by a dead process on this host.
        The write is an update with the resourceVersion just read: of two hosts racing,
        the API server accepts one and answers 409 to the other, which has lost.
        """
        self.flush()
        name = self.api.guard("find the lease", lambda: self._lease_of(run_id))
        won, holder, _ = self._leases.take(name, run_id, owner, ttl)
        return won, holder

    def keep_lease(self, run_id: str, owner: str, ttl: float) -> LeaseKeeper:
        """Renew our lease every ``ttl / 3`` seconds from a thread until stopped."""
        return self._leases.keep(self._lease_of(run_id), run_id, owner, ttl)

    def lease(self, run_id: str) -> Lease | None:
        name = self.api.guard("find the lease", lambda: self._lease_of(run_id))
        return self._leases.of_run(name, run_id)

    def driver(self, run_id: str) -> Lease | None:
        """The lease of another live process driving ``run_id``, or None if it is free."""
        return other_driver(self.lease(run_id))

    def release_lease(self, run_id: str) -> None:
        with contextlib.suppress(StoreError):
            self.flush()
        self._leases.release(self._lease_of(run_id))

    # --- following a run -----------------------------------------------------------------

    def follow(self, run_id: str, on_change: Callable[[], None]) -> Callable[[], None]:
        """Watch the run's ConfigMaps; call ``on_change`` (from a thread) after each change
        has reached the cache :meth:`events` reads. Returns the function that stops it."""
        journal = self.api.journal("events", run_id)

        def seen(obj: dict[str, Any]) -> None:
            journal.observe(obj)
            on_change()

        w = ConfigMapWatch(self, f"{RUN}={slug(run_id, 63)}", seen, run_id=run_id).start()
        self._watches.append(w)

        def stop() -> None:
            w.stop()
            with contextlib.suppress(ValueError):
                self._watches.remove(w)

        return stop

    def close(self) -> None:
        with contextlib.suppress(StoreError):
            self.flush(timeout=10.0)
        for w in list(self._watches):
            w.stop()
        self._events.stop()
