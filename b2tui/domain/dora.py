"""DORA figures from past runs: deployment frequency, lead time, change failure rate,
time to restore."""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class RunSummary:
    """What DORA needs of one finished run."""

    started: datetime
    finished: datetime | None
    outcome: str | None
    commit_at: datetime | None = None
    """When the deployed commit was made; lead time runs from here."""
    rollback_started: datetime | None = None


@dataclass(frozen=True)
class Dora:
    deployments: int
    """Runs that reached production and finished (succeeded or rolled back)."""
    per_week: float | None
    """Successful deployments per week over the span of the runs."""
    lead_time_s: float | None
    """Median commit → succeeded, seconds."""
    change_failure_rate: float | None
    """Rolled back / (succeeded + rolled back)."""
    time_to_restore_s: float | None
    """Median rollback start → rollback finished, seconds."""


def dora(runs: list[RunSummary]) -> Dora:
    ok = [r for r in runs if r.outcome == "succeeded" and r.finished]
    failed = [r for r in runs if r.outcome == "rolled_back" and r.finished]
    deployed = len(ok) + len(failed)
    per_week = None
    if ok:
        first = min(r.started for r in runs)
        last = max((r.finished for r in ok if r.finished), default=first)
        days = max((last - first).total_seconds() / 86400.0, 1.0)
        per_week = len(ok) * 7.0 / days
    leads = [(r.finished - (r.commit_at or r.started)).total_seconds() for r in ok if r.finished]
    restores = [
        (r.finished - r.rollback_started).total_seconds()
        for r in failed
        if r.finished and r.rollback_started
    ]
    return Dora(
        deployments=deployed,
        per_week=per_week,
        lead_time_s=statistics.median(leads) if leads else None,
        change_failure_rate=len(failed) / deployed if deployed else None,
        time_to_restore_s=statistics.median(restores) if restores else None,
    )
