"""The P95 samples a Mann–Whitney verdict judges: one reading path for a run and ``gates``.

A run (:meth:`~b2tui.engine.context.RunContext.readings`) and ``b2tui gates --track canary``
(:mod:`b2tui.commands.gates`) both attach a track's P95 samples, one per poll, to its P95
reading through :func:`with_p95_series`; :func:`p95_window` says how far back they look.
"""

from __future__ import annotations

from dataclasses import replace

from b2tui.config import EnvironmentSettings, GateSettings
from b2tui.domain.gates import Gate, Reading
from b2tui.ports import Metrics

GATE = Gate.P95_MS
"""The gate whose reading carries the samples."""

ONE_SHOT_STEP = 300.0
"""Seconds of samples ``b2tui gates`` judges outside a run: a default canary hold."""


def p95_window(gates: GateSettings, step_seconds: float | None) -> float:
    """Seconds of samples to read: the step so far in a run (``step_seconds``), at least
    ``mw_min_samples`` polls; outside a run (None) a default hold, at least twice that."""
    if step_seconds is None:
        return max(ONE_SHOT_STEP, 2 * gates.mw_min_samples * gates.poll)
    return max(step_seconds, gates.mw_min_samples * gates.poll)


async def p95_series(
    metrics: Metrics, env: EnvironmentSettings, track: str, seconds: float, poll: float
) -> tuple[float, ...]:
    """``track``'s P95 over the last ``seconds``, one value per ``poll`` (gaps dropped).

    Raises the port's :class:`~b2tui.ports.SourceError` when the history cannot be read.
    """
    history = await metrics.history(env, track, seconds, poll)
    points = history.get(GATE)
    return tuple(v for _, v in points.points if v is not None) if points else ()


def with_p95_series(readings: dict[str, Reading], series: tuple[float, ...]) -> None:
    """Attach ``series`` to the P95 reading of ``readings`` (in place), if there is one."""
    if GATE in readings:
        readings[GATE] = replace(readings[GATE], series=series)
