"""Gate specifications from the configuration: shared by ``b2tui gates`` and the engine.

The domain knows what a gate is but not where thresholds come from; this module (which
may import both ``config`` and ``domain``) is the one place that maps settings to specs.
"""

from __future__ import annotations

from b2tui.config import GateSettings, PrometheusSettings
from b2tui.domain.gates import Comparison, Gate, GateSpec, Rule, ShiftTest


def gate_specs(gates: GateSettings, prom: PrometheusSettings) -> list[GateSpec]:
    """The metric gates of a sample, in display order.

    ``error_rate`` (a ratio shown in %, must stay below ``error_rate_max``), ``p95_ms``
    (below ``p95_max_ms``), ``request_rate`` (at least ``min_request_rate``; a traffic
    guard: below it the other gates cannot pass), then one maximum gate per extra query.
    The error-rate and P95 gates carry their canary-against-stable rule
    (``rule``/``error_rate_rule``/``p95_rule``); it applies only when the caller judges
    with a baseline sample.

    Args:
        gates: ``[gates]`` thresholds and rules.
        prom: ``[prometheus]``; only its ``extra`` queries are used.
    """
    shift = ShiftTest(
        confidence=gates.mw_confidence,
        tolerance=gates.mw_tolerance,
        effect_min=gates.mw_effect_min,
        min_shift=gates.mw_min_shift_ms,
        min_points=gates.mw_min_samples,
    )
    specs = [
        GateSpec(
            Gate.ERROR_RATE,
            gates.error_rate_max,
            Comparison.MAX,
            unit="%",
            rule=Rule(gates.error_rate_rule or gates.rule),
            factor=gates.error_rate_factor,
            margin=gates.error_rate_margin,
            ceiling=gates.error_rate_ceiling,
            min_requests=gates.min_requests,
        ),
        GateSpec(
            Gate.P95_MS,
            gates.p95_max_ms,
            Comparison.MAX,
            unit="ms",
            rule=Rule(gates.p95_rule or gates.rule),
            factor=gates.p95_factor,
            margin=gates.p95_margin_ms,
            ceiling=gates.p95_ceiling_ms,
            min_requests=gates.min_requests,
            shift=shift,
        ),
        GateSpec(
            Gate.REQUEST_RATE,
            gates.min_request_rate,
            Comparison.MIN,
            unit="req/s",
            traffic_guard=True,
        ),
    ]
    specs += [GateSpec(q.name, q.max, Comparison.MAX, unit=q.unit) for q in prom.extra]
    return specs


def compares(specs: list[GateSpec]) -> bool:
    """True when any gate judges the canary against stable (a baseline sample is needed)."""
    return any(s.rule is not Rule.ABSOLUTE for s in specs)


def uses_samples(specs: list[GateSpec]) -> bool:
    """True when a gate needs the step's series (the Mann–Whitney rule)."""
    return any(s.rule is Rule.MANN_WHITNEY for s in specs)
