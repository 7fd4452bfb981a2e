"""``b2tui postmortem RUN [--config F | --state PATH] [--output FILE] [--github]``.

The write-up of a run from its journal (:mod:`b2tui.commands.postmortem`): Markdown on
stdout, into ``--output`` (written whole or not at all), or filed as a GitHub issue
(labels ``incident``, ``deployment``) whose URL is printed.

Exit status: 0 written; 2 an unknown run, bad usage, or an answer of GitHub that only a
config change fixes (401, 403, 404, 410, 422); 1 GitHub unreachable or failing (5xx).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from b2tui.cli.loading import load, open_store
from b2tui.cli.parser import UsageError
from b2tui.config import Settings
from b2tui.domain.phases import EXIT_USAGE
from b2tui.masking import mask

if TYPE_CHECKING:
    from b2tui.commands.postmortem import Written

LABELS = ["incident", "deployment"]
"""Labels of the issue ``--github`` files."""


def _commits(settings: Settings | None, since: str | None, until: str) -> list[str]:
    """``sha subject`` of ``since..until`` in the service's checkout; [] when unknown."""
    if settings is None or since is None:
        return []
    try:
        res = subprocess.run(
            ["git", "-C", settings.service.repo, "log", "--format=%h %s", f"{since}..{until}"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return res.stdout.splitlines()[:50] if res.returncode == 0 else []


def write_up(run_id: str, state: str | None, settings: Settings | None) -> Written:
    """The write-up of ``run_id`` from the configured store (UsageError when unknown)."""
    # Here, not at the top: `b2tui demo` and `b2tui run` import this module for
    # file_writer before their first frame and write nothing until a rollback.
    from b2tui.commands.postmortem import _tag_version, postmortem

    store = open_store(state, read_only=True, settings=settings)
    try:
        rec = store.get_run(run_id)
        if rec is None:
            raise UsageError(
                f"no run {run_id} in {store.location}; `b2tui history` lists the runs"
                + ("" if settings else " (or pass --config F / --state PATH)")
            )
        events = [e for _, e in store.events(run_id)]
        audit = store.audit_log(run_id)
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()
    previous = None
    for e in events:
        known = getattr(e, "known_good", None)
        if isinstance(known, dict):
            previous = _tag_version(str(known.get("image", "")))
            break
    return postmortem(rec, events, audit, commits=_commits(settings, previous, rec.version))


def _write_whole(path: Path, text: str) -> None:
    """``text`` into ``path`` entirely or not at all (a temporary file renamed over it)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent or Path("."), prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_writer(
    run_id: str, state: str | None, settings: Settings | None, config: str | None
) -> Callable[[], str]:
    """The control room's ``w`` after a rollback: write ``postmortem-<run>.md`` here and
    say where, and the command that files it."""

    def write() -> str:
        written = write_up(run_id, state, settings)
        out = Path(f"postmortem-{run_id}.md")
        _write_whole(out, mask(written.body))
        # --github takes its token and repository from a config's [notify].
        where = " ".join(
            [*(["--state", state] if state else []), "--config", config or "b2tui.toml"]
        )
        files = f"b2tui postmortem {run_id} {where} --github"
        return f"wrote {out.resolve()}; to file it as an issue: {files}"

    return write


def cmd_postmortem(args: argparse.Namespace) -> int:
    settings = load(args.config) if args.config else None
    if args.github and settings is None:
        raise UsageError("--github needs --config F with [notify] github_token and github_repo")
    written = write_up(args.run, args.state, settings)
    if args.github:
        from b2tui.adapters.http.github import IssueRefused, create_issue

        assert settings is not None
        try:
            title = written.title[:256]  # GitHub's limit for an issue's title
            body = mask(written.body)
            url = asyncio.run(create_issue(settings.notify, mask(title), body, LABELS))
        except IssueRefused as e:
            print(mask(f"b2tui: postmortem not filed: {e}"), file=sys.stderr)
            return EXIT_USAGE if e.config else 1
        print(url)
        return 0
    if args.output:
        out = Path(args.output)
        try:
            _write_whole(out, mask(written.body))
        except OSError as e:
            raise UsageError(f"cannot write {out}: {e.strerror}; pick another --output") from None
        print(f"wrote {out}")
        return 0
    sys.stdout.write(mask(written.body))
    return 0
