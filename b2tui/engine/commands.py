"""The service's commands (readiness, validate, smoke): run through the ``Commands`` port
with their events, a step over a :class:`~b2tui.engine.context.RunContext`.
"""

from __future__ import annotations

from b2tui.domain import events as ev
from b2tui.engine.context import RunContext
from b2tui.ports import CommandResult


async def run_command(
    ctx: RunContext, name: str, command: str, env: dict[str, str] | None = None
) -> CommandResult:
    """Run one of the service's commands through the ``Commands`` port: its output as
    ``log`` lines, ``command_started`` and ``command_finished`` events around it."""
    ctx.emit(ev.CommandStarted(ts=ctx.clock.now(), phase=ctx.st.phase, name=name, command=command))
    res = await ctx.ports.commands.run(
        name,
        command,
        cwd=ctx.settings.service.repo,
        timeout=ctx.settings.commands.timeout,
        on_line=ctx.sink(name),
        env=env,
    )
    ctx.emit(
        ev.CommandFinished(
            ts=ctx.clock.now(),
            phase=ctx.st.phase,
            name=name,
            exit_code=res.exit_code,
            duration=res.duration,
            detail="timed out" if res.timed_out else "",
        )
    )
    return res
