"""Prometheus answers → readings: NaN, Inf and empty vectors, the target check, errors."""

from __future__ import annotations

import math
from typing import Any

from b2tui.domain.gates import Gate, Reading

_NAN_REASONS: dict[str, str] = {
    Gate.ERROR_RATE: "no traffic (NaN: 0 requests / 0 requests)",
    Gate.P95_MS: "no requests observed (NaN from an empty histogram)",
}


# --- pure helpers (unit-tested without a server) -----------------------------------------


def _parse_value(raw: Any) -> float | None:
    """Prometheus sends sample values as strings ("0.5", "NaN", "+Inf")."""
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def reading_from_result(name: str, result_type: str, result: Any, *, scale: float = 1.0) -> Reading:
    """Turn the ``data`` of an instant query into one gate reading.

    Args:
        name: Gate name (``error_rate``, ``p95_ms`` …); also picks the NaN explanation.
        result_type: ``data.resultType`` (``vector``, ``scalar``, ``matrix``, ``string``).
        result: ``data.result``.
        scale: Factor applied to a finite value (1000 turns seconds into ms).
    """
    if result_type == "scalar":
        pair = result
    elif result_type == "vector":
        if not result:
            return Reading(name, None, "no series yet")
        if len(result) > 1:
            return Reading(
                name,
                None,
                f"{len(result)} series; the query must return one (aggregate it, e.g. sum(...))",
            )
        pair = result[0].get("value")
    else:
        return Reading(name, None, f"query returns a {result_type}, not an instant vector")
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        return Reading(name, None, "malformed sample in the answer")
    value = _parse_value(pair[1])
    if value is None:
        return Reading(name, None, f"not a number: {str(pair[1])[:40]}")
    if math.isnan(value):
        return Reading(name, None, _NAN_REASONS.get(name, "NaN"))
    if math.isinf(value):
        sign = "+" if value > 0 else "-"
        return Reading(name, None, f"infinite value ({sign}Inf)")
    return Reading(name, value * scale)


def health_reason(result: list[dict[str, Any]], query: str) -> str | None:
    """Why the targets behind a sample are unhealthy, from the result of ``up{…}``; None
    when every matching target is up, or when nothing matched (see :func:`no_target_notice`).

    Args:
        result: ``data.result`` of the ``up`` query (a vector).
        query: The expanded ``up`` query.
    """
    if not result:
        return None
    down = [
        s.get("metric", {}).get("instance", "?")
        for s in result
        if _parse_value((s.get("value") or [None, None])[1]) == 0.0
    ]
    if not down:
        return None
    shown = ", ".join(down[:3]) + (", …" if len(down) > 3 else "")
    return f"target down: {len(down)} of {len(result)} ({shown})"


def no_target_notice(query: str, job_set: bool) -> str:
    """The one notice for an ``up`` query that matched nothing: what to set."""
    if job_set:
        how = "check [prometheus] job against the job names of `b2tui gates --explain`"
    else:
        how = (
            'set [prometheus] job = "<scrape job of the service>" (on most Prometheus'
            " servers up carries only job and instance); `b2tui gates --explain` lists them"
        )
    return f"no scrape target: {query} matched nothing, so a down target goes unnoticed; {how}"


def _root_cause(error: BaseException) -> BaseException:
    """The innermost exception behind an httpx error (``Connection refused``, a TLS
    verification failure) — httpx's own message is often just "All connection attempts
    failed"."""
    seen = {id(error)}
    while True:
        nxt = error.__cause__ or error.__context__
        if nxt is None or id(nxt) in seen:
            return error
        seen.add(id(nxt))
        error = nxt


def _one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


# --- the adapter -------------------------------------------------------------------------
