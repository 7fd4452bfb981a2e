"""The tool ports: images (build, push, check), shell commands, checks and notifications.

Streamed output reaches the caller one line at a time through a :data:`LineSink`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from b2tui.config import HttpCheck
from b2tui.domain.checklist import ChecklistItem

LineSink = Callable[[str], None]
"""Receives one line of streamed output (build, push, command)."""


@runtime_checkable
class Images(Protocol):
    async def build(self, tag: str, on_line: LineSink) -> str:
        """Build ``tag`` from the configured context; return the image id. Raises StepFailed."""
        ...

    async def push(self, tag: str, on_line: LineSink) -> str:
        """Push ``tag``; return its digest. Raises StepFailed."""
        ...

    async def check(self, tag: str) -> str:
        """The digest of ``tag`` in its registry, for an image built elsewhere (CI).

        Raises StepFailed with one line when the registry does not have it or cannot say.
        """
        ...

    async def retag(self, source: str, tag_ref: str) -> str:
        """Give the manifest ``source`` (``repo@sha256:…``) the tag of ``tag_ref`` in the
        registry (the manifest is read and put under the new tag: no pull, no build);
        return the digest the registry reports for the tag. Raises StepFailed."""
        ...


@dataclass(frozen=True)
class CommandResult:
    exit_code: int | None
    """None when the command timed out or was cancelled."""
    duration: float
    timed_out: bool = False
    tail: str = ""
    """Last lines of output, for the failure message."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@runtime_checkable
class Commands(Protocol):
    async def run(
        self,
        name: str,
        command: str,
        *,
        cwd: str,
        timeout: float,
        on_line: LineSink,
        env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        """Run a shell command, streaming its output; cancellation kills it. ``env`` adds
        variables to its environment (``B2TUI_TARGET_URL``)."""
        ...


@dataclass(frozen=True)
class CheckResult:
    passed: bool | None
    """True pass, False fail, None unknown (could not tell)."""
    detail: str = ""


@runtime_checkable
class Checks(Protocol):
    async def readiness(self, item: ChecklistItem) -> CheckResult:
        """Answer an automatic readiness item (code merged, tests passing, build ok)."""
        ...

    async def http(self, check: HttpCheck) -> CheckResult:
        """One HTTP smoke check with its retries."""
        ...


@dataclass(frozen=True)
class Notification:
    """What a notifier sends; never carries a secret."""

    kind: str
    """``deployed``, ``rollback`` (a rollback started: pagers trigger), ``incident`` (the
    rollback finished) or ``alert`` (needs a person now: the state cannot be saved)."""
    service: str
    environment: str
    version: str
    image: str
    run_id: str
    by: str
    duration: float
    reason: str = ""
    target: str = ""
    gates: dict[str, str] = field(default_factory=dict)
    """Gate name → display value at the time."""
    recovered: bool = False
    """``incident``: the service was verified green after the rollback (pagers resolve)."""


@runtime_checkable
class Notifier(Protocol):
    async def notify(self, note: Notification) -> list[tuple[str, bool, str]]:
        """Send to every configured channel; return (channel, ok, detail) per channel.

        A channel failing is reported, not raised: a notification never decides a run.
        """
        ...
