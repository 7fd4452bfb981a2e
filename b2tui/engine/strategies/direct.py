"""Direct: a rolling update of the production Deployment (a critical fix, with the tech
lead's approval recorded in readiness), then hold and watch the whole service until a
sample is green.

Steps (each idempotent): ``deploy`` → its rollout → watch.
"""

from __future__ import annotations

from b2tui.engine.context import RunContext
from b2tui.engine.state import Step


async def run(ctx: RunContext) -> None:
    image = ctx.deployed(ctx.env.name)
    await _deploy(ctx, image)
    await ctx.await_rollout(ctx.env, None, ctx.rollback_on)
    await ctx.watch_until_green("service")


async def _deploy(ctx: RunContext, image: str) -> None:
    st = ctx.st
    if st.did(Step.DEPLOY):
        return
    await ctx.production_change(
        "rolling update", lambda: ctx.ports.cluster.deploy(ctx.target, image)
    )
    ctx.mark(Step.DEPLOY)
    ctx.traffic_changed(100, 100.0, "rolling update")
