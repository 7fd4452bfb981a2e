"""The state file's schema: tables, the append-only audit triggers, the migrations.

``PRAGMA application_id`` marks the file as b2tui's and ``user_version`` is its schema
version, upgraded by :data:`MIGRATIONS`. Another application's file, or one from a newer
b2tui, is refused rather than written into; a file missing a table or column is damaged.
"""

from __future__ import annotations

import sqlite3
from contextlib import suppress

from b2tui.ports import StoreError

FIX = "move it aside or pass another --state PATH"
"""How to get past a state file b2tui cannot use (the end of its messages)."""

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

SCHEMA_V3 = """
ALTER TABLE audit ADD COLUMN prev TEXT NOT NULL DEFAULT '';
ALTER TABLE audit ADD COLUMN hash TEXT NOT NULL DEFAULT '';
"""
"""The audit log's hash chain (:mod:`b2tui.adapters.store.chain`); entries from before
keep an empty hash and are reported as such by ``b2tui audit --verify``."""

MIGRATIONS: dict[int, str] = {1: SCHEMA_V1, 2: SCHEMA_V2, 3: SCHEMA_V3}
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
    "audit": {
        "id",
        "run_id",
        "wall_ts",
        "run_ts",
        "user",
        "action",
        "detail",
        "accepted",
        "prev",
        "hash",
    },
    "leases": {"run_id", "owner", "host", "pid", "expires"},
    "blobs": {"run_id", "key", "value"},
}
"""What every table must have; a file without them is damaged, not b2tui's to guess at."""


def refuse_foreign(db: sqlite3.Connection, path: str, app_id: int, version: int) -> None:
    """Raise StoreError unless the file is b2tui's (or empty) and not newer than us."""
    if app_id not in (0, APPLICATION_ID):
        raise StoreError(
            f"state file {path} belongs to another application"
            f" (application_id {app_id:#x}); b2tui will not write into it;"
            " pass another --state PATH"
        )
    tables = _tables(db)
    if app_id == 0 and tables and not tables <= set(COLUMNS):
        other = ", ".join(sorted(tables - set(COLUMNS))[:4])
        raise StoreError(
            f"state file {path} is not b2tui's (it holds tables {other});"
            " b2tui will not write into it; pass another --state PATH"
        )
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"state file {path} has schema {version}, newer than this b2tui knows"
            f" ({SCHEMA_VERSION}): upgrade b2tui, or pass another --state PATH"
        )


def migrate(db: sqlite3.Connection, path: str) -> None:
    """Bring the file to :data:`SCHEMA_VERSION` in one write transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        # Read again under the write lock: another process may have migrated meanwhile.
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        refuse_foreign(db, path, app_id, version)
        # A file from before versioning holds only b2tui's tables: it is version 1.
        start = 1 if app_id == 0 and version == 0 and _tables(db) else version
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


def check_columns(db: sqlite3.Connection, path: str) -> None:
    """Raise StoreError naming the first table that is missing or lacks a column."""
    for table, wanted in COLUMNS.items():
        have = {r[1] for r in db.execute(f"PRAGMA table_info({table})").fetchall()}
        if not have:
            raise StoreError(f"state file {path} is damaged: table {table} is missing; {FIX}")
        missing = sorted(wanted - have)
        if missing:
            raise StoreError(
                f"state file {path} is damaged: table {table} has no column"
                f" {', '.join(missing)}; {FIX}"
            )


def _tables(db: sqlite3.Connection) -> set[str]:
    rows = db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    return {r[0] for r in rows}


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
