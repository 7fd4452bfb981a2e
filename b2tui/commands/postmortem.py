"""``b2tui postmortem RUN``: the incident write-up, from the run's journal (pure).

Everything comes from what the store kept of the run — its record, its events (the same
journal the control room folds) and its audit log — so the write-up says what happened,
not what someone remembers: what was deployed (commit range, image, digest), the timeline
with times, each gate that broke with its values and query around the breach, who pressed
what, the rollback's target and the time to recover. Cause and follow-ups are left for
people, as empty sections.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from b2tui.domain import events as ev
from b2tui.domain.gates import format_value, verdict_text
from b2tui.ports import AuditEntry, RunRecord

AROUND = 5
"""Samples shown before a gate's first breach (and up to the rollback after it)."""

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Written:
    """A write-up: its title (an issue's title) and its Markdown body."""

    title: str
    body: str


def _t(ts: datetime | None) -> str:
    return f"{ts:%H:%M:%S}" if ts else "–"


def _dur(seconds: float) -> str:
    s = max(0, round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


def _cell(text: object) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _tag_version(image: str) -> str | None:
    """``9f3c2a1`` of ``registry/app:prod-9f3c2a1`` (b2tui's tags end in the short sha)."""
    tag = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else ""
    sha = tag.rsplit("-", 1)[-1]
    return sha if re.fullmatch(r"[0-9a-f]{7,40}", sha) else None


def _digest(events: Sequence[ev.Event], image: str) -> str | None:
    found = None
    for e in events:
        if isinstance(e, ev.LogLine) and image in e.line and (m := _DIGEST.search(e.line)):
            found = m.group()
    return found


def _timeline(events: Sequence[ev.Event]) -> list[tuple[datetime, str, str]]:
    """(time, phase, what) for the events a reader of an incident needs."""
    rows: list[tuple[datetime, str, str]] = []
    breached: set[tuple[str | None, str]] = set()
    for e in events:
        phase = e.phase.value if e.phase else ""
        text = ""
        match e:
            case ev.RunStarted():
                text = f"run {e.run_id} started: {e.version} ({e.image}), {e.strategy}"
            case ev.RunResumed():
                text = f"resumed by {e.by}"
            case ev.PhaseStarted():
                text = f"**{phase}** started"
            case ev.PhaseCompleted():
                text = f"{phase} completed in {_dur(e.duration)}"
            case ev.TrafficChanged():
                text = f"traffic {e.canary_percent}% (achieved {e.achieved_percent:g}%)"
            case ev.HoldStarted() if e.seconds:
                text = f"hold {_dur(e.seconds)} (until {_t(e.until)})"
            case ev.StageChanged():
                text = f"monitoring stage {e.number}: {e.stage}"
            case ev.GateSampled(status="fail" | "unknown") if (e.track, e.gate) not in breached:
                breached.add((e.track, e.gate))
                who = f"{e.track} " if e.track else ""
                text = f"**{who}{e.gate} {e.status.upper()}**: {verdict_text(e.result())}"
            case ev.GateSampled(status="pass") if (e.track, e.gate) in breached:
                breached.discard((e.track, e.gate))
                who = f"{e.track} " if e.track else ""
                text = f"{who}{e.gate} back to pass: {format_value(e.value, e.unit)}"
            case ev.PauseChanged():
                text = ("paused: " if e.paused else "resumed: ") + e.reason
            case ev.Notice(level="warn" | "alert"):
                text = f"{e.level}: {e.message}"
            case ev.OperatorActed():
                refused = "" if e.accepted else " (refused)"
                text = f"{e.user}: {e.action} {e.detail}{refused}".strip()
            case ev.RollbackStarted():
                text = f"**ROLLBACK** started by {e.by}: {e.reason}"
            case ev.RollbackCompleted():
                state = "recovered" if e.recovered else "NOT verified green"
                text = f"rollback completed in {_dur(e.duration)}: {state}"
            case ev.Notified():
                text = f"notified {e.channel}: {'sent' if e.ok else e.detail}"
            case ev.RunFinished():
                text = f"run **{e.outcome.replace('_', ' ')}**" + (
                    f": {e.reason}" if e.reason else ""
                )
        if text:
            rows.append((e.ts, phase, text))
    return rows


def _gate_sections(events: Sequence[ev.Event], until: datetime | None) -> list[str]:
    samples: dict[tuple[str | None, str], list[ev.GateSampled]] = {}
    for e in events:
        if isinstance(e, ev.GateSampled):
            samples.setdefault((e.track, e.gate), []).append(e)
    out: list[str] = []
    for (track, gate), rows in samples.items():
        first = next((i for i, s in enumerate(rows) if s.status in ("fail", "unknown")), None)
        if first is None:
            continue
        start = max(0, first - AROUND)
        end = len(rows)
        if until is not None:
            end = next((i for i, s in enumerate(rows) if s.ts > until), len(rows))
        end = max(end, first + 1)
        shown = rows[start:end]
        breach = rows[first]
        who = f"{track} " if track else ""
        out.append(f"### {who}{gate}\n")
        out.append(
            f"First breach at {_t(breach.ts)} in {breach.phase.value if breach.phase else '–'}"
            f" ({breach.environment or 'production'}): {verdict_text(breach.result())}.\n"
        )
        out.append("| time | value | limit | status | requests | rule |")
        out.append("| --- | --- | --- | --- | --- | --- |")
        for s in shown:
            requests = f"{s.requests:g}" if s.requests is not None else "–"
            mark = " ←" if s is breach else ""
            out.append(
                f"| {_t(s.ts)} | {format_value(s.value, s.unit)} |"
                f" {format_value(s.threshold, s.unit)} | {s.status}{mark} | {requests} |"
                f" {s.rule} |"
            )
        queries = sorted({s.query for s in shown if s.query})
        if queries:
            out.append("\nQuery as sent:\n")
            out += [f"```promql\n{q}\n```" for q in queries]
        else:
            out.append("\nQuery: none recorded with these samples (the sandbox sends none).")
        out.append("")
    return out


def postmortem(
    rec: RunRecord,
    events: Sequence[ev.Event],
    audit: Sequence[AuditEntry],
    *,
    commits: Sequence[str] = (),
    now: datetime | None = None,
) -> Written:
    """The write-up of run ``rec``.

    Args:
        rec: The run's record.
        events: Its journal, oldest first.
        audit: Its audit entries, oldest first.
        commits: ``sha subject`` lines of the deployed range, when a checkout knew them.
        now: The run's clock now, for a run still in progress.
    """
    started = next((e for e in events if isinstance(e, ev.RunStarted)), None)
    finished = next((e for e in events if isinstance(e, ev.RunFinished)), None)
    rb_start = next((e for e in events if isinstance(e, ev.RollbackStarted)), None)
    rb_done = next((e for e in events if isinstance(e, ev.RollbackCompleted)), None)
    known_good = (started.known_good if started else {}) or {}
    outcome = (finished.outcome if finished else rec.outcome) or ""
    in_progress = finished is None and rec.outcome is None
    what = "in progress" if in_progress else outcome.replace("_", " ")
    kind = "Incident" if rb_start is not None or outcome in ("rolled_back",) else "Deployment"
    title = f"{kind}: {rec.service} {rec.environment} {rec.version} {what} ({rec.id})"
    first_ts = started.ts if started else rec.started_at
    last_ts = finished.ts if finished else (events[-1].ts if events else now)
    scenario = started.scenario if started else None

    md: list[str] = [f"# {title}\n"]
    if in_progress:
        md.append("> **In progress**: the run has not finished; this is what happened so far.\n")
    md.append("## Summary\n")
    md.append("| | |\n| --- | --- |")
    md.append(f"| service / environment | {rec.service} / {rec.environment} |")
    md.append(f"| run | `{rec.id}` ({rec.strategy}{', emergency' if rec.emergency else ''}) |")
    if scenario:
        md.append(f"| sandbox scenario | `{scenario}` (a practice run, not production) |")
    md.append(f"| started | {first_ts:%Y-%m-%d %H:%M:%S %Z} by {_cell(rec.created_by)} |")
    if finished is not None:
        took = _dur((finished.ts - first_ts).total_seconds())
        md.append(f"| ended | {finished.ts:%Y-%m-%d %H:%M:%S %Z} ({took}) |")
    md.append(
        f"| outcome | **{what}**"
        + (f": {_cell(finished.reason)}" if finished and finished.reason else "")
        + " |"
    )
    if rb_start is not None:
        md.append(f"| rollback | {_cell(rb_start.reason)} (by {rb_start.by}) |")
    md.append("")

    md.append("## What was deployed\n")
    previous = _tag_version(str(known_good.get("image", "")))
    md.append(
        f"- commit: `{rec.version}`" + (f" (range `{previous}..{rec.version}`)" if previous else "")
    )
    md.append(f"- image: `{rec.image}`")
    digest = _digest(events, rec.image)
    md.append(f"- digest: `{digest}`" if digest else "- digest: not recorded")
    if known_good:
        colour = f", colour {known_good['colour']}" if known_good.get("colour") else ""
        md.append(
            f"- replaced (known-good): revision {known_good.get('revision', '?')}{colour},"
            f" `{known_good.get('image', '?')}`"
        )
    if commits:
        md.append("\nCommits in the range:\n")
        md += [f"- {_cell(c)}" for c in commits]
    md.append("")

    md.append("## Timeline\n")
    md.append(f"Times are UTC on the run's clock ({first_ts:%Y-%m-%d}).\n")
    md.append("| time | phase | what |\n| --- | --- | --- |")
    for ts, phase, text in _timeline(events):
        md.append(f"| {_t(ts)} | {phase or '–'} | {_cell(text)} |")
    md.append("")

    md.append("## Gates around the breach\n")
    gates = _gate_sections(events, rb_start.ts if rb_start else last_ts)
    md += gates if gates else ["No gate failed or lost its data in this run.\n"]

    md.append("## Who pressed what\n")
    if audit:
        md.append("| time (run) | wall clock | who | action | detail | |")
        md.append("| --- | --- | --- | --- | --- | --- |")
        for a in audit:
            run_ts = datetime.fromisoformat(a.run_ts) if a.run_ts else None
            verdict = "accepted" if a.accepted else "refused"
            md.append(
                f"| {_t(run_ts)} | {_cell(a.wall_ts)} | {_cell(a.user)} | {_cell(a.action)} |"
                f" {_cell(a.detail)} | {verdict} |"
            )
    else:
        md.append("Nobody acted on this run (no audit entries).")
    md.append("")

    md.append("## Rollback and recovery\n")
    if rb_start is None:
        md.append("No rollback in this run.\n")
    else:
        target = rb_start.target or known_good
        md.append(f"- reason: {rb_start.reason}")
        md.append(f"- started: {_t(rb_start.ts)} by {rb_start.by}")
        md.append(f"- target: revision {target.get('revision', '?')}, `{target.get('image', '?')}`")
        breaches = [
            e for e in events if isinstance(e, ev.GateSampled) and e.status in ("fail", "unknown")
        ]
        if breaches and breaches[0].ts <= rb_start.ts:
            md.append(
                f"- time to detect (first breach → rollback): "
                f"{_dur((rb_start.ts - breaches[0].ts).total_seconds())}"
            )
        if rb_done is not None:
            verified = "gates verified green" if rb_done.recovered else "NOT verified green"
            md.append(
                f"- time to recover (rollback → restored, {verified}):"
                f" {_dur(rb_done.duration)}, done at {_t(rb_done.ts)}"
            )
            if rb_done.detail:
                md.append(f"- what changed: {rb_done.detail}")
            if breaches and breaches[0].ts <= rb_done.ts:
                md.append(
                    f"- impact window (first breach → recovered):"
                    f" {_dur((rb_done.ts - breaches[0].ts).total_seconds())}"
                )
        else:
            md.append("- not completed yet")
        md.append("")
    notified = [e for e in events if isinstance(e, ev.Notified)]
    if notified:
        md.append("## Notifications\n")
        md += [
            f"- {_t(e.ts)} {e.channel}: {'sent' if e.ok else 'FAILED'}"
            + (f" ({_cell(e.detail)})" if e.detail else "")
            for e in notified
        ]
        md.append("")
    md.append(
        "## Cause\n\n_To be written: what made the release fail, and why it was not caught"
        " before production._\n"
    )
    md.append("## Follow-ups\n\n- [ ] \n")
    md.append(f"_Written by b2tui from the journal of run `{rec.id}`._")
    return Written(title, "\n".join(md) + "\n")
