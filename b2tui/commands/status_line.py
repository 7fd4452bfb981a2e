"""``b2tui status --line``: the run in one short line, for tmux's and screen's status bar.

Pure: it reads only the run's saved state (the record the store keeps: phase, canary %,
hold deadline, pause, what ``n`` waits for, rollback, each gate scope's last verdict,
the checklist) — one row or one object from the store, no event journal, no cluster.

``b2connect ▶ PRODUCTION 5% · gates ✓ · hold 3m12s``
``b2connect ▶ READINESS · 3 sign-offs due``
``b2connect ⟲ ROLLING BACK: error_rate 5.02% > 0.10%``
``b2connect ✗ rolled back 12m ago``
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

MAX = 80
"""Characters of the line (a status-right has room for about this much)."""

GLYPH = {"pass": "✓", "fail": "✗", "unknown": "?"}
"""Gate verdicts as the line shows them."""

_SCOPES = {
    "smoke": ("staging",),
    "production": ("canary", "service"),
    "monitoring": ("service",),
}
"""Gate scopes (``RunState.trackers``) the line shows in each phase."""


def duration(seconds: float) -> str:
    """``45s``, ``3m12s``, ``1h05m``."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def _ts(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) and value else None


def _gates(state: dict[str, Any], phase: str) -> str:
    trackers: dict[str, dict[str, Any]] = state.get("trackers") or {}
    shown = []
    for scope in _SCOPES.get(phase, ()):
        t = trackers.get(scope)
        if t is None:
            continue
        glyph = GLYPH.get(str(t.get("last")), "?")
        fails = int(t.get("consecutive_failures") or 0)
        count = f"×{fails}" if glyph == "✗" and fails > 1 else ""
        shown.append((scope, glyph + count))
    if not shown:
        return ""
    if len(shown) == 1:
        return f"gates {shown[0][1]}"
    return "gates " + " ".join(f"{scope} {g}" for scope, g in shown)


def _due(state: dict[str, Any], phase: str) -> int:
    group = "smoke" if phase == "smoke" else "readiness"
    return sum(
        1
        for item in state.get("checklist") or []
        if item.get("group", "readiness") == group
        and item.get("kind") == "manual"
        and item.get("required", True)
        and item.get("state") == "pending"
    )


def _cut(text: str, limit: int = MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def status_line(
    *,
    service: str,
    state: dict[str, Any],
    outcome: str | None,
    reason: str | None,
    finished_at: datetime | None,
    now: datetime,
) -> str:
    """The line for a run whose saved state is ``state`` (``RunState.to_dict()``).

    Args:
        service: The service's name (leads the line).
        state: The run's saved state.
        outcome: Its outcome, None while it runs.
        reason: Why it ended (rolled back, blocked, aborted).
        finished_at: When it ended (for "12m ago").
        now: The run's clock now (countdowns and ages are measured on it).
    """
    phase = str(state.get("phase") or "readiness")
    if outcome is not None:
        glyph = "✓" if outcome == "succeeded" else "✗"
        ago = f" {duration((now - finished_at).total_seconds())} ago" if finished_at else ""
        why = f": {reason}" if reason and outcome != "succeeded" else ""
        return _cut(f"{service} {glyph} {outcome.replace('_', ' ')}{ago}{why}")
    rollback = state.get("rollback")
    if rollback:
        return _cut(f"{service} ⟲ ROLLING BACK: {rollback.get('reason', '')}")
    head = f"{service} {'‖' if state.get('paused') else '▶'} {phase.upper()}"
    pct = state.get("canary_percent") or 0
    if phase == "production" and state.get("strategy") == "canary":
        head += f" {pct}%"
    parts = [head]
    gates = _gates(state, phase)
    if gates:
        parts.append(gates)
    wait = ""
    if state.get("paused"):
        wait = f"PAUSED: {state.get('pause_reason') or 'press p to resume'}"
    elif (until := _ts(state.get("hold_until"))) is not None and until > now:
        wait = f"hold {duration((until - now).total_seconds())}"
    elif until is not None:
        wait = "hold over"
    elif state.get("awaiting"):
        wait = "press n"
    elif phase in ("readiness", "smoke") and (due := _due(state, phase)):
        wait = f"{due} sign-off{'s' if due > 1 else ''} due"
    elif phase == "monitoring" and state.get("monitoring_started"):
        wait = f"stage {state.get('stage_number') or 1}/3"
    if wait:
        parts.append(wait)
    return _cut(" · ".join(parts))
