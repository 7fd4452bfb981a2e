"""The Mann–Whitney U test (Wilcoxon rank-sum), written out so scipy is not a dependency.

Normal approximation with tie correction (and optional continuity correction), plus the
Hodges–Lehmann estimate of the location shift and its distribution-free confidence
interval — what Kayenta's Mann–Whitney classifier judges a canary metric by.

References: Mann & Whitney (1947); Hollander & Wolfe, *Nonparametric Statistical
Methods*, ch. 4 (tie-corrected variance, the shift estimate and its interval).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist, fmean

_NORMAL = NormalDist()


@dataclass(frozen=True)
class UTest:
    """Result of :func:`mann_whitney` for samples ``x`` (e.g. canary) and ``y`` (stable)."""

    u: float
    """U of ``x``: pairs with x > y, ties counting one half."""
    z: float
    """Standardised U (positive: ``x`` tends to be larger)."""
    p_value: float
    """Two-sided p-value of "no difference in location"."""
    estimate: float
    """Hodges–Lehmann shift: median of every difference x_i − y_j."""
    low: float
    """Lower bound of the shift's confidence interval."""
    high: float
    """Upper bound of the shift's confidence interval."""
    n_x: int
    n_y: int


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks; tied values share the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        mean_rank = (i + j) / 2 + 1
        for k in range(i, j + 1):
            out[order[k]] = mean_rank
        i = j + 1
    return out


def _tie_term(values: Sequence[float]) -> float:
    """Σ (t³ − t) over groups of t tied values."""
    counts: dict[float, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return float(sum(t**3 - t for t in counts.values() if t > 1))


def mann_whitney(
    x: Sequence[float], y: Sequence[float], confidence: float = 0.95, *, continuity: bool = True
) -> UTest:
    """Mann–Whitney U of ``x`` against ``y``, normal approximation with tie correction.

    Args:
        x: First sample (the canary's values).
        y: Second sample (the baseline's values).
        confidence: Level of the shift's confidence interval, in (0, 1).
        continuity: Apply the 0.5 continuity correction to z (as R and scipy do by
            default).

    Raises:
        ValueError: an empty sample, or a confidence outside (0, 1).
    """
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("both samples need at least one value")
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be between 0 and 1")
    pooled = [*x, *y]
    r = ranks(pooled)
    u = sum(r[:n1]) - n1 * (n1 + 1) / 2
    n = n1 + n2
    mean = n1 * n2 / 2
    ties = _tie_term(pooled)
    var = n1 * n2 / 12 * ((n + 1) - (ties / (n * (n - 1)) if n > 1 else 0.0))
    sd = math.sqrt(var) if var > 0 else 0.0
    delta = u - mean
    if sd == 0.0:
        z = 0.0
    else:
        if continuity and delta != 0.0:
            delta -= math.copysign(min(0.5, abs(delta)), delta)
        z = delta / sd
    p = min(1.0, math.erfc(abs(z) / math.sqrt(2)))
    diffs = sorted(a - b for a in x for b in y)
    m = len(diffs)
    mid = m // 2
    estimate = diffs[mid] if m % 2 else (diffs[mid - 1] + diffs[mid]) / 2
    # Distribution-free interval: the k-th smallest and k-th largest differences, k from
    # the normal approximation of U's distribution (the same tie-corrected spread).
    zq = _NORMAL.inv_cdf(0.5 + confidence / 2)
    k = math.floor(mean - zq * sd)
    k = min(max(k, 1), m)
    return UTest(u, z, p, estimate, diffs[k - 1], diffs[m - k], n1, n2)


@dataclass(frozen=True)
class ShiftVerdict:
    """Kayenta's reading of a :class:`UTest` for a metric where higher is worse."""

    worse: bool
    """True when ``x`` is significantly higher than ``y`` beyond tolerance and floors."""
    test: UTest | None
    """None when the samples were identical or constant (nothing to test)."""
    mean_ratio: float
    """mean(x) / mean(y) (1.0 when mean(y) is 0, as Kayenta does)."""
    critical: float
    """tolerance × |estimate|: how far above 0 the interval's lower bound must lie."""
    why: str
    """One phrase saying what decided."""


def judge_shift(
    x: Sequence[float],
    y: Sequence[float],
    *,
    confidence: float = 0.98,
    tolerance: float = 0.25,
    effect_min: float = 1.1,
    min_shift: float = 0.0,
) -> ShiftVerdict:
    """Is ``x`` (canary) worse — higher — than ``y`` (baseline)? Kayenta's rule.

    Worse when the lower bound of the shift's ``confidence`` interval lies above
    ``tolerance × |estimate|``, the mean ratio reaches the effect-size floor
    ``effect_min`` and the estimated shift is at least ``min_shift`` (an absolute floor,
    in the values' unit, so a significant 2 ms difference on a 20 ms service is not a
    regression).
    """
    mean_y = fmean(y) if y else 0.0
    ratio = 1.0 if mean_y == 0 else fmean(x) / mean_y
    if sorted(x) == sorted(y):
        return ShiftVerdict(False, None, ratio, 0.0, "canary and baseline samples identical")
    if len(set(x) | set(y)) == 1:
        return ShiftVerdict(False, None, ratio, 0.0, "every sample has the same value")
    t = mann_whitney(x, y, confidence)
    critical = tolerance * abs(t.estimate)
    if t.low <= critical:
        why = "no significant increase"
        return ShiftVerdict(False, t, ratio, critical, why)
    if ratio < effect_min:
        return ShiftVerdict(False, t, ratio, critical, f"mean ratio {ratio:.2f} < {effect_min:g}")
    if t.estimate < min_shift:
        return ShiftVerdict(False, t, ratio, critical, f"shift below {min_shift:g}")
    return ShiftVerdict(True, t, ratio, critical, "significantly higher")
