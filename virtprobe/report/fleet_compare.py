"""Two fleets compared group by group: groups matched by environment fingerprint.

Each group present on both sides is compared: bench groups metric by metric on
the pooled raw samples of the group's hosts (report/compare.py metric_change:
Mann-Whitney U and the threshold), which is legitimate because the hosts share
an environment (pyperf merges runs only when their metadata agree, for the same
reason); detect groups by their verdict counts. A group on one side only is
listed, not compared. `compare_any` is what the CLI calls: two fleets here, two
single reports in report/compare.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from virtprobe.benchmark.result import BenchResult
from virtprobe.errors import InputError
from virtprobe.report.compare import Comparison, MetricChange, bench_series, compare, metric_change
from virtprobe.report.document import BenchReport, Report
from virtprobe.report.envelope import KIND_BENCH, KIND_FLEET
from virtprobe.report.fleet import FleetMember, FleetReport, groups, verdict_counts


@dataclass(frozen=True)
class GroupComparison:
    id: str
    kind: str
    text: str
    base_hosts: tuple[str, ...]
    new_hosts: tuple[str, ...]
    metrics: tuple[MetricChange, ...] = ()
    verdict_changes: tuple[tuple[str, str, str], ...] = ()  # (topic, base counts, new counts)

    @property
    def only(self) -> str | None:
        if not self.base_hosts:
            return "new"
        if not self.new_hosts:
            return "base"
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "environment": self.text,
            "base_hosts": list(self.base_hosts),
            "new_hosts": list(self.new_hosts),
            "only_in": self.only,
            "metrics": [m.to_dict() for m in self.metrics],
            "verdict_changes": [{"topic": t, "base": b, "new": n} for t, b, n in self.verdict_changes],
            "regressions": [m.name for m in self.metrics if m.regression],
        }


@dataclass(frozen=True)
class FleetComparison:
    base_name: str
    new_name: str
    threshold: float
    groups: tuple[GroupComparison, ...]
    kind: str = KIND_FLEET

    @property
    def regressions(self) -> tuple[MetricChange, ...]:
        return tuple(m for g in self.groups for m in g.metrics if m.regression)

    def summary_line(self) -> str:
        regs = [(g.id, m.name) for g in self.groups for m in g.metrics if m.regression]
        both = sum(1 for g in self.groups if g.only is None)
        if regs:
            return f"{len(regs)} regression(s) in {both} compared group(s): " + ", ".join(f"{g} {n}" for g, n in regs)
        return f"no regression in {both} compared group(s) (threshold {self.threshold * 100:g}%)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "compare",
            "compared_kind": KIND_FLEET,
            "base": self.base_name,
            "new": self.new_name,
            "threshold": self.threshold,
            "groups": [g.to_dict() for g in self.groups],
            "regressions": [f"{g.id}: {m.name}" for g in self.groups for m in g.metrics if m.regression],
        }


def _pooled(results: Sequence[BenchResult]) -> dict[str, tuple[str, bool, list[float]]]:
    pooled: dict[str, tuple[str, bool, list[float]]] = {}
    for r in results:
        for name, unit, hib, xs in bench_series(r):
            pooled.setdefault(name, (unit, hib, []))[2].extend(xs)
    return pooled


def _counts(members: Sequence[FleetMember]) -> dict[str, str]:
    by_topic: dict[str, list[str]] = {}
    for vc in verdict_counts(members):
        by_topic.setdefault(vc.topic, []).append(f"{vc.count}/{vc.total} {vc.text}")
    return {t: "; ".join(v) for t, v in by_topic.items()}


def compare_fleets(
    base: FleetReport, new: FleetReport, threshold: float = 0.10, base_name: str = "base", new_name: str = "new"
) -> FleetComparison:
    """Group by group: bench groups by their pooled raw samples, detect groups by their verdict counts."""
    base_groups = {(g.kind, g.id): g for g in groups(base)}
    new_groups = {(g.kind, g.id): g for g in groups(new)}
    out = []
    for key in [*base_groups, *(k for k in new_groups if k not in base_groups)]:
        b, n = base_groups.get(key), new_groups.get(key)
        any_group = b or n
        assert any_group is not None
        kind, gid = key
        bh = tuple(m.name for m in b.members) if b else ()
        nh = tuple(m.name for m in n.members) if n else ()
        metrics: list[MetricChange] = []
        changes: list[tuple[str, str, str]] = []
        if b is not None and n is not None and kind == KIND_BENCH:
            bp = _pooled([m.report.result for m in b.members if isinstance(m.report, BenchReport)])
            np_ = _pooled([m.report.result for m in n.members if isinstance(m.report, BenchReport)])
            for name in [*bp, *(k for k in np_ if k not in bp)]:
                unit, hib, bxs = bp.get(name) or np_[name]
                nxs = np_.get(name, (unit, hib, []))[2]
                if bxs or nxs:
                    metrics.append(metric_change(name, unit, bxs, nxs, threshold, hib))
        elif b is not None and n is not None:
            bc, nc = _counts(b.members), _counts(n.members)
            changes = [(t, bc.get(t, "-"), nc.get(t, "-")) for t in dict.fromkeys([*bc, *nc]) if bc.get(t) != nc.get(t)]
        out.append(GroupComparison(gid, kind, any_group.text, bh, nh, tuple(metrics), tuple(changes)))
    return FleetComparison(base_name, new_name, threshold, tuple(out))


def compare_any(
    base: Report | FleetReport,
    new: Report | FleetReport,
    threshold: float = 0.10,
    force: bool = False,
    base_name: str = "base",
    new_name: str = "new",
) -> Comparison | FleetComparison:
    """Two fleets group by group; two single reports as report/compare.py compares them."""
    if isinstance(base, FleetReport) and isinstance(new, FleetReport):
        if threshold < 0:
            raise InputError(f"threshold {threshold:g} is negative; give a percentage such as 10")
        # Groups share an environment by construction, so `force` has nothing to override.
        return compare_fleets(base, new, threshold, base_name, new_name)
    if isinstance(base, FleetReport) or isinstance(new, FleetReport):
        raise InputError(
            f"cannot compare a fleet with a single report ({base_name}, {new_name}); "
            "merge the single report into a fleet first (virtprobe merge)"
        )
    return compare(base, new, threshold, force, base_name, new_name)
