"""The state store port: runs, their events and audit log, snapshots, and the driver lease.

The SQLite file and the cluster's ConfigMaps and Leases implement it. Unlike the run's
ports, its methods are synchronous.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from b2tui.domain.events import Event


@dataclass(frozen=True)
class RunRecord:
    """A row of ``runs``."""

    id: str
    service: str
    environment: str
    strategy: str
    version: str
    image: str
    emergency: bool
    params: dict[str, Any]
    state: dict[str, Any]
    clock: datetime | None
    started_at: datetime
    commit_at: datetime | None
    finished_at: datetime | None
    outcome: str | None
    reason: str | None
    created_by: str


@dataclass(frozen=True)
class Lease:
    """Who drives a run: held by one process, renewed while it lives."""

    owner: str
    """``user@host pid N on host`` of the driver."""
    host: str
    pid: int
    expires: float
    """Wall-clock (``time.time()``) second the lease lapses unless renewed."""


@dataclass(frozen=True)
class Claim:
    """The answer of :meth:`Store.claim_run`: which run is active and who drives it."""

    run: RunRecord | None
    """The active run of the service and environment (found or just created); None when
    there is none and none was offered."""
    driver: bool
    """True: this process now holds the run's lease and drives it."""
    created: bool = False
    """True: ``run`` is the new record offered to the claim."""
    holder: Lease | None = None
    """The live lease of another process when ``driver`` is False."""
    previous: Lease | None = None
    """A lapsed lease (expired, or its process is gone) this claim took over."""


@dataclass(frozen=True)
class AuditEntry:
    id: int
    run_id: str | None
    wall_ts: str
    run_ts: str | None
    user: str
    action: str
    detail: str
    accepted: bool
    prev: str = ""
    """Hash of the entry before (the SQLite store's chain; empty: before the chain)."""
    hash: str = ""
    """sha256 over this entry and ``prev`` (:mod:`b2tui.domain.auditchain`)."""


class StoreError(Exception):
    """The state store cannot be opened, read or written. ``str()`` is one line naming the
    file (and the run) and how to fix it."""


class StoreWriteFailed(StoreError):
    """A write did not happen (disk full, read-only, locked); nothing of it was kept and
    retrying it later may succeed."""


class LeaseKeeper(Protocol):
    """Renews a driver lease away from the event loop (a thread, or the kube client's)."""

    @property
    def lost(self) -> Lease | None:
        """The lease of another process that took the run over, or None while it is ours."""
        ...

    @property
    def failing(self) -> str | None:
        """The last renewal's error while renewals fail, else None."""
        ...

    def stop(self) -> None:
        """Stop renewing (the lease is then released by :meth:`Store.release_lease`)."""
        ...


class Store(Protocol):
    """Where runs live: the SQLite store, or (later) a ConfigMap + Lease in the cluster.

    Reads of a damaged record raise :class:`StoreError`; failed writes raise
    :class:`StoreWriteFailed` and leave nothing half-written.
    """

    @property
    def location(self) -> str:
        """Where the state lives (a file path), for messages."""
        ...

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
        """Take the active run of ``service`` in ``environment`` and its lease — or create
        ``new`` with the lease — in one atomic step. At most one run per service,
        environment and kind (sandbox or real) is unfinished, and at most one live process
        holds its lease; a claim that loses returns the holder (attach as a watcher)."""
        ...

    def create_run(self, rec: RunRecord) -> None: ...

    def save_state(self, run_id: str, state: dict[str, Any], clock: datetime) -> None: ...

    def finish_run(self, run_id: str, outcome: str, reason: str, at: datetime) -> None: ...

    def get_run(self, run_id: str) -> RunRecord | None: ...

    def unfinished_run(
        self, service: str | None = None, *, sandbox: bool | None = None
    ) -> RunRecord | None: ...

    def append_event(self, run_id: str, event: Event) -> int: ...

    def events(self, run_id: str, after: int = 0) -> list[tuple[int, Event]]: ...

    def sign_off(self, run_id: str, item: str, user: str, run_ts: datetime) -> None: ...

    def audit(
        self,
        run_id: str | None,
        user: str,
        action: str,
        detail: str = "",
        *,
        accepted: bool = True,
        run_ts: datetime | None = None,
    ) -> None: ...

    def put_blob(self, run_id: str, key: str, value: dict[str, Any]) -> None: ...

    def get_blob(self, run_id: str, key: str) -> dict[str, Any] | None: ...

    def transaction(self) -> AbstractContextManager[None]:
        """Group writes: all of them happen, or (on an exception) none."""
        ...

    def acquire_lease(self, run_id: str, owner: str, ttl: float) -> tuple[bool, Lease | None]: ...

    def keep_lease(self, run_id: str, owner: str, ttl: float) -> LeaseKeeper:
        """Renew our lease every ``ttl / 3`` seconds off the event loop until stopped."""
        ...

    def lease(self, run_id: str) -> Lease | None: ...

    def driver(self, run_id: str) -> Lease | None:
        """The lease of another live process driving ``run_id``, or None if it is free."""
        ...

    def release_lease(self, run_id: str) -> None: ...

    def follow(self, run_id: str, on_change: Callable[[], None]) -> Callable[[], None] | None:
        """Push changes: call ``on_change`` (from any thread) whenever the run's records
        change, and return the function that stops it; None when this store cannot push
        (the follower then reads on a timer, as with the SQLite file)."""
        ...
