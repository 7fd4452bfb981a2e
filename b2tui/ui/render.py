"""Pure rendering: run state → display text. No Textual here, so it is unit-tested plainly.

Every function takes the run clock's ``now`` explicitly; nothing reads real time, so a
frozen clock gives a frozen screen (snapshot tests depend on it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from b2tui.domain.canary import CanaryStep, next_weight
from b2tui.domain.durations import format_duration
from b2tui.domain.events import GateSampled
from b2tui.domain.gates import GateStatus, format_value, verdict_text
from b2tui.domain.gates import comparison_sign as gate_comparison_sign
from b2tui.domain.phases import PHASE_ORDER, Phase
from b2tui.domain.view import CheckView, RunView
from b2tui.ports import PodInfo

POD_COLUMNS: tuple[tuple[str, str], ...] = (
    ("name", "Name"),
    ("track", "Track"),
    ("status", "Status"),
    ("ready", "Ready"),
    ("restarts", "Restarts"),
    ("age", "Age"),
    ("tag", "Image tag"),
)
"""(column key, header) of the pods table, in display order."""

POD_DROP_ORDER: tuple[str, ...] = ("tag", "age", "track")
"""Columns left out, in this order, when the table does not fit its panel; name,
status, ready and restarts always stay (restarts matter most when pods crash)."""

MIN_NAME = 12
"""Narrowest the name column gets before another column is dropped."""

CELL_PADDING = 2
"""Columns a DataTable cell adds to its text (one each side)."""

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
    """The reason when there is one (``CrashLoopBackOff``), else the phase, as kubectl."""
    return pod.reason or pod.phase.value


def middle_ellipsis(text: str, width: int) -> str:
    """``b2connect-canary-5d8f7c6b9-x2k4p`` → ``b2connect-ca…6b9-x2k4p``: both ends of a
    pod name tell pods apart (deployment at the start, the random suffix at the end)."""
    if len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    head = (width - 1) // 2
    tail = width - 1 - head
    return text[:head] + "…" + (text[-tail:] if tail else "")


def fit_pod_columns(width: int, natural: dict[str, int]) -> tuple[tuple[str, ...], int]:
    """Which pod columns fit in ``width`` cells, and how wide the name may be.

    Args:
        width: Cells available to the table (no horizontal scrolling, ever).
        natural: Widest text per column key (headers included).

    Returns:
        Column keys to show (display order) and the name column's width; names longer
        than it are shortened in the middle.
    """
    keys = [k for k, _ in POD_COLUMNS]
    name = natural.get("name", 0)

    def room(cols: list[str]) -> int:
        used = sum(natural.get(k, 0) + CELL_PADDING for k in cols if k != "name")
        return width - used - CELL_PADDING

    # Whole names with every column; else without the image tag; only then shorten
    # names, and drop age, then track, before a name gets narrower than MIN_NAME.
    everything, no_tag = keys, [k for k in keys if k != "tag"]
    for cols in (everything, no_tag):
        if room(cols) >= name:
            return tuple(cols), name
    cols = no_tag
    for drop in POD_DROP_ORDER[1:]:
        if room(cols) >= min(MIN_NAME, name):
            break
        cols = [k for k in cols if k != drop]
    return tuple(cols), max(1, min(name, room(cols)))


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
    """The limit as a rule: ``max 0.10%`` for a maximum, ``min 1.0 req/s`` for a minimum."""
    word = "min" if is_minimum(sample) else "max"
    return f"{word} {format_value(sample.threshold, sample.unit)}"


def is_minimum(sample: GateSampled) -> bool:
    """The limit is a minimum (the value must reach it), e.g. the request rate."""
    return sample.comparison == "min" or sample.gate in MIN_GATES


def comparison_sign(sample: GateSampled) -> str:
    """How the value compares with the limit, as arithmetic (``<``, ``>``, ``=``, ``≥``).

    The sign is always true of the two numbers shown (``5.02% > 0.10%``), whatever
    the verdict; the verdict (pass / FAIL) sits next to it. The domain's rule, shared
    with ``b2tui gates``.
    """
    if sample.value is None:
        return ""
    return gate_comparison_sign(sample.result())


def gate_value_text(sample: GateSampled) -> str:
    """Value against limit: ``0.05% < 0.10%``, ``5.02% ≥ 0.10%``; ``– max 0.10%`` with no data."""
    if sample.value is None:
        return f"– {threshold_text(sample)}"
    value = format_value(sample.value, sample.unit)
    return f"{value} {comparison_sign(sample)} {format_value(sample.threshold, sample.unit)}"


SPARK_BARS = "▁▂▃▄▅▆▇█"
"""Eight bar heights."""

SPARK_AXIS = "│"
"""Between the limit marker and the samples."""


def spark_level(value: float, top: float) -> int:
    """The bar (0–7) of ``value`` on a 0 → ``top`` scale (the lowest bar for 0)."""
    if top <= 0:
        return 0 if value <= 0 else len(SPARK_BARS) - 1
    return min(len(SPARK_BARS) - 1, int(max(0.0, value) / top * len(SPARK_BARS)))


def spark_cells(
    history: Iterable[float | None], threshold: float, width: int, *, minimum: bool = False
) -> list[tuple[str, str]]:
    """The limit marker, an axis, then the newest samples as (glyph, kind) cells.

    ``kind`` is ``limit`` (the marker and the axis), ``over`` (a sample that breaks the
    limit) or ``ok``. The scale runs from 0 to the larger of the shown samples and the
    limit, so a steady 0.01 % under a 0.10 % limit draws as the lowest bar with the
    limit marker full height beside it, and a failing 4.39 % is a full bar with the
    marker at the bottom. A gap (no data) is a blank cell, never a zero bar.
    """
    room = width - 2
    if room <= 0:
        return []
    values = list(history)[-room:]
    top = max([threshold, *(v for v in values if v is not None)])
    cells = [(SPARK_BARS[spark_level(threshold, top)], "limit"), (SPARK_AXIS, "limit")]
    for v in values:
        if v is None:
            cells.append((" ", "ok"))
            continue
        broken = v < threshold if minimum else v >= threshold
        cells.append((SPARK_BARS[spark_level(v, top)], "over" if broken else "ok"))
    return cells


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


def current_gates(view: RunView, stale_after: float) -> dict[tuple[str | None, str], GateSampled]:
    """The samples that describe the run now, ordered canary, stable, others, service.

    A sample is current when it was taken in the run's phase and within ``stale_after``
    seconds of that phase's newest sample: staging's samples are not production's, and
    a track that stopped being sampled (the canary once promoted or rolled back) is gone.
    """
    mine = {k: s for k, s in view.gates.items() if s.phase is view.phase}
    if not mine:
        return {}
    newest = max(s.ts for s in mine.values())
    fresh = {k: s for k, s in mine.items() if (newest - s.ts).total_seconds() <= stale_after}
    order = track_order(t for t, _ in fresh)
    return dict(sorted(fresh.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1])))


def gates_empty_text(view: RunView) -> str:
    """What the Gates panel says when no sample is current."""
    phase = view.phase.value if view.phase else "the run"
    if view.finished:
        outcome = view.outcome.value.replace("_", " ") if view.outcome else "over"
        return f"no gate samples: run {outcome} in {phase}"
    if view.phase is None or view.phase.value in ("readiness", "validate", "staging"):
        return "no samples yet: gates are sampled from smoke (staging) on"
    return f"no samples yet in {phase}"


def _verdict_line(sample: GateSampled) -> str:
    text = verdict_text(sample.result())
    if sample.value is None:
        return text  # "NO DATA: <why>" already
    return f"{gate_status_text(sample.status)}: {text}"


def gate_detail_lines(sample: GateSampled, history: Iterable[float | None]) -> list[str]:
    """The verdict spelled out for the gate details dialog."""
    lines = [
        f"{track_label(sample.track)} {sample.gate} ({sample.environment or 'production'})",
        f"verdict   {_verdict_line(sample)}",
        f"limit     {threshold_text(sample)} ({sample.rule})",
    ]
    if sample.baseline is not None:
        lines.append(f"baseline  stable {format_value(sample.baseline, sample.unit)}")
    if sample.requests is not None:
        lines.append(f"sample    {sample.requests:.0f} requests")
    lines.append(f"sampled   {sample.ts:%H:%M:%S}")
    if sample.reason:
        lines.append(f"reason    {one_line(sample.reason)}")
    if sample.query:
        lines.append(f"query     {sample.query}")
    last = [("–" if v is None else format_value(v, sample.unit)) for v in list(history)[-10:]]
    if last:
        lines.append("last      " + " ".join(last) + "  (oldest first)")
    return lines


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


@dataclass(frozen=True)
class Timing:
    """What the countdowns need besides the view (from the settings and the engine)."""

    no_data_timeout: float | None = None
    """Seconds of NO DATA after which the engine rolls back (production) or aborts."""
    stable_for: float | None = None
    """Seconds staging must stay green in smoke."""
    can_advance: bool = False
    """``n`` would be accepted now (the status line then says "press n")."""
    stale_after: float = 12.5
    """Seconds after which a sample no longer counts as current."""


def no_data_left(view: RunView, now: datetime, timing: Timing) -> float | None:
    """Seconds until the no-data rollback (abort in smoke) while some current gate has
    NO DATA; None when every current gate has data."""
    if timing.no_data_timeout is None or view.finished or view.rollback_started is not None:
        return None
    gates = current_gates(view, timing.stale_after)
    since = [
        view.gate_since[k]
        for k, s in gates.items()
        if s.status == "unknown" and k in view.gate_since
    ]
    if not since:
        return None
    return timing.no_data_timeout - (now - min(since)).total_seconds()


def stable_left(view: RunView, now: datetime, timing: Timing) -> float | None:
    """Smoke: seconds staging must stay green yet; None outside smoke or while not green."""
    if timing.stable_for is None or view.phase is not Phase.SMOKE or view.finished:
        return None
    gates = current_gates(view, timing.stale_after)
    if not gates or any(s.status != "pass" for s in gates.values()):
        return None
    since = [view.gate_since[k] for k in gates if k in view.gate_since]
    if not since:
        return None
    return max(0.0, timing.stable_for - (now - max(since)).total_seconds())


def status_line(view: RunView, now: datetime, timing: Timing | None = None) -> str:
    """What the run waits on right now: hold countdown, monitoring stage, pause, rollback,
    the no-data countdown, smoke's stability wait, and "press n" when that is next."""
    timing = timing or Timing()
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
        elif timing.can_advance:
            parts.append(f"{at}: hold over — press n")
        else:
            parts.append(f"{at}: hold over")
    no_data = no_data_left(view, now, timing)
    if no_data is not None:
        what = "rollback" if view.phase in (Phase.PRODUCTION, Phase.MONITORING) else "abort"
        parts.append(f"NO DATA: {what} in {format_duration(max(0.0, no_data))} unless data returns")
    stable = stable_left(view, now, timing)
    if stable is not None and stable > 0:
        parts.append(f"staging green: stable in {format_duration(stable)}")
    if view.stage is not None and view.phase is not None and view.phase.value == "monitoring":
        left = (view.stage_until - now).total_seconds() if view.stage_until else 0.0
        parts.append(
            f"monitoring stage {view.stage_number}/3 {view.stage}: {format_duration(left)} left"
        )
    if not parts and view.phase is not None and view.phase.value in ("readiness", "smoke"):
        # What the run waits on, on the overview too (the checklist may be another tab).
        text = blockers_text(view.checks.values(), view.phase.value)
        if text.startswith("blocked by"):
            text += " — press 3, ↑/↓, space to sign"
        parts.append(text)
    if timing.can_advance and view.hold_until is None and not view.paused:
        parts.append(f"{view.phase.value if view.phase else 'run'}: ready — press n")
    return " · ".join(parts) if parts else (view.phase.value if view.phase else "waiting")


def timeline_line(ts: datetime, text: str) -> str:
    """``14:02:10 production started``."""
    return f"{ts:%H:%M:%S} {text}"


def repeated_line(last: datetime, text: str, times: int) -> str:
    """``14:09:55 monitoring started (×3)``: one line for an entry repeated ``times``."""
    return f"{last:%H:%M:%S} {text} (×{times})"


def canary_lines(
    view: RunView, steps: tuple[CanaryStep, ...], now: datetime, *, can_advance: bool = False
) -> list[str]:
    """Asked vs achieved, next step, rollback target.

    Once a rollback started the canary's traffic is what the rollback leaves: none.
    """
    lines = []
    if view.rollback_started is not None:
        state = "removed by the rollback" if view.rollback_done else "being removed (rollback)"
        lines.append(f"canary {state} · was {view.canary_percent}%")
        lines.append("next: – (run over)" if view.finished else "next: – (rolling back)")
    elif view.finished and view.strategy in ("", "canary"):
        if view.outcome is not None and view.outcome.value == "succeeded":
            lines.append(f"promoted: {view.canary_percent}% (achieved {view.achieved_percent:g}%)")
        else:
            lines.append(f"production untouched · canary {view.canary_percent}%")
        lines.append("next: – (run over)")
    elif view.strategy in ("", "canary"):
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
            elif can_advance and view.phase is Phase.PRODUCTION:
                wait = " — press n"
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


def run_state_text(view: RunView) -> str:
    """What the header leads with: ``ROLLING BACK``, the outcome, ``PAUSED · PRODUCTION``,
    or the phase."""
    if view.rolling_back:
        return "ROLLING BACK"
    if view.outcome is not None:
        return view.outcome.value.upper().replace("_", " ")
    phase = view.phase.value.upper() if view.phase else "STARTING"
    return f"PAUSED · {phase}" if view.paused else phase


def header_text(view: RunView, *, driver: str, read_only: bool, operator: str = "") -> str:
    """``PRODUCTION · b2connect · production · canary · run 1a2b · driving as …``.

    ``operator`` is set on an attached control room: another host drives (``driver``,
    the lease holder) and this operator's keys are sent to it; both are named.
    """
    phase = run_state_text(view)
    if read_only and driver.startswith("nobody"):
        # The driver's lease lapsed: this screen could drive it if started again.
        who = f"watching — {driver}; q and run again to take over"
    elif operator and not read_only:
        who = f"driven by {driver} · you: {operator}"
    else:
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
