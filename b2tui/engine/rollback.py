"""Rollback: restore the known-good revision recorded when the run started, then verify.

This module is the one sender of the rollback: :func:`start` sends the first request at
once (calling the cluster's ``rollback`` may already send it, before the key handler or
gate check that asked for it returns) and returns the task that retries it until
accepted, verifies recovery, notifies the incident channel and ends the run rolled back.
The conductor records the rollback and calls :func:`start`
(:meth:`~b2tui.engine.conductor.Conductor.begin_rollback`). The cluster's ``rollback`` is
idempotent: restoring twice, or after a traffic change that was still in flight, lands on
the same target.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from b2tui.domain import events as ev
from b2tui.domain.gates import GateStatus, overall
from b2tui.domain.phases import Outcome
from b2tui.engine.context import RunContext
from b2tui.engine.notify import notify
from b2tui.ports import RollbackResult, SourceError, StepFailed


def start(ctx: RunContext) -> asyncio.Task[None]:
    """Send the rollback's first request now; the task returned does the rest."""
    return asyncio.create_task(_restore(ctx, _send(ctx)))


def _send(ctx: RunContext) -> asyncio.Future[RollbackResult]:
    """One rollback request to the known-good revision (started at once)."""
    return asyncio.ensure_future(ctx.ports.cluster.rollback(ctx.target, ctx.st.target))


async def _restore(ctx: RunContext, first: asyncio.Future[RollbackResult] | None) -> None:
    """Send the rollback until it is accepted, verify recovery, notify the incident channel,
    end the run rolled back.

    Args:
        ctx: the run.
        first: the first request, already sent.
    """
    st = ctx.st
    assert st.rollback is not None
    target = st.target
    started = st.rollback.started
    # The pagers are called now, alongside the first request (never before it); the
    # incident note at the end waits for this one, so a resolve never overtakes its trigger.
    paged = asyncio.ensure_future(notify(ctx, "rollback", st.rollback.reason))
    attempt = 0
    changed = False
    while True:
        try:
            call = first if first is not None else _send(ctx)
            first = None  # a retry sends again
            res = await call
            changed = changed or res.changed
            # A traffic change already in flight when the rollback began may land after
            # it; rolling back again (idempotent) restores the target regardless.
            while ctx.inflight:
                await asyncio.wait(set(ctx.inflight))
                res = await _send(ctx)
                changed = changed or res.changed
            break
        except (SourceError, StepFailed) as e:
            attempt += 1
            ctx.notice("alert", f"rollback attempt {attempt} failed: {e}; retrying")
            await ctx.clock.sleep(min(30.0, 2.0 ** min(attempt, 5)))
    ctx.log("kube", f"rollback to {target.describe()}: {res.detail or 'done'}")
    recovered = await verify_recovery(ctx)
    now = ctx.clock.now()
    ctx.emit(
        ev.RollbackCompleted(
            ts=now,
            phase=st.phase,
            target=target.to_dict(),
            changed=changed,
            duration=(now - started).total_seconds(),
            recovered=recovered,
            detail=res.detail,
        )
    )
    await paged
    await notify(ctx, "incident", st.rollback.reason, recovered=recovered)
    ctx.journal.finish(Outcome.ROLLED_BACK, st.rollback.reason)


async def verify_recovery(ctx: RunContext) -> bool:
    """Wait for the rollout of the restored revision, then for a green sample."""
    deadline = ctx.clock.now() + timedelta(seconds=ctx.env.rollout_timeout)
    poll = ctx.poll
    while ctx.clock.now() < deadline:
        try:
            state = await ctx.ports.cluster.rollout(ctx.target, None)
        except SourceError:
            state = None
        if state is not None and state.complete:
            break
        await ctx.clock.sleep(poll)
    for _ in range(ctx.settings.gates.consecutive_failures * 2):
        results = await ctx.sample(ctx.env, None, "recovery", pods=True)
        if overall(results) is GateStatus.PASS:
            ctx.log("engine", "service recovered: gates green after rollback")
            return True
        await ctx.clock.sleep(poll)
    ctx.notice("alert", "service not verified green after rollback — investigate")
    return False
