"""Monitoring's checks next to its gates (``[monitoring]``).

- Manual checks ("Spot check key features") join the checklist when the window opens,
  each due by the end of its stage; signed off like smoke's manual checks. One still
  unsigned when the window ended green holds success and says who must sign.
- Automatic checks run at every poll of the window: ``[[monitoring.http]]`` requested, and
  ``log_patterns`` scanned in the new pods' logs since the last poll. Each is one more
  gate in the sample (``http_checks``, ``log_lines``), so a failing one counts like a
  failing gate sample (``consecutive_failures`` in a row roll back), and a check that
  cannot answer is unknown, never a pass. Their checklist lines say how they stand.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from b2tui.domain.checklist import ChecklistItem, ItemKind, ItemState
from b2tui.domain.gates import Comparison, GateResult, GateSpec, Reading, judge
from b2tui.domain.monitoring import stages
from b2tui.engine import checklist
from b2tui.engine.context import RunContext
from b2tui.ports import SourceError, StepFailed

HTTP_GATE = GateSpec("http_checks", 1.0, Comparison.MAX, "failing")
"""``[[monitoring.http]]`` checks failing in this poll: any is a fail."""
LOGS_GATE = GateSpec("log_lines", 1.0, Comparison.MAX, "lines")
"""Log lines of the new pods matching ``log_patterns`` since the last poll: any is a fail."""
KEY_HTTP, KEY_LOGS = "monitoring_http", "monitoring_logs"
GROUP = "monitoring"


def _manual_key(n: int) -> str:
    return f"monitoring_{n}"


def items(ctx: RunContext, start: datetime) -> list[ChecklistItem]:
    """The window's checklist lines: manual checks with their due time, then automatic."""
    mon, window = ctx.settings.monitoring, ctx.env.monitoring_window
    ends = {s.stage.value: s.end for s in stages(window)}
    out = []
    for n, check in enumerate(mon.manual, 1):
        due = start + timedelta(seconds=ends[check.stage])
        out.append(
            ChecklistItem(
                key=_manual_key(n),
                title=check.title,
                kind=ItemKind.MANUAL,
                owner=check.owner,
                group=GROUP,
                detail=f"due by the end of {check.stage} ({due:%H:%M})",
            )
        )
    if mon.http:
        title = f"HTTP checks at every poll ({len(mon.http)})"
        out.append(ChecklistItem(KEY_HTTP, title, ItemKind.AUTOMATIC, "b2tui", group=GROUP))
    if mon.log_patterns:
        title = "No error lines in the new pods' logs"
        out.append(ChecklistItem(KEY_LOGS, title, ItemKind.AUTOMATIC, "b2tui", group=GROUP))
    return out


async def automatic(ctx: RunContext) -> list[GateResult]:
    """One round of the automatic checks, as gate results for the sample."""
    mon = ctx.settings.monitoring
    results: list[GateResult] = []
    if mon.http:
        failing = []
        for check in mon.http:
            answer = await ctx.ports.checks.http(check)
            if answer.passed is None:
                failing.append(f"{check.url}: unknown: {answer.detail}")
            elif not answer.passed:
                failing.append(f"{check.url}: {answer.detail}")
        result = judge(HTTP_GATE, Reading(HTTP_GATE.name, float(len(failing))))
        results.append(replace(result, reason="; ".join(failing)) if failing else result)
        _answer(ctx, KEY_HTTP, not failing, failing[0] if failing else "answered at every poll")
    if mon.log_patterns:
        try:
            counts = await ctx.ports.cluster.scan_logs(ctx.target, mon.log_patterns, ctx.poll)
        except (SourceError, StepFailed) as e:
            results.append(judge(LOGS_GATE, Reading(LOGS_GATE.name, None, f"log scan: {e}")))
            return results
        hits = {p: n for p, n in counts.items() if n}
        result = judge(LOGS_GATE, Reading(LOGS_GATE.name, float(sum(hits.values()))))
        if hits:
            worst = max(hits, key=lambda p: hits[p])
            detail = f"{hits[worst]} lines matching {worst!r}"
            result = replace(result, reason=detail)
        _answer(ctx, KEY_LOGS, not hits, detail if hits else "no matches so far")
    return results


def _answer(ctx: RunContext, key: str, passed: bool, detail: str) -> None:
    """Update an automatic line when its answer changed (not at every poll)."""
    state = ItemState.PASSED if passed else ItemState.FAILED
    current = next((i for i in ctx.st.items() if i.key == key), None)
    if current is None or (current.state, current.detail) == (state, detail):
        return
    checklist.update(ctx, key, lambda i: replace(i, state=state, detail=detail))


def overdue(ctx: RunContext, elapsed: float) -> None:
    """Say once, per manual check, when its stage ended unsigned."""
    mon, window = ctx.settings.monitoring, ctx.env.monitoring_window
    ends = {s.stage.value: s.end for s in stages(window)}
    pending = {i.key: i for i in unsigned(ctx)}
    for n, check in enumerate(mon.manual, 1):
        item = pending.get(_manual_key(n))
        if item is not None and elapsed >= ends[check.stage]:
            ctx.notice_once(
                f"monitoring-overdue-{item.key}",
                "warn",
                f"overdue: {item.title} was due by the end of {check.stage};"
                f" {item.owner} must sign it",
            )


def unsigned(ctx: RunContext) -> list[ChecklistItem]:
    """Manual monitoring checks nobody signed yet."""
    return [
        i for i in ctx.st.items() if i.group == GROUP and i.kind is ItemKind.MANUAL and i.blocking
    ]
