"""SQLite store (WAL): runs, events, sign-offs, the audit log and the driver lease.

One file under the XDG state dir (``$XDG_STATE_HOME/b2tui/b2tui.db``) or ``--state PATH``.
WAL lets a watcher read while the driver writes; ``synchronous=NORMAL`` keeps commits
cheap (no fsync per event) while a crash still loses nothing committed before it — a killed
process resumes from the last checkpoint. The audit table refuses UPDATE and DELETE.

The file is b2tui's: ``PRAGMA application_id`` marks it and ``user_version`` is its schema
version, upgraded by the migrations below. Another application's file, or one from a newer
b2tui, is refused rather than written into. A damaged row or schema raises
:class:`~b2tui.ports.StoreError` naming the file and the run; a failed write raises
:class:`~b2tui.ports.StoreWriteFailed` and leaves nothing half-written.

One driver per run, provably: :meth:`SqliteStore.claim_run` takes the active run (or creates
it) and its lease in one ``BEGIN IMMEDIATE`` transaction, and a partial unique index allows
one unfinished run per service, environment and kind.

Calls are synchronous and short (single-row inserts on a local file); the engine makes
them from the event loop by design, so an event is durable before anyone sees it. Only
the lease is renewed from a thread of its own (:meth:`SqliteStore.keep_lease`), so a busy
event loop cannot lose it.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from b2tui.adapters.lease_keeper import LeaseKeeper
from b2tui.adapters.store.common import held_by_another, known_good, other_driver, ours, unique_run
from b2tui.domain.events import Event, event_from_dict
from b2tui.masking import mask, mask_json
from b2tui.ports import AuditEntry, Claim, Lease, RunRecord, StoreError, StoreWriteFailed

T = TypeVar("T")

APPLICATION_ID = 0x62327475
"""``PRAGMA application_id`` of a b2tui state file ("b2tu")."""

SCHEMA_V1 = """
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

SCHEMA_V2 = """
ALTER TABLE runs ADD COLUMN kind TEXT NOT NULL DEFAULT 'real';
UPDATE runs SET kind = 'sandbox'
    WHERE json_valid(params) AND json_extract(params, '$.sandbox') IS 1;
UPDATE runs SET outcome = 'aborted', finished_at = coalesce(clock, started_at),
    reason = 'superseded by a newer unfinished run of the same service and environment'
    WHERE outcome IS NULL AND EXISTS (
        SELECT 1 FROM runs AS newer
        WHERE newer.outcome IS NULL AND newer.service = runs.service
          AND newer.environment = runs.environment AND newer.kind = runs.kind
          AND (newer.started_at > runs.started_at
               OR (newer.started_at = runs.started_at AND newer.rowid > runs.rowid)));
CREATE UNIQUE INDEX runs_active ON runs(service, environment, kind) WHERE outcome IS NULL;
"""

MIGRATIONS: dict[int, str] = {1: SCHEMA_V1, 2: SCHEMA_V2}
"""Schema version → the script that upgrades the previous version to it."""

SCHEMA_VERSION = max(MIGRATIONS)
"""The schema this b2tui writes (``PRAGMA user_version``)."""

COLUMNS: dict[str, set[str]] = {
    "runs": {
        "id",
        "service",
        "environment",
        "strategy",
        "version",
        "image",
        "emergency",
        "params",
        "state",
        "clock",
        "started_at",
        "commit_at",
        "finished_at",
        "outcome",
        "reason",
        "created_by",
        "kind",
    },
    "events": {"id", "run_id", "ts", "kind", "phase", "data"},
    "signoffs": {"run_id", "item", "user", "run_ts", "wall_ts"},
    "audit": {"id", "run_id", "wall_ts", "run_ts", "user", "action", "detail", "accepted"},
    "leases": {"run_id", "owner", "host", "pid", "expires"},
    "blobs": {"run_id", "key", "value"},
}
"""What every table must have; a file without them is damaged, not b2tui's to guess at."""


def _json(value: Any) -> str:
    """The JSON of a column, masked: nothing secret reaches the state file."""
    return mask_json(value)


# The kube store still imports it from here: drop once it imports common.held_by_another.
_held_by_another = held_by_another

FIX = "move it aside or pass another --state PATH"


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


def _why(e: BaseException) -> str:
    """The error's text on one printable line (never raw bytes from a damaged page)."""
    text = " ".join(str(e).split()) or type(e).__name__
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= 160 else text[:157] + "..."


class SqliteStore:
    """The SQLite store. Open with a path; ``":memory:"`` for tests.

    Raises:
        StoreError: the file cannot be opened, is not b2tui's, is newer than this b2tui,
            is read-only, or its schema is damaged — one line naming the file.
    """

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False) -> None:
        self.path = str(path)
        self.read_only = read_only
        self._depth = 0
        target: str = self.path
        uri = False
        if self.path != ":memory:":
            file = Path(self.path)
            if read_only and file.is_file() and not os.access(file, os.W_OK):
                # Reading needs no lock on a file nobody can write (immutable, ro mount).
                target, uri = f"{file.resolve().as_uri()}?mode=ro&immutable=1", True
            elif not read_only:
                self._check_writable(file)
            try:
                if not file.exists():
                    file.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(
                    f"cannot create state directory for {self.path}: {e.strerror}"
                ) from None
            if file.is_dir():
                raise StoreError(f"state file {self.path} is a directory; pass a file --state PATH")
        try:
            self._db = sqlite3.connect(target, timeout=10, isolation_level=None, uri=uri)
        except sqlite3.Error as e:
            raise StoreError(f"cannot open state file {self.path}: {_why(e)}; {FIX}") from None
        self._db.row_factory = sqlite3.Row
        try:
            self._open()
        except StoreError:
            self._db.close()
            raise
        except sqlite3.Error as e:
            self._db.close()
            raise StoreError(self._open_problem(e)) from None

    def _check_writable(self, file: Path) -> None:
        """A driver must be able to write: say so now, not at the first event."""
        how = "make it writable (chmod, chattr -i, remount) or pass another --state PATH"
        if file.is_file() and not os.access(file, os.W_OK):
            raise StoreError(f"state file {self.path} is read-only: {how}")
        folder = file.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
            raise StoreError(
                f"state file {self.path}: directory {folder} is read-only (SQLite writes its"
                f" journal next to the file): {how}"
            )

    def _open_problem(self, e: sqlite3.Error) -> str:
        why = _why(e)
        if "readonly" in why or "read-only" in why:
            return (
                f"state file {self.path} is read-only ({why}): make it writable"
                " (chmod, chattr -i, remount) or pass another --state PATH"
            )
        if "not a database" in why:
            return f"state file {self.path} is not a SQLite database ({why}); {FIX}"
        if "malformed" in why:
            return f"state file {self.path} is damaged ({why}); {FIX}"
        return f"cannot open state file {self.path}: {why}; {FIX}"

    @property
    def location(self) -> str:
        return self.path

    def _open(self) -> None:
        db = self._db
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        self._refuse_foreign(app_id, version)
        if self.read_only and app_id == APPLICATION_ID and version == SCHEMA_VERSION:
            self._check_columns()
            return
        for attempt in range(50):
            try:
                db.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as e:  # another process is creating the file
                if "locked" not in str(e) or attempt == 49:
                    raise
                time.sleep(0.05)
        db.execute("PRAGMA synchronous=NORMAL")
        # Give the WAL back after each checkpoint: it stays small, and a full disk shows
        # at the next write instead of whenever the reused WAL runs out.
        db.execute("PRAGMA journal_size_limit=0")
        db.execute("PRAGMA foreign_keys=ON")
        if version != SCHEMA_VERSION or app_id != APPLICATION_ID:
            self._migrate()
        else:
            # Writes must be possible before a run depends on them (read-only file, mount):
            # writing page 1 in a transaction that is then undone proves it.
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            finally:
                db.execute("ROLLBACK")
        self._check_columns()

    def _tables(self) -> set[str]:
        rows = self._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        ).fetchall()
        return {r[0] for r in rows}

    def _refuse_foreign(self, app_id: int, version: int) -> None:
        if app_id not in (0, APPLICATION_ID):
            raise StoreError(
                f"state file {self.path} belongs to another application"
                f" (application_id {app_id:#x}); b2tui will not write into it;"
                " pass another --state PATH"
            )
        tables = self._tables()
        if app_id == 0 and tables and not tables <= set(COLUMNS):
            other = ", ".join(sorted(tables - set(COLUMNS))[:4])
            raise StoreError(
                f"state file {self.path} is not b2tui's (it holds tables {other});"
                " b2tui will not write into it; pass another --state PATH"
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"state file {self.path} has schema {version}, newer than this b2tui knows"
                f" ({SCHEMA_VERSION}): upgrade b2tui, or pass another --state PATH"
            )

    def _migrate(self) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            # Read again under the write lock: another process may have migrated meanwhile.
            app_id = db.execute("PRAGMA application_id").fetchone()[0]
            version = db.execute("PRAGMA user_version").fetchone()[0]
            self._refuse_foreign(app_id, version)
            # A file from before versioning holds only b2tui's tables: it is version 1.
            start = 1 if app_id == 0 and version == 0 and self._tables() else version
            for n in sorted(MIGRATIONS):
                if n > start or (n == 1 and start == 1 and version == 0):
                    for statement in _statements(MIGRATIONS[n]):
                        db.execute(statement)
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            with suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def _check_columns(self) -> None:
        for table, wanted in COLUMNS.items():
            have = {r[1] for r in self._db.execute(f"PRAGMA table_info({table})").fetchall()}
            if not have:
                raise StoreError(
                    f"state file {self.path} is damaged: table {table} is missing; {FIX}"
                )
            missing = sorted(wanted - have)
            if missing:
                raise StoreError(
                    f"state file {self.path} is damaged: table {table} has no column"
                    f" {', '.join(missing)}; {FIX}"
                )

    def close(self) -> None:
        self._db.close()

    # --- guarded access ----------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes: all of them happen, or none (nested calls join the outer one)."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._write(lambda: self._db.execute("BEGIN IMMEDIATE"), "begin a transaction")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._depth = 0
            with suppress(sqlite3.Error):  # SQLite may have rolled back already (disk full)
                self._db.execute("ROLLBACK")
            raise
        self._depth = 0
        try:
            self._db.execute("COMMIT")
        except sqlite3.Error as e:
            with suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise StoreWriteFailed(f"cannot save to state file {self.path}: {_why(e)}") from None

    def _write(self, fn: Callable[[], T], what: str) -> T:
        try:
            return fn()
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as e:
            raise StoreWriteFailed(
                f"cannot save to state file {self.path} ({what}): {_why(e)}"
            ) from None

    def _read(self, fn: Callable[[], T], what: str) -> T:
        try:
            return fn()
        except sqlite3.Error as e:
            raise StoreError(
                f"state file {self.path}: cannot read {what}: {_why(e)}; {FIX}"
            ) from None

    def _damaged(self, run_id: str, what: str, e: BaseException) -> StoreError:
        return StoreError(
            f"state file {self.path}: run {run_id}: damaged {what} ({_why(e)}); {FIX}"
        )

    # --- runs --------------------------------------------------------------------------

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
                _json(rec.params),
                _json(rec.state),
                rec.clock.isoformat() if rec.clock else None,
                rec.started_at.isoformat(),
                rec.commit_at.isoformat() if rec.commit_at else None,
                rec.created_by,
                _kind(bool(rec.params.get("sandbox"))),
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
                f"state file {self.path}: cannot record run {rec.id}: {_why(e)}"
            ) from None

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
        host, pid = socket.gethostname(), os.getpid()
        with self.transaction():
            row = self._read(
                lambda: self._db.execute(
                    "SELECT * FROM runs WHERE outcome IS NULL AND service = ?"
                    " AND environment = ? AND kind = ? ORDER BY started_at DESC, rowid DESC"
                    " LIMIT 1",
                    (service, environment, _kind(sandbox)),
                ).fetchone(),
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
            self._write(
                lambda: self._db.execute(
                    "INSERT OR REPLACE INTO leases (run_id, owner, host, pid, expires)"
                    " VALUES (?,?,?,?,?)",
                    (rec.id, owner, host, pid, now + ttl),
                ),
                f"lease of run {rec.id}",
            )
        return Claim(rec, True, created=created, previous=previous)

    def _taken(self, run_id: str) -> bool:
        """True if a run already has this id."""
        return bool(self._db.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone())

    def save_state(self, run_id: str, state: dict[str, Any], clock: datetime) -> None:
        self._write(
            lambda: self._db.execute(
                "UPDATE runs SET state = ?, clock = ? WHERE id = ?",
                (_json(state), clock.isoformat(), run_id),
            ),
            f"state of run {run_id}",
        )

    def finish_run(self, run_id: str, outcome: str, reason: str, at: datetime) -> None:
        self._write(
            lambda: self._db.execute(
                "UPDATE runs SET outcome = ?, reason = ?, finished_at = ?, clock = ? WHERE id = ?",
                (outcome, mask(reason), at.isoformat(), at.isoformat(), run_id),
            ),
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
        row = self._read(
            lambda: self._db.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone(),
            f"run {run_id}",
        )
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
            args.append(_kind(sandbox))
        row = self._read(
            lambda: self._db.execute(
                q + " ORDER BY started_at DESC, rowid DESC LIMIT 1", args
            ).fetchone(),
            "the unfinished run",
        )
        return self._record(row) if row else None

    def runs(self, limit: int = 100) -> list[RunRecord]:
        rows = self._read(
            lambda: self._db.execute(
                "SELECT * FROM runs ORDER BY started_at DESC, rowid DESC LIMIT ?", (limit,)
            ).fetchall(),
            "runs",
        )
        return [self._record(r) for r in rows]

    def last_known_good(self, service: str, environment: str) -> dict[str, Any] | None:
        """Rollback target recorded by the newest run of ``service`` to ``environment``."""
        row = self._read(
            lambda: self._db.execute(
                "SELECT * FROM runs WHERE service = ? AND environment = ?"
                " ORDER BY started_at DESC, rowid DESC LIMIT 1",
                (service, environment),
            ).fetchone(),
            "runs",
        )
        return known_good(self._record(row) if row else None)

    def last_time(self, run_id: str) -> datetime | None:
        """Newest run-clock time recorded for a run (its state or its last event)."""
        row = self._read(
            lambda: self._db.execute(
                "SELECT max(ts) AS t FROM events WHERE run_id = ?", (run_id,)
            ).fetchone(),
            f"events of run {run_id}",
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

    # --- events ------------------------------------------------------------------------

    def append_event(self, run_id: str, event: Event) -> int:
        d = event.to_dict()
        cur = self._write(
            lambda: self._db.execute(
                "INSERT INTO events (run_id, ts, kind, phase, data) VALUES (?,?,?,?,?)",
                (run_id, d["ts"], d["event"], d["phase"], _json(d)),
            ),
            f"event of run {run_id}",
        )
        return int(cur.lastrowid or 0)

    def events(self, run_id: str, after: int = 0) -> list[tuple[int, Event]]:
        rows = self._read(
            lambda: self._db.execute(
                "SELECT id, data FROM events WHERE run_id = ? AND id > ? ORDER BY id",
                (run_id, after),
            ).fetchall(),
            f"events of run {run_id}",
        )
        out = []
        for r in rows:
            try:
                out.append((int(r["id"]), event_from_dict(json.loads(r["data"]))))
            except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
                raise self._damaged(run_id, f"event {r['id']}", e) from None
        return out

    # --- sign-offs and audit -----------------------------------------------------------

    def sign_off(self, run_id: str, item: str, user: str, run_ts: datetime) -> None:
        self._write(
            lambda: self._db.execute(
                "INSERT OR REPLACE INTO signoffs (run_id, item, user, run_ts, wall_ts)"
                " VALUES (?,?,?,?,?)",
                (
                    run_id,
                    item,
                    user,
                    run_ts.isoformat(),
                    datetime.now().astimezone().isoformat(),
                ),
            ),
            f"sign-off in run {run_id}",
        )

    def signoffs(self, run_id: str) -> dict[str, tuple[str, datetime]]:
        rows = self._read(
            lambda: self._db.execute(
                "SELECT item, user, run_ts FROM signoffs WHERE run_id = ?", (run_id,)
            ).fetchall(),
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
        self._write(
            lambda: self._db.execute(
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
            ),
            "audit entry",
        )

    def audit_log(self, run_id: str | None = None) -> list[AuditEntry]:
        q = "SELECT * FROM audit"
        args: tuple[str, ...] = ()
        if run_id is not None:
            q, args = q + " WHERE run_id = ?", (run_id,)
        rows = self._read(
            lambda: self._db.execute(q + " ORDER BY id", args).fetchall(), "the audit log"
        )
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
        self._write(
            lambda: self._db.execute(
                "INSERT OR REPLACE INTO blobs (run_id, key, value) VALUES (?,?,?)",
                (run_id, key, _json(value)),
            ),
            f"{key} of run {run_id}",
        )

    def get_blob(self, run_id: str, key: str) -> dict[str, Any] | None:
        row = self._read(
            lambda: self._db.execute(
                "SELECT value FROM blobs WHERE run_id = ? AND key = ?", (run_id, key)
            ).fetchone(),
            f"{key} of run {run_id}",
        )
        if not row:
            return None
        try:
            value = json.loads(row["value"])
        except ValueError as e:
            raise self._damaged(run_id, key, e) from None
        return value if isinstance(value, dict) else None

    # --- lease -------------------------------------------------------------------------

    def acquire_lease(self, run_id: str, owner: str, ttl: float) -> tuple[bool, Lease | None]:
        """Take or renew the driver lease; returns (won, current holder).

        A lease is free when absent, expired, ours, or held by a dead process on this
        host (a SIGKILLed driver need not wait out its lease).
        """
        host, pid = socket.gethostname(), os.getpid()
        now = time.time()
        with self.transaction():
            holder = self.lease(run_id)
            if holder is not None and held_by_another(holder, now):
                return False, holder
            self._write(
                lambda: self._db.execute(
                    "INSERT OR REPLACE INTO leases (run_id, owner, host, pid, expires)"
                    " VALUES (?,?,?,?,?)",
                    (run_id, owner, host, pid, now + ttl),
                ),
                f"lease of run {run_id}",
            )
        return True, Lease(owner, host, pid, now + ttl)

    def keep_lease(self, run_id: str, owner: str, ttl: float) -> _LeaseKeeper:
        keeper = _LeaseKeeper(self.path, run_id, owner, ttl)
        if self.path != ":memory:":  # a second connection cannot see a memory database
            keeper.start()
        return keeper

    def lease(self, run_id: str) -> Lease | None:
        row = self._read(
            lambda: self._db.execute("SELECT * FROM leases WHERE run_id = ?", (run_id,)).fetchone(),
            f"lease of run {run_id}",
        )
        return Lease(row["owner"], row["host"], row["pid"], row["expires"]) if row else None

    def driver(self, run_id: str) -> Lease | None:
        return other_driver(self.lease(run_id))

    def follow(self, run_id: str, on_change: Callable[[], None]) -> Callable[[], None] | None:
        """A local file cannot push changes: followers read it on a timer."""
        return None

    def release_lease(self, run_id: str) -> None:
        self._write(
            lambda: self._db.execute(
                "DELETE FROM leases WHERE run_id = ? AND host = ? AND pid = ?",
                (run_id, socket.gethostname(), os.getpid()),
            ),
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
        return _why(error) if isinstance(error, sqlite3.Error) else str(error)

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
            db.execute(
                "INSERT OR REPLACE INTO leases (run_id, owner, host, pid, expires)"
                " VALUES (?,?,?,?,?)",
                (self._run_id, self._owner, host, pid, now + self._ttl),
            )
        except BaseException:
            with suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")


def _kind(sandbox: bool) -> str:
    return "sandbox" if sandbox else "real"


def _statements(script: str) -> list[str]:
    """Split a migration script into statements (triggers keep their inner ``;``)."""
    out: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    return out
