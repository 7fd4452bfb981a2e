"""Run rows of the state file: recording runs, their state and outcome, and reading them back.

A partial unique index (:mod:`.schema`) allows one unfinished run per service, environment and
kind; a row that does not decode raises :class:`~b2tui.ports.StoreError` naming the run and
the column. The history reads (``runs``, ``last_known_good``, ``last_time``) serve the
one-shot commands.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from b2tui.adapters.store.common import known_good
from b2tui.adapters.store.sqlite.connection import StateFile, why
from b2tui.masking import mask, mask_json
from b2tui.ports import RunRecord, StoreError

T = TypeVar("T")


def kind(sandbox: bool) -> str:
    """The ``runs.kind`` of a sandbox or a real run."""
    return "sandbox" if sandbox else "real"


class Runs(StateFile):
    """The ``runs`` table."""

    def _insert_run(self, rec: RunRecord) -> None:
        self._db.execute(
            "INSERT INTO runs (id, service, environment, strategy, version, image, emergency,"
            " params, state, clock, started_at, commit_at, created_by, kind)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                rec.id,
                rec.service,
                rec.environment,
                rec.strategy,
                rec.version,
                rec.image,
                int(rec.emergency),
                mask_json(rec.params),
                mask_json(rec.state),
                rec.clock.isoformat() if rec.clock else None,
                rec.started_at.isoformat(),
                rec.commit_at.isoformat() if rec.commit_at else None,
                rec.created_by,
                kind(bool(rec.params.get("sandbox"))),
            ),
        )

    def create_run(self, rec: RunRecord) -> None:
        """Insert a run as is (no lease). Raises StoreError if its service and environment
        already have an unfinished run: use :meth:`claim_run` to start runs."""
        try:
            with self.transaction():
                self._write(lambda: self._insert_run(rec), f"run {rec.id}")
        except sqlite3.IntegrityError as e:
            raise StoreError(
                f"state file {self.path}: cannot record run {rec.id}: {why(e)}"
            ) from None

    def _taken(self, run_id: str) -> bool:
        """True if a run already has this id."""
        return bool(self._db.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone())

    def save_state(self, run_id: str, state: dict[str, Any], clock: datetime) -> None:
        self._execute(
            "UPDATE runs SET state = ?, clock = ? WHERE id = ?",
            (mask_json(state), clock.isoformat(), run_id),
            f"state of run {run_id}",
        )

    def finish_run(self, run_id: str, outcome: str, reason: str, at: datetime) -> None:
        self._execute(
            "UPDATE runs SET outcome = ?, reason = ?, finished_at = ?, clock = ? WHERE id = ?",
            (outcome, mask(reason), at.isoformat(), at.isoformat(), run_id),
            f"outcome of run {run_id}",
        )

    def _record(self, row: sqlite3.Row) -> RunRecord:
        run_id = str(row["id"])

        def field(name: str, decode: Callable[[Any], T]) -> T:
            try:
                return decode(row[name])
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
                raise self._damaged(run_id, f"column {name}", e) from None

        def obj(text: Any) -> dict[str, Any]:
            value = json.loads(text)
            if not isinstance(value, dict):
                raise ValueError(f"expected a JSON object, got {type(value).__name__}")
            return value

        def when(text: Any) -> datetime | None:
            return datetime.fromisoformat(text) if text else None

        def must(text: Any) -> datetime:
            value = when(text)
            if value is None:
                raise ValueError("empty")
            return value

        return RunRecord(
            id=run_id,
            service=field("service", str),
            environment=field("environment", str),
            strategy=field("strategy", str),
            version=field("version", str),
            image=field("image", str),
            emergency=field("emergency", bool),
            params=field("params", obj),
            state=field("state", obj),
            clock=field("clock", when),
            started_at=field("started_at", must),
            commit_at=field("commit_at", when),
            finished_at=field("finished_at", when),
            outcome=row["outcome"],
            reason=row["reason"],
            created_by=field("created_by", str),
        )

    def get_run(self, run_id: str) -> RunRecord | None:
        row = self._one("SELECT * FROM runs WHERE id = ?", (run_id,), f"run {run_id}")
        return self._record(row) if row else None

    def unfinished_run(
        self, service: str | None = None, *, sandbox: bool | None = None
    ) -> RunRecord | None:
        """The newest run without an outcome (for ``service`` and kind if given)."""
        q = "SELECT * FROM runs WHERE outcome IS NULL"
        args: list[Any] = []
        if service:
            q += " AND service = ?"
            args.append(service)
        if sandbox is not None:
            q += " AND kind = ?"
            args.append(kind(sandbox))
        row = self._one(
            q + " ORDER BY started_at DESC, rowid DESC LIMIT 1", args, "the unfinished run"
        )
        return self._record(row) if row else None

    def runs(self, limit: int = 100) -> list[RunRecord]:
        rows = self._all(
            "SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?", (limit,), "runs"
        )
        return [self._record(r) for r in rows]

    def last_known_good(self, service: str, environment: str) -> dict[str, Any] | None:
        """Rollback target recorded by the newest run of ``service`` to ``environment``."""
        row = self._one(
            "SELECT * FROM runs WHERE service = ? AND environment = ?"
            " ORDER BY started_at DESC, rowid DESC LIMIT 1",
            (service, environment),
            "runs",
        )
        return known_good(self._record(row) if row else None)

    def last_time(self, run_id: str) -> datetime | None:
        """Newest run-clock time recorded for a run (its state or its last event)."""
        row = self._one(
            "SELECT max(ts) AS t FROM events WHERE run_id = ?", (run_id,), f"events of run {run_id}"
        )
        try:
            last = datetime.fromisoformat(row["t"]) if row and row["t"] else None
        except (ValueError, TypeError) as e:
            raise self._damaged(run_id, "event time", e) from None
        rec = self.get_run(run_id)
        times = [t for t in (last, rec.clock if rec else None) if t]
        if len({t.tzinfo is None for t in times}) > 1:
            raise self._damaged(run_id, "event time", ValueError("mixed time zones"))
        return max(times) if times else None
