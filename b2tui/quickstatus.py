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
import contextlib
import json
import os
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
    import sqlite3  # here: the kube store's line needs none of it

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


class Lean:
    """What the line reads of a config file (see :func:`lean_settings`)."""

    def __init__(self, path: str, service: str, backend: str, context: str | None, ns: str):
        self.path, self.service, self.backend = path, service, backend
        self.context, self.namespace = context, ns


LEAN_KEYS = {
    "service": {"name", "image", "repo", "prebuilt"},
    "store": {"backend", "namespace", "context"},
}
"""Keys of the tables the lean reader reads (as b2tui.config allows them): another key
there, a typo the full reader would name, sends the file to the full reader."""


def lean_settings(config: str, env: str) -> Lean | None:
    """``[service] name``, ``[store]`` and ``[environments.<env>]``'s context and
    namespace, read without building :class:`~b2tui.config.Settings` (whose import and
    validation cost more than the rest of the line); None when anything the line uses is
    missing or not as the full reader accepts it, so that :func:`b2tui.config.load_settings`
    names the problem in its standard words. The tables the line does not use are not
    checked here (README: "the status line")."""
    import tomllib

    try:
        raw = tomllib.loads(Path(config).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # not found, not UTF-8, not TOML: the full reader says so
        return None
    service, store = raw.get("service", {}), raw.get("store", {})
    envs = raw.get("environments")
    target = envs.get(env) if isinstance(envs, dict) else None
    if not (isinstance(service, dict) and isinstance(store, dict) and isinstance(target, dict)):
        return None
    if set(service) - LEAN_KEYS["service"] or set(store) - LEAN_KEYS["store"]:
        return None
    if not isinstance(service.get("prebuilt", False), bool) or not all(
        isinstance(service.get(k, ""), str) for k in ("image", "repo")
    ):
        return None
    name = service.get("name", "b2connect")
    backend = store.get("backend", "sqlite")
    context = store.get("context") or target.get("context")
    namespace = store.get("namespace") or target.get("namespace", "default")
    used = (name, store.get("namespace", ""), store.get("context", ""), namespace)
    if not all(isinstance(v, str) for v in used) or backend not in ("sqlite", "kube"):
        return None
    if context is not None and not isinstance(context, str):
        return None
    return Lean(config, name, backend, context, namespace)


def _kube_line(settings: Lean, env: str) -> str:
    """One LIST of the run ConfigMaps of this service and environment: with the standard
    library where the kubeconfig allows (:mod:`b2tui.adapters.kube_store.quick`), else
    through the kubernetes client."""
    from b2tui.adapters.kube_store.objects import run_selector, run_summary
    from b2tui.adapters.kube_store.quick import QuickListError, list_configmaps

    selector = run_selector(service=settings.service, environment=env)
    kubeconfig = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    try:
        items = list_configmaps(kubeconfig, settings.context, settings.namespace, selector)
    except QuickListError as e:
        raise Problem(
            f"b2tui: status --line: kube store ([store] in {settings.path}): {e}", 1
        ) from None
    if items is None:
        from b2tui.adapters.kube_store import kube_store_at

        store = kube_store_at(settings.context, settings.namespace, settings.path)
        runs = [{k: getattr(r, k) for k in SUMMARY} for r in store._runs.matching(selector)]
    else:
        runs = [run_summary(o) for o in items if "record" in (o.get("data") or {})]
        runs.sort(key=lambda r: (r["started_at"], r["id"]), reverse=True)
    runs = [r for r in runs if r["service"] == settings.service]
    if not runs:
        return f"{settings.service}: no run yet"
    rec = runs[0]
    return status_line(
        service=rec["service"],
        state={"strategy": rec["strategy"], **rec["state"]},
        outcome=rec["outcome"],
        reason=rec["reason"],
        finished_at=rec["finished_at"],
        now=datetime.now(UTC),
    )


SUMMARY = ("id", "service", "strategy", "state", "outcome", "reason", "started_at", "finished_at")
"""The fields of a run the line reads (those of ``objects.run_summary``)."""


def line(argv: Sequence[str], read: list[str] | None = None) -> str:
    """The status line for ``argv`` (``status --line [--config F --env E | --sandbox]``).

    ``read``, when given, gets the config file's path appended as soon as it is known:
    an error raised after that may hold its secrets (:func:`main` masks them).
    """
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
    config = args.config or _find_config()
    if not config:
        raise Problem("b2tui: no --config given and no ./b2tui.toml; or pass --sandbox", 2)
    if read is not None:
        read.append(config)
    settings = lean_settings(config, args.env) or _full_settings(config, args.env)
    if settings.backend == "kube":
        if args.state:
            raise Problem(
                f'b2tui: --state is for the SQLite store; {config} sets [store] "kube"', 2
            )
        return _kube_line(settings, args.env)
    path = Path(args.state) if args.state else default_state_path()
    row = read_sqlite(path, service=settings.service, env=args.env, sandbox=False)
    if row is None:
        return f"{settings.service}: no run yet"
    return _line_of_row(row, sandbox=False)


def _find_config() -> str | None:
    """``$B2TUI_CONFIG`` or ``./b2tui.toml`` (:func:`b2tui.config.find_config`, whose
    package this path does not import)."""
    env = os.environ.get("B2TUI_CONFIG")
    if env:
        return str(Path(env))
    p = Path.cwd() / "b2tui.toml"
    return str(p) if p.exists() else None


def _full_settings(config: str, env: str) -> Lean:
    """The full reader's verdict on a file the lean reader is unsure of: its one-line
    error (exit 2), or the same fields from :class:`~b2tui.config.Settings`."""
    from b2tui.config import ConfigError, load_settings
    from b2tui.masking import register_settings

    try:
        s = load_settings(config)
        register_settings(s)
        target = s.environment(env)
    except ConfigError as e:
        raise Problem(e.problems[0], 2) from None
    ctx, ns = s.store.context or target.context, s.store.namespace or target.namespace
    return Lean(config, s.service.name, s.store.backend, ctx, ns)


def main(argv: Sequence[str]) -> int:
    # The line is made of what the store keeps, and the store keeps it masked (reasons
    # included); b2tui.masking is imported only where a config's secrets are (errors).
    read: list[str] = []  # the config, once known: its secrets are masked in errors
    try:
        print(line(argv, read))
    except Problem as e:
        print(_masked(str(e), read), file=sys.stderr)
        return e.code
    except Exception as e:  # a store that cannot be reached: one line, never a traceback
        if os.environ.get("B2TUI_DEBUG"):
            raise
        print(_masked(f"b2tui: status --line: {type(e).__name__}: {e}", read), file=sys.stderr)
        return 1
    return 0


def _masked(text: str, configs: Sequence[str]) -> str:
    """``text`` with every secret of ``configs`` masked, as the full reader registers them
    (the lean reader registers none: a line that is printed holds only what the store
    keeps, masked)."""
    from b2tui.masking import mask, register_settings

    if configs:
        from b2tui.config import ConfigError, load_settings

        for config in configs:
            with contextlib.suppress(ConfigError):
                register_settings(load_settings(config))

    return mask(text)
