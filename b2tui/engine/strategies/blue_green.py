"""Blue-green: deploy the new version on the idle colour, wait for it, switch the Service
selector to it (after the operator's ``n`` or autopilot), then hold and watch the whole
service until a sample is green. The old colour stays up for an instant rollback and is
scaled down only when the run succeeds.

Steps (each idempotent): ``stage`` the idle colour → its rollout → ``switch`` (await go,
then the selector) → hold and watch.
"""

from __future__ import annotations

from b2tui.engine.context import RunContext
from b2tui.engine.state import Step


async def run(ctx: RunContext) -> None:
    image = ctx.deployed(ctx.env.name)
    colour = await _stage(ctx, image)
    await ctx.await_rollout(ctx.env, colour, ctx.rollback_on)
    await ctx.await_go(Step.SWITCH, f"{colour} is ready — press n to switch traffic to it")
    await _switch(ctx, colour)
    await ctx.watch_until_green("service")


async def _stage(ctx: RunContext, image: str) -> str:
    st = ctx.st
    if not st.did(Step.STAGE):
        st.colour = await ctx.production_change(
            "staging the idle colour", lambda: ctx.ports.cluster.stage_colour(ctx.env, image)
        )
        ctx.mark(Step.STAGE)
        ctx.log("kube", f"staged {image} on the idle colour {st.colour}")
    assert st.colour is not None
    return st.colour


async def _switch(ctx: RunContext, colour: str) -> None:
    st = ctx.st
    if st.did(Step.SWITCH) and st.canary_percent == 100:
        return
    split = await ctx.production_change(
        f"switching traffic to {colour}",
        lambda: ctx.ports.cluster.switch_colour(ctx.env, colour),
    )
    ctx.traffic_changed(100, split.achieved_percent, split.detail)
    ctx.start_hold(ctx.scaled(ctx.steps()[0].hold))
