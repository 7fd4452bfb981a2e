"""The state file is b2tui's: marked, versioned, migrated; foreign, newer, damaged and
read-only files are refused with one line naming the file (and the run), exit 2."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from b2tui.adapters.store import APPLICATION_ID, SCHEMA_VERSION, Store
from b2tui.adapters.store.sqlite.schema import SCHEMA_V1
from tests.integration.test_cli import b2tui
from tests.support.services import require_binary, require_root, unavailable

DEMO = ("demo", "--headless", "--speed", "max")


def one_line(res: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr and "internal error" not in res.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state file with one finished sandbox run, written by b2tui itself."""
    path = tmp_path_factory.mktemp("state") / "good.db"
    assert b2tui(*DEMO, "--state", str(path)).returncode == 0
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return path


def copy_with(finished: Path, dest: Path, *sql: str) -> str:
    shutil.copy(finished, dest)
    db = sqlite3.connect(dest)
    for statement in sql:
        db.execute(statement)
    db.commit()
    db.close()
    return str(dest)


def test_a_new_file_is_marked_and_versioned(finished: Path) -> None:
    db = sqlite3.connect(finished)
    assert db.execute("PRAGMA application_id").fetchone() == (APPLICATION_ID,)
    assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)


def test_a_file_from_before_versioning_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_V1)
    # Two unfinished runs of one service (the old race): the older one is superseded.
    for rid, started in (
        ("r-old", "2026-01-05T14:00:00+00:00"),
        ("r-new", "2026-01-05T14:01:00+00:00"),
    ):
        db.execute(
            "INSERT INTO runs (id, service, environment, strategy, version, image, params,"
            " state, started_at, created_by) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                rid,
                "b2connect",
                "production",
                "canary",
                "1a2b3c4",
                "i",
                '{"sandbox": true}',
                "{}",
                started,
                "ana",
            ),
        )
    db.commit()
    db.close()
    store = Store(path)
    rec = store.unfinished_run("b2connect", sandbox=True)
    assert rec is not None and rec.id == "r-new"
    old = store.get_run("r-old")
    assert old is not None and old.outcome == "aborted" and "superseded" in (old.reason or "")
    assert store.unfinished_run("b2connect", sandbox=False) is None
    store.close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    with pytest.raises(sqlite3.IntegrityError):  # one unfinished run per service and env
        db.execute("UPDATE runs SET outcome = NULL WHERE id = 'r-old'")


def test_a_foreign_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    db.commit()
    db.close()
    before = path.read_bytes()
    one_line(b2tui(*DEMO, "--state", str(path)), str(path), "not b2tui's", "users")
    one_line(b2tui("history", "--state", str(path)), "not b2tui's")
    assert path.read_bytes() == before
    other = tmp_path / "marked.db"
    db = sqlite3.connect(other)
    db.execute("PRAGMA application_id = 1234")
    db.execute("CREATE TABLE runs (id TEXT)")
    db.commit()
    db.close()
    one_line(b2tui(*DEMO, "--state", str(other)), "belongs to another application")


def test_a_newer_file_is_refused(finished: Path, tmp_path: Path) -> None:
    path = copy_with(finished, tmp_path / "newer.db", f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    one_line(b2tui(*DEMO, "--state", path), path, f"schema {SCHEMA_VERSION + 1}", "upgrade b2tui")


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"\x00\xffPK\x03\x04 definitely not sqlite " * 64)
    line = one_line(b2tui(*DEMO, "--state", str(path)), str(path), "not a SQLite database")
    assert line.isprintable()


DAMAGE: dict[str, tuple[list[str], list[str]]] = {
    "bad JSON state": (["UPDATE runs SET state = '{not json', outcome = NULL"], ["column state"]),
    "bad isoformat": (
        ["UPDATE runs SET started_at = 'yesterday', outcome = NULL"],
        ["column started_at"],
    ),
    "unknown phase": (
        ["UPDATE runs SET state = json_set(state, '$.phase', 'bogus'), outcome = NULL"],
        ["damaged state", "'bogus' is not a valid Phase"],
    ),
    "bad event": (
        [
            'UPDATE events SET data = \'{"event": "phase_started", "ts": "x"}\''
            " WHERE id = (SELECT min(id) FROM events)",
            "UPDATE runs SET outcome = NULL",
        ],
        ["damaged event"],
    ),
    "state not an object": (["UPDATE runs SET state = '[1, 2]', outcome = NULL"], ["column state"]),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_a_damaged_row_names_the_file_and_run(finished: Path, tmp_path: Path, case: str) -> None:
    sql, needles = DAMAGE[case]
    path = copy_with(finished, tmp_path / "damaged.db", *sql)
    run_id = sqlite3.connect(path).execute("SELECT id FROM runs").fetchone()[0]
    commands = [DEMO] if case in ("unknown phase", "bad event") else [DEMO, ("history",)]
    for command in commands:
        one_line(b2tui(*command, "--state", path), path, f"run {run_id}", *needles)


def test_a_missing_column_is_a_damaged_schema(finished: Path, tmp_path: Path) -> None:
    path = copy_with(finished, tmp_path / "cols.db", "ALTER TABLE runs DROP COLUMN clock")
    one_line(b2tui("history", "--state", path), path, "table runs has no column clock")
    path = copy_with(finished, tmp_path / "tables.db", "DROP TABLE leases")
    one_line(b2tui(*DEMO, "--state", path), "table leases is missing")


@pytest.fixture
def mount(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """Mount a real tmpfs (root only: skipped elsewhere, failed under CI=true, which runs
    as root); unmounted after the test."""
    require_root("mounting a tmpfs")
    require_binary("mount", "mount")
    mounted: list[Path] = []

    def make(size: str = "4m") -> Path:
        point = tmp_path / f"mnt{len(mounted)}"
        point.mkdir()
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], check=True
        )
        mounted.append(point)
        return point

    yield make
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_a_read_only_file_is_refused_for_driving_and_read_for_history(
    finished: Path, mount: Callable[..., Path]
) -> None:
    point = mount()
    shutil.copy(finished, point / "s.db")
    subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True)
    path = str(point / "s.db")
    one_line(b2tui(*DEMO, "--state", path), path, "read-only", "pass another --state")
    one_line(b2tui(*DEMO, "--state", str(point / "sub" / "s.db")), "read-only")
    hist = b2tui("history", "--state", path)
    assert hist.returncode == 0 and "succeeded" in hist.stdout


def test_an_immutable_file_is_refused(
    finished: Path, tmp_path: Path, mount: Callable[..., Path]
) -> None:
    require_binary("chattr", "e2fsprogs")
    path = tmp_path / "imm.db"
    shutil.copy(finished, path)
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        # Not on this file system (overlayfs): a tmpfs takes +i (Linux 6.0 and later).
        path = mount() / "imm.db"
        shutil.copy(finished, path)
        made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if made.returncode != 0:
            unavailable(f"neither {tmp_path} nor a tmpfs takes chattr +i: {made.stderr.strip()}")
    try:
        one_line(b2tui(*DEMO, "--state", str(path)), str(path), "read-only")
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)
