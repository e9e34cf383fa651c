"""Pure statistics on raw samples: summaries, outliers, noise.

Median and MAD are the headline figures because timings on shared machines
have long right tails. Outliers use the modified Z-score of Iglewicz and
Hoaglin (1993), |0.6745 (x - median) / MAD| > 3.5, as hyperfine's
outlier_detection.rs does. The noise warning mirrors pyperf `check`: a
standard deviation of at least 10% of the mean.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

OUTLIER_Z = 3.5
NOISY_CV = 0.10


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
    return float(sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo))


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
    s = sorted(xs)
    mean = statistics.fmean(s)
    stdev = statistics.stdev(s) if len(s) >= 2 else None
    cv = stdev / mean if stdev is not None and mean > 0 else None
    return Summary(
        n=len(s),
        min=s[0],
        median=float(statistics.median(s)),
        mad=mad(s),
        mean=mean,
        stdev=stdev,
        p95=percentile(s, 95),
        p99=percentile(s, 99),
        max=s[-1],
        cv=cv,
        outliers=tuple(outlier_indexes(xs)),
    )
