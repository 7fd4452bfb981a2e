"""A run's event journal and its blobs (sandbox world snapshots) in the state file.

Events are appended, never changed: their ids order them and a follower reads those after
the last it saw. A row that does not decode raises :class:`~b2tui.ports.StoreError`
naming the run.
"""

from __future__ import annotations

import json
from typing import Any

from b2tui.adapters.store.sqlite.connection import StateFile
from b2tui.domain.events import Event, event_from_dict
from b2tui.masking import mask_json


class Events(StateFile):
    """The ``events`` and ``blobs`` tables."""

    def append_event(self, run_id: str, event: Event) -> int:
        d = event.to_dict()
        cur = self._execute(
            "INSERT INTO events (run_id, ts, kind, phase, data) VALUES (?,?,?,?,?)",
            (run_id, d["ts"], d["event"], d["phase"], mask_json(d)),
            f"event of run {run_id}",
        )
        return int(cur.lastrowid or 0)

    def events(self, run_id: str, after: int = 0) -> list[tuple[int, Event]]:
        rows = self._all(
            "SELECT id, data FROM events WHERE run_id = ? AND id > ? ORDER BY id",
            (run_id, after),
            f"events of run {run_id}",
        )
        out = []
        for r in rows:
            try:
                out.append((int(r["id"]), event_from_dict(json.loads(r["data"]))))
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
                raise self._damaged(run_id, f"event {r['id']}", e) from None
        return out

    def put_blob(self, run_id: str, key: str, value: dict[str, Any]) -> None:
        self._execute(
            "INSERT OR REPLACE INTO blobs (run_id, key, value) VALUES (?,?,?)",
            (run_id, key, mask_json(value)),
            f"{key} of run {run_id}",
        )

    def get_blob(self, run_id: str, key: str) -> dict[str, Any] | None:
        row = self._one(
            "SELECT value FROM blobs WHERE run_id = ? AND key = ?",
            (run_id, key),
            f"{key} of run {run_id}",
        )
        if not row:
            return None
        try:
            value = json.loads(row["value"])
        except ValueError as e:
            raise self._damaged(run_id, key, e) from None
        return value if isinstance(value, dict) else None
