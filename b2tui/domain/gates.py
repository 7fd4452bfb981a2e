"""Gates: a metric compared with a limit gives pass, fail or unknown.

Unknown (no data, source down, too little traffic) never counts as pass.

A gate's limit is absolute (``error_rate < 0.1 %``) or, for the canary, derived from the
stable track over the same window (:class:`Rule`): a *relative* limit
``max(absolute, stable × factor + margin)`` capped by a ceiling, or, for latency, a
Mann–Whitney U test over the step's samples. A zero, NaN or absent baseline falls back to
the absolute limit, and every :class:`GateResult` says which rule decided and why
(:func:`verdict_text`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum


class Gate(StrEnum):
    """The names of the gates and readings: one spelling for every layer.

    A member is its string (``Gate.P95_MS == "p95_ms"``), so events, stores and JSON keep
    plain names.
    """

    ERROR_RATE = "error_rate"
    P95_MS = "p95_ms"
    REQUEST_RATE = "request_rate"
    """The traffic guard: below ``min_request_rate`` a sample is unknown."""
    PODS = "pods"
    """Crash-looping pods of the sampled workload."""
    DB_CONNECTIONS = "db_connections"
    MEMORY = "memory"
    CPU = "cpu"
    TARGET = "target"
    """The scrape target check (``up``); a reading, not a gate."""


TARGET = Gate.TARGET
"""Name of the reading that reports the target check (``up``); not a gate. Its value is
the number of matching targets, 0 when one is down, None (with the notice as reason)
when the check matched nothing."""


class GateStatus(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    UNKNOWN = "unknown"


class Comparison(StrEnum):
    MAX = "max"
    """The value must stay below the threshold."""
    MIN = "min"
    """The value must reach at least the threshold."""


class Rule(StrEnum):
    """How a gate's limit is decided."""

    ABSOLUTE = "absolute"
    """The configured limit alone."""
    RELATIVE = "relative"
    """``max(absolute, stable × factor + margin)``, at most the ceiling."""
    MANN_WHITNEY = "mann-whitney"
    """Canary samples significantly higher than stable's (Kayenta's U test) fail."""


@dataclass(frozen=True)
class ShiftTest:
    """Parameters of the Mann–Whitney rule (Kayenta's defaults)."""

    confidence: float = 0.98
    """Level of the shift's confidence interval."""
    tolerance: float = 0.25
    """The interval's lower bound must exceed this fraction of the estimated shift."""
    effect_min: float = 1.1
    """Effect-size floor: canary mean / stable mean at least this to fail."""
    min_shift: float = 10.0
    """Absolute floor of the estimated shift, in the gate's unit (ms)."""
    min_points: int = 10
    """Samples per track below which the absolute limit decides instead."""


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
    rule: Rule = Rule.ABSOLUTE
    """How the canary's limit is decided when a baseline (stable) sample is given."""
    factor: float = 1.0
    """Relative rule: stable value × factor …"""
    margin: float = 0.0
    """… + margin (in the value's own unit: a ratio for ``%``, ms for ``ms``)."""
    ceiling: float = math.inf
    """Relative rule: the derived limit never exceeds this (a noisy stable cannot lift it
    without bound)."""
    min_requests: float = 0.0
    """Requests each track needs in the window before a comparison is judged."""
    shift: ShiftTest = field(default_factory=ShiftTest)
    """Mann–Whitney parameters (rule ``mann-whitney``)."""


@dataclass(frozen=True)
class Reading:
    """A metric value as a source returned it; None means no value, with a reason."""

    name: str
    value: float | None
    reason: str = ""
    """Why there is no value ("empty result", "NaN", "target down", "source error: …")."""
    query: str = ""
    """The query as sent (``$selector`` expanded), for the verdict's explanation."""
    requests: float | None = None
    """Requests in the rate window behind this value (the sample size); None: unknown."""
    series: tuple[float, ...] = ()
    """Recent values (one per poll over the step) for the Mann–Whitney rule."""


@dataclass(frozen=True)
class GateResult:
    """A reading judged against its gate: everything a person needs to check the verdict."""

    gate: str
    value: float | None
    threshold: float
    """The limit that decided (derived from the baseline under the relative rule)."""
    status: GateStatus
    reason: str = ""
    """Why unknown, or what failed; empty on a pass."""
    unit: str = ""
    comparison: Comparison = Comparison.MAX
    rule: Rule = Rule.ABSOLUTE
    """The rule that decided (after any fallback)."""
    absolute: float | None = None
    """The configured absolute limit (equal to ``threshold`` under the absolute rule)."""
    baseline: float | None = None
    """Stable's value over the same window, when compared."""
    requests: float | None = None
    """Requests behind ``value`` (sample size)."""
    baseline_requests: float | None = None
    """Requests behind ``baseline``."""
    detail: str = ""
    """How the limit was derived, or why the comparison fell back to the absolute limit."""
    query: str = ""
    """The expanded query."""


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def _passes(spec: GateSpec, value: float, limit: float) -> bool:
    return value < limit if spec.comparison is Comparison.MAX else value >= limit


def judge(spec: GateSpec, reading: Reading | None) -> GateResult:
    """Pass, fail or unknown for one reading against the absolute limit. NaN and
    infinities are unknown."""
    if reading is None:
        reading = Reading(spec.name, None, reason="no reading")
    v = reading.value
    common = {
        "absolute": spec.threshold,
        "requests": reading.requests,
        "query": reading.query,
    }
    if v is None or math.isnan(v) or math.isinf(v):
        reason = reading.reason or ("NaN" if v is not None and math.isnan(v) else "no data")
        if v is not None and math.isinf(v):
            reason = reading.reason or "infinite value"
        return GateResult(
            spec.name,
            None,
            spec.threshold,
            GateStatus.UNKNOWN,
            reason,
            spec.unit,
            spec.comparison,
            **common,  # type: ignore[arg-type]
        )
    ok = _passes(spec, v, spec.threshold)
    return GateResult(
        spec.name,
        v,
        spec.threshold,
        GateStatus.PASS if ok else GateStatus.FAIL,
        "" if ok else "over threshold" if spec.comparison is Comparison.MAX else "below minimum",
        spec.unit,
        spec.comparison,
        **common,  # type: ignore[arg-type]
    )


def _count(n: float | None) -> str:
    return "?" if n is None else f"{n:.0f}"


def judge_against(spec: GateSpec, reading: Reading | None, baseline: Reading | None) -> GateResult:
    """Judge the canary's ``reading`` with the gate's rule against stable's ``baseline``.

    * absolute rule, or a minimum gate: :func:`judge`;
    * the canary below ``min_requests`` in the window: unknown ("too little traffic");
    * stable without a usable value (absent, NaN, 0, or below ``min_requests``): the
      absolute limit decides and ``detail`` says why;
    * relative: limit ``min(max(absolute, stable × factor + margin), ceiling)``;
    * Mann–Whitney: fail when the canary's samples are significantly higher than stable's
      (see :func:`b2tui.domain.mannwhitney.judge_shift`); with fewer than
      ``shift.min_points`` samples per track the absolute limit decides.
    """
    base = judge(spec, reading)
    if spec.rule is Rule.ABSOLUTE or spec.comparison is not Comparison.MAX or reading is None:
        return base
    b_value = baseline.value if baseline is not None else None
    b_requests = baseline.requests if baseline is not None else None
    base = replace(
        base, baseline=b_value if _finite(b_value) else None, baseline_requests=b_requests
    )
    if base.value is None:
        return base
    if spec.min_requests > 0 and (reading.requests is None or reading.requests < spec.min_requests):
        why = f"too little traffic: {_count(reading.requests)} requests < {spec.min_requests:g}"
        return replace(base, status=GateStatus.UNKNOWN, reason=why, detail=why)

    def fallback(why: str) -> GateResult:
        return replace(base, detail=f"{why}: absolute limit")

    if baseline is None or not _finite(b_value):
        reason = baseline.reason if baseline is not None and baseline.reason else "no value"
        return fallback(f"baseline unknown ({reason})")
    assert b_value is not None
    if spec.min_requests > 0 and (b_requests is None or b_requests < spec.min_requests):
        return fallback(
            f"stable has too little traffic ({_count(b_requests)} requests < {spec.min_requests:g})"
        )
    if b_value == 0:
        return fallback(f"baseline {format_value(0.0, spec.unit)}")
    v = base.value
    if spec.rule is Rule.RELATIVE:
        derived = min(b_value * spec.factor + spec.margin, spec.ceiling)
        how = f"stable {format_value(b_value, spec.unit)} × {spec.factor:g}"
        if spec.margin:
            how += f" + {format_value(spec.margin, spec.unit)}"
        if derived == spec.ceiling and b_value * spec.factor + spec.margin > spec.ceiling:
            how += f", capped at {format_value(spec.ceiling, spec.unit)}"
        if derived <= spec.threshold:
            return replace(base, detail=f"{how} = {format_value(derived, spec.unit)} is below it")
        ok = _passes(spec, v, derived)
        return replace(
            base,
            threshold=derived,
            status=GateStatus.PASS if ok else GateStatus.FAIL,
            reason="" if ok else "worse than stable allows",
            rule=Rule.RELATIVE,
            detail=how,
        )
    # Mann–Whitney over the step's samples.
    xs, ys = reading.series, baseline.series
    t = spec.shift
    if len(xs) < t.min_points or len(ys) < t.min_points:
        return fallback(f"{min(len(xs), len(ys))} samples < {t.min_points} for Mann–Whitney")
    # Imported here: `statistics` is not needed before a canary compares samples.
    from b2tui.domain.mannwhitney import judge_shift

    shift = judge_shift(
        xs,
        ys,
        confidence=t.confidence,
        tolerance=t.tolerance,
        effect_min=t.effect_min,
        min_shift=t.min_shift,
    )
    how = f"{len(xs)} vs {len(ys)} samples, {shift.why}"
    if shift.test is not None:
        u = shift.test
        how = (
            f"shift {u.estimate:+.1f}{spec.unit} [{u.low:+.1f}, {u.high:+.1f}]"
            f" at {t.confidence:.0%} (tolerance {shift.critical:.1f}{spec.unit}),"
            f" mean ratio {shift.mean_ratio:.2f}, p={u.p_value:.3g}; {how}"
        )
    return replace(
        base,
        status=GateStatus.FAIL if shift.worse else GateStatus.PASS,
        reason="significantly slower than stable" if shift.worse else "",
        rule=Rule.MANN_WHITNEY,
        detail=how,
    )


def judge_sample(
    specs: Sequence[GateSpec],
    readings: dict[str, Reading],
    baseline: dict[str, Reading] | None = None,
) -> list[GateResult]:
    """Judge every gate of one sample; with ``baseline`` (stable's readings of the same
    window), each gate by its rule (:func:`judge_against`).

    A traffic guard that is not met turns every other gate's pass into unknown: with too
    little traffic a 0 % error rate proves nothing. A fail stays a fail (errors seen on
    little traffic are still errors).
    """
    if baseline is None:
        results = [judge(s, readings.get(s.name)) for s in specs]
    else:
        results = [judge_against(s, readings.get(s.name), baseline.get(s.name)) for s in specs]
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
            out.append(replace(r, status=GateStatus.UNKNOWN, reason=why))
        elif r.status is GateStatus.PASS:
            out.append(replace(r, status=GateStatus.UNKNOWN, reason=why))
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


def comparison_sign(result: GateResult) -> str:
    """The sign between value and limit that is true of this result: ``<`` / ``≥`` for a
    maximum (``>`` when strictly over), ``≥`` / ``<`` for a minimum; ``?`` without a value."""
    v, limit = result.value, result.threshold
    if v is None:
        return "?"
    if result.comparison is Comparison.MAX:
        return "<" if v < limit else ">" if v > limit else "="
    return "≥" if v >= limit else "<"


def limit_text(result: GateResult) -> str:
    """The limit as a requirement: ``< 0.10%`` for a maximum, ``≥ 1.0 req/s`` for a minimum."""
    sign = "<" if result.comparison is Comparison.MAX else "≥"
    return f"{sign} {format_value(result.threshold, result.unit)}"


def verdict_text(result: GateResult) -> str:
    """One line that explains a verdict, shared by ``b2tui gates``, events and the screen.

    ``5.02% > 0.10% (absolute)``, ``0.31% < 0.50% (relative: stable 0.30% × 1.5 + 0.05%;
    2941 vs 2988 requests)``, ``NO DATA: no traffic (…)``.
    """
    if result.value is None:
        return f"NO DATA: {result.reason or 'no value'}"
    value = format_value(result.value, result.unit)
    if result.rule is Rule.MANN_WHITNEY:
        text = f"{value} vs stable {format_value(result.baseline, result.unit)} (mann-whitney"
    else:
        limit = format_value(result.threshold, result.unit)
        text = f"{value} {comparison_sign(result)} {limit} ({result.rule.value}"
    extra = []
    if result.detail:
        extra.append(result.detail)
    if result.requests is not None or result.baseline_requests is not None:
        if result.baseline_requests is not None or result.baseline is not None:
            extra.append(
                f"{_count(result.requests)} vs {_count(result.baseline_requests)} requests"
            )
        else:
            extra.append(f"{_count(result.requests)} requests")
    text += (": " + "; ".join(extra) if extra else "") + ")"
    if result.status is GateStatus.UNKNOWN and result.reason and result.reason != result.detail:
        text += f" — unknown: {result.reason}"
    return text


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
