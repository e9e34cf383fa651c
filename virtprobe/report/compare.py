"""Compare two reports: bench metrics with a significance test, detect verdicts as a diff.

For every bench metric with raw samples on both sides, the change is the
relative change of the medians (new / base - 1), with a seeded percentile
bootstrap confidence interval, and a two-sided Mann-Whitney U test on the raw
samples (normal approximation with tie and continuity corrections, as
scipy.stats.mannwhitneyu(method="asymptotic") computes it). Firecracker's A/B
tool and pyperf's compare_to make the same two-part decision: a change is a
regression only when it is significant (p < 0.05) AND worse than the
threshold, so noise alone never fails a CI job, and neither does a real but
tiny slowdown.

Reports from different environments are refused unless forced, as pyperf
refuses to merge runs whose host metadata differ: a kernel or engine upgrade
changes the figures more than the thing under test.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from virtprobe.benchmark.engine import engine_differences
from virtprobe.benchmark.result import PHASES, BenchResult, Environment, VmBaseline
from virtprobe.detection.model import DetectResult, show_value
from virtprobe.errors import InputError
from virtprobe.report.document import KIND_BENCH, KIND_DETECT, BenchReport, DetectReport, Report
from virtprobe.stats import CONFIDENCE, bootstrap_ci, mann_whitney_u, relative_change
from virtprobe.stats import median as stats_median

ALPHA = 0.05

# environment field -> how to read it from a bench result's environment
ENV_FIELDS: tuple[tuple[str, Callable[[Environment], Any]], ...] = (
    ("cpu_model", lambda e: e.cpu_model),
    ("kernel", lambda e: e.kernel),
    ("hypervisor", lambda e: e.detect and e.detect.hypervisor),
)

# detect verdicts shown in a diff: label -> how to read it
DETECT_FIELDS: tuple[tuple[str, Callable[[DetectResult], Any]], ...] = (
    ("hypervisor", lambda r: r.hypervisor.id),
    ("vmm", lambda r: r.hypervisor.vmm),
    ("hypervisor role", lambda r: r.hypervisor.role),
    ("cloud", lambda r: r.cloud.id),
    ("instance type", lambda r: r.cloud.instance_type),
    ("container", lambda r: r.container.id),
    ("orchestrator", lambda r: r.container.orchestrator),
    ("cgroup version", lambda r: r.container.cgroup_version),
    ("wsl", lambda r: r.wsl.id),
    ("cpu virtualization", lambda r: r.cpu.virt_tech),
    ("kvm usable", lambda r: r.kvm.usable),
    ("kvm module", lambda r: r.kvm.module),
)


# --- results -----------------------------------------------------------------


@dataclass(frozen=True)
class MetricChange:
    name: str  # "container start_s", "memory cgroup_bytes", "vm qemu-microvm boot_s"
    unit: str  # "s" | "bytes" | "1/s"
    higher_is_better: bool
    n_base: int
    n_new: int
    base_median: float | None
    new_median: float | None
    change: float | None  # new / base - 1
    ci_low: float | None
    ci_high: float | None
    p_value: float | None  # None: too few samples, or a single value with nothing to test
    significant: bool
    regression: bool
    improvement: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "n_base": self.n_base,
            "n_new": self.n_new,
            "base_median": self.base_median,
            "new_median": self.new_median,
            "change": self.change,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "significant": self.significant,
            "regression": self.regression,
            "improvement": self.improvement,
            "note": self.note,
        }


@dataclass(frozen=True)
class Comparison:
    kind: str  # "bench" | "detect"
    base_name: str
    new_name: str
    threshold: float
    metrics: tuple[MetricChange, ...] = ()
    verdict_changes: tuple[tuple[str, str, str], ...] = ()  # detect: (label, base, new)
    env_differences: tuple[str, ...] = ()  # non-empty only when forced
    # Same machine, but not the same measurement (another image, another QEMU
    # command line): shown beside the figures, never refused, since A/B-testing
    # two images is what compare is for.
    setup_differences: tuple[str, ...] = ()

    @property
    def regressions(self) -> tuple[MetricChange, ...]:
        return tuple(m for m in self.metrics if m.regression)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "compare",
            "compared_kind": self.kind,
            "base": self.base_name,
            "new": self.new_name,
            "threshold": self.threshold,
            "alpha": ALPHA,
            "confidence": CONFIDENCE,
            "metrics": [m.to_dict() for m in self.metrics],
            "verdict_changes": [{"field": f, "base": b, "new": n} for f, b, n in self.verdict_changes],
            "environment_differences": list(self.env_differences),
            "setup_differences": list(self.setup_differences),
            "regressions": [m.name for m in self.regressions],
        }


# --- comparing ---------------------------------------------------------------


def metric_change(
    name: str,
    unit: str,
    base: Sequence[float],
    new: Sequence[float],
    threshold: float,
    higher_is_better: bool = False,
) -> MetricChange:
    # Overflow-safe (a report may hold samples of 1e308): None where a figure is not a finite double.
    base_med = stats_median(base)
    new_med = stats_median(new)
    change = relative_change(new_med, base_med)
    ci = p = None
    note = ""
    if len(base) >= 2 and len(new) >= 2:
        p = mann_whitney_u(new, base).p_value
        ci = bootstrap_ci(base, new)
    elif base and new:
        note = "single value: shown, not tested"
    else:
        note = "missing on one side"
    significant = p is not None and p < ALPHA
    worse = change is not None and (change < -threshold if higher_is_better else change > threshold)
    better = change is not None and (change > threshold if higher_is_better else change < -threshold)
    return MetricChange(
        name=name,
        unit=unit,
        higher_is_better=higher_is_better,
        n_base=len(base),
        n_new=len(new),
        base_median=base_med,
        new_median=new_med,
        change=change,
        ci_low=ci[0] if ci else None,
        ci_high=ci[1] if ci else None,
        p_value=p,
        significant=significant,
        regression=significant and worse,
        improvement=significant and better,
        note=note,
    )


def _runtimes(result: BenchResult) -> list[str]:
    return [s.runtime or "default" for s in result.runtime_sections]


def environment_differences(base: BenchResult, new: BenchResult) -> list[str]:
    """What differs between the environments of two bench results, as "field: base -> new".

    The engine is compared field by field (benchmark/engine.py engine_differences:
    product, versions, OCI runtime, per-container process, rootless, cgroups), and
    so is the list of runtimes benched (--runtime).
    """
    out = []
    for label, get in ENV_FIELDS:
        b, n = get(base.environment), get(new.environment)
        if b != n:
            out.append(f"{label}: {show_value(b)} -> {show_value(n)}")
    eb, en = base.environment.engine, new.environment.engine
    if eb is not None and en is not None:
        out.extend(line.replace(" vs ", " -> ", 1) for line in engine_differences(eb, en))
    elif (eb is None) != (en is None):
        out.append(f"engine: {'recorded' if eb else 'not recorded'} -> {'recorded' if en else 'not recorded'}")
    rb, rn = _runtimes(base), _runtimes(new)
    if rb != rn:
        out.append(f"runtimes benched: {', '.join(rb) or 'none'} -> {', '.join(rn) or 'none'}")
    return out


def _command(baseline: VmBaseline) -> list[str] | None:
    """The QEMU command line a measured baseline records in its notes (vm/qemu.baseline)."""
    for note in baseline.notes:
        if note.startswith("command: "):
            # vm/qemu writes placeholders such as "<kernel vmlinuz-6.1>": one token each.
            return re.findall(r"<[^>]*>|\S+", note.removeprefix("command: "))
    return None


def _token_changes(base: list[str], new: list[str]) -> list[str]:
    """The replaced, removed and added runs of two argument lists, as "old -> new"."""
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=base, b=new, autojunk=False).get_opcodes():
        if op != "equal":
            out.append(f"{' '.join(base[i1:i2]) or '(nothing)'} -> {' '.join(new[j1:j2]) or '(nothing)'}")
    return out


def setup_differences(base: BenchResult, new: BenchResult) -> list[str]:
    """What was measured differently: the image, the timing basis, a measured VM's command line."""
    out = []

    def image(r: BenchResult) -> str | None:
        return r.container.image.name if r.container is not None and r.container.image is not None else None

    def basis(r: BenchResult) -> str | None:
        return r.container.timing_basis if r.container is not None else None

    for label, get in (("image", image), ("timing basis", basis)):
        before, after = get(base), get(new)
        if before != after:
            out.append(f"{label}: {show_value(before)} -> {show_value(after)}")
    new_vms = {b.name: b for b in new.baselines if not b.simulated}
    for b in base.baselines:
        other = new_vms.get(b.name)
        if b.simulated or other is None:
            continue
        cb, cn = _command(b), _command(other)
        if cb is not None and cn is not None and cb != cn:
            out.append(f"vm {b.name} command: " + "; ".join(_token_changes(cb, cn)))
    return out


def bench_series(result: BenchResult) -> list[tuple[str, str, bool, list[float]]]:
    """(name, unit, higher_is_better, samples) for every comparable metric of a bench result.

    A host memory figure that is not measurable (None: below zero or within its
    noise) is no value at all here, never a zero. The first runtime's metrics keep
    their 1.0 names; further runtimes (--runtime) are named `runtime NAME ...`.
    """
    series: list[tuple[str, str, bool, list[float]]] = []
    container = result.container
    for phase in PHASES:
        series.append((f"container {phase}", "s", False, container.measured(phase) if container else []))
    memory = container.memory if container is not None else None
    series.append(("memory cgroup_bytes", "bytes", False, list(memory.cgroup_bytes) if memory else []))
    series.append(("memory process_pss_bytes", "bytes", False, list(memory.process_pss_bytes or ()) if memory else []))
    drop = memory.host_available_drop_bytes_per_container if memory is not None else None
    series.append(("memory host_drop_bytes_per_container", "bytes", False, [] if drop is None else [drop]))
    for other in result.other_runtimes:
        name = other.runtime or "default"
        for phase in ("start_s", "first_instruction_s", "cycle_s"):
            series.append((f"runtime {name} {phase}", "s", False, other.measured(phase)))
        if other.memory is not None:
            series.append((f"runtime {name} memory cgroup_bytes", "bytes", False, list(other.memory.cgroup_bytes)))
    if result.function is not None:
        for mode in result.function.modes:
            series.append((f"function {mode.mode} wall_s", "s", False, mode.measured("wall_s")))
    parallel = container.parallel if container is not None else None
    series.append(("parallel cycle_s", "s", False, list(parallel.cycle_s) if parallel else []))
    rate = parallel.containers_per_s if parallel is not None else None
    series.append(("parallel containers_per_s", "1/s", True, [] if rate is None else [rate]))
    for baseline in result.baselines:
        if not baseline.simulated:
            series.append((f"vm {baseline.name} boot_s", "s", False, list(baseline.boot_samples_s)))
    return series


def compare_bench(
    base: BenchResult,
    new: BenchResult,
    threshold: float = 0.10,
    force: bool = False,
    base_name: str = "base",
    new_name: str = "new",
) -> Comparison:
    diffs = environment_differences(base, new)
    if diffs and not force:
        raise InputError(
            f"{base_name} and {new_name} come from different environments ({'; '.join(diffs)}); "
            "their figures are not comparable. Pass --env-mismatch warn (Python: env_mismatch='warn') to compare anyway"
        )
    new_series = {name: (unit, hib, xs) for name, unit, hib, xs in bench_series(new)}
    metrics = []
    for name, unit, hib, base_xs in bench_series(base):
        _, _, new_xs = new_series.pop(name, (unit, hib, []))
        if base_xs or new_xs:
            metrics.append(metric_change(name, unit, base_xs, new_xs, threshold, hib))
    for name, (unit, hib, new_xs) in new_series.items():  # only in the new report
        if new_xs:
            metrics.append(metric_change(name, unit, [], new_xs, threshold, hib))
    setup = tuple(setup_differences(base, new))
    return Comparison(KIND_BENCH, base_name, new_name, threshold, tuple(metrics), (), tuple(diffs), setup)


def compare_detect(base: DetectResult, new: DetectResult, base_name: str = "base", new_name: str = "new") -> Comparison:
    changes = []
    for label, get in DETECT_FIELDS:
        b, n = get(base), get(new)
        if b != n:
            changes.append((label, show_value(b), show_value(n)))
    return Comparison(KIND_DETECT, base_name, new_name, 0.0, (), tuple(changes), ())


def compare(
    base: Report,
    new: Report,
    threshold: float = 0.10,
    force: bool = False,
    base_name: str = "base",
    new_name: str = "new",
) -> Comparison:
    """Compare two loaded reports of the same kind (see load.load_report)."""
    if threshold < 0:
        raise InputError(f"threshold {threshold:g} is negative; give a percentage such as 10")
    if isinstance(base, DetectReport) and isinstance(new, DetectReport):
        return compare_detect(base.result, new.result, base_name, new_name)
    if isinstance(base, BenchReport) and isinstance(new, BenchReport):
        return compare_bench(base.result, new.result, threshold, force, base_name, new_name)
    raise InputError(
        f"cannot compare a {base.header.kind} report ({base_name}) with a {new.header.kind} report ({new_name})"
    )
