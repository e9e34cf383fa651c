"""`virtprobe history`: a trend per metric over many bench reports (CI runs over time), its change points,
and a verdict on the newest point.

Two decisions, both documented in docs/history.md:

1. Change points in the series of per-report medians: E-Divisive with Means
   (Matteson and James, "A Nonparametric Approach for Multiple Change Point Analysis
   of Multivariate Data", JASA 109(505), 2014), as MongoDB runs it on its CI
   performance history (Daly et al., "The Use of Change Point Detection to Identify
   Software Performance Regressions in a Continuous Integration System", ICPE 2020).
   The series is split where the energy statistic Q is largest; a split is kept when
   a permutation test (PERMUTATIONS shuffles, seeded) finds it significant (p <
   CHANGE_ALPHA); each part is split again the same way. No part is shorter than
   MIN_SEGMENT points.
2. The newest point: its raw samples against the pooled raw samples of the reports
   since the last change point before it (at least MIN_HISTORY reports), with a
   two-sided Mann-Whitney U test. It is a regression when p < NEWEST_ALPHA and its
   median is worse than the baseline's by more than the threshold: the larger of
   `min_effect` and NOISE_FACTOR times the relative spread (1.4826 x MAD) of the
   baseline reports' medians, so a history that moves a lot by itself needs a larger
   move to fail. Noise alone never fails it, nor does a real but tiny change.

Everything is computed from the reports' raw samples; their own summaries are never read.
"""

from __future__ import annotations

import itertools
import os
import random
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from virtprobe import stats
from virtprobe.benchmark.result import MEASURED, BenchResult, measured_values
from virtprobe.errors import InputError
from virtprobe.report.compare import bench_series, environment_differences
from virtprobe.report.document import BenchReport
from virtprobe.report.load import load_report

PERMUTATIONS = 199
CHANGE_ALPHA = 0.05
MIN_SEGMENT = 2
PERMUTATION_SEED = 19
NEWEST_ALPHA = 0.01
MIN_HISTORY = 3
MIN_EFFECT = 0.10
NOISE_FACTOR = 3.0

REGRESSION = "regression"
IMPROVEMENT = "improvement"
NO_CHANGE = "no change"
TOO_FEW = "too few reports"
NOT_MEASURED = "not measured"


# --- E-Divisive with Means ---------------------------------------------------------------


def _within(xs: Sequence[float]) -> float:
    """Mean absolute distance between the points of one side (0 for a single point)."""
    n = len(xs)
    if n < 2:
        return 0.0
    return sum(abs(xs[i] - xs[j]) for i in range(n) for j in range(i + 1, n)) * 2 / (n * (n - 1))


def q_statistic(xs: Sequence[float], tau: int) -> float:
    """Pure: Matteson and James's Q for splitting xs before index tau (alpha = 1: absolute distances)."""
    left, right = xs[:tau], xs[tau:]
    m, n = len(left), len(right)
    between = sum(abs(a - b) for a in left for b in right) * 2 / (m * n)
    return m * n / (m + n) * (between - _within(left) - _within(right))


def best_split(xs: Sequence[float], min_segment: int = MIN_SEGMENT) -> tuple[int, float] | None:
    """(tau, Q) of the largest Q over the splits that leave min_segment points on each side, or None."""
    splits = range(min_segment, len(xs) - min_segment + 1)
    if not splits:
        return None
    return max(((tau, q_statistic(xs, tau)) for tau in splits), key=lambda t: t[1])


def split_p_value(xs: Sequence[float], q: float, rng: random.Random, permutations: int = PERMUTATIONS) -> float:
    """Permutation p-value of a best split's Q: how often a shuffled series splits at least as well."""
    at_least = 0
    shuffled = list(xs)
    for _ in range(permutations):
        rng.shuffle(shuffled)
        got = best_split(shuffled)
        if got is not None and got[1] >= q:
            at_least += 1
    return (at_least + 1) / (permutations + 1)


def change_points(
    xs: Sequence[float], alpha: float = CHANGE_ALPHA, seed: int = PERMUTATION_SEED, min_segment: int = MIN_SEGMENT
) -> list[int]:
    """Pure: indexes where a new segment starts (E-Divisive, hierarchical), sorted; [] for a steady series."""
    rng = random.Random(seed)
    found: list[int] = []
    parts = [(0, len(xs))]
    while parts:
        start, end = parts.pop()
        segment = xs[start:end]
        got = best_split(segment, min_segment)
        if got is None or len(set(segment)) < 2:
            continue
        tau, q = got
        if split_p_value(segment, q, rng) < alpha:
            found.append(start + tau)
            parts += [(start, start + tau), (start + tau, end)]
    return sorted(found)


# --- the newest point ------------------------------------------------------------------------


@dataclass(frozen=True)
class Newest:
    """The verdict on the newest report of one metric against the reports before it."""

    status: str  # REGRESSION, IMPROVEMENT, NO_CHANGE, TOO_FEW, NOT_MEASURED
    baseline_reports: int
    baseline_median: float | None
    newest_median: float | None
    change: float | None  # newest / baseline - 1
    p_value: float | None
    threshold: float | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "baseline_reports": self.baseline_reports,
            "baseline_median": self.baseline_median,
            "newest_median": self.newest_median,
            "change": self.change,
            "p_value": self.p_value,
            "threshold": self.threshold,
        }


def relative_spread(medians: Sequence[float]) -> float:
    """Pure: 1.4826 x MAD / median of per-report medians (a robust relative standard deviation); 0 if undefined."""
    if len(medians) < 2:
        return 0.0
    centre = statistics.median(medians)
    return 1.4826 * stats.mad(list(medians)) / centre if centre > 0 else 0.0


def judge_newest(
    baseline: Sequence[Sequence[float]],
    newest: Sequence[float],
    higher_is_better: bool,
    min_effect: float = MIN_EFFECT,
) -> Newest:
    """Pure: the newest report's samples against the baseline reports' samples (one list per report)."""
    reports = [list(b) for b in baseline if b]
    if not newest:
        return Newest(NOT_MEASURED, len(reports), None, None, None, None, None)
    newest_med = statistics.median(newest)
    if len(reports) < MIN_HISTORY:
        return Newest(TOO_FEW, len(reports), None, newest_med, None, None, None)
    pooled = [x for r in reports for x in r]
    base_med = statistics.median(pooled)
    threshold = max(min_effect, NOISE_FACTOR * relative_spread([statistics.median(r) for r in reports]))
    change = newest_med / base_med - 1 if base_med > 0 else None
    p = stats.mann_whitney_u(newest, pooled).p_value
    status = NO_CHANGE
    if change is not None and p < NEWEST_ALPHA and abs(change) > threshold:
        worse = change < 0 if higher_is_better else change > 0
        status = REGRESSION if worse else IMPROVEMENT
    return Newest(status, len(reports), base_med, newest_med, change, p, threshold)


# --- the whole history -------------------------------------------------------------------------


@dataclass(frozen=True)
class Point:
    """One report's value of one metric: its raw samples and their median (None: not measured)."""

    report: int  # index into History.reports
    samples: tuple[float, ...]

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None


@dataclass(frozen=True)
class MetricHistory:
    name: str
    unit: str  # "s", "bytes", "1/s"
    higher_is_better: bool
    points: tuple[Point, ...]
    change_points: tuple[int, ...]  # report indexes where a new segment starts
    newest: Newest

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "medians": [p.median for p in self.points],
            "reports": [p.report for p in self.points],
            "change_points": list(self.change_points),
            "newest": self.newest.to_dict(),
        }


@dataclass(frozen=True)
class ReportRef:
    name: str  # the file it came from
    created_utc: str
    run_id: str


@dataclass(frozen=True)
class History:
    reports: tuple[ReportRef, ...]  # oldest first
    metrics: tuple[MetricHistory, ...]
    min_effect: float
    notes: tuple[str, ...] = ()  # each change of environment between consecutive reports

    @property
    def regressions(self) -> tuple[MetricHistory, ...]:
        return tuple(m for m in self.metrics if m.newest.status == REGRESSION)

    def to_dict(self) -> dict[str, Any]:
        return {
            "reports": [{"name": r.name, "created_utc": r.created_utc, "run_id": r.run_id} for r in self.reports],
            "metrics": [m.to_dict() for m in self.metrics],
            "min_effect": self.min_effect,
            "method": METHOD,
            "notes": list(self.notes),
        }


METHOD = (
    "Change points: E-Divisive with Means (Matteson and James, JASA 2014) on the per-report medians, "
    f"a split kept when a permutation test ({PERMUTATIONS} seeded shuffles) gives p < {CHANGE_ALPHA}, "
    f"segments of at least {MIN_SEGMENT} reports (as MongoDB's CI, Daly et al., ICPE 2020). Newest "
    "report: two-sided Mann-Whitney U of its raw samples against the pooled samples of the reports since "
    f"the last change point among the reports before it (at least {MIN_HISTORY}); a regression when "
    f"p < {NEWEST_ALPHA} and the median "
    f"is worse by more than max(min effect, {NOISE_FACTOR:g} x the relative spread of those reports' medians)."
)


def _change_reports(points: Sequence[Point]) -> tuple[int, ...]:
    """The report indexes where a new segment starts, among these points (E-Divisive on their medians)."""
    medians = [p.median for p in points if p.median is not None]
    return tuple(points[i].report for i in change_points(medians)) if len(medians) > 2 * MIN_SEGMENT - 1 else ()


def _metric(name: str, unit: str, higher: bool, per_report: list[list[float]], min_effect: float) -> MetricHistory:
    points = tuple(Point(i, tuple(xs)) for i, xs in enumerate(per_report) if xs)
    cps = _change_reports(points)
    newest_index = len(per_report) - 1
    # The baseline: the reports since the last change point found among the reports BEFORE the
    # newest. Searched with the newest included, a regression in it pulls a change point next to
    # itself and shrinks its own baseline to too few reports: it would hide itself.
    start = max(_change_reports([p for p in points if p.report < newest_index]), default=0)
    baseline = [per_report[i] for i in range(start, newest_index)]
    verdict = judge_newest(baseline, per_report[newest_index], higher, min_effect)
    return MetricHistory(name, unit, higher, points, cps, verdict)


def platform_series(result: BenchResult) -> list[tuple[str, str, bool, list[float]]]:
    """(name, unit, higher_is_better, samples) of the bench 1.2 sections, as compare.bench_series gives the rest."""
    out: list[tuple[str, str, bool, list[float]]] = []
    cache = result.image_cache
    if cache is not None:
        out.append(("image_cache load_s", "s", False, cache.measured_load_s()))
        out.append(("image_cache cold cycle_s", "s", False, measured_values(cache.cold, "cycle_s")))
        out.append(("image_cache warm cycle_s", "s", False, measured_values(cache.warm, "cycle_s")))
    for level in result.density.levels if result.density is not None else ():
        out.append((f"density {level.idle} cycle_s", "s", False, measured_values(level.samples, "cycle_s")))
    for lv in result.scaling.levels if result.scaling is not None else ():
        out.append((f"parallel {lv.parallel} cycle_s", "s", False, measured_values(lv.samples, "cycle_s")))
        rate = lv.containers_per_s
        out.append((f"parallel {lv.parallel} containers_per_s", "1/s", True, [] if rate is None else [rate]))
    cost = result.engine_cost
    if cost is not None and cost.available:
        out.append(("engine_cost cpu_s", "s", False, list(cost.cpu_s)))
        out.append(("engine_cost process_pss_bytes", "bytes", False, list(cost.process_pss_bytes)))
    for row in result.restore.rows if result.restore is not None else ():
        if row.kind == MEASURED:
            out.append((f"restore {row.name} s", "s", False, list(row.samples_s)))
    return out


def history(reports: Sequence[tuple[ReportRef, BenchResult]], min_effect: float = MIN_EFFECT) -> History:
    """The history of every metric over reports in time order (oldest first; the caller sorts)."""
    per_metric: dict[str, tuple[str, bool, list[list[float]]]] = {}
    for k, (_, result) in enumerate(reports):
        for name, unit, higher, samples in [*bench_series(result), *platform_series(result)]:
            entry = per_metric.setdefault(name, (unit, higher, [[] for _ in reports]))
            entry[2][k] = list(samples)
    metrics = tuple(
        _metric(name, unit, higher, values, min_effect)
        for name, (unit, higher, values) in per_metric.items()
        if any(values)
    )
    return History(tuple(ref for ref, _ in reports), metrics, min_effect, environment_changes(reports))


def environment_changes(reports: Sequence[tuple[ReportRef, BenchResult]]) -> tuple[str, ...]:
    """Each change of environment between consecutive reports (CPU model, kernel, hypervisor, engine, runtimes).

    The same fields `compare` refuses on (report/compare.py environment_differences): a move of
    the series across one of them may be the machine's, not the code's."""
    return tuple(
        f"the environment changed between {ref_a.name} and {ref_b.name}: {'; '.join(diffs)}"
        for (ref_a, a), (ref_b, b) in itertools.pairwise(reports)
        if (diffs := environment_differences(a, b))
    )


# --- reading the reports ---------------------------------------------------------------------

MAX_REPORTS = 1000


def report_paths(args: Sequence[str]) -> list[str]:
    """The report files named, a folder standing for its *.json files (not recursive), bounded."""
    paths: list[str] = []
    for arg in args:
        if os.path.isdir(arg):
            paths += sorted(os.path.join(arg, n) for n in os.listdir(arg) if n.endswith(".json"))
        else:
            paths.append(arg)
        if len(paths) > MAX_REPORTS:
            raise InputError(f"more than {MAX_REPORTS} reports; give fewer files or a folder holding fewer")
    return paths


def load_history(args: Sequence[str]) -> list[tuple[ReportRef, BenchResult]]:
    """Every bench report named, oldest first (created_utc, then file name). Anything else: InputError."""
    out: list[tuple[ReportRef, BenchResult]] = []
    for path in report_paths(args):
        report = load_report(path)
        if not isinstance(report, BenchReport):
            raise InputError(f"{path}: a {report.header.kind} report; history reads bench reports only")
        out.append((ReportRef(path, report.header.created_utc, report.result.run_id), report.result))
    if len(out) < 2:
        raise InputError(f"history needs at least 2 bench reports, got {len(out)}")
    return sorted(out, key=lambda item: (item[0].created_utc, item[0].name))
