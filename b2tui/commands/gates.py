"""``b2tui gates``: sample the metric gates of an environment once and judge them.

For scripts and for checking a configuration before a run: the exit code is 0 only
when every gate passes, so ``b2tui gates --env production && deploy`` is a gate too.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TextIO

from b2tui.adapters.prometheus import PrometheusMetrics
from b2tui.config import ConfigError, Settings
from b2tui.domain.gates import (
    Comparison,
    GateResult,
    GateStatus,
    format_value,
    judge_sample,
    overall,
)
from b2tui.gatespecs import gate_specs
from b2tui.ports import SourceError


def gates_main(
    settings: Settings, env_name: str, track: str | None, as_json: bool, out: TextIO
) -> int:
    """Sample Prometheus once for ``env_name`` (and ``track``), print every gate, judge.

    Args:
        settings: Loaded configuration (``[prometheus]``, ``[gates]``, environments).
        env_name: Environment whose ``selector`` scopes the queries.
        track: ``canary`` / ``stable`` to judge one track, None for the whole service.
        as_json: One JSON object per gate line instead of a table.
        out: Where the report goes; errors go to stderr as one line.

    Returns:
        0 when every gate passes; 1 when any fails or is unknown, or Prometheus cannot
        answer; 2 when the environment is not configured.
    """
    try:
        env = settings.environment(env_name)
    except ConfigError as e:
        print(f"b2tui gates: {e.problems[0]}", file=sys.stderr)
        return 2
    try:
        metrics = PrometheusMetrics(settings.prometheus)
        readings = asyncio.run(metrics.sample(env, track))
    except SourceError as e:
        print(f"b2tui gates: {e}", file=sys.stderr)
        return 1
    results = judge_sample(gate_specs(settings.gates, settings.prometheus), readings)
    if as_json:
        for r in results:
            line = {
                "gate": r.gate,
                "value": r.value,
                "threshold": r.threshold,
                "status": r.status.value,
                "reason": r.reason,
                "track": track,
            }
            out.write(json.dumps(line) + "\n")
    else:
        scope = f"track {track}" if track else "all tracks"
        out.write(f"{env.name} · {scope} · {metrics.url}\n")
        out.write(render_table(results))
        out.write(summary(results) + "\n")
    return 0 if overall(results) is GateStatus.PASS else 1


def threshold_text(result: GateResult) -> str:
    """``< 0.10%`` for a maximum, ``≥ 1.0 req/s`` for a minimum."""
    sign = "<" if result.comparison is Comparison.MAX else "≥"
    return f"{sign} {format_value(result.threshold, result.unit)}"


def render_table(results: list[GateResult]) -> str:
    """An aligned plain-text table: gate, value, threshold, status, reason."""
    rows = [("GATE", "VALUE", "THRESHOLD", "STATUS", "REASON")]
    rows += [
        (
            r.gate,
            format_value(r.value, r.unit),
            threshold_text(r),
            r.status.value.upper(),
            r.reason,
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:4], widths, strict=True))
        + ("  " + row[4] if row[4] else "")
        for row in rows
    ]
    return "".join(line.rstrip() + "\n" for line in lines)


def summary(results: list[GateResult]) -> str:
    """One line: the overall verdict and the gates that decide it."""
    status = overall(results)
    if status is GateStatus.PASS:
        return f"PASS: all {len(results)} gates pass"
    deciding = [r.gate for r in results if r.status is status]
    return f"{status.value.upper()}: {', '.join(deciding)}"
