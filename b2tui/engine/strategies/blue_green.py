"""Blue-green: deploy the new version on the idle colour, wait for it, run the smoke checks
against it through the preview Service (when ``preview_service`` is set), switch the
Service selector to it (after the operator's ``n`` or autopilot), then hold and watch the
whole service until a sample is green. The old colour stays up for an instant rollback and
is scaled down only when the run succeeds.

Steps (each idempotent): ``stage`` the idle colour → its rollout → ``preview`` (the smoke
command with ``B2TUI_TARGET_URL``, ``[[smoke.http]]``, the log scan; a failure scales the
idle colour away and ends the run aborted, traffic never moved) → ``switch`` (await go,
then the selector) → hold and watch.
"""

from __future__ import annotations

from typing import NoReturn

from b2tui.domain.phases import Outcome
from b2tui.engine.context import Finish, RunContext
from b2tui.engine.state import Step
from b2tui.engine.strategies.smoke import Aim, check_new_version
from b2tui.ports import SourceError, StepFailed


async def run(ctx: RunContext) -> None:
    image = ctx.deployed(ctx.env.name)
    if ctx.env.preview_service and ctx.env.preview_service == ctx.env.service:
        raise Finish(
            Outcome.ABORTED,
            f"production: preview Service {ctx.env.service} is the live Service: it selects"
            " the live colour; name another Service in preview_service",
        )
    colour = await _stage(ctx, image)
    await ctx.await_rollout(ctx.env, colour, ctx.rollback_on)
    await _smoke_idle(ctx, colour)
    await ctx.await_go(Step.SWITCH, f"{colour} is ready — press n to switch traffic to it")
    await _switch(ctx, colour)
    await ctx.watch_until_green("service")


async def _stage(ctx: RunContext, image: str) -> str:
    st = ctx.st
    if not st.did(Step.STAGE):
        st.colour = await ctx.production_change(
            "staging the idle colour", lambda: ctx.ports.cluster.stage_colour(ctx.target, image)
        )
        ctx.mark(Step.STAGE)
        ctx.log("kube", f"staged {image} on the idle colour {st.colour}")
    assert st.colour is not None
    return st.colour


async def _smoke_idle(ctx: RunContext, colour: str) -> None:
    """The smoke checks against the idle colour, before any user reaches it."""
    st, env = ctx.st, ctx.env
    if not env.preview_service or st.did(Step.PREVIEW):
        return
    try:
        proxied = await ctx.mutate(ctx.ports.cluster.preview(ctx.target, colour))
    except (SourceError, StepFailed) as e:
        await _abandon(ctx, colour, str(e))

    async def abandon(reason: str) -> NoReturn:
        await _abandon(ctx, colour, reason)

    aim = Aim(on=colour, url=env.preview_url or proxied, through=env.preview_service)
    await check_new_version(ctx, aim, abandon)
    ctx.mark(Step.PREVIEW)


async def _abandon(ctx: RunContext, colour: str, reason: str) -> NoReturn:
    """A failed check on the idle colour: scale it away, end the run aborted. Traffic
    never moved, so nothing is rolled back."""
    live = ctx.st.known_good.colour if ctx.st.known_good else None
    try:
        await ctx.mutate(ctx.ports.cluster.retire_colour(ctx.target, colour))
        ctx.log("kube", f"idle colour {colour} scaled down")
    except (SourceError, StepFailed) as e:
        ctx.notice("warn", f"could not scale down {colour}: {e}")
    stays = f"; traffic stays on {live}" if live else ""
    raise Finish(Outcome.ABORTED, f"production smoke on the idle colour {colour}: {reason}{stays}")


async def _switch(ctx: RunContext, colour: str) -> None:
    st = ctx.st
    if st.did(Step.SWITCH) and st.canary_percent == 100:
        return
    split = await ctx.production_change(
        f"switching traffic to {colour}",
        lambda: ctx.ports.cluster.switch_colour(ctx.target, colour),
    )
    ctx.traffic_changed(100, split.achieved_percent, split.detail)
    ctx.start_hold(ctx.scaled(ctx.steps()[0].hold))
