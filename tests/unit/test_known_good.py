"""The known-good rule of ``b2tui rollback`` outside a run, over the SQLite store."""

from __future__ import annotations

from pathlib import Path

from b2tui.adapters.store import Store
from b2tui.commands.known_good import known_good, record_rollback
from tests.unit.test_store import T0, record


def test_known_good_follows_succeeded_runs_and_cli_rollbacks(tmp_path: Path) -> None:
    from dataclasses import replace
    from datetime import timedelta

    store = Store(tmp_path / "s.db")
    try:
        assert known_good(store, "b2connect", "production") is None
        # An aborted run never touched production: no known-good from it.
        store.create_run(replace(record("r0"), state={"known_good": {"image": "v0"}}))
        store.finish_run("r0", "aborted", "staging crash loop", T0)
        assert known_good(store, "b2connect", "production") is None
        # A run that rolled back restored its known-good: a rollback after it stays there.
        store.create_run(replace(record("r1"), state={"known_good": {"image": "v1"}}))
        store.finish_run("r1", "rolled_back", "error spike", T0)
        assert known_good(store, "b2connect", "production") == {"image": "v1"}
        # A CLI rollback: the next rollback stays on its target.
        record_rollback(
            store,
            "b2connect",
            "production",
            user="ana@jump",
            at="2026-01-05T15:00:00+00:00",
            source="previous",
            before={"image": "v1"},
            target={"image": "v0b"},
            changed=True,
        )
        assert known_good(store, "b2connect", "production") == {"image": "v0b"}
        # A succeeded run: what it replaced wins over the older CLI rollback …
        later = T0 + timedelta(hours=1)
        store.create_run(
            replace(record("r2"), started_at=later, state={"known_good": {"image": "v1b"}})
        )
        store.finish_run("r2", "succeeded", "green", later)
        assert known_good(store, "b2connect", "production") == {"image": "v1b"}
        assert known_good(store, "b2connect", "staging") is None
        # … and a rollback after it stays on its own target.
        record_rollback(
            store,
            "b2connect",
            "production",
            user="ana@jump",
            at="2026-01-05T15:00:00+00:00",
            source="recorded",
            before={"image": "v3"},
            target={"image": "v1b"},
            changed=True,
        )
        assert known_good(store, "b2connect", "production") == {"image": "v1b"}
    finally:
        store.close()
