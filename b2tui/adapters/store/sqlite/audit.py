"""Sign-offs and the audit log in the state file.

The ``audit`` table is append-only: triggers (see :mod:`.schema`) refuse UPDATE and
DELETE, so what an operator did stays on record. Details are masked before they are
written. Each entry carries the hash of the one before (:mod:`b2tui.adapters.store.chain`):
whoever drops the triggers and edits an entry with ``sqlite3`` breaks the chain there, and
``b2tui audit --verify`` names it.
"""

from __future__ import annotations

from datetime import datetime

from b2tui.adapters.store.chain import GENESIS, canonical, entry_hash
from b2tui.adapters.store.sqlite.connection import StateFile
from b2tui.masking import mask
from b2tui.ports import AuditEntry


class Audit(StateFile):
    """The ``signoffs`` and ``audit`` tables."""

    def sign_off(self, run_id: str, item: str, user: str, run_ts: datetime) -> None:
        self._execute(
            "INSERT OR REPLACE INTO signoffs (run_id, item, user, run_ts, wall_ts)"
            " VALUES (?,?,?,?,?)",
            (run_id, item, user, run_ts.isoformat(), datetime.now().astimezone().isoformat()),
            f"sign-off in run {run_id}",
        )

    def signoffs(self, run_id: str) -> dict[str, tuple[str, datetime]]:
        rows = self._all(
            "SELECT item, user, run_ts FROM signoffs WHERE run_id = ?",
            (run_id,),
            f"sign-offs of run {run_id}",
        )
        try:
            return {r["item"]: (r["user"], datetime.fromisoformat(r["run_ts"])) for r in rows}
        except (ValueError, TypeError) as e:
            raise self._damaged(run_id, "sign-off", e) from None

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
        wall = datetime.now().astimezone().isoformat()
        run_at = run_ts.isoformat() if run_ts else None
        detail = mask(detail)
        body = canonical(run_id, wall, run_at, user, action, detail, accepted)
        with self.transaction():  # the previous hash and this entry: one writer at a time
            row = self._one("SELECT hash FROM audit ORDER BY id DESC LIMIT 1", (), "audit log")
            prev = (row["hash"] if row is not None else "") or GENESIS
            self._execute(
                "INSERT INTO audit (run_id, wall_ts, run_ts, user, action, detail, accepted,"
                " prev, hash) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    wall,
                    run_at,
                    user,
                    action,
                    detail,
                    int(accepted),
                    prev,
                    entry_hash(prev, body),
                ),
                "audit entry",
            )

    def audit_log(self, run_id: str | None = None) -> list[AuditEntry]:
        q = "SELECT * FROM audit"
        args: tuple[str, ...] = ()
        if run_id is not None:
            q, args = q + " WHERE run_id = ?", (run_id,)
        rows = self._all(q + " ORDER BY id", args, "the audit log")
        return [
            AuditEntry(
                r["id"],
                r["run_id"],
                r["wall_ts"],
                r["run_ts"],
                r["user"],
                r["action"],
                r["detail"],
                bool(r["accepted"]),
                r["prev"],
                r["hash"],
            )
            for r in rows
        ]
