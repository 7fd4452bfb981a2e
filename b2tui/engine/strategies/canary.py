"""Canary: step the new version's share of traffic up (5 % → 50 % → 100 % by default),
holding each step until its hold ended and a sample of the canary is green; then promote
the canary to stable.

Steps (each idempotent):

0. ``preview`` (when ``canary_header`` or ``preview_service`` is set): the canary's pods up
   at the first step's replicas, no weight yet; the smoke checks reach them through the
   header route or the preview Service (:mod:`.smoke`). A failure takes the canary away
   (as a rollback would) and ends the run aborted; stable never changed.
1. ``start``: ask for the first step's weight (once: ``canary`` in ``state.done``).
2. ``step``: apply an asked weight (operator ``+``/``-``/``n``, or autopilot), wait for
   the canary's pods, start the step's hold; then sample canary and stable and let the
   gate policy decide (roll back, pause, hold or promote).
3. ``promote``: at 100 % with the hold over and gates green, make the new version stable.
"""

from __future__ import annotations

from typing import NoReturn

from b2tui.domain.canary import hold_for, next_weight
from b2tui.domain.gates import GateStatus, GateTracker
from b2tui.domain.phases import Outcome
from b2tui.engine.context import Finish, RunContext
from b2tui.engine.state import Step
from b2tui.engine.strategies.smoke import Aim, check_new_version
from b2tui.ports import SourceError, StepFailed


async def run(ctx: RunContext) -> None:
    image = ctx.deployed(ctx.env.name)
    await _smoke_canary(ctx, image)
    _start(ctx)
    await _step_until_full(ctx, image)
    await _promote(ctx, image)


async def _smoke_canary(ctx: RunContext, image: str) -> None:
    """The smoke checks on the canary before its first weight (where something reaches it
    without the weight: a header route, or the preview Service on its pods)."""
    st, env = ctx.st, ctx.env
    reach = env.canary_header or env.preview_service
    if not reach or st.did(Step.PREVIEW) or st.canary_percent > 0 or st.did(Step.CANARY):
        return
    first = ctx.steps()[0].weight
    url = await ctx.production_change(
        "starting the canary for its smoke checks",
        lambda: ctx.ports.cluster.canary_preview(ctx.target, image, first),
    )
    header = (env.canary_header, env.canary_header_value) if env.canary_header else None
    if header:
        ctx.log("kube", f"canary {image} up, no weight; {header[0]}: {header[1]} routes to it")
    else:
        ctx.log("kube", f"canary {image} up, no weight; {env.preview_service} selects its pods")
    await ctx.await_rollout(env, "canary", ctx.rollback_on)

    async def abandon(reason: str) -> NoReturn:
        try:
            await ctx.mutate(ctx.ports.cluster.withdraw_canary(ctx.target))
            ctx.log("kube", "canary out of traffic and scaled down")
        except (SourceError, StepFailed) as e:
            ctx.notice("warn", f"could not take the canary away: {e}")
        raise Finish(
            Outcome.ABORTED, f"production smoke on the canary: {reason}; traffic stays on stable"
        )

    if env.preview_service:
        through = env.preview_service
    elif env.preview_url:
        through = f"{env.preview_url} with {env.canary_header}: {env.canary_header_value}"
    else:
        through = f"{env.service}-canary, where {env.canary_header} routes"
    aim = Aim(on="the canary", url=env.preview_url or url, through=through, header=header)
    await check_new_version(ctx, aim, abandon)
    ctx.mark(Step.PREVIEW)


def _start(ctx: RunContext) -> None:
    st = ctx.st
    if st.requested_percent is None and st.canary_percent == 0 and not st.did(Step.CANARY):
        st.requested_percent = ctx.steps()[0].weight
        ctx.mark(Step.CANARY)


async def _step_until_full(ctx: RunContext, image: str) -> None:
    st = ctx.st
    steps = ctx.steps()
    while True:
        target = st.requested_percent
        if target is not None and target > st.canary_percent and ctx.unsaved:
            target = None  # no more exposure while the state cannot be saved
        if target is not None and target != st.canary_percent:
            await _set_weight(ctx, image, target)
            continue
        pct = st.canary_percent
        if pct > 0 and not st.did(Step.ROLLOUT, pct):
            # Resumed before the canary's pods were ready: judging them now would
            # read "no traffic", so wait for the rollout as a fresh step would.
            await ctx.await_rollout(ctx.env, "canary", ctx.rollback_on)
            ctx.mark(Step.ROLLOUT, pct)
        if pct > 0:
            await _judge(ctx, hold_for(steps, pct))
        hold_left = ctx.hold_left()
        green = pct == 0 or st.tracker("canary").last is GateStatus.PASS
        if hold_left <= 0 and green and ctx.unsaved:
            pass  # promotion waits for the state file; the gates keep being judged
        elif pct >= 100 and hold_left <= 0 and green:
            return
        elif hold_left <= 0 and green and pct < 100:
            nxt = next_weight(steps, pct)
            if nxt is not None and not st.paused and (ctx.autopilot or st.advance_requested):
                st.advance_requested = False
                st.requested_percent = nxt
                ctx.save()
                continue
            if nxt is not None:
                ctx.notice_once(
                    f"ready-{pct}", "info", f"gates green at {pct}% — press n to go to {nxt}%"
                )
        await ctx.wait(min(ctx.poll, max(hold_left, 0.001)) if hold_left > 0 else ctx.poll)


async def _judge(ctx: RunContext, step_seconds: float) -> None:
    """Sample stable, then the canary (against stable's readings of the same window when a
    rule compares), and let the gate policy decide."""
    stable = await ctx.readings(ctx.env, "stable", step_seconds)
    await ctx.sample(ctx.env, "stable", "stable", pods=False, decide=False, readings=stable)
    results = await ctx.sample(
        ctx.env,
        "canary",
        "canary",
        pods=True,
        readings=await ctx.readings(ctx.env, "canary", step_seconds),
        baseline=stable if ctx.compares else None,
    )
    ctx.decide("canary", results, production=True)


async def _set_weight(ctx: RunContext, image: str, target: int) -> None:
    st = ctx.st
    split = await ctx.production_change(
        f"traffic change to {target}%",
        lambda: ctx.ports.cluster.set_canary(ctx.target, image, target),
    )
    st.requested_percent = None
    st.put_tracker("canary", GateTracker())
    ctx.traffic_changed(target, round(split.achieved_percent, 2), split.detail)
    # At 0 % nothing is exposed, so there is nothing to hold for.
    ctx.start_hold(ctx.scaled(hold_for(ctx.steps(), target)) if target > 0 else 0.0)
    if target > 0:
        await ctx.await_rollout(ctx.env, "canary", ctx.rollback_on)
        ctx.mark(Step.ROLLOUT, target)


async def _promote(ctx: RunContext, image: str) -> None:
    await ctx.production_change(
        "promotion to stable", lambda: ctx.ports.cluster.promote(ctx.target, image)
    )
    ctx.log("kube", f"promoted {image} to stable; canary scaled down")
    await ctx.await_rollout(ctx.env, None, ctx.rollback_on)
