"""A run as the screen shows it, folded from its events (pure reducer).

The driving process and a watching one build the same view from the same events,
so what an operator sees never depends on which process decides.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from b2tui.domain import events as ev
from b2tui.domain.images import short_digest, split_image
from b2tui.domain.phases import Outcome, Phase

HISTORY = 120
"""Samples kept per gate and track for sparklines."""
LOG_LINES = 500
"""Log lines kept in memory."""


@dataclass
class CheckView:
    key: str
    title: str
    state: str
    owner: str
    manual: bool
    required: bool
    group: str
    by: str | None = None
    at: datetime | None = None
    detail: str = ""


@dataclass
class TimelineEntry:
    ts: datetime
    text: str
    level: str = "info"
    """``info``, ``phase``, ``warn``, ``alert`` (rollbacks and incidents)."""


@dataclass
class RunView:
    run_id: str = ""
    service: str = ""
    environment: str = ""
    strategy: str = ""
    version: str = ""
    image: str = ""
    emergency: bool = False
    scenario: str | None = None
    known_good: dict[str, Any] = field(default_factory=dict)
    """Rollback target recorded at start (deployment, revision, image, colour)."""
    deployed: str = ""
    """The pinned image last deployed or promoted (``repo:tag@sha256:…``), once known."""
    digest: str = ""
    """The digest staging verified (``sha256:…``), once pushed or resolved."""
    started_at: datetime | None = None
    phase: Phase | None = None
    phase_started: dict[Phase, datetime] = field(default_factory=dict)
    phase_durations: dict[Phase, float] = field(default_factory=dict)
    outcome: Outcome | None = None
    outcome_reason: str = ""
    checks: dict[str, CheckView] = field(default_factory=dict)
    gates: dict[tuple[str | None, str], ev.GateSampled] = field(default_factory=dict)
    """Latest sample per (track, gate)."""
    history: dict[tuple[str | None, str], deque[float | None]] = field(default_factory=dict)
    """Recent values per (track, gate), None for no data."""
    gate_since: dict[tuple[str | None, str], datetime] = field(default_factory=dict)
    """Per (track, gate): since when its status has been the latest sample's status (the
    start of a NO DATA streak, or of a green one) — the screen's countdowns."""
    canary_percent: int = 0
    achieved_percent: float = 0.0
    traffic_detail: str = ""
    hold_until: datetime | None = None
    stage: str | None = None
    stage_number: int = 0
    stage_until: datetime | None = None
    paused: bool = False
    pause_reason: str = ""
    rollback_reason: str | None = None
    rollback_by: str | None = None
    rollback_started: datetime | None = None
    rollback_done: bool = False
    timeline: list[TimelineEntry] = field(default_factory=list)
    log: deque[tuple[datetime, str, str]] = field(default_factory=lambda: deque(maxlen=LOG_LINES))
    """(ts, source, line)."""
    last_notice: ev.Notice | None = None
    last_ts: datetime | None = None
    """Run-clock time of the newest event."""

    @property
    def finished(self) -> bool:
        return self.outcome is not None

    @property
    def rolling_back(self) -> bool:
        return self.rollback_started is not None and not self.rollback_done


def apply(view: RunView, e: ev.Event) -> RunView:
    """Fold one event into the view (in place; returns it for chaining)."""
    view.last_ts = e.ts
    match e:
        case ev.RunStarted():
            view.run_id, view.service, view.environment = e.run_id, e.service, e.environment
            view.strategy, view.version, view.image = e.strategy, e.version, e.image
            view.emergency, view.scenario, view.known_good = e.emergency, e.scenario, e.known_good
            view.started_at = e.ts
            view.timeline.append(TimelineEntry(e.ts, f"run {e.run_id} started ({e.version})"))
        case ev.ArtifactPinned():
            view.deployed, view.digest = e.image, e.digest
            tag = split_image(e.image)[1] or e.image
            view.timeline.append(
                TimelineEntry(e.ts, f"{e.detail} ({tag} {short_digest(e.digest)})")
            )
        case ev.RunResumed():
            view.run_id = e.run_id
            view.timeline.append(TimelineEntry(e.ts, f"resumed by {e.by}", "warn"))
        case ev.PhaseStarted():
            if e.phase is not None:
                view.phase = e.phase
                view.phase_started[e.phase] = e.ts
                if e.phase is Phase.PRODUCTION:
                    # Whole-service samples so far were staging's; production starts afresh.
                    for key in [k for k in view.gates if k[0] is None]:
                        view.gates.pop(key, None)
                        view.history.pop(key, None)
                        view.gate_since.pop(key, None)
                view.hold_until = None
                view.timeline.append(TimelineEntry(e.ts, f"{e.phase.value} started", "phase"))
        case ev.PhaseCompleted():
            if e.phase is not None:
                view.phase_durations[e.phase] = e.duration
        case ev.ChecklistChanged():
            view.checks[e.item] = CheckView(
                e.item,
                e.title,
                e.state,
                e.owner,
                e.manual,
                e.required,
                e.group,
                e.by,
                e.ts if e.by else None,
                e.detail,
            )
            if e.group == "monitoring" and e.state != "pending":
                # Monitoring's checks are events of the window: the Timeline shows them.
                if e.state == "failed":
                    entry = TimelineEntry(e.ts, f"check failed: {e.title} — {e.detail}", "warn")
                elif e.by:
                    entry = TimelineEntry(e.ts, f"signed: {e.title} ({e.by})")
                else:
                    entry = TimelineEntry(e.ts, f"check passed: {e.title}")
                view.timeline.append(entry)
        case ev.GateSampled():
            key = (e.track, e.gate)
            prev = view.gates.get(key)
            if prev is None or prev.status != e.status or prev.phase is not e.phase:
                view.gate_since[key] = e.ts
            view.gates[key] = e
            view.history.setdefault(key, deque(maxlen=HISTORY)).append(e.value)
        case ev.TrafficChanged():
            view.canary_percent = e.canary_percent
            view.achieved_percent = e.achieved_percent
            view.traffic_detail = e.detail
            view.timeline.append(
                TimelineEntry(
                    e.ts, f"traffic {e.canary_percent}% (achieved {e.achieved_percent:g}%)"
                )
            )
        case ev.HoldStarted():
            view.hold_until = e.until
        case ev.StageChanged():
            view.stage, view.stage_number, view.stage_until = e.stage, e.number, e.until
            view.timeline.append(TimelineEntry(e.ts, f"monitoring stage {e.number}: {e.stage}"))
        case ev.PauseChanged():
            view.paused, view.pause_reason = e.paused, e.reason
            view.timeline.append(
                TimelineEntry(e.ts, ("paused: " if e.paused else "resumed: ") + e.reason, "warn")
            )
        case ev.RollbackStarted():
            view.rollback_reason, view.rollback_by = e.reason, e.by
            view.rollback_started, view.rollback_done = e.ts, False
            view.hold_until = None
            view.timeline.append(TimelineEntry(e.ts, f"ROLLBACK ({e.by}): {e.reason}", "alert"))
        case ev.RollbackCompleted():
            view.rollback_done = True
            what = "restored" if e.changed else "already on target"
            view.timeline.append(
                TimelineEntry(
                    e.ts, f"rollback done: {what} rev {e.target.get('revision')}", "alert"
                )
            )
        case ev.Notice():
            view.last_notice = e
            view.log.append((e.ts, e.level, e.message))
            if e.level == "alert":
                view.timeline.append(TimelineEntry(e.ts, e.message, "alert"))
        case ev.LogLine():
            view.log.append((e.ts, e.source, e.line))
        case ev.CommandStarted():
            view.log.append((e.ts, e.name, f"$ {e.command}"))
        case ev.CommandFinished():
            status = "timed out" if e.exit_code is None else f"exit {e.exit_code}"
            view.log.append((e.ts, e.name, f"{status} after {e.duration:.1f}s {e.detail}".rstrip()))
        case ev.OperatorActed():
            verdict = "" if e.accepted else " (refused)"
            view.log.append((e.ts, "operator", f"{e.user}: {e.action} {e.detail}{verdict}".strip()))
        case ev.Notified():
            view.log.append((e.ts, "notify", f"{e.channel}: {'sent' if e.ok else e.detail}"))
        case ev.RunFinished():
            view.outcome = Outcome(e.outcome)
            view.outcome_reason = e.reason
            view.hold_until = None
            level = "info" if view.outcome is Outcome.SUCCEEDED else "alert"
            text = f"run {e.outcome.replace('_', ' ')}" + (f": {e.reason}" if e.reason else "")
            view.timeline.append(TimelineEntry(e.ts, text, level))
    return view


def fold(events: list[ev.Event]) -> RunView:
    view = RunView()
    for e in events:
        apply(view, e)
    return view
