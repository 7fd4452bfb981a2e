"""Pure rendering of the gates: status and value-against-limit text, sparkline cells on the
limit's scale, one-line summaries, and which samples describe the run now. No Textual here.
"""

from __future__ import annotations

from collections.abc import Iterable

from b2tui.domain.events import GateSampled
from b2tui.domain.gates import Gate, GateStatus, format_value
from b2tui.domain.gates import comparison_sign as gate_comparison_sign
from b2tui.domain.view import RunView

MIN_GATES = frozenset({Gate.REQUEST_RATE})
"""Gates whose threshold is a minimum (the value must reach it)."""

GATE_NAMES: dict[str, str] = {
    Gate.ERROR_RATE: "err",
    Gate.P95_MS: "p95",
    Gate.REQUEST_RATE: "req",
    Gate.PODS: "pods",
}
"""Short gate names for narrow rows."""


def track_label(track: str | None) -> str:
    """``canary``, ``stable`` or ``service`` (no track)."""
    return track or "service"


def track_order(tracks: Iterable[str | None]) -> list[str | None]:
    """Canary first, then stable, then the rest, then the whole service."""
    rank = {"canary": 0, "stable": 1, "blue": 2, "green": 3}
    return sorted(set(tracks), key=lambda t: (t is None, rank.get(t or "", 9), t or ""))


def gate_status_text(status: str) -> str:
    """``pass``, ``FAIL`` or ``NO DATA``: unknown never reads like a pass."""
    if status == GateStatus.PASS:
        return "pass"
    if status == GateStatus.FAIL:
        return "FAIL"
    return "NO DATA"


def threshold_text(sample: GateSampled) -> str:
    """The limit as a rule: ``max 0.10%`` for a maximum, ``min 1.0 req/s`` for a minimum."""
    word = "min" if is_minimum(sample) else "max"
    return f"{word} {format_value(sample.threshold, sample.unit)}"


def is_minimum(sample: GateSampled) -> bool:
    """The limit is a minimum (the value must reach it), e.g. the request rate."""
    return sample.comparison == "min" or sample.gate in MIN_GATES


def comparison_sign(sample: GateSampled) -> str:
    """How the value compares with the limit, as arithmetic (``<``, ``>``, ``=``, ``≥``).

    The sign is always true of the two numbers shown (``5.02% > 0.10%``), whatever
    the verdict; the verdict (pass / FAIL) sits next to it. The domain's rule, shared
    with ``b2tui gates``.
    """
    if sample.value is None:
        return ""
    return gate_comparison_sign(sample.result())


def gate_value_text(sample: GateSampled) -> str:
    """Value against limit: ``0.05% < 0.10%``, ``5.02% ≥ 0.10%``; ``– max 0.10%`` with no data."""
    if sample.value is None:
        return f"– {threshold_text(sample)}"
    value = format_value(sample.value, sample.unit)
    return f"{value} {comparison_sign(sample)} {format_value(sample.threshold, sample.unit)}"


SPARK_BARS = "▁▂▃▄▅▆▇█"
"""Eight bar heights."""

SPARK_AXIS = "│"
"""Between the limit marker and the samples."""


def spark_level(value: float, top: float) -> int:
    """The bar (0–7) of ``value`` on a 0 → ``top`` scale (the lowest bar for 0)."""
    if top <= 0:
        return 0 if value <= 0 else len(SPARK_BARS) - 1
    return min(len(SPARK_BARS) - 1, int(max(0.0, value) / top * len(SPARK_BARS)))


def spark_cells(
    history: Iterable[float | None], threshold: float, width: int, *, minimum: bool = False
) -> list[tuple[str, str]]:
    """The limit marker, an axis, then the newest samples as (glyph, kind) cells.

    ``kind`` is ``limit`` (the marker and the axis), ``over`` (a sample that breaks the
    limit) or ``ok``. The scale runs from 0 to the larger of the shown samples and the
    limit, so a steady 0.01 % under a 0.10 % limit draws as the lowest bar with the
    limit marker full height beside it, and a failing 4.39 % is a full bar with the
    marker at the bottom. A gap (no data) is a blank cell, never a zero bar.
    """
    room = width - 2
    if room <= 0:
        return []
    values = list(history)[-room:]
    top = max([threshold, *(v for v in values if v is not None)])
    cells = [(SPARK_BARS[spark_level(threshold, top)], "limit"), (SPARK_AXIS, "limit")]
    for v in values:
        if v is None:
            cells.append((" ", "ok"))
            continue
        broken = v < threshold if minimum else v >= threshold
        cells.append((SPARK_BARS[spark_level(v, top)], "over" if broken else "ok"))
    return cells


def gate_summary(samples: list[GateSampled]) -> str:
    """One line for gates without a sparkline: ``req 12.0 req/s ✓ · pods 0 pods ✓``."""
    parts = []
    for s in samples:
        mark = {"pass": "✓", "fail": "✗"}.get(s.status, "?")
        value = format_value(s.value, s.unit)
        parts.append(f"{GATE_NAMES.get(s.gate, s.gate)} {value} {mark}")
    return " · ".join(parts)


def sparkline_points(history: Iterable[float | None]) -> list[float]:
    """Sparkline data: gaps (no data) are dropped rather than drawn as zero, which would
    look like a healthy service."""
    return [v for v in history if v is not None]


def current_gates(view: RunView, stale_after: float) -> dict[tuple[str | None, str], GateSampled]:
    """The samples that describe the run now, ordered canary, stable, others, service.

    A sample is current when it was taken in the run's phase and within ``stale_after``
    seconds of that phase's newest sample: staging's samples are not production's, and
    a track that stopped being sampled (the canary once promoted or rolled back) is gone.
    """
    mine = {k: s for k, s in view.gates.items() if s.phase is view.phase}
    if not mine:
        return {}
    newest = max(s.ts for s in mine.values())
    fresh = {k: s for k, s in mine.items() if (newest - s.ts).total_seconds() <= stale_after}
    order = track_order(t for t, _ in fresh)
    return dict(sorted(fresh.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1])))


def gates_empty_text(view: RunView) -> str:
    """What the Gates panel says when no sample is current."""
    phase = view.phase.value if view.phase else "the run"
    if view.finished:
        outcome = view.outcome.value.replace("_", " ") if view.outcome else "over"
        return f"no gate samples: run {outcome} in {phase}"
    if view.phase is None or view.phase.value in ("readiness", "validate", "staging"):
        return "no samples yet: gates are sampled from smoke (staging) on"
    return f"no samples yet in {phase}"
