"""The phases around production: readiness, validate, staging, smoke, monitoring.

Each phase is an ``async`` function of the :class:`~b2tui.engine.context.RunContext`, a
flat run of idempotent steps: a step already in ``state.done`` is skipped, so a resumed
run goes on where it stood. A phase returns when it is complete, raises
:class:`~b2tui.engine.context.Finish` to end the run (blocked, aborted, succeeded), or
:class:`~b2tui.engine.context.Stop` once a rollback began. What to *decide* after a sample
or a command is :mod:`b2tui.engine.policy`'s; production itself is a strategy
(:mod:`b2tui.engine.strategies`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from functools import partial

from b2tui.domain import events as ev
from b2tui.domain.checklist import (
    READINESS_ITEMS,
    ChecklistItem,
    ItemKind,
    ItemState,
    RunConditions,
    blocker_text,
    blockers,
    build_checklist,
    manual_items,
)
from b2tui.domain.gates import GateStatus, GateTracker
from b2tui.domain.monitoring import STAGE_NUMBER, stage_at, stages
from b2tui.domain.phases import Outcome, Phase, Strategy
from b2tui.engine import artifacts, checklist, checks, policy
from b2tui.engine.commands import run_command
from b2tui.engine.context import Finish, RunContext
from b2tui.engine.notify import notify
from b2tui.engine.policy import Verdict
from b2tui.engine.state import Step, ts
from b2tui.ports import SourceError, StepFailed


async def readiness(ctx: RunContext) -> None:
    st = ctx.st
    if not st.did(Step.ITEMS):
        specs = ctx.settings.readiness.items
        items = build_checklist(READINESS_ITEMS if specs is None else specs, _conditions(ctx))
        notify = ctx.settings.notify
        if notify.github_token is not None and notify.github_repo:
            # GitHub answers the review (an approval by someone other than the PR's author);
            # when it cannot tell, people sign it by hand as before.
            items = [
                replace(i, kind=ItemKind.AUTOMATIC, check="github-review")
                if i.key == "review_approved" and i.kind is ItemKind.MANUAL
                else i
                for i in items
            ]
        st.set_items(items)
        ctx.mark(Step.ITEMS)
        for item in st.items():
            checklist.emit(ctx, item)
        if not ctx.settings.roles.configured:
            where = f" in {ctx.settings.path}" if ctx.settings.path is not None else ""
            ctx.notice_once(
                "no-roles",
                "warn",
                f"no [roles]{where}: anyone who can reach this run may sign every item"
                " (README, Roles)",
            )
    while True:
        for item in st.items():
            if (
                item.group == "readiness"
                and item.kind is ItemKind.AUTOMATIC
                and item.state is ItemState.PENDING
                and not item.detail
            ):
                res = await ctx.ports.checks.readiness(item)
                if res.passed is None:
                    unknown = f"unknown: {res.detail} — sign off by hand"
                    checklist.update(ctx, item.key, partial(_with_detail, detail=unknown))
                else:
                    checklist.update(
                        ctx,
                        item.key,
                        partial(ChecklistItem.answered, passed=res.passed, detail=res.detail),
                    )
        d = policy.readiness(st.items())
        if d.verdict is Verdict.BLOCK:
            raise Finish(Outcome.BLOCKED, d.reason)
        checklist.autopilot_sign(ctx, "readiness")
        d = policy.readiness(st.items())
        if d.green:
            return
        pending = len(blockers([i for i in st.items() if i.group == "readiness"]))
        ctx.notice_once(f"ready-wait-{pending}", "info", d.reason)
        await ctx.wait(ctx.settings.gates.poll)


def _conditions(ctx: RunContext) -> RunConditions:
    st = ctx.st
    return RunConditions(
        pii=ctx.settings.readiness.pii,
        migrations=ctx.settings.readiness.migrations,
        emergency=st.emergency,
        direct=ctx.env.strategy is Strategy.DIRECT,
        flags=frozenset(st.flags),
    )


async def validate(ctx: RunContext) -> None:
    cmds = ctx.settings.commands
    for name in ("pull", "test", "build"):
        command = getattr(cmds, name)
        if not command or ctx.st.did(Step(name)):
            continue
        res = await run_command(ctx, name, command)
        d = policy.command(Phase.VALIDATE, name, res)
        if d.verdict is Verdict.BLOCK:
            raise Finish(Outcome.BLOCKED, d.reason)
        ctx.mark(Step(name))
    problems: list[str] = []
    for env in (ctx.staging_target, ctx.target):
        try:
            problems += [f"{env.name}: {p}" for p in await ctx.ports.cluster.check_target(env)]
        except SourceError as e:
            problems.append(f"{env.name}: {e}")
    if problems:
        raise Finish(Outcome.BLOCKED, "validate: target check: " + "; ".join(problems))
    ctx.log("engine", "target check: staging and production reachable")


async def staging(ctx: RunContext) -> None:
    await artifacts.build_and_push(ctx, ctx.image(ctx.staging_env.name))
    tag = ctx.deployed(ctx.staging_env.name)
    if not ctx.st.did(Step.DEPLOY):
        try:
            await ctx.mutate(ctx.ports.cluster.deploy(ctx.staging_target, tag))
        except (SourceError, StepFailed) as e:
            raise Finish(Outcome.ABORTED, f"staging: deploy failed: {e}") from None
        ctx.mark(Step.DEPLOY)
        ctx.log("kube", f"applied {ctx.staging_env.name} with {tag}")
    await ctx.await_rollout(ctx.staging_env, None, _abort_staging)


async def smoke(ctx: RunContext) -> None:
    st = ctx.st
    smoke = ctx.settings.smoke
    if (smoke.manual or smoke.items) and not st.did(Step.MANUAL_ITEMS):
        team = [
            replace(i, group="smoke")
            for i in build_checklist(smoke.items, _conditions(ctx), emergency_path=False)
        ]
        st.set_items([*st.items(), *manual_items(list(smoke.manual)), *team])
        ctx.mark(Step.MANUAL_ITEMS)
        for item in st.items():
            if item.group == "smoke":
                checklist.emit(ctx, item)
    if ctx.settings.commands.smoke and not st.did(Step.SMOKE_COMMAND):
        res = await run_command(ctx, "smoke", ctx.settings.commands.smoke)
        d = policy.command(Phase.SMOKE, "smoke", res)
        if d.verdict is Verdict.ABORT:
            raise Finish(Outcome.ABORTED, d.reason)
        ctx.mark(Step.SMOKE_COMMAND)
    if smoke.http and not st.did(Step.HTTP):
        for check in smoke.http:
            answer = await ctx.ports.checks.http(check)
            ctx.log("smoke", f"{check.method} {check.url}: {answer.detail}")
            if not answer.passed:
                raise Finish(Outcome.ABORTED, f"smoke: {check.url}: {answer.detail}")
        ctx.mark(Step.HTTP)
    if smoke.log_patterns and not st.did(Step.LOGS):
        since = max(
            60.0,
            (ctx.clock.now() - (ts(st.phase_started) or ctx.clock.now())).total_seconds() + 600,
        )
        try:
            counts = await ctx.ports.cluster.scan_logs(
                ctx.staging_target, smoke.log_patterns, since
            )
        except SourceError as e:
            raise Finish(Outcome.ABORTED, f"smoke: log scan failed: {e}") from None
        summary = ", ".join(f"{p!r}: {n}" for p, n in counts.items())
        ctx.log("logs", f"log scan of new pods: {summary or 'no patterns'}")
        hits = {p: n for p, n in counts.items() if n}
        if hits:
            worst = max(hits, key=lambda p: hits[p])
            raise Finish(
                Outcome.ABORTED, f"smoke: log scan found {hits[worst]} lines matching {worst!r}"
            )
        ctx.mark(Step.LOGS)
    stable_for = smoke.stable_for * (
        ctx.settings.readiness.emergency_hold_factor if st.emergency else 1.0
    )
    while True:
        checklist.autopilot_sign(ctx, "smoke")
        results = await ctx.sample(ctx.staging_env, None, "staging", pods=True)
        ctx.decide("staging", results, production=False)
        now = ctx.clock.now()
        if ctx.st.tracker("staging").last is GateStatus.PASS:
            st.stable_since = st.stable_since or now.isoformat()
        else:
            st.stable_since = None
        ctx.save()
        green_since = ts(st.stable_since)
        stable = green_since is not None and (now - green_since).total_seconds() >= stable_for
        pending = blockers([i for i in st.items() if i.group == "smoke"])
        if stable and not pending:
            break
        if stable and pending:
            ctx.notice_once(
                "smoke-manual",
                "info",
                "smoke " + blocker_text([i for i in st.items() if i.group == "smoke"]),
            )
        await ctx.wait(ctx.settings.gates.poll)
    await ctx.await_go(Step.GO_PRODUCTION, "staging verified — press n to start production")


async def monitoring(ctx: RunContext) -> None:
    st = ctx.st
    window = ctx.env.monitoring_window
    if st.monitoring_started is None:
        st.monitoring_started = ctx.clock.now().isoformat()
        st.put_tracker("service", _fresh())
        ctx.save()
    start = ts(st.monitoring_started)
    assert start is not None
    spans = stages(window)
    if not st.did(Step.MONITORING_ITEMS):
        added = checks.items(ctx, start)
        st.set_items([*st.items(), *added])
        ctx.mark(Step.MONITORING_ITEMS)
        for item in added:
            checklist.emit(ctx, item)
    while True:
        now = ctx.clock.now()
        elapsed = (now - start).total_seconds()
        stage = stage_at(elapsed, window)
        number = STAGE_NUMBER[stage]
        if number != st.stage_number:
            st.stage_number = number
            ctx.save()
            span = spans[number - 1]
            ctx.emit(
                ev.StageChanged(
                    ts=now,
                    phase=st.phase,
                    stage=stage.value,
                    number=number,
                    until=start + timedelta(seconds=span.end),
                )
            )
        checklist.autopilot_sign(ctx, checks.GROUP)
        extra = await checks.automatic(ctx)
        results = await ctx.sample(ctx.env, None, "service", pods=True, extra=extra)
        ctx.decide("service", results, production=True)
        elapsed = (ctx.clock.now() - start).total_seconds()
        checks.overdue(ctx, elapsed)
        if elapsed >= window and st.tracker("service").last is GateStatus.PASS:
            waiting = checks.unsigned(ctx)
            if not waiting:
                return
            # The gates are green, the people have not said so yet: success waits (and
            # the gates keep being judged: a late regression still rolls back).
            ctx.notice_once(
                "monitoring-unsigned",
                "alert",
                "monitoring window ended green; success waits for sign-off of "
                + ", ".join(f"{i.title} ({i.owner})" for i in waiting),
            )
        left = window - elapsed
        await ctx.wait(min(ctx.settings.gates.poll, left) if left > 0 else ctx.settings.gates.poll)


async def succeed(ctx: RunContext) -> None:
    st = ctx.st
    old = st.known_good.colour if st.known_good else None
    if st.strategy == Strategy.BLUE_GREEN.value and old:
        try:
            await ctx.mutate(ctx.ports.cluster.retire_colour(ctx.target, old))
            ctx.log("kube", f"old colour {old} scaled down")
        except (SourceError, StepFailed) as e:
            ctx.notice("warn", f"could not scale down {old}: {e}")
    await notify(ctx, "deployed", "")
    raise Finish(Outcome.SUCCEEDED, "monitoring window ended green")


def _abort_staging(reason: str) -> None:
    raise Finish(Outcome.ABORTED, f"staging: {reason}")


def _with_detail(item: ChecklistItem, detail: str) -> ChecklistItem:
    return replace(item, detail=detail)


def _fresh() -> GateTracker:
    return GateTracker()
