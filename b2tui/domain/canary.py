"""Canary steps, holds and the replica-ratio math."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CanaryStep:
    """A traffic weight and how long to hold it before the next step."""

    weight: int
    """Percent of traffic on the canary, 0–100."""
    hold: float = 0.0
    """Seconds to hold (gates must stay green) before promotion is allowed."""


DEFAULT_STEPS: tuple[CanaryStep, ...] = (
    CanaryStep(5, 300.0),
    CanaryStep(50, 300.0),
    CanaryStep(100, 0.0),
)
"""5 % hold 5 min → 50 % hold 5 min → 100 %."""


@dataclass(frozen=True)
class ReplicaSplit:
    """Replica counts that approximate an asked canary weight."""

    canary: int
    stable: int

    @property
    def achieved_percent(self) -> float:
        total = self.canary + self.stable
        return 100.0 * self.canary / total if total else 0.0


def replica_split(percent: float, total: int) -> ReplicaSplit:
    """Replicas for ``percent`` of traffic with ``total`` pods, assuming even balancing.

    Any non-zero weight gets at least one canary pod (a 5 % canary of 4 replicas is
    one pod, 20 %); 100 % moves every replica. The stable side keeps at least one pod
    while the canary is below 100 %, so a bad canary never takes all traffic.
    """
    if total < 1:
        raise ValueError("total replicas must be at least 1")
    if percent <= 0:
        return ReplicaSplit(0, total)
    if percent >= 100:
        return ReplicaSplit(total, 0)
    canary = max(1, round(total * percent / 100.0))
    if total > 1:
        canary = min(canary, total - 1)
    else:
        # One replica cannot be split: keep a stable pod and add one canary pod.
        return ReplicaSplit(1, 1)
    return ReplicaSplit(canary, total - canary)


def next_weight(steps: tuple[CanaryStep, ...] | list[CanaryStep], current: int) -> int | None:
    """The first step weight above ``current``, or None when at or past the last step."""
    for s in steps:
        if s.weight > current:
            return s.weight
    return None


def previous_weight(steps: tuple[CanaryStep, ...] | list[CanaryStep], current: int) -> int:
    """The largest step weight below ``current``, or 0 (no traffic on the canary)."""
    lower = [s.weight for s in steps if s.weight < current]
    return max(lower) if lower else 0


def hold_for(steps: tuple[CanaryStep, ...] | list[CanaryStep], weight: int) -> float:
    """Hold of the step at ``weight``; a custom weight takes the hold of the step below it
    (or of the first step)."""
    below = [s for s in steps if s.weight <= weight]
    if below:
        return max(below, key=lambda s: s.weight).hold
    return steps[0].hold if steps else 0.0
