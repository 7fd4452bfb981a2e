"""Opening the state file, and guarded access to it: the base of the SQLite store.

WAL lets a watcher read while the driver writes; ``synchronous=NORMAL`` keeps commits
cheap (no fsync per event) while a crash still loses nothing committed before it — a killed
process resumes from the last checkpoint. A file b2tui cannot use raises
:class:`~b2tui.ports.StoreError` in one line naming it; a failed read raises ``StoreError``
naming what was read, a failed write :class:`~b2tui.ports.StoreWriteFailed` (nothing of it
is kept).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from b2tui.adapters.store.sqlite.schema import (
    APPLICATION_ID,
    FIX,
    SCHEMA_VERSION,
    check_columns,
    migrate,
    refuse_foreign,
)
from b2tui.ports import StoreError, StoreWriteFailed

T = TypeVar("T")


def default_state_path() -> Path:
    """``$XDG_STATE_HOME/b2tui/b2tui.db`` (``~/.local/state/b2tui/b2tui.db``)."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(base) / "b2tui" / "b2tui.db"


def why(e: BaseException) -> str:
    """The error's text on one printable line (never raw bytes from a damaged page)."""
    text = " ".join(str(e).split()) or type(e).__name__
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= 160 else text[:157] + "..."


class StateFile:
    """One open state file. Open with a path; ``":memory:"`` for tests.

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
            raise StoreError(f"cannot open state file {self.path}: {why(e)}; {FIX}") from None
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
        text = why(e)
        if "readonly" in text or "read-only" in text:
            return (
                f"state file {self.path} is read-only ({text}): make it writable"
                " (chmod, chattr -i, remount) or pass another --state PATH"
            )
        if "not a database" in text:
            return f"state file {self.path} is not a SQLite database ({text}); {FIX}"
        if "malformed" in text:
            return f"state file {self.path} is damaged ({text}); {FIX}"
        return f"cannot open state file {self.path}: {text}; {FIX}"

    @property
    def location(self) -> str:
        return self.path

    def _open(self) -> None:
        db = self._db
        app_id = db.execute("PRAGMA application_id").fetchone()[0]
        version = db.execute("PRAGMA user_version").fetchone()[0]
        refuse_foreign(db, self.path, app_id, version)
        if self.read_only and app_id == APPLICATION_ID and version == SCHEMA_VERSION:
            check_columns(db, self.path)
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
            migrate(db, self.path)
        else:
            # Writes must be possible before a run depends on them (read-only file, mount):
            # writing page 1 in a transaction that is then undone proves it.
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            finally:
                db.execute("ROLLBACK")
        check_columns(db, self.path)

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
            raise StoreWriteFailed(f"cannot save to state file {self.path}: {why(e)}") from None

    def _write(self, fn: Callable[[], T], what: str) -> T:
        try:
            return fn()
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as e:
            raise StoreWriteFailed(
                f"cannot save to state file {self.path} ({what}): {why(e)}"
            ) from None

    def _read(self, fn: Callable[[], T], what: str) -> T:
        try:
            return fn()
        except sqlite3.Error as e:
            raise StoreError(
                f"state file {self.path}: cannot read {what}: {why(e)}; {FIX}"
            ) from None

    def _execute(self, sql: str, args: Sequence[Any], what: str) -> sqlite3.Cursor:
        """Run one writing statement; a failure is StoreWriteFailed naming ``what``."""
        return self._write(lambda: self._db.execute(sql, args), what)

    def _one(self, sql: str, args: Sequence[Any], what: str) -> sqlite3.Row | None:
        """The first row ``sql`` selects, or None; a failed read names ``what``."""
        return self._read(lambda: self._db.execute(sql, args).fetchone(), what)

    def _all(self, sql: str, args: Sequence[Any], what: str) -> list[sqlite3.Row]:
        """Every row ``sql`` selects; a failed read names ``what``."""
        return self._read(lambda: self._db.execute(sql, args).fetchall(), what)

    def _damaged(self, run_id: str, what: str, e: BaseException) -> StoreError:
        return StoreError(f"state file {self.path}: run {run_id}: damaged {what} ({why(e)}); {FIX}")
