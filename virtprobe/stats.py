"""Pure statistics on raw samples: summaries, outliers, noise.

Median and MAD are the headline figures because timings on shared machines
have long right tails. Outliers use the modified Z-score of Iglewicz and
Hoaglin (1993), |0.6745 (x - median) / MAD| > 3.5, as hyperfine's
outlier_detection.rs does. The noise warning mirrors pyperf `check`: a
standard deviation of at least 10% of the mean.

Samples come from report files too, which may hold any finite double (1e308),
so every figure here is computed without overflowing: samples beyond
SCALE_ABOVE are scaled by an exact power of two first, and a figure that is not
representable as a finite float comes back as None, never as inf or an
OverflowError.

Two samples are compared by a two-sided Mann-Whitney U test (normal
approximation with tie and continuity corrections, as
scipy.stats.mannwhitneyu(method="asymptotic") computes it) and a seeded
percentile bootstrap of the relative change of the medians.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

OUTLIER_Z = 3.5
NOISY_CV = 0.10
BOOTSTRAP_RESAMPLES = 2000
# Draws one bootstrap may make (resamples x samples on both sides): beyond it the number of
# resamples shrinks, down to BOOTSTRAP_MIN_RESAMPLES, so that a report of 80,000 samples
# (the most one within the 16 MiB cap holds) is compared in minutes, not hours. Reports of
# up to 1,000 samples a side keep all 2,000 resamples.
BOOTSTRAP_BUDGET = 4_000_000
BOOTSTRAP_MIN_RESAMPLES = 200
BOOTSTRAP_SEED = 20261125
CONFIDENCE = 0.95


# Below this magnitude no sum, difference or square of a sample overflows a double
# (squares: stdev's sums of squares); above it, samples are scaled first.
SCALE_ABOVE = 1e150


def percentile(sorted_xs: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, 'type 7')."""
    if not sorted_xs:
        raise ValueError("percentile of no samples")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} outside 0..100")
    pos = (len(sorted_xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    if lo == hi:
        return float(sorted_xs[lo])
    a, b, t = float(sorted_xs[lo]), float(sorted_xs[hi]), pos - lo
    if abs(a) > SCALE_ABOVE or abs(b) > SCALE_ABOVE:
        return a * (1 - t) + b * t  # b - a could overflow; this form cannot leave [a, b]
    return a + (b - a) * t


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _unscale(value: float | None, exp: int) -> float | None:
    """value * 2**exp, or None when that is not a finite double."""
    if value is None or exp == 0:
        return _finite(value)
    try:
        return _finite(math.ldexp(value, exp))
    except OverflowError:
        return None


def _scale_exp(xs: Sequence[float]) -> int:
    """The power of two that brings every sample to below 1 in magnitude, when any is huge; else 0."""
    biggest = max(abs(x) for x in xs)
    return math.frexp(biggest)[1] if biggest > SCALE_ABOVE else 0


def median(xs: Sequence[float]) -> float | None:
    """The median of the finite samples, without overflow; None when there are none."""
    finite = [float(x) for x in xs if x is not None and math.isfinite(x)]
    if not finite:
        return None
    exp = _scale_exp(finite)
    return _unscale(statistics.median([math.ldexp(x, -exp) for x in finite]), exp)


def relative_change(new: float | None, base: float | None) -> float | None:
    """new / base - 1, or None when base is not above zero or the ratio is not a finite double."""
    if new is None or base is None or not base > 0 or not math.isfinite(new) or not math.isfinite(base):
        return None
    try:
        return _finite(new / base - 1)
    except (OverflowError, ZeroDivisionError):
        return None


def mad(xs: Sequence[float], center: float | None = None) -> float:
    """Median absolute deviation (unscaled)."""
    if not xs:
        raise ValueError("MAD of no samples")
    c = statistics.median(xs) if center is None else center
    return float(statistics.median(abs(x - c) for x in xs))


def modified_z_scores(xs: Sequence[float]) -> list[float]:
    """0.6745 (x - median) / MAD; all zeros when MAD is zero (no spread to judge by)."""
    if not xs:
        return []
    med = statistics.median(xs)
    m = mad(xs, med)
    if m == 0:
        return [0.0 for _ in xs]
    return [0.6745 * (x - med) / m for x in xs]


def outlier_indexes(xs: Sequence[float], threshold: float = OUTLIER_Z) -> list[int]:
    return [i for i, z in enumerate(modified_z_scores(xs)) if abs(z) > threshold]


@dataclass(frozen=True)
class Summary:
    n: int
    min: float | None
    median: float | None
    mad: float | None
    mean: float | None
    stdev: float | None  # sample standard deviation; None for fewer than 2 samples
    p95: float | None
    p99: float | None
    max: float | None
    cv: float | None  # stdev / mean; None when undefined
    outliers: tuple[int, ...] = ()

    @property
    def noisy(self) -> bool:
        return self.cv is not None and self.cv >= NOISY_CV

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "min": self.min,
            "median": self.median,
            "mad": self.mad,
            "mean": self.mean,
            "stdev": self.stdev,
            "p95": self.p95,
            "p99": self.p99,
            "max": self.max,
            "cv": self.cv,
            "outliers": list(self.outliers),
            "noisy": self.noisy,
        }


EMPTY = Summary(0, None, None, None, None, None, None, None, None, None)


def summarize(samples: Sequence[float]) -> Summary:
    xs = [float(x) for x in samples if x is not None and math.isfinite(x)]
    if not xs:
        return EMPTY
    # Scaled by an exact power of two when any sample is huge, so that no sum, square
    # or difference overflows; figures are scaled back, None where not representable.
    exp = _scale_exp(xs)
    scaled = [math.ldexp(x, -exp) for x in xs] if exp else xs
    s = sorted(scaled)
    mean = statistics.fmean(s)
    stdev = statistics.stdev(s) if len(s) >= 2 else None
    cv = stdev / mean if stdev is not None and mean > 0 else None
    return Summary(
        n=len(s),
        min=min(xs),  # taken as given: scaling could have flushed a tiny one to zero
        median=_unscale(float(statistics.median(s)), exp),
        mad=_unscale(mad(s), exp),
        mean=_unscale(mean, exp),
        stdev=_unscale(stdev, exp),
        p95=_unscale(percentile(s, 95), exp),
        p99=_unscale(percentile(s, 99), exp),
        max=max(xs),
        cv=_finite(cv),
        outliers=tuple(outlier_indexes(scaled)),
    )


# --- comparing two samples -------------------------------------------------


@dataclass(frozen=True)
class MannWhitney:
    u: float  # U of the first sample (scipy's `statistic`)
    p_value: float  # two-sided


def _ranks(values: Sequence[float]) -> tuple[list[float], list[int]]:
    """Ranks from 1 with ties averaged, and the size of each tie group."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    ties: list[int] = []
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        avg = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = avg
        ties.append(j - i + 1)
        i = j + 1
    return ranks, ties


def mann_whitney_u(x: Sequence[float], y: Sequence[float]) -> MannWhitney:
    """Two-sided Mann-Whitney U, normal approximation, tie and continuity corrected."""
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        raise ValueError("Mann-Whitney U needs samples on both sides")
    ranks, ties = _ranks([*x, *y])
    r1 = sum(ranks[:n1])
    u1 = r1 - n1 * (n1 + 1) / 2
    u = max(u1, n1 * n2 - u1)
    n = n1 + n2
    mu = n1 * n2 / 2
    tie_term = sum(t**3 - t for t in ties) / (n * (n - 1)) if n > 1 else 0.0
    var = n1 * n2 / 12 * ((n + 1) - tie_term)
    if var <= 0:  # every value equal: no evidence of any difference
        return MannWhitney(u=u1, p_value=1.0)
    z = (u - mu - 0.5) / math.sqrt(var)
    p = min(1.0, math.erfc(z / math.sqrt(2)))  # 2 * sf(z)
    return MannWhitney(u=u1, p_value=p)


def _quantile(sorted_xs: Sequence[float], q: float) -> float:
    pos = (len(sorted_xs) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


def bootstrap_ci(
    base: Sequence[float],
    new: Sequence[float],
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
    confidence: float = CONFIDENCE,
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of median(new) / median(base) - 1; None when undefined."""
    if not base or not new:
        return None
    resamples = min(resamples, max(BOOTSTRAP_MIN_RESAMPLES, BOOTSTRAP_BUDGET // (len(base) + len(new))))
    rng = random.Random(seed)
    changes: list[float] = []
    nb, nn = len(base), len(new)
    for _ in range(resamples):
        mb = median(rng.choices(base, k=nb))  # base first: the seeded draws stay in their order
        change = relative_change(median(rng.choices(new, k=nn)), mb)
        if change is not None:
            changes.append(change)
    if len(changes) < resamples // 2:
        return None
    changes.sort()
    tail = (1 - confidence) / 2
    return _quantile(changes, tail), _quantile(changes, 1 - tail)
