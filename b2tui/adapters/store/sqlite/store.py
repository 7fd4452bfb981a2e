"""The SQLite store: the concerns of the state file in one :class:`~b2tui.ports.Store`.

One driver per run, provably: :meth:`SqliteStore.claim_run` takes the active run (or creates
it) and its lease in one ``BEGIN IMMEDIATE`` transaction, and a partial unique index allows
one unfinished run per service, environment and kind.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from b2tui.adapters.store.common import held_by_another, ours, unique_run
from b2tui.adapters.store.sqlite.audit import Audit
from b2tui.adapters.store.sqlite.events import Events
from b2tui.adapters.store.sqlite.lease import Leases
from b2tui.adapters.store.sqlite.runs import Runs, kind
from b2tui.ports import Claim, RunRecord


class SqliteStore(Runs, Events, Audit, Leases):
    """The SQLite store. Open with a path; ``":memory:"`` for tests.

    Raises:
        StoreError: the file cannot be opened, is not b2tui's, is newer than this b2tui,
            is read-only, or its schema is damaged — one line naming the file.
    """

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
        with self.transaction():
            row = self._one(
                "SELECT * FROM runs WHERE outcome IS NULL AND service = ?"
                " AND environment = ? AND kind = ? ORDER BY started_at DESC, rowid DESC"
                " LIMIT 1",
                (service, environment, kind(sandbox)),
                "the active run",
            )
            now = time.time()
            created = False
            if row is not None:
                rec = self._record(row)
            elif new is None:
                return Claim(None, False)
            else:
                rec = unique_run(new, self._taken)
                self._write(lambda: self._insert_run(rec), f"run {rec.id}")
                created = True
            current = self.lease(rec.id)
            if current is not None and held_by_another(current, now):
                return Claim(rec, False, holder=current)
            previous = current if current is not None and not ours(current) else None
            self._write_lease(rec.id, owner, now + ttl)
        return Claim(rec, True, created=created, previous=previous)

    def follow(self, run_id: str, on_change: Callable[[], None]) -> Callable[[], None] | None:
        """A local file cannot push changes: followers read it on a timer."""
        return None
