"""``suggest_config``: proposes ``[prometheus]`` settings from the series a server has."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from b2tui.adapters.prometheus.promql import (
    _escape_label_value,
)
from b2tui.config import EnvironmentSettings, PrometheusSettings

_STATUS_LABELS = ("code", "status", "status_code", "http_status", "response_code", "http_code")
_TRACK_VALUES = {"canary", "stable", "baseline", "primary"}
_NOT_SELECTOR = {"__name__", "job", "instance", "le", "quantile"}
_SERVICE_LABELS = ("service", "app", "application", "service_name", "app_kubernetes_io_name")


@dataclass(frozen=True)
class Suggestion:
    """What ``b2tui gates --explain`` found and proposes."""

    lines: tuple[str, ...]
    """What was found, one finding per line."""
    fragment: str
    """TOML that would match the series found (empty when nothing was found)."""


def _label_values(series: list[dict[str, str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for s in series:
        for k, v in s.items():
            out.setdefault(k, set()).add(v)
    return out


def _pick_name(
    configured: str, found: bool, names: list[str], words: tuple[str, ...], suffix: str
) -> str | None:
    if found:
        return configured
    candidates = [n for n in names if n.endswith(suffix) and any(w in n for w in words)]
    candidates.sort(key=lambda n: ("http" not in n, len(n), n))
    return candidates[0] if candidates else None


def _toml(value: str) -> str:
    return "'" + value + "'" if '"' in value and "'" not in value else json.dumps(value)


def suggest_config(
    prom: PrometheusSettings,
    env: EnvironmentSettings,
    *,
    names: list[str],
    counter_series: list[dict[str, str]],
    histogram_series: list[dict[str, str]],
    hints: tuple[str, ...] = (),
) -> Suggestion:
    """Propose ``[prometheus]`` and environment keys from the series Prometheus holds.

    Args:
        prom: The configured names.
        env: The environment (its selector and track label).
        names: Every metric name Prometheus knows (to find candidates).
        counter_series: Label sets of the request counter (configured or candidate).
        histogram_series: Label sets of the latency histogram's ``_bucket`` series.
        hints: Names of the service (``service.name``, the deployment) to pick the
            selector value by.
    """
    lines: list[str] = []
    counter = counter_series[0].get("__name__") if counter_series else None
    hist = (
        histogram_series[0].get("__name__", "").removesuffix("_bucket")
        if histogram_series
        else None
    )
    if counter is None:
        lines.append(f"request counter {prom.requests}: no series; no *request*_total metric found")
    elif counter != prom.requests:
        lines.append(f"request counter {prom.requests}: no series; candidate {counter}")
    else:
        lines.append(f"request counter {counter}: {len(counter_series)} series")
    if hist is None:
        lines.append(f"latency histogram {prom.latency}: no _bucket series found")
    elif hist != prom.latency.removesuffix("_bucket"):
        lines.append(f"latency histogram {prom.latency}: no series; candidate {hist}")
    else:
        lines.append(f"latency histogram {hist}: found")
    values = _label_values(counter_series)
    for k in sorted(values):
        if k != "__name__":
            shown = sorted(values[k])
            more = f", … ({len(shown)})" if len(shown) > 6 else ""
            lines.append(f"  label {k}: {', '.join(shown[:6])}{more}")
    if not counter_series or counter is None:
        return Suggestion(tuple(lines), "")
    status = prom.status_label if prom.status_label in values else None
    if status is None:
        status = next((k for k in _STATUS_LABELS if k in values), None)
    if status is None:
        status = next(
            (k for k, v in values.items() if v and all(re.fullmatch(r"\d{3}|\dxx", x) for x in v)),
            None,
        )
    track = env.track_label if env.track_label in values else None
    if track is None:
        track = next((k for k, v in values.items() if v & _TRACK_VALUES), None)
    skip = _NOT_SELECTOR | {status or "", track or ""}
    configured = [
        m.split("=", 1)[0].strip().rstrip("!~")
        for m in env.selector.strip().strip("{}").split(",")
        if "=" in m
    ]
    selector: dict[str, str] = {}
    for k in configured:
        if k in values and len(values[k]) == 1:
            selector[k] = next(iter(values[k]))
    if not selector:
        for k in [*_SERVICE_LABELS, *sorted(values)]:
            if k in skip or k not in values or k in selector:
                continue
            vals = values[k]
            hit = next((h for h in hints if h in vals), None)
            if hit is not None:
                selector[k] = hit
                break
            if len(vals) == 1 and k in _SERVICE_LABELS:
                selector[k] = next(iter(vals))
                break
    mine = [x for x in counter_series if all(x.get(k) == v for k, v in selector.items())]
    jobs = sorted({x["job"] for x in mine if "job" in x})
    frag = ["[prometheus]", f"requests = {_toml(counter)}"]
    if status:
        frag.append(f"status_label = {_toml(status)}")
    else:
        lines.append("  no label with HTTP status codes found on the counter")
    if hist:
        frag.append(f"latency = {_toml(hist)}")
    if len(jobs) == 1:
        frag.append(f"job = {_toml(jobs[0])}")
    elif jobs:
        lines.append(f"  the counter comes from several jobs: {', '.join(jobs)}; pick one")
    frag.append("")
    frag.append(f"[environments.{env.name}]")
    sel = ",".join(f'{k}="{_escape_label_value(v)}"' for k, v in selector.items())
    frag.append(f"selector = '{sel}'")
    if track:
        frag.append(f"track_label = {_toml(track)}")
    else:
        lines.append(
            "  no label with canary/stable values found: canary and stable cannot be told apart"
        )
    return Suggestion(tuple(lines), "\n".join(frag) + "\n")
