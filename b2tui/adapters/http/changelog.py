"""The Keep a Changelog entry written for every deployment."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import tempfile
from datetime import date
from pathlib import Path

from b2tui.adapters.http.errors import Channel
from b2tui.ports import Notification

CHANGELOG_HEADER = (
    "# Changelog\n"
    "\n"
    "All notable changes to this project will be documented in this file.\n"
    "\n"
    "The format is based on [Keep a Changelog](https://keepachangelog.com/en/1.1.0/).\n"
    "\n"
    "## [Unreleased]\n"
)
"""Header of a changelog created by b2tui."""

_LINK_REF = re.compile(r"^\[[^\]]+\]:\s*\S")


async def write_changelog(path: Path, note: Notification, day: date) -> Channel:
    """Add ``note`` to the changelog at ``path`` off the event loop; the channel's result."""
    try:
        added = await asyncio.to_thread(add_changelog_entry, path, note, day)
    except OSError as e:
        return "changelog", False, f"cannot write {path}: {e.strerror or e}"
    if not added:
        return "changelog", True, f"{path} already records run {note.run_id}"
    return "changelog", True, f"added {note.version} to {path}"


def changelog_line(note: Notification) -> str:
    """The ``### Deployed`` list line for ``note``; the run id makes it unique."""
    return (
        f"- {note.service} deployed to {note.environment}: image `{note.image}`"
        f" (run `{note.run_id}`, by {note.by})"
    )


def add_changelog_entry(path: Path, note: Notification, day: date) -> bool:
    """Record ``note`` in a Keep a Changelog file; False when the run is already there.

    The file is created with :data:`CHANGELOG_HEADER` when missing. A new
    ``## [<version>] - <day>`` section goes first after ``## [Unreleased]`` (newest
    first); a version deployed again (another environment, a re-run) gets another line
    in its existing ``### Deployed`` list. ``Unreleased`` itself is left as people
    wrote it. The file is replaced atomically.
    """
    text = path.read_text(encoding="utf-8") if path.exists() else CHANGELOG_HEADER
    if f"(run `{note.run_id}`" in text:
        return False
    lines = text.splitlines()
    entry = changelog_line(note)
    heading = re.compile(r"^## \[" + re.escape(note.version) + r"\]")
    at = next((i for i, line in enumerate(lines) if heading.match(line)), None)
    if at is not None:
        end = next((i for i in range(at + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        sub = next((i for i in range(at + 1, end) if lines[i].strip() == "### Deployed"), None)
        if sub is not None:
            # After the last item of the list that follows "### Deployed".
            last = None
            pos = sub + 1
            while pos < end and (not lines[pos].strip() or lines[pos].startswith("- ")):
                if lines[pos].startswith("- "):
                    last = pos
                pos += 1
            insert_at = sub + 1 if last is None else last + 1
            new = ["", entry] if last is None else [entry]
        else:
            insert_at = at + 1
            new = ["", "### Deployed", "", entry]
    else:
        first_release = next(
            (
                i
                for i, line in enumerate(lines)
                if line.startswith("## ") and line != "## [Unreleased]"
            ),
            None,
        )
        if first_release is not None:
            insert_at = first_release
        else:
            # After everything but a trailing block of link references.
            insert_at = len(lines)
            while insert_at > 0 and (
                _LINK_REF.match(lines[insert_at - 1]) or not lines[insert_at - 1].strip()
            ):
                insert_at -= 1
        new = [f"## [{note.version}] - {day.isoformat()}", "", "### Deployed", "", entry, ""]
        if insert_at > 0 and lines[insert_at - 1].strip():
            new.insert(0, "")
    lines[insert_at:insert_at] = new
    out = "\n".join(lines).rstrip("\n") + "\n"
    fd, tmp = tempfile.mkstemp(prefix=".changelog-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(out)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return True
