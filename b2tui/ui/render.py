"""Pure rendering: run state → display text. No Textual here, so it is unit-tested plainly.

Every function takes the run clock's ``now`` explicitly; nothing reads real time, so a
frozen clock gives a frozen screen (snapshot tests depend on it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from b2tui.domain.canary import CanaryStep, next_weight
from b2tui.domain.durations import format_duration
from b2tui.domain.events import GateSampled
from b2tui.domain.gates import GateStatus, format_value
from b2tui.domain.phases import PHASE_ORDER
from b2tui.domain.view import CheckView, RunView
from b2tui.ports import PodInfo

POD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "Name"),
    ("track", "Track"),
    ("status", "Status"),
    ("ready", "Ready"),
    ("restarts", "Rst"),
    ("age", "Age"),
    ("tag", "Image tag"),
)
"""(column key, header) of the pods table, in display order."""

SORTABLE_POD_COLUMNS: tuple[str, ...] = ("name", "track", "status", "restarts", "age")
"""Columns the ``s`` key cycles through."""

CHECK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("state", "State"),
    ("item", "Item"),
    ("signed", "Signed"),
    ("owner", "Owner"),
)
"""(column key, header) of the checklist table."""

MIN_GATES = frozenset({"request_rate"})
"""Gates whose threshold is a minimum (the value must reach it)."""

GATE_NAMES = {"error_rate": "err", "p95_ms": "p95", "request_rate": "req", "pods": "pods"}
"""Short gate names for narrow rows."""

STATE_MARK = {"passed": "✓ passed", "failed": "✗ FAILED", "skipped": "– skipped"}
"""Checklist state text; anything else (pending, running) shows as is."""


def age_text(seconds: float | None) -> str:
    """``"<10s ago"``, ``"20s ago"``, ``"4m ago"``; ``"waiting"`` before any data.

    Coarse on purpose: the age sits in a panel's border, and a border that changes every
    second repaints the whole panel every second — costly over SSH for no information.
    """
    if seconds is None:
        return "waiting"
    s = max(0.0, seconds)
    if s < 10:
        return "<10s ago"
    if s < 60:
        return f"{int(s // 10) * 10}s ago"
    if s < 3600:
        return f"{int(s // 60)}m ago"
    return f"{format_duration(s)} ago"


def stale_text(seconds: float | None, error: str) -> str:
    """``"stale 42s: <error>"`` — the age of the last good data and why it is not newer."""
    age = format_duration(max(0.0, seconds)) if seconds is not None else "–"
    return f"stale {age}: {one_line(error)}"


def one_line(text: str, limit: int = 200) -> str:
    """First line of ``text``, shortened: errors never spill tracebacks onto the screen."""
    first = (text.strip().splitlines() or [""])[0]
    return first if len(first) <= limit else first[: limit - 1] + "…"


# --- pods ---------------------------------------------------------------------------------


def pod_status(pod: PodInfo) -> str:
    """Phase, and the reason when there is one: ``Running``, ``Pending/ImagePullBackOff``."""
    return f"{pod.phase.value}/{pod.reason}" if pod.reason else pod.phase.value


def pod_row(pod: PodInfo, now: datetime) -> tuple[str, ...]:
    """Cells of one pod, in :data:`POD_COLUMNS` order."""
    return (
        pod.name,
        pod.track or "–",
        pod_status(pod),
        "yes" if pod.ready else "no",
        str(pod.restarts),
        pod_age((now - pod.created).total_seconds()),
        pod.tag,
    )


def pod_age(seconds: float) -> str:
    """kubectl-style age: ``42s``, ``4m``, ``3h12m``, ``2d3h``.

    Coarser than :func:`format_duration` on purpose: a 2000-pod table changes a cell
    once a minute per pod, not on every poll.
    """
    s = int(max(0.0, seconds))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 60:
        return f"{m}m"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m}m" if m else f"{h}h"
    d, h = divmod(h, 24)
    return f"{d}d{h}h" if h else f"{d}d"


def pod_matches(row: tuple[str, ...], needle: str) -> bool:
    """Case-insensitive substring match on any cell; an empty filter matches everything."""
    if not needle:
        return True
    n = needle.lower()
    return any(n in cell.lower() for cell in row)


def pod_sort_key(column: str, pod: PodInfo) -> tuple[object, ...]:
    """Sort key of ``pod`` for ``column``; ties break on the name so order is stable."""
    match column:
        case "track":
            return (pod.track, pod.name)
        case "status":
            # Trouble first: not ready, then by reason, so the broken pods top the list.
            return (pod.ready, pod_status(pod), pod.name)
        case "restarts":
            return (-pod.restarts, pod.name)
        case "age":
            return (-pod.created.timestamp(), pod.name)
        case _:
            return (pod.name,)


# --- gates --------------------------------------------------------------------------------


def track_label(track: str | None) -> str:
    """``canary``, ``stable`` or ``service`` (no track)."""
    return track or "service"


def track_order(tracks: Iterable[str | None]) -> list[str | None]:
    """Canary first, then stable, then the rest, then the whole service."""
    rank = {"canary": 0, "stable": 1, "blue": 2, "green": 3}
    return sorted(set(tracks), key=lambda t: (t is None, rank.get(t or "", 9), t or ""))


def gate_status_text(status: str) -> str:
    """``pass``, ``FAIL`` or ``NO DATA``: unknown never reads like a pass."""
    if status == GateStatus.PASS:
        return "pass"
    if status == GateStatus.FAIL:
        return "FAIL"
    return "NO DATA"


def threshold_text(sample: GateSampled) -> str:
    """``< 0.10%`` for a maximum, ``≥ 1.0 req/s`` for a minimum."""
    op = "≥" if sample.gate in MIN_GATES else "<"
    return f"{op} {format_value(sample.threshold, sample.unit)}"


def gate_value_text(sample: GateSampled) -> str:
    """Current value and threshold: ``0.05% < 0.10%``; ``– < 0.10%`` with no data."""
    value = "–" if sample.value is None else format_value(sample.value, sample.unit)
    return f"{value} {threshold_text(sample)}"


def gate_summary(samples: list[GateSampled]) -> str:
    """One line for gates without a sparkline: ``req 12.0 req/s ✓ · pods 0 pods ✓``."""
    parts = []
    for s in samples:
        mark = {"pass": "✓", "fail": "✗"}.get(s.status, "?")
        value = format_value(s.value, s.unit)
        parts.append(f"{GATE_NAMES.get(s.gate, s.gate)} {value} {mark}")
    return " · ".join(parts)


def sparkline_points(history: Iterable[float | None]) -> list[float]:
    """Sparkline data: gaps (no data) are dropped rather than drawn as zero, which would
    look like a healthy service."""
    return [v for v in history if v is not None]


# --- checklist ----------------------------------------------------------------------------


def blocking(check: CheckView) -> bool:
    """A required item not yet passed (or skipped)."""
    return check.required and check.state not in ("passed", "skipped")


def blockers_text(checks: Iterable[CheckView], group: str | None = None) -> str:
    """``blocked by: Code review approved (code author), …`` or ``all required items
    passed``; failed items are named first."""
    items = [c for c in checks if group is None or c.group == group]
    if not items:
        return "no checklist yet"
    failed = [c for c in items if c.required and c.state == "failed"]
    waiting = [c for c in items if blocking(c) and c.state != "failed"]
    parts = []
    if failed:
        parts.append("failed: " + ", ".join(f"{c.title} ({c.owner})" for c in failed))
    if waiting:
        parts.append("blocked by: " + ", ".join(f"{c.title} ({c.owner})" for c in waiting))
    return "; ".join(parts) if parts else "all required items passed"


def check_row(check: CheckView) -> tuple[str, ...]:
    """Cells of one checklist item, in :data:`CHECK_COLUMNS` order."""
    state = STATE_MARK.get(check.state, check.state)
    if not check.required and check.state != "skipped":
        state += " (optional)"
    title = check.title
    if check.by and check.at:
        signed = f"{check.by} {check.at:%H:%M}"
    else:
        signed = "" if check.manual else "auto"
    return (state, title, signed, check.owner)


# --- timeline and canary ------------------------------------------------------------------


def phase_summary(view: RunView, now: datetime) -> str:
    """``✓readiness 2m05s › ✓validate 40s › ▶production 4m10s``."""
    parts = []
    for phase in PHASE_ORDER:
        started = view.phase_started.get(phase)
        if started is None:
            continue
        if phase in view.phase_durations:
            parts.append(f"✓{phase.value} {format_duration(view.phase_durations[phase])}")
        elif phase is view.phase and not view.finished:
            parts.append(f"▶{phase.value} {format_duration((now - started).total_seconds())}")
        else:
            parts.append(f"✗{phase.value}")
    return " › ".join(parts) if parts else "not started"


def status_line(view: RunView, now: datetime) -> str:
    """What the run waits on right now: hold countdown, monitoring stage, pause, rollback."""
    if view.rolling_back:
        return f"ROLLING BACK ({view.rollback_by}): {view.rollback_reason}"
    if view.finished:
        outcome = view.outcome.value if view.outcome else ""
        reason = f": {view.outcome_reason}" if view.outcome_reason else ""
        return f"run {outcome.replace('_', ' ')}{reason}"
    parts = []
    if view.paused:
        parts.append(f"PAUSED: {view.pause_reason}")
    if view.hold_until is not None:
        left = (view.hold_until - now).total_seconds()
        at = f"hold at {view.canary_percent}%" if view.canary_percent else "hold"
        if left > 0:
            parts.append(f"{at}: {format_duration(left)} left (until {view.hold_until:%H:%M:%S})")
        else:
            parts.append(f"{at}: hold over")
    if view.stage is not None and view.phase is not None and view.phase.value == "monitoring":
        left = (view.stage_until - now).total_seconds() if view.stage_until else 0.0
        parts.append(
            f"monitoring stage {view.stage_number}/3 {view.stage}: {format_duration(left)} left"
        )
    if not parts and view.phase is not None and view.phase.value in ("readiness", "smoke"):
        # What the run waits on, on the overview too (the checklist may be another tab).
        parts.append(blockers_text(view.checks.values(), view.phase.value))
    return " · ".join(parts) if parts else (view.phase.value if view.phase else "waiting")


def timeline_line(ts: datetime, text: str) -> str:
    """``14:02:10 production started``."""
    return f"{ts:%H:%M:%S} {text}"


def canary_lines(view: RunView, steps: tuple[CanaryStep, ...], now: datetime) -> list[str]:
    """Asked vs achieved, next step, rollback target."""
    lines = []
    if view.strategy in ("", "canary"):
        detail = f" ({view.traffic_detail})" if view.traffic_detail else ""
        lines.append(f"asked {view.canary_percent}% · achieved {view.achieved_percent:g}%{detail}")
        nxt = next_weight(steps, view.canary_percent)
        if view.finished or view.rollback_started is not None:
            lines.append("next: – (run over)" if view.finished else "next: – (rolling back)")
        elif nxt is None:
            lines.append("next: – (last step reached)")
        else:
            wait = ""
            if view.hold_until is not None and view.hold_until > now:
                wait = f" after hold ({format_duration((view.hold_until - now).total_seconds())})"
            lines.append(f"next: {nxt}%{wait}")
    else:
        lines.append(f"strategy {view.strategy}")
    lines.append("rollback → " + rollback_target_text(view.known_good))
    return lines


def rollback_target_text(known_good: dict[str, object]) -> str:
    """``rev 7 registry/b2connect:prod-1a2b3c4`` (and colour), or that none is recorded."""
    if not known_good:
        return "not recorded yet"
    rev = known_good.get("revision", "?")
    colour = f" {known_good['colour']}" if known_good.get("colour") else ""
    image = known_good.get("image", "?")
    return f"rev {rev}{colour} {image}"


def header_text(view: RunView, *, driver: str, read_only: bool) -> str:
    """``b2connect · production · run 1a2b · PRODUCTION · canary · driven by …``."""
    phase = view.phase.value.upper() if view.phase else "STARTING"
    if view.outcome is not None:
        phase = view.outcome.value.upper().replace("_", " ")
    who = f"watching — driven by {driver}" if read_only else f"driving as {driver}"
    # Most important first: a narrow terminal cuts the end of the line.
    parts = [phase, view.service or "–", view.environment or "–", view.strategy or "–"]
    if view.emergency:
        parts.append("EMERGENCY")
    if view.scenario:
        parts.append(f"sandbox:{view.scenario}")
    parts.append(f"run {view.run_id or '–'}")
    if read_only:
        # A watcher must see at once that its keys do nothing here: say so first.
        return " · ".join([who, *parts])
    parts.append(who)
    return " · ".join(parts)
