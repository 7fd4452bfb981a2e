"""The post-deploy monitoring window and its stages."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Stage(StrEnum):
    HIGH_ALERT = "high alert"
    KEY_METRICS = "key metrics"
    SETTLE = "settle"


@dataclass(frozen=True)
class StageSpan:
    stage: Stage
    start: float
    """Seconds from the window's start."""
    end: float


def stages(window: float) -> list[StageSpan]:
    """The three stages scaled to ``window`` seconds (0–5, 5–15, 15–30 of 30 minutes)."""
    a, b = window * 5 / 30, window * 15 / 30
    return [
        StageSpan(Stage.HIGH_ALERT, 0.0, a),
        StageSpan(Stage.KEY_METRICS, a, b),
        StageSpan(Stage.SETTLE, b, window),
    ]


def stage_at(elapsed: float, window: float) -> Stage:
    """Stage at ``elapsed`` seconds into a window of ``window`` seconds."""
    for span in stages(window):
        if elapsed < span.end:
            return span.stage
    return Stage.SETTLE


STAGE_NUMBER = {Stage.HIGH_ALERT: 1, Stage.KEY_METRICS: 2, Stage.SETTLE: 3}
