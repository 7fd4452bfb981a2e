"""``b2tui gates``: sample the metric gates of an environment once and judge them.

For scripts and for checking a configuration before a run: the exit code is 0 only
when every gate passes, so ``b2tui gates --env production && deploy`` is a gate too.
``--track canary`` judges the canary the way a run does — against stable over the same
window when ``[gates] rule`` says so. ``--explain`` lists the series the configured
names find and prints a config fragment that would match them.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any, Protocol, TextIO

from b2tui.config import EnvironmentSettings, Settings, secret_problems
from b2tui.domain.gates import (
    TARGET,
    GateResult,
    GateStatus,
    Reading,
    comparison_sign,
    format_value,
    judge_sample,
    limit_text,
    overall,
    verdict_text,
)
from b2tui.engine.series import p95_series, p95_window, with_p95_series
from b2tui.gatespecs import compares, gate_specs, uses_samples
from b2tui.ports import Metrics, SourceError

# Backwards-compatible name: the limit column's text.
threshold_text = limit_text


class Found(Protocol):
    """What ``--explain`` found: one finding per line, and a config fragment that would
    match the series found (empty when nothing was found)."""

    @property
    def lines(self) -> tuple[str, ...]: ...

    @property
    def fragment(self) -> str: ...


class GateMetrics(Metrics, Protocol):
    """What ``b2tui gates`` needs of a metrics source: the :class:`~b2tui.ports.Metrics`
    port, the URL it reads (safe to print) and ``--explain``."""

    @property
    def url(self) -> str: ...

    async def explain(self, env: EnvironmentSettings, hints: tuple[str, ...] = ()) -> Found: ...


async def _sample(
    metrics: GateMetrics, settings: Settings, env: EnvironmentSettings, track: str | None
) -> tuple[dict[str, Reading], dict[str, Reading] | None]:
    specs = gate_specs(settings.gates, settings.prometheus)
    if track != "canary" or not compares(specs):
        return await metrics.sample(env, track), None
    canary, stable = await asyncio.gather(
        metrics.sample(env, "canary"), metrics.sample(env, "stable")
    )
    if uses_samples(specs):
        g = settings.gates
        seconds = p95_window(g, None)
        sc, ss = await asyncio.gather(
            p95_series(metrics, env, "canary", seconds, g.poll),
            p95_series(metrics, env, "stable", seconds, g.poll),
        )
        with_p95_series(canary, sc)
        with_p95_series(stable, ss)
    return canary, stable


def result_dict(r: GateResult, track: str | None) -> dict[str, Any]:
    """A verdict as JSON: every field a person needs to check it."""
    return {
        "gate": r.gate,
        "value": r.value,
        "threshold": r.threshold,
        "sign": comparison_sign(r),
        "status": r.status.value,
        "reason": r.reason,
        "track": track,
        "rule": r.rule.value,
        "absolute": r.absolute,
        "baseline": r.baseline,
        "requests": r.requests,
        "baseline_requests": r.baseline_requests,
        "detail": r.detail,
        "query": r.query,
        "unit": r.unit,
        "verdict": verdict_text(r),
    }


def gates_main(
    settings: Settings,
    env: EnvironmentSettings,
    track: str | None,
    as_json: bool,
    out: TextIO,
    explain: bool = False,
    *,
    metrics: Callable[[], GateMetrics],
) -> int:
    """Sample Prometheus once for ``env`` (and ``track``), print every gate, judge.

    Args:
        settings: Loaded configuration (``[prometheus]``, ``[gates]``, environments).
        env: Environment (of ``settings``) whose ``selector`` scopes the queries.
        track: ``canary`` / ``stable`` to judge one track, None for the whole service.
        as_json: One JSON object per gate line instead of a table.
        out: Where the report goes; errors go to stderr as one line.
        explain: List the series found for the configured names instead of judging.
        metrics: Makes the metrics source (the CLI passes the Prometheus adapter's);
            called once the secrets resolve, and may raise ``SourceError``.

    Returns:
        0 when every gate passes; 1 when any fails or is unknown, or Prometheus cannot
        answer; 2 when a secret cannot be read.
    """
    bad = secret_problems(settings, ("prometheus",))
    if bad:
        print(bad[0], file=sys.stderr)
        return 2
    try:
        source = metrics()
        if explain:
            hints = tuple(h for h in (settings.service.name, env.service, env.deployment) if h)
            found = asyncio.run(source.explain(env, hints))
        else:
            readings, baseline = asyncio.run(_sample(source, settings, env, track))
    except SourceError as e:
        print(f"b2tui gates: {e}", file=sys.stderr)
        return 1
    if explain:
        if as_json:
            out.write(json.dumps({"found": list(found.lines), "fragment": found.fragment}) + "\n")
        else:
            out.write(f"{source.url} · for [environments.{env.name}]\n")
            out.writelines(line + "\n" for line in found.lines)
            if found.fragment:
                out.write("\nA configuration that matches these series:\n\n" + found.fragment)
        return 0 if found.fragment else 1
    results = judge_sample(gate_specs(settings.gates, settings.prometheus), readings, baseline)
    target = readings.get(TARGET)
    notice = target.reason if target is not None and target.value is None else ""
    if as_json:
        for r in results:
            out.write(json.dumps(result_dict(r, track)) + "\n")
        if notice:
            out.write(
                json.dumps({"notice": notice, "query": target.query if target else ""}) + "\n"
            )
    else:
        scope = f"track {track}" if track else "all tracks"
        if baseline is not None:
            scope += " against stable"
        out.write(f"{env.name} · {scope} · {source.url}\n")
        out.write(render_table(results))
        if notice:
            out.write(f"notice: {notice}\n")
        if all(r.value is None and r.reason == "no series yet" for r in results if r.query):
            out.write(
                "hint: no query found a series; `b2tui gates --explain` lists the metric"
                " names and labels this Prometheus has\n"
            )
        out.write(summary(results) + "\n")
    return 0 if overall(results) is GateStatus.PASS else 1


def render_table(results: list[GateResult]) -> str:
    """An aligned plain-text table — gate, value, limit, status, rule, and the verdict
    explained — each gate followed by its expanded query."""
    rows = [("GATE", "VALUE", "LIMIT", "STATUS", "RULE", "WHY")]
    rows += [
        (
            r.gate,
            format_value(r.value, r.unit),
            limit_text(r),
            r.status.value.upper(),
            r.rule.value,
            verdict_text(r),
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = []
    for i, row in enumerate(rows):
        cells = "  ".join(cell.ljust(w) for cell, w in zip(row[:5], widths, strict=True))
        lines.append((cells + "  " + row[5]).rstrip())
        if i > 0 and results[i - 1].query:
            lines.append(f"    query: {results[i - 1].query}")
    return "".join(line + "\n" for line in lines)


def summary(results: list[GateResult]) -> str:
    """One line: the overall verdict and the gates that decide it."""
    status = overall(results)
    if status is GateStatus.PASS:
        return f"PASS: all {len(results)} gates pass"
    deciding = [r.gate for r in results if r.status is status]
    return f"{status.value.upper()}: {', '.join(deciding)}"
