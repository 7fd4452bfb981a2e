"""The gate policy: what a run does after a sample, as a pure function.

:func:`decide` looks at one scope's :class:`~b2tui.domain.gates.GateTracker` (already fed
with the sample), the sample's results and the gate settings, and returns a
:class:`Decision`. It does no I/O and changes nothing; the conductor acts on the answer
(pauses, alerts, starts the rollback, ends the run). The rules (docs/DESIGN.md, "Gates"):

- **Unknown never counts as pass**: an unknown sample holds promotion.
- ``unknown_pause_after`` unknown samples in a row pause the run and alert.
- Unknown for ``no_data_timeout`` rolls back with reason *no data* in production and
  monitoring; before production (staging, smoke) it aborts the run.
- ``consecutive_failures`` failing samples in a row roll back; with ``auto_rollback =
  false`` they pause the run and ask the operator to press R. One bad sample does not.
  Before production they abort: production was never touched.
- Autopilot lifts its own no-data pause once data is back and green; an operator's pause
  waits for a person.

:func:`readiness` and :func:`command` are the same kind of rule for the phases before
staging: a failed required item or command **blocks** the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from b2tui.config import GateSettings
from b2tui.domain.checklist import ChecklistItem, ItemState, blocker_text, blockers
from b2tui.domain.durations import format_duration
from b2tui.domain.gates import (
    Comparison,
    GateResult,
    GateStatus,
    GateTracker,
    Rule,
    format_value,
)
from b2tui.domain.phases import Phase
from b2tui.ports import CommandResult

NO_DATA_PAUSE = "engine:no-data"
"""``RunState.pause_by`` of a pause the engine made because gates were unknown."""


class Verdict(StrEnum):
    """What the run should do after a sample."""

    PROMOTE = "promote"
    """Gates green: the hold may end and promotion may follow."""
    HOLD = "hold"
    """Not green (unknown, or a fail below the limit): no promotion, nothing else."""
    PAUSE = "pause"
    """Pause the run and alert (no data for a while, or a rollback to confirm)."""
    RESUME = "resume"
    """Lift the engine's own no-data pause: data is back and green."""
    ROLL_BACK = "roll_back"
    """Restore the known-good revision now."""
    ABORT = "abort"
    """End the run before production is touched."""
    BLOCK = "block"
    """End the run as blocked: readiness or validation failed."""


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str = ""
    """Why, in the operator's words (the pause, rollback or abort reason)."""
    alert: str = ""
    """An alert for the operator that goes with the verdict (pause), if any."""
    pause_by: str = ""
    """Who the pause is recorded as (``NO_DATA_PAUSE`` for the engine's no-data pause)."""

    @property
    def green(self) -> bool:
        """True when the sample allows promotion."""
        return self.verdict in (Verdict.PROMOTE, Verdict.RESUME)


HOLD = Decision(Verdict.HOLD)
PROMOTE = Decision(Verdict.PROMOTE)


def decide(
    tracker: GateTracker,
    results: list[GateResult],
    gates: GateSettings,
    phase: Phase,
    *,
    production: bool,
    now: float,
    paused: bool = False,
    pause_by: str = "",
    autopilot: bool = False,
) -> Decision:
    """What to do after a sample of one scope.

    Args:
        tracker: the scope's tracker, already fed with this sample's overall status.
        results: this sample's gate results (for the reason's wording).
        gates: thresholds of the policy (``consecutive_failures``, ``unknown_pause_after``,
            ``no_data_timeout``, ``auto_rollback``).
        phase: the phase sampled (named in an abort reason).
        production: True once production is the scope (canary, blue-green, direct,
            monitoring): failures roll back instead of aborting.
        now: run-clock epoch seconds (for the length of an unknown streak).
        paused: whether the run is paused now.
        pause_by: who paused it (``NO_DATA_PAUSE`` for the engine).
        autopilot: whether the run advances on its own.
    """
    if tracker.consecutive_failures >= gates.consecutive_failures:
        reason = f"{_worst(results)} for {tracker.consecutive_failures} samples"
        if not production:
            return Decision(Verdict.ABORT, f"{phase.value}: {reason}")
        if gates.auto_rollback:
            return Decision(Verdict.ROLL_BACK, reason)
        if not paused:
            ask = f"rollback recommended: {reason} — press R"
            return Decision(Verdict.PAUSE, ask, alert=ask)
        return HOLD
    if tracker.last is GateStatus.PASS:
        if paused and pause_by == NO_DATA_PAUSE and autopilot:
            return Decision(Verdict.RESUME, "data is back and green")
        return PROMOTE
    if tracker.last is GateStatus.UNKNOWN:
        why = next((r.reason for r in results if r.status is GateStatus.UNKNOWN), "no data")
        unknown_for = tracker.unknown_for(now)
        if unknown_for >= gates.no_data_timeout:
            reason = f"no data for {format_duration(unknown_for)} ({why})"
            if not production:
                return Decision(Verdict.ABORT, f"{phase.value}: {reason}")
            return Decision(Verdict.ROLL_BACK, reason)
        if tracker.consecutive_unknowns == gates.unknown_pause_after and not paused:
            n = tracker.consecutive_unknowns
            return Decision(
                Verdict.PAUSE,
                f"no data for {n} samples ({why})",
                alert=f"gates unknown for {n} samples ({why}): promotion paused",
                pause_by=NO_DATA_PAUSE,
            )
    return HOLD


def readiness(items: list[ChecklistItem]) -> Decision:
    """Readiness: a failed required item blocks; pending ones hold; all passed promotes."""
    mine = [i for i in items if i.group == "readiness"]
    if any(i.required and i.state is ItemState.FAILED for i in mine):
        return Decision(Verdict.BLOCK, "readiness " + blocker_text(mine))
    if blockers(mine):
        return Decision(Verdict.HOLD, "readiness " + blocker_text(mine))
    return PROMOTE


def command(phase: Phase, name: str, result: CommandResult) -> Decision:
    """A validate or smoke command: exit 0 promotes; anything else blocks (validate) or
    aborts (smoke: staging is already touched, production is not)."""
    if result.ok:
        return PROMOTE
    why = "timed out" if result.timed_out else f"exit {result.exit_code}"
    if phase is Phase.SMOKE:
        return Decision(Verdict.ABORT, f"smoke: {name} tests failed ({why})")
    last = result.tail.strip().splitlines()[-1:]
    detail = f": {last[0]}" if last else ""
    return Decision(Verdict.BLOCK, f"{phase.value}: {name} failed ({why}){detail}")


def _worst(results: list[GateResult]) -> str:
    """The first failing gate as ``error_rate 5.00% over 0.10%``."""
    worst = next((r for r in results if r.status is GateStatus.FAIL), None)
    if worst is None:
        return "gates failing"
    side = "over" if worst.comparison is Comparison.MAX else "under"
    value, limit = format_value(worst.value, worst.unit), format_value(worst.threshold, worst.unit)
    how = ""
    if worst.rule is not Rule.ABSOLUTE:
        # Say which rule decided: a relative limit is not the configured one.
        how = f" ({worst.rule.value}: {worst.detail})" if worst.detail else f" ({worst.rule.value})"
    return f"{worst.gate} {value} {side} {limit}{how}"
