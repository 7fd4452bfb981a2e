"""Helpers shared by the benchmarks: order statistics and how a result line looks."""

from __future__ import annotations

import math
import platform
import statistics
import sys
from collections.abc import Sequence
from datetime import date


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of ``values``.

    Nearest rank, not interpolation: with 20 samples p95 is the 19th smallest, a value
    that was actually measured.
    """
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def describe_ms(values: Sequence[float]) -> str:
    """``min / median / p95 / max`` of durations given in seconds, printed in ms."""
    ms = [v * 1000 for v in values]
    return (
        f"min {min(ms):.1f}  median {statistics.median(ms):.1f}  "
        f"p95 {percentile(ms, 95):.1f}  max {max(ms):.1f} ms  (n={len(ms)})"
    )


def machine() -> str:
    """One line naming the date, Python and CPU count, printed above every result."""
    import os

    return (
        f"{date.today().isoformat()} · Python {platform.python_version()} · "
        f"{os.cpu_count()} CPUs · {platform.system()} {platform.machine()}"
    )


def heading(title: str) -> None:
    """Print a benchmark's title and the machine it runs on."""
    print(f"== {title}")
    print(f"   {machine()}")
    sys.stdout.flush()
