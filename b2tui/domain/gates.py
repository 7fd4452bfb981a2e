"""Gates: a metric compared with a threshold gives pass, fail or unknown.

Unknown (no data, source down, too little traffic) never counts as pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class GateStatus(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"


class Comparison(StrEnum):
    MAX = "max"
    """The value must stay below the threshold."""
    MIN = "min"
    """The value must reach at least the threshold."""


@dataclass(frozen=True)
class GateSpec:
    """A gate's definition."""

    name: str
    """Identifier: ``error_rate``, ``p95_ms``, ``request_rate``, ``pods``, ``db_connections``…"""
    threshold: float
    """Limit the value is compared with."""
    comparison: Comparison = Comparison.MAX
    """Whether the threshold is a maximum (< passes) or a minimum (>= passes)."""
    unit: str = ""
    """Display unit: ``%`` (value is a ratio), ``ms``, ``req/s``, ``pods``."""
    traffic_guard: bool = False
    """A minimum-traffic gate: below it the *other* gates of the sample are unknown."""


@dataclass(frozen=True)
class Reading:
    """A metric value as a source returned it; None means no value, with a reason."""

    name: str
    value: float | None
    reason: str = ""
    """Why there is no value ("empty result", "NaN", "target down", "source error: …")."""


@dataclass(frozen=True)
class GateResult:
    """A reading judged against its gate."""

    gate: str
    value: float | None
    threshold: float
    status: GateStatus
    reason: str = ""
    unit: str = ""
    comparison: Comparison = Comparison.MAX


def judge(spec: GateSpec, reading: Reading | None) -> GateResult:
    """Pass, fail or unknown for one reading. NaN and infinities are unknown."""
    if reading is None:
        return GateResult(
            spec.name, None, spec.threshold, GateStatus.UNKNOWN, "no reading", spec.unit
        )
    v = reading.value
    if v is None or math.isnan(v) or math.isinf(v):
        reason = reading.reason or ("NaN" if v is not None and math.isnan(v) else "no data")
        if v is not None and math.isinf(v):
            reason = reading.reason or "infinite value"
        return GateResult(
            spec.name, None, spec.threshold, GateStatus.UNKNOWN, reason, spec.unit, spec.comparison
        )
    ok = v < spec.threshold if spec.comparison is Comparison.MAX else v >= spec.threshold
    return GateResult(
        spec.name,
        v,
        spec.threshold,
        GateStatus.PASS if ok else GateStatus.FAIL,
        "" if ok else "over threshold" if spec.comparison is Comparison.MAX else "below minimum",
        spec.unit,
        spec.comparison,
    )


def judge_sample(specs: list[GateSpec], readings: dict[str, Reading]) -> list[GateResult]:
    """Judge every gate of one sample.

    A traffic guard that is not met turns every other gate's pass into unknown: with too
    little traffic a 0 % error rate proves nothing. A fail stays a fail (errors seen on
    little traffic are still errors).
    """
    results = [judge(s, readings.get(s.name)) for s in specs]
    guard_failed = [
        r
        for s, r in zip(specs, results, strict=True)
        if s.traffic_guard and r.status is not GateStatus.PASS
    ]
    if not guard_failed:
        return results
    guard = guard_failed[0]
    # A guard without a value keeps its own reason ("target down", "no series yet"); one
    # with a value is simply below the minimum.
    if guard.status is GateStatus.UNKNOWN and guard.reason:
        why = guard.reason
    else:
        shown = format_value(guard.value, guard.unit)
        why = f"traffic below minimum ({guard.gate} {shown} < {guard.threshold:g})"
    out = []
    for s, r in zip(specs, results, strict=True):
        if s.traffic_guard:
            # The guard itself is unknown, not failed: low traffic is not an error.
            out.append(
                GateResult(
                    r.gate, r.value, r.threshold, GateStatus.UNKNOWN, why, r.unit, r.comparison
                )
            )
        elif r.status is GateStatus.PASS:
            out.append(
                GateResult(
                    r.gate, r.value, r.threshold, GateStatus.UNKNOWN, why, r.unit, r.comparison
                )
            )
        else:
            out.append(r)
    return out


def overall(results: list[GateResult]) -> GateStatus:
    """Fail if any gate fails; otherwise unknown if any is unknown; otherwise pass."""
    statuses = {r.status for r in results}
    if GateStatus.FAIL in statuses:
        return GateStatus.FAIL
    if GateStatus.UNKNOWN in statuses or not results:
        return GateStatus.UNKNOWN
    return GateStatus.PASS


def format_value(value: float | None, unit: str) -> str:
    """Display text of a gate value: ``0.05%``, ``182ms``, ``12.0 req/s``, ``NO DATA``."""
    if value is None:
        return "NO DATA"
    if unit == "%":
        return f"{value * 100:.2f}%"
    if unit == "ms":
        return f"{value:.0f}ms"
    if unit:
        return f"{value:.1f} {unit}"
    return f"{value:g}"


@dataclass
class GateTracker:
    """Consecutive fails and the start of an unknown streak for one scope (a track).

    The engine feeds it one overall status per sample and asks what to do.
    """

    consecutive_failures: int = 0
    """Fails in a row; reset by any pass or unknown."""
    consecutive_unknowns: int = 0
    """Unknowns in a row; reset by a pass or a fail."""
    unknown_since: float | None = None
    """Run-clock epoch seconds of the first unknown of the current streak."""
    last: GateStatus = GateStatus.UNKNOWN
    """Status of the most recent sample (unknown before the first)."""

    def feed(self, status: GateStatus, now: float) -> None:
        self.last = status
        if status is GateStatus.FAIL:
            self.consecutive_failures += 1
            self.consecutive_unknowns = 0
            self.unknown_since = None
        elif status is GateStatus.UNKNOWN:
            self.consecutive_failures = 0
            self.consecutive_unknowns += 1
            if self.unknown_since is None:
                self.unknown_since = now
        else:
            self.consecutive_failures = 0
            self.consecutive_unknowns = 0
            self.unknown_since = None

    def unknown_for(self, now: float) -> float:
        return 0.0 if self.unknown_since is None else now - self.unknown_since
