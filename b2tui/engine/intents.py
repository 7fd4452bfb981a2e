"""May this operator action happen now, and if not, why — as pure functions.

:func:`why_not` reads a run's :class:`~b2tui.engine.state.RunState` and its
:class:`~b2tui.domain.view.RunView` and returns None (allowed) or one line for the
operator. The footer dims a key whose answer is not None; the conductor refuses the
intent with the same line and records the refusal in the audit log. Nothing here does
I/O or changes the run.
"""

from __future__ import annotations

from datetime import datetime

from b2tui.domain.canary import CanaryStep, next_weight
from b2tui.domain.checklist import ChecklistItem, ItemKind, ItemState, blocker_text
from b2tui.domain.durations import format_duration
from b2tui.domain.gates import GateStatus, format_value
from b2tui.domain.phases import Phase, Strategy
from b2tui.domain.view import RunView
from b2tui.engine.api import Action
from b2tui.engine.state import RunState, Step, ts


def why_not(
    st: RunState | None,
    view: RunView,
    action: Action,
    item: str | None = None,
    *,
    steps: tuple[CanaryStep, ...],
    now: datetime,
) -> str | None:
    """None when ``action`` is allowed now, else why not.

    Args:
        st: the run's state (None before a run exists).
        view: the run folded from its events (the gates' latest values).
        action: the operator's intent.
        item: the checklist item of a sign-off (None: "is any item signable?").
        steps: the production canary's steps.
        now: the run's clock now (for what is left of a hold).
    """
    if st is None:
        return "no run"
    if action is Action.ABORT:
        if st.outcome is not None:
            return f"run finished: {st.outcome} — nothing to abort"
        if st.rollback is not None:
            return "rolling back already — the run ends when it completes"
        return None
    if action is Action.ROLLBACK and st.rollback is not None:
        target = st.target.describe()
        if st.outcome is not None:
            return f"already rolled back to {target} — nothing to do"
        return f"rollback to {target} already in progress — nothing more to do"
    if st.outcome is not None:
        return f"run finished: {st.outcome}"
    if action is Action.ROLLBACK:
        if not st.production_touched:
            return "production untouched — nothing to roll back"
        return None
    if st.rollback is not None:
        return "rolling back"
    if action is Action.PAUSE:
        return None
    if action is Action.SIGN_OFF:
        return sign_blocker(st, item)
    canary_phase = st.phase is Phase.PRODUCTION and st.strategy == Strategy.CANARY.value
    if action is Action.CANARY_DOWN:
        if not canary_phase or not st.did(Step.CANARY):
            return "canary steps apply during the production canary"
        if st.canary_percent <= 0:
            return "canary already at 0%"
        if st.canary_percent >= 100:
            return "already promoted to 100%"
        return None
    if action is Action.CANARY_UP and not canary_phase:
        return "canary steps apply during the production canary"
    return advance_blocker(st, view, steps=steps, now=now)


def hold_left(st: RunState, now: datetime) -> float:
    """Seconds left of the current hold (0 or less when there is none or it ended)."""
    until = ts(st.hold_until)
    return 0.0 if until is None else (until - now).total_seconds()


def advance_blocker(
    st: RunState, view: RunView, *, steps: tuple[CanaryStep, ...], now: datetime
) -> str | None:
    """Why ``n`` (advance / promote) cannot act now, or None."""
    if st.paused:
        return f"paused ({st.pause_reason}) — press p to resume"
    if st.awaiting:
        return None
    canary_started = st.strategy == Strategy.CANARY.value and st.did(Step.CANARY)
    if st.phase is Phase.PRODUCTION and canary_started:
        nxt = next_weight(steps, st.canary_percent)
        if nxt is None:
            return "at 100%: promotion follows the first green sample"
        left = hold_left(st, now)
        if left > 0:
            return f"holding {st.canary_percent}% for {format_duration(left)} more"
        if st.canary_percent > 0:
            tracker = st.tracker("canary")
            if tracker.last is not GateStatus.PASS:
                bad = [
                    f"{g.gate} {format_value(g.value, g.unit)}"
                    for (track, _), g in view.gates.items()
                    if track == "canary" and g.status != GateStatus.PASS.value
                ]
                what = ", ".join(bad) or tracker.last.value
                return f"gates not green at {st.canary_percent}%: {what}"
        return None
    if st.phase is Phase.READINESS:
        text = blocker_text([i for i in st.items() if i.group == "readiness"])
        return f"readiness {text}" if text else "readiness checks running"
    if st.phase is Phase.SMOKE:
        text = blocker_text([i for i in st.items() if i.group == "smoke"])
        return f"smoke {text}" if text else "smoke: waiting for staging to be stable"
    if st.phase is Phase.MONITORING:
        return "monitoring window running — it ends on its own"
    return f"{st.phase.value} in progress — nothing to approve yet"


def sign_blocker(st: RunState, key: str | None) -> str | None:
    """Why checklist item ``key`` cannot be signed off now (``None`` key: any item)."""
    group = {Phase.SMOKE: "smoke", Phase.MONITORING: "monitoring"}.get(st.phase, "readiness")
    signable_now = [i for i in st.items() if signable(i) and i.group == group]
    if st.phase not in (Phase.READINESS, Phase.SMOKE, Phase.MONITORING):
        return f"nothing to sign off during {st.phase.value}"
    if key is None:
        return None if signable_now else "no item waits for a sign-off"
    item = next((i for i in st.items() if i.key == key), None)
    if item is None:
        waiting = ", ".join(i.key for i in signable_now)
        return f"no checklist item {key!r}" + (
            f" (waiting for a sign-off: {waiting})" if waiting else ""
        )
    if item.state is ItemState.PASSED:
        return f"{item.title} already signed off by {item.signed_by or 'its check'}"
    if item not in signable_now:
        if item.group != group:
            return f"{item.title} belongs to {item.group}, not {st.phase.value}"
        if item.state is ItemState.SKIPPED:
            return f"{item.title} is not required for this run — nothing to sign"
        if item.state is ItemState.FAILED:
            return f"{item.title} failed its check: {item.detail or 'see the log'}"
        return f"{item.title} is answered by its automatic check"
    return None


def canary_limit(st: RunState, percent: int, steps: tuple[CanaryStep, ...]) -> str | None:
    """Why the canary cannot be set to ``percent`` beyond the rules of ``+``/``-``."""
    if not 0 <= percent <= 100:
        return "percent must be 0–100"
    if percent >= st.canary_percent:
        nxt = next_weight(steps, st.canary_percent)
        if nxt is None or percent > nxt:
            return f"at most the next step ({nxt}%) while gates allow"
    return None


def signable(item: ChecklistItem) -> bool:
    """Manual items, and automatic ones whose check could not tell (or that someone signed
    already, waiting for more signers), may be signed off."""
    if not item.required or item.state is not ItemState.PENDING:
        return False
    return (
        item.kind is ItemKind.MANUAL or item.detail.startswith("unknown") or bool(item.signatures)
    )
