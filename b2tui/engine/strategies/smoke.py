"""The production smoke checks on the new version before users reach it, shared by the
strategies that can aim them: blue-green's idle colour (through the preview Service) and
the canary before its first weight (its header route, or the preview Service on its pods).

:func:`check_new_version` runs, in order, the smoke command (with ``B2TUI_TARGET_URL``, and
``B2TUI_TARGET_HEADER`` when a header routes the requests), each ``[[smoke.http]]`` (rebased
on ``preview_url`` when the configuration gives one, else through the API server's service
proxy) and the log scan of the new pods. The first failure calls the strategy's
``abandon``, which takes the new version away and ends the run aborted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import NoReturn

from b2tui.engine.commands import run_command
from b2tui.engine.context import RunContext
from b2tui.ports import SourceError, StepFailed

Abandon = Callable[[str], Awaitable[NoReturn]]
"""Ends the run over a failed check: takes a one-line reason, never returns."""


@dataclass(frozen=True)
class Aim:
    """Where the smoke checks go."""

    on: str
    """The new version in the log lines (``green``, ``the canary``)."""
    url: str
    """Its URL: ``preview_url``, or the service proxy's (``B2TUI_TARGET_URL``)."""
    through: str
    """How they get there, for the log (``web-preview``, ``header X-Canary: always``)."""
    header: tuple[str, str] | None = None
    """A header every check carries (the canary's header route)."""


async def check_new_version(ctx: RunContext, aim: Aim, abandon: Abandon) -> None:
    """The smoke checks against ``aim``; ``abandon(reason)`` at the first failure."""
    env, smoke = ctx.env, ctx.settings.smoke
    ctx.log("smoke", f"smoke checks on {aim.on} through {aim.through}")
    command = ctx.settings.commands.smoke
    if command:
        extra = {"B2TUI_TARGET_URL": aim.url}
        if aim.header:
            extra["B2TUI_TARGET_HEADER"] = f"{aim.header[0]}: {aim.header[1]}"
        res = await run_command(ctx, "smoke", command, env=extra)
        if not res.ok:
            why = "timed out" if res.timed_out else f"exit {res.exit_code}"
            await abandon(f"smoke command {why}" + (f": {res.tail}" if res.tail else ""))
    for check in smoke.http:
        sent = (
            replace(check, headers={**check.headers, aim.header[0]: aim.header[1]})
            if aim.header
            else check
        )
        try:
            if env.preview_url:
                answer = await ctx.ports.checks.http(replace(sent, url=rebase(check.url, aim.url)))
            else:
                answer = await ctx.ports.cluster.preview_check(ctx.target, sent)
        except (SourceError, StepFailed) as e:
            await abandon(f"{check.url}: {e}")
        ctx.log("smoke", f"{check.method} {check.url} on {aim.on}: {answer.detail}")
        if not answer.passed:
            await abandon(answer.detail)
    if smoke.log_patterns:
        try:
            counts = await ctx.ports.cluster.scan_logs(ctx.target, smoke.log_patterns, 600.0)
        except SourceError as e:
            await abandon(f"log scan failed: {e}")
        hits = {p: n for p, n in counts.items() if n}
        if hits:
            worst = max(hits, key=lambda p: hits[p])
            await abandon(f"log scan found {hits[worst]} lines matching {worst!r}")
    ctx.notice("info", f"{aim.on} passed the smoke checks through {aim.through}")


def rebase(url: str, base: str) -> str:
    """``url``'s path and query on ``base`` (the preview's URL)."""
    rest = url.split("://", 1)[-1]
    path = rest[rest.index("/") :] if "/" in rest else ""
    return base.rstrip("/") + path
