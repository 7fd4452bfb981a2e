"""``b2tui status --line``, on a path of its own: fast enough for tmux's ``status-interval``.

The console script (:mod:`b2tui.entry`) sends ``b2tui status … --line`` here before
anything else is imported: no Textual, no command table, no adapters package. The SQLite
store is read with one read-only query (``mode=ro``: nothing is created, migrated or
locked); the kube store with one LIST of the run ConfigMaps of the service and
environment (the kubernetes client is imported only then). What the line says is
:func:`b2tui.commands.status_line.status_line`.

Exit status: 0 with the line (also "no run yet"), 2 bad usage or a file that is not a
b2tui state file (one line on stderr), 1 when the store cannot be read.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from b2tui.commands.status_line import status_line

APPLICATION_ID = 0x62327475
"""``PRAGMA application_id`` of a b2tui state file (as the SQLite store writes it)."""


class Problem(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def default_state_path() -> Path:
    """``$XDG_STATE_HOME/b2tui/b2tui.db`` (``~/.local/state/b2tui/b2tui.db``), as the
    SQLite store defines it."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(base) / "b2tui" / "b2tui.db"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="b2tui status --line", add_help=False)
    p.add_argument("command")
    p.add_argument("--line", action="store_true")
    p.add_argument("--config")
    p.add_argument("--env", default="production")
    p.add_argument("--state")
    p.add_argument("--sandbox", action="store_true")
    p.add_argument("--json", action="store_true")
    return p


def _when(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def read_sqlite(path: Path, *, service: str | None, env: str | None, sandbox: bool) -> Any:
    """The newest run (of ``service`` to ``env``, of the kind asked) as a row, or None."""
    if not path.exists():
        return None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error as e:
        raise Problem(f"b2tui: cannot read the state file {path}: {e}", 1) from None
    try:
        conn.row_factory = sqlite3.Row
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id != APPLICATION_ID:
            raise Problem(f"b2tui: {path} is not b2tui's state file; pass --state PATH", 2)
        q = "SELECT * FROM runs WHERE kind = ?"
        args: list[Any] = ["sandbox" if sandbox else "real"]
        if service:
            q += " AND service = ? AND environment = ?"
            args += [service, env]
        return conn.execute(q + " ORDER BY started_at DESC, rowid DESC LIMIT 1", args).fetchone()
    except sqlite3.DatabaseError as e:
        raise Problem(f"b2tui: cannot read the state file {path}: {e}", 1) from None
    finally:
        conn.close()


def _line_of_row(row: Any, *, sandbox: bool) -> str:
    state = json.loads(row["state"] or "{}")
    clock = _when(row["clock"])
    now = (clock if sandbox and clock else None) or datetime.now(UTC)
    return status_line(
        service=row["service"],
        state={"strategy": row["strategy"], **state},
        outcome=row["outcome"],
        reason=row["reason"],
        # A demo's clock runs at --speed: its end is no wall time to count "ago" from.
        finished_at=None if sandbox else _when(row["finished_at"]),
        now=now,
    )


def _kube_line(settings: Any, env: str) -> str:
    """One LIST of the run ConfigMaps of this service and environment: with the standard
    library where the kubeconfig allows (:mod:`b2tui.adapters.kube_store.quick`), else
    through the kubernetes client."""
    from b2tui.adapters.kube_store import store_place
    from b2tui.adapters.kube_store.objects import run_record, run_selector
    from b2tui.adapters.kube_store.quick import QuickListError, list_configmaps

    selector = run_selector(service=settings.service.name, environment=env)
    context, namespace = store_place(settings, env)
    kubeconfig = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    try:
        items = list_configmaps(kubeconfig, context, namespace, selector)
    except QuickListError as e:
        raise Problem(
            f"b2tui: status --line: kube store ([store] in {settings.path}): {e}", 1
        ) from None
    if items is None:
        from b2tui.adapters.kube_store import open_kube_store

        runs = open_kube_store(settings, env)._runs.matching(selector)
    else:
        runs = [run_record(o) for o in items if "record" in (o.get("data") or {})]
        runs.sort(key=lambda r: (r.started_at, r.id), reverse=True)
    runs = [r for r in runs if r.service == settings.service.name]
    if not runs:
        return f"{settings.service.name}: no run yet"
    rec = runs[0]
    return status_line(
        service=rec.service,
        state={"strategy": rec.strategy, **rec.state},
        outcome=rec.outcome,
        reason=rec.reason,
        finished_at=rec.finished_at,
        now=datetime.now(UTC),
    )


def line(argv: Sequence[str]) -> str:
    """The status line for ``argv`` (``status --line [--config F --env E | --sandbox]``)."""
    args, rest = _parser().parse_known_args(list(argv))
    if rest:
        raise Problem(f"b2tui status --line: unknown argument {rest[0]!r}", 2)
    if args.json:
        raise Problem("b2tui status: --line and --json exclude each other; pick one", 2)
    if args.state == "":
        raise Problem("b2tui: --state is empty; give a file path", 2)
    if args.sandbox:
        if args.config:
            raise Problem("b2tui status: --sandbox and --config exclude each other", 2)
        path = Path(args.state) if args.state else default_state_path()
        row = read_sqlite(path, service=None, env=None, sandbox=True)
        return _line_of_row(row, sandbox=True) if row else "b2tui: no demo run yet"
    from b2tui.config import ConfigError, find_config, load_settings

    config = args.config or (str(find_config()) if find_config() else None)
    if not config:
        raise Problem("b2tui: no --config given and no ./b2tui.toml; or pass --sandbox", 2)
    from b2tui.masking import register_settings

    try:
        settings = load_settings(config)
        register_settings(settings)
        settings.environment(args.env)
    except ConfigError as e:
        raise Problem(e.problems[0], 2) from None
    if settings.store.backend == "kube":
        if args.state:
            raise Problem(
                f'b2tui: --state is for the SQLite store; {config} sets [store] "kube"', 2
            )
        return _kube_line(settings, args.env)
    path = Path(args.state) if args.state else default_state_path()
    row = read_sqlite(path, service=settings.service.name, env=args.env, sandbox=False)
    if row is None:
        return f"{settings.service.name}: no run yet"
    return _line_of_row(row, sandbox=False)


def main(argv: Sequence[str]) -> int:
    # The line is made of what the store keeps, and the store keeps it masked (reasons
    # included); b2tui.masking is imported only where a config's secrets are (errors).
    try:
        print(line(argv))
    except Problem as e:
        print(_masked(str(e)), file=sys.stderr)
        return e.code
    except Exception as e:  # a store that cannot be reached: one line, never a traceback
        if os.environ.get("B2TUI_DEBUG"):
            raise
        print(_masked(f"b2tui: status --line: {type(e).__name__}: {e}"), file=sys.stderr)
        return 1
    return 0


def _masked(text: str) -> str:
    from b2tui.masking import mask

    return mask(text)
