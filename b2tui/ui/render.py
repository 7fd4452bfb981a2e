"""Pure rendering of the run: panel ages and errors, the gate details dialog, checklist rows,
the phase summary, status and timeline lines, the canary panel and the header. No Textual
here, so it is unit-tested plainly. Pods are in :mod:`~b2tui.ui.render_pods`, gates in
:mod:`~b2tui.ui.render_gates`.

Every function takes the run clock's ``now`` explicitly; nothing reads real time, so a
frozen clock gives a frozen screen (snapshot tests depend on it).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from b2tui.domain.canary import CanaryStep, next_weight
from b2tui.domain.durations import format_duration
from b2tui.domain.events import GateSampled
from b2tui.domain.gates import format_value, verdict_text
from b2tui.domain.images import image_label, short_digest, split_image
from b2tui.domain.phases import PHASE_ORDER, Phase
from b2tui.domain.view import CheckView, RunView
from b2tui.ui.render_gates import current_gates, gate_status_text, threshold_text, track_label

CHECK_COLUMNS: tuple[tuple[str, str], ...] = (
    ("state", "State"),
    ("item", "Item"),
    ("signed", "Signed"),
    ("owner", "Owner"),
)
"""(column key, header) of the checklist table."""

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


def elapsed_text(seconds: float) -> str:
    """A running duration to the minute: ``<1m``, ``4m``, ``1h05m``, ``2d03h``.

    Read at a glance, not timed: it changes once a minute, so an idle screen has nothing
    to send for it in between.
    """
    m = int(max(0.0, seconds)) // 60
    if m < 1:
        return "<1m"
    if m < 60:
        return f"{m}m"
    h, m = divmod(m, 60)
    if h < 24:
        return f"{h}h{m:02d}m"
    d, h = divmod(h, 24)
    return f"{d}d{h:02d}h"


def countdown_text(seconds: float) -> str:
    """Time left, with seconds only in its last minute: ``45s``; above, whole minutes
    rounded up (``5m``: at most five minutes left) or ``1h05m``. So it changes once a
    minute until the last one, where a person waiting on it watches the seconds."""
    s = max(0.0, seconds)
    if s < 60:
        return f"{int(s)}s"
    minutes = math.ceil(s / 60)
    if minutes < 60:
        return f"{minutes}m"
    h, m = divmod(minutes, 60)
    return f"{h}h{m:02d}m"


def stale_text(seconds: float | None, error: str) -> str:
    """``"stale 42s: <error>"`` — the age of the last good data and why it is not newer."""
    age = format_duration(max(0.0, seconds)) if seconds is not None else "–"
    return f"stale {age}: {one_line(error)}"


def one_line(text: str, limit: int = 200) -> str:
    """First line of ``text``, shortened: errors never spill tracebacks onto the screen."""
    first = (text.strip().splitlines() or [""])[0]
    return first if len(first) <= limit else first[: limit - 1] + "…"


# --- gate details -------------------------------------------------------------------------


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
    """``✓readiness 2m05s › ✓validate 40s › ▶production 4m``: the running phase to the
    minute (:func:`elapsed_text`), the finished ones as they took."""
    parts = []
    for phase in PHASE_ORDER:
        started = view.phase_started.get(phase)
        if started is None:
            continue
        if phase in view.phase_durations:
            parts.append(f"✓{phase.value} {format_duration(view.phase_durations[phase])}")
        elif phase is view.phase and not view.finished:
            parts.append(f"▶{phase.value} {elapsed_text((now - started).total_seconds())}")
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
            parts.append(f"{at}: {countdown_text(left)} left (until {view.hold_until:%H:%M:%S})")
        elif timing.can_advance:
            parts.append(f"{at}: hold over — press n")
        else:
            parts.append(f"{at}: hold over")
    no_data = no_data_left(view, now, timing)
    if no_data is not None:
        what = "rollback" if view.phase in (Phase.PRODUCTION, Phase.MONITORING) else "abort"
        parts.append(f"NO DATA: {what} in {countdown_text(no_data)} unless data returns")
    stable = stable_left(view, now, timing)
    if stable is not None and stable > 0:
        parts.append(f"staging green: stable in {countdown_text(stable)}")
    if view.stage is not None and view.phase is not None and view.phase.value == "monitoring":
        left = (view.stage_until - now).total_seconds() if view.stage_until else 0.0
        parts.append(
            f"monitoring stage {view.stage_number}/3 {view.stage}: {countdown_text(left)} left"
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
                wait = f" after hold (at {view.hold_until:%H:%M:%S})"
            elif can_advance and view.phase is Phase.PRODUCTION:
                wait = " — press n"
            lines.append(f"next: {nxt}%{wait}")
    else:
        lines.append(f"strategy {view.strategy}")
    lines.append("rollback → " + rollback_target_text(view.known_good))
    return lines


def rollback_target_text(known_good: dict[str, Any]) -> str:
    """``rev 7 registry/b2connect:prod-1a2b3c4 sha256:0f1e2d3c4b5a`` (and colour), or that
    none is recorded."""
    if not known_good:
        return "not recorded yet"
    rev = known_good.get("revision", "?")
    colour = f" {known_good['colour']}" if known_good.get("colour") else ""
    image = str(known_good.get("image", "?"))
    digest = known_good.get("digest")
    label = f"{image} {short_digest(digest)}" if digest and "@" not in image else image_label(image)
    return f"rev {rev}{colour} {label}"


def run_state_text(view: RunView) -> str:
    """What the header leads with: ``ROLLING BACK``, the outcome, ``PAUSED · PRODUCTION``,
    or the phase."""
    if view.rolling_back:
        return "ROLLING BACK"
    if view.outcome is not None:
        return view.outcome.value.upper().replace("_", " ")
    phase = view.phase.value.upper() if view.phase else "STARTING"
    return f"PAUSED · {phase}" if view.paused else phase


def artifact_text(image: str, environment: str | None) -> str:
    """``1a2b3c4 sha256:0f1e2d3c`` for ``repo:production-1a2b3c4@sha256:0f1e…`` in
    production: the tag without the environment the header already names, and the digest
    staging verified, short enough to stay on an 80-column header."""
    _, tag, digest = split_image(image)
    tag = tag or "–"
    if environment and tag.startswith(f"{environment}-"):
        tag = tag[len(environment) + 1 :]
    if not digest:
        return tag
    algo, _, hexes = digest.partition(":")
    return f"{tag} {algo}:{hexes[:8]}" if hexes else f"{tag} {short_digest(digest)}"


def header_text(view: RunView, *, driver: str, read_only: bool, operator: str = "") -> str:
    """``PRODUCTION · b2connect · production · 1a2b3c4 sha256:0f1e2d3c · canary · run 1a2b ·
    driving as …``.

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
    parts = [phase, view.service or "–", view.environment or "–"]
    if view.deployed:
        parts.append(artifact_text(view.deployed, view.environment))
    parts.append(view.strategy or "–")
    if view.emergency:
        parts.append("EMERGENCY")
    if view.scenario:
        parts.append(f"sandbox:{view.scenario}")
    parts.append(f"run {view.run_id or '–'}")
    if read_only:
        # A watcher must see at once that its keys do nothing here: say so first.
        return " · ".join([who, *parts])
    if operator:
        # An attached room's keys go to another host: who drives comes right after the
        # run's state, before what an 80-column terminal cuts.
        return " · ".join([parts[0], who, *parts[1:]])
    parts.append(who)
    return " · ".join(parts)
