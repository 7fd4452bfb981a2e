"""The driver lease in the state file: one live process drives a run.

A lease is free when absent, expired, ours, or held by a dead process on this host (see
:func:`b2tui.adapters.store.common.held_by_another`). The driver renews it from a thread of
its own (:class:`_LeaseKeeper`, on a second connection), so a busy event loop cannot lose it.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from contextlib import suppress

from b2tui.adapters.lease_keeper import LeaseKeeper
from b2tui.adapters.store.common import held_by_another, other_driver
from b2tui.adapters.store.sqlite.connection import StateFile, why
from b2tui.ports import Lease

TAKE_LEASE = "INSERT OR REPLACE INTO leases (run_id, owner, host, pid, expires) VALUES (?,?,?,?,?)"
"""Write the lease of a run as this process's (host, pid) until ``expires``."""


class Leases(StateFile):
    """The ``leases`` table."""

    def _write_lease(self, run_id: str, owner: str, expires: float) -> None:
        """Make this process the holder of ``run_id``'s lease (inside a transaction)."""
        self._execute(
            TAKE_LEASE,
            (run_id, owner, socket.gethostname(), os.getpid(), expires),
            f"lease of run {run_id}",
        )

    def acquire_lease(self, run_id: str, owner: str, ttl: float) -> tuple[bool, Lease | None]:
        """Take or renew the driver lease; returns (won, current holder)."""
        now = time.time()
        with self.transaction():
            holder = self.lease(run_id)
            if holder is not None and held_by_another(holder, now):
                return False, holder
            self._write_lease(run_id, owner, now + ttl)
        return True, Lease(owner, socket.gethostname(), os.getpid(), now + ttl)

    def keep_lease(self, run_id: str, owner: str, ttl: float) -> _LeaseKeeper:
        keeper = _LeaseKeeper(self.path, run_id, owner, ttl)
        if self.path != ":memory:":  # a second connection cannot see a memory database
            keeper.start()
        return keeper

    def lease(self, run_id: str) -> Lease | None:
        row = self._one(
            "SELECT * FROM leases WHERE run_id = ?", (run_id,), f"lease of run {run_id}"
        )
        return Lease(row["owner"], row["host"], row["pid"], row["expires"]) if row else None

    def driver(self, run_id: str) -> Lease | None:
        return other_driver(self.lease(run_id))

    def release_lease(self, run_id: str) -> None:
        self._execute(
            "DELETE FROM leases WHERE run_id = ? AND host = ? AND pid = ?",
            (run_id, socket.gethostname(), os.getpid()),
            f"lease of run {run_id}",
        )


class _LeaseKeeper(LeaseKeeper):
    """Renews one lease every ``ttl / 3`` seconds on its own connection and thread."""

    errors = (sqlite3.Error,)

    def __init__(self, path: str, run_id: str, owner: str, ttl: float) -> None:
        super().__init__(f"b2tui-lease-{run_id}", ttl)
        self._path, self._run_id, self._owner = path, run_id, owner
        self._db: sqlite3.Connection | None = None

    def _describe(self, error: BaseException) -> str:
        return why(error) if isinstance(error, sqlite3.Error) else str(error)

    def _renew_once(self) -> Lease | None:
        if self._db is None:
            self._db = sqlite3.connect(self._path, timeout=2, isolation_level=None)
        self._renew(self._db)
        return self._lost

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()

    def _renew(self, db: sqlite3.Connection) -> None:
        host, pid = socket.gethostname(), os.getpid()
        now = time.time()
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute(
                "SELECT owner, host, pid, expires FROM leases WHERE run_id = ?", (self._run_id,)
            ).fetchone()
            if row is not None:
                holder = Lease(row[0], row[1], row[2], row[3])
                if held_by_another(holder, now):
                    self._lost = holder
                    db.execute("ROLLBACK")
                    return
            db.execute(TAKE_LEASE, (self._run_id, self._owner, host, pid, now + self._ttl))
        except BaseException:
            with suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
