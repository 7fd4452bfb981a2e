"""SQLite store (WAL): runs, events, sign-offs, the audit log and the driver lease.

One file under the XDG state dir (``$XDG_STATE_HOME/b2tui/b2tui.db``) or ``--state PATH``.
WAL lets a watcher read while the driver writes; ``synchronous=NORMAL`` keeps commits
cheap (no fsync per event) while a crash still loses nothing committed before it — a killed
process resumes from the last checkpoint. The audit table refuses UPDATE and DELETE.

Calls are synchronous and short (single-row inserts on a local file); the engine makes
them from the event loop by design, so an event is durable before anyone sees it.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from b2tui.domain.events import Event, event_from_dict
from b2tui.masking import mask, mask_data
from b2tui.ports import AuditEntry, Lease, RunRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    service TEXT NOT NULL,
    environment TEXT NOT NULL,
    strategy TEXT NOT NULL,
    version TEXT NOT NULL,
    image TEXT NOT NULL,
    emergency INTEGER NOT NULL DEFAULT 0,
    params TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL DEFAULT '{}',
    clock TEXT,
    started_at TEXT NOT NULL,
    commit_at TEXT,
    finished_at TEXT,
    outcome TEXT,
    reason TEXT,
    created_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL REFERENCES runs(id),
    ts TEXT NOT NULL,
    kind TEXT NOT NULL,
    phase TEXT,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_run ON events(run_id, id);
CREATE TABLE IF NOT EXISTS signoffs (
    run_id TEXT NOT NULL,
    item TEXT NOT NULL,
    user TEXT NOT NULL,
    run_ts TEXT NOT NULL,
    wall_ts TEXT NOT NULL,
    PRIMARY KEY (run_id, item)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT,
    wall_ts TEXT NOT NULL,
    run_ts TEXT,
    user TEXT NOT NULL,
    action TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    accepted INTEGER NOT NULL DEFAULT 1
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE IF NOT EXISTS leases (
    run_id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS blobs (
    run_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);
"""


def _json(value: Any) -> str:
    """The JSON of a column, masked: nothing secret reaches the state file."""
    return json.dumps(mask_data(value))


class StoreError(Exception):
    """The state file cannot be opened or written; the message says which and why."""


def default_state_path() -> Path:
    """``$XDG_STATE_HOME/b2tui/b2tui.db`` (``~/.local/state/b2tui/b2tui.db``)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(base) / "b2tui" / "b2tui.db"


def current_user() -> str:
    """``user@host`` of this process, for the audit log and the lease."""
    user = os.environ.get("B2TUI_USER") or os.environ.get("USER") or os.environ.get("LOGNAME")
    if not user:
        try:
            import pwd

            user = pwd.getpwuid(os.getuid()).pw_name
        except (ImportError, KeyError):
            user = "unknown"
    return f"{user}@{socket.gethostname()}"


def _dt(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s) if s else None


class Store:
    """The SQLite store. Open with a path; ``":memory:"`` for tests."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            try:
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(
                    f"cannot create state directory for {self.path}: {e.strerror}"
                ) from None
        try:
            self._db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)
        except sqlite3.DatabaseError as e:
            raise StoreError(f"cannot open state file {self.path}: {e}") from None

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")

    # --- runs --------------------------------------------------------------------------

    def create_run(self, rec: RunRecord) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO runs (id, service, environment, strategy, version, image, emergency,"
                " params, state, clock, started_at, commit_at, created_by)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    rec.id,
                    rec.service,
                    rec.environment,
                    rec.strategy,
                    rec.version,
                    rec.image,
                    int(rec.emergency),
                    _json(rec.params),
                    _json(rec.state),
                    rec.clock.isoformat() if rec.clock else None,
                    rec.started_at.isoformat(),
                    rec.commit_at.isoformat() if rec.commit_at else None,
                    rec.created_by,
                ),
            )

    def save_state(self, run_id: str, state: dict[str, Any], clock: datetime) -> None:
        self._db.execute(
            "UPDATE runs SET state = ?, clock = ? WHERE id = ?",
            (_json(state), clock.isoformat(), run_id),
        )

    def finish_run(self, run_id: str, outcome: str, reason: str, at: datetime) -> None:
        self._db.execute(
            "UPDATE runs SET outcome = ?, reason = ?, finished_at = ?, clock = ? WHERE id = ?",
            (outcome, mask(reason), at.isoformat(), at.isoformat(), run_id),
        )

    def _record(self, row: sqlite3.Row) -> RunRecord:
        started = _dt(row["started_at"])
        assert started is not None
        return RunRecord(
            id=row["id"],
            service=row["service"],
            environment=row["environment"],
            strategy=row["strategy"],
            version=row["version"],
            image=row["image"],
            emergency=bool(row["emergency"]),
            params=json.loads(row["params"]),
            state=json.loads(row["state"]),
            clock=_dt(row["clock"]),
            started_at=started,
            commit_at=_dt(row["commit_at"]),
            finished_at=_dt(row["finished_at"]),
            outcome=row["outcome"],
            reason=row["reason"],
            created_by=row["created_by"],
        )

    def get_run(self, run_id: str) -> RunRecord | None:
        row = self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return self._record(row) if row else None

    def unfinished_run(self, service: str | None = None) -> RunRecord | None:
        """The newest run without an outcome (for ``service`` if given)."""
        q = "SELECT * FROM runs WHERE outcome IS NULL"
        args: tuple[Any, ...] = ()
        if service:
            q += " AND service = ?"
            args = (service,)
        row = self._db.execute(q + " ORDER BY started_at DESC, rowid DESC LIMIT 1", args).fetchone()
        return self._record(row) if row else None

    def runs(self, limit: int = 100) -> list[RunRecord]:
        rows = self._db.execute(
            "SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?", (limit,)
        ).fetchall()
        return [self._record(r) for r in rows]

    def last_known_good(self, service: str, environment: str) -> dict[str, Any] | None:
        """Rollback target recorded by the newest run of ``service`` to ``environment``."""
        rows = self._db.execute(
            "SELECT state FROM runs WHERE service = ? AND environment = ?"
            " ORDER BY started_at DESC, rowid DESC LIMIT 1",
            (service, environment),
        ).fetchall()
        for r in rows:
            kg = json.loads(r["state"]).get("known_good")
            if kg:
                return dict(kg)
        return None

    def last_time(self, run_id: str) -> datetime | None:
        """Newest run-clock time recorded for a run (its state or its last event)."""
        row = self._db.execute(
            "SELECT max(ts) AS t FROM events WHERE run_id = ?", (run_id,)
        ).fetchone()
        rec = self.get_run(run_id)
        times = [t for t in (_dt(row["t"]) if row else None, rec.clock if rec else None) if t]
        return max(times) if times else None

    # --- events ------------------------------------------------------------------------

    def append_event(self, run_id: str, event: Event) -> int:
        d = event.to_dict()
        cur = self._db.execute(
            "INSERT INTO events (run_id, ts, kind, phase, data) VALUES (?,?,?,?,?)",
            (run_id, d["ts"], d["event"], d["phase"], _json(d)),
        )
        return int(cur.lastrowid or 0)

    def events(self, run_id: str, after: int = 0) -> list[tuple[int, Event]]:
        rows = self._db.execute(
            "SELECT id, data FROM events WHERE run_id = ? AND id > ? ORDER BY id",
            (run_id, after),
        ).fetchall()
        return [(int(r["id"]), event_from_dict(json.loads(r["data"]))) for r in rows]

    # --- sign-offs and audit -----------------------------------------------------------

    def sign_off(self, run_id: str, item: str, user: str, run_ts: datetime) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO signoffs (run_id, item, user, run_ts, wall_ts)"
            " VALUES (?,?,?,?,?)",
            (run_id, item, user, run_ts.isoformat(), datetime.now().astimezone().isoformat()),
        )

    def signoffs(self, run_id: str) -> dict[str, tuple[str, datetime]]:
        rows = self._db.execute(
            "SELECT item, user, run_ts FROM signoffs WHERE run_id = ?", (run_id,)
        ).fetchall()
        return {r["item"]: (r["user"], datetime.fromisoformat(r["run_ts"])) for r in rows}

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
        self._db.execute(
            "INSERT INTO audit (run_id, wall_ts, run_ts, user, action, detail, accepted)"
            " VALUES (?,?,?,?,?,?,?)",
            (
                run_id,
                datetime.now().astimezone().isoformat(),
                run_ts.isoformat() if run_ts else None,
                user,
                action,
                mask(detail),
                int(accepted),
            ),
        )

    def audit_log(self, run_id: str | None = None) -> list[AuditEntry]:
        q = "SELECT * FROM audit"
        args: tuple[str, ...] = ()
        if run_id is not None:
            q, args = q + " WHERE run_id = ?", (run_id,)
        rows = self._db.execute(q + " ORDER BY id", args).fetchall()
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
            )
            for r in rows
        ]

    # --- blobs (sandbox world snapshots) -----------------------------------------------

    def put_blob(self, run_id: str, key: str, value: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO blobs (run_id, key, value) VALUES (?,?,?)",
            (run_id, key, _json(value)),
        )

    def get_blob(self, run_id: str, key: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT value FROM blobs WHERE run_id = ? AND key = ?", (run_id, key)
        ).fetchone()
        return json.loads(row["value"]) if row else None

    # --- lease -------------------------------------------------------------------------

    def acquire_lease(self, run_id: str, owner: str, ttl: float) -> tuple[bool, Lease | None]:
        """Take or renew the driver lease; returns (won, current holder).

        A lease is free when absent, expired, ours, or held by a dead process on this
        host (a SIGKILLed driver need not wait out its lease).
        """
        host, pid = socket.gethostname(), os.getpid()
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT * FROM leases WHERE run_id = ?", (run_id,)).fetchone()
            if row is not None:
                holder = Lease(row["owner"], row["host"], row["pid"], row["expires"])
                if _held_by_another(holder, now):
                    return False, holder
            db.execute(
                "INSERT OR REPLACE INTO leases (run_id, owner, host, pid, expires)"
                " VALUES (?,?,?,?,?)",
                (run_id, owner, host, pid, now + ttl),
            )
        return True, Lease(owner, host, pid, now + ttl)

    def lease(self, run_id: str) -> Lease | None:
        row = self._db.execute("SELECT * FROM leases WHERE run_id = ?", (run_id,)).fetchone()
        return Lease(row["owner"], row["host"], row["pid"], row["expires"]) if row else None

    def driver(self, run_id: str) -> Lease | None:
        """The lease of another live process driving ``run_id``, or None if it is free."""
        lease = self.lease(run_id)
        return lease if lease is not None and _held_by_another(lease, time.time()) else None

    def release_lease(self, run_id: str) -> None:
        self._db.execute(
            "DELETE FROM leases WHERE run_id = ? AND host = ? AND pid = ?",
            (run_id, socket.gethostname(), os.getpid()),
        )


def _held_by_another(lease: Lease, now: float) -> bool:
    """True unless the lease is expired, ours, or its process on this host is dead."""
    host = socket.gethostname()
    if lease.expires <= now:
        return False
    if lease.host == host and lease.pid == os.getpid():
        return False
    return not (lease.host == host and not _pid_alive(lease.pid))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (killed, not yet reaped by its parent) is not a live driver.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True
