"""The audit log is tamper-evident: a real demo run writes it, ``b2tui audit --verify``
accepts it, and an entry edited afterwards with the sqlite3 module (triggers dropped
first, as an attacker would) is named."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def b2tui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "b2tui", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_audit_verify_names_the_entry_edited_after_the_fact(tmp_path: Path) -> None:
    state = str(tmp_path / "s.db")
    run = b2tui("demo", "--headless", "--speed", "max", "--state", state)
    assert run.returncode == 0, run.stderr
    ok = b2tui("audit", "--verify", "--state", state)
    assert ok.returncode == 0, ok.stderr
    assert "chain intact" in ok.stdout
    listed = b2tui("audit", "--json", "--state", state)
    entries = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(entries) >= 3 and all(len(e["hash"]) == 64 for e in entries)
    assert [e["prev"] for e in entries[1:]] == [e["hash"] for e in entries[:-1]]
    victim = entries[1]

    db = sqlite3.connect(state)
    db.execute("DROP TRIGGER audit_no_update")
    db.execute("UPDATE audit SET user = 'mallory@elsewhere' WHERE id = ?", (victim["id"],))
    db.commit()
    db.close()

    bad = b2tui("audit", "--verify", "--state", state)
    assert bad.returncode == 1
    assert f"entry {victim['id']} does not match: its content does not match its hash" in (
        bad.stderr
    )
    as_json = json.loads(b2tui("audit", "--verify", "--json", "--state", state).stdout)
    assert as_json["ok"] is False and as_json["bad"] == victim["id"]


def test_audit_verify_names_a_removed_entry(tmp_path: Path) -> None:
    from b2tui.adapters.store import Store

    state = tmp_path / "s.db"
    store = Store(state)
    for n in range(4):
        store.audit(None, "ana@jump", "rollback-cli", f"entry {n}")
    ids = [e.id for e in store.audit_log()]
    store.close()
    db = sqlite3.connect(state)
    db.execute("DROP TRIGGER audit_no_delete")
    db.execute("DELETE FROM audit WHERE id = ?", (ids[1],))
    db.commit()
    db.close()
    bad = b2tui("audit", "--verify", "--state", str(state))
    assert bad.returncode == 1
    assert f"entry {ids[2]} does not match: its link to the entry before" in bad.stderr
