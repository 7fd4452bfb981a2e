"""Gate specifications from the configuration: shared by ``b2tui gates`` and the engine.

The domain knows what a gate is but not where thresholds come from; this module (which
may import both ``config`` and ``domain``) is the one place that maps settings to specs.
"""

from __future__ import annotations

from b2tui.config import GateSettings, PrometheusSettings
from b2tui.domain.gates import Comparison, GateSpec


def gate_specs(gates: GateSettings, prom: PrometheusSettings) -> list[GateSpec]:
    """The metric gates of a sample, in display order.

    ``error_rate`` (a ratio shown in %, must stay below ``error_rate_max``), ``p95_ms``
    (below ``p95_max_ms``), ``request_rate`` (at least ``min_request_rate``; a traffic
    guard: below it the other gates cannot pass), then one maximum gate per extra query.

    Args:
        gates: ``[gates]`` thresholds.
        prom: ``[prometheus]``; only its ``extra`` queries are used.
    """
    specs = [
        GateSpec("error_rate", gates.error_rate_max, Comparison.MAX, unit="%"),
        GateSpec("p95_ms", gates.p95_max_ms, Comparison.MAX, unit="ms"),
        GateSpec(
            "request_rate", gates.min_request_rate, Comparison.MIN, unit="req/s", traffic_guard=True
        ),
    ]
    specs += [GateSpec(q.name, q.max, Comparison.MAX, unit=q.unit) for q in prom.extra]
    return specs
