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
import math
import random
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from virtprobe.bench.model import measured
from virtprobe.detect.model import show_value
from virtprobe.errors import InputError
from virtprobe.report.document import KIND_BENCH, KIND_DETECT
from virtprobe.report.load import PHASES

ALPHA = 0.05
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 20261125
CONFIDENCE = 0.95

# environment field -> its label in "what differs" messages
ENV_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("cpu_model", ("cpu_model",)),
    ("kernel", ("kernel",)),
    ("docker engine", ("docker", "engine_version")),
    ("containerd", ("docker", "containerd_version")),
    ("runc", ("docker", "runc_version")),
    ("cgroup version", ("docker", "cgroup_version")),
    ("hypervisor", ("detect", "hypervisor")),
)

# detect verdicts shown in a diff: label -> (section, field)
DETECT_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("hypervisor", "hypervisor", "id"),
    ("vmm", "hypervisor", "vmm"),
    ("hypervisor role", "hypervisor", "role"),
    ("cloud", "cloud", "id"),
    ("instance type", "cloud", "instance_type"),
    ("container", "container", "id"),
    ("orchestrator", "container", "orchestrator"),
    ("cgroup version", "container", "cgroup_version"),
    ("wsl", "wsl", "id"),
    ("cpu virtualization", "cpu", "virt_tech"),
    ("kvm usable", "kvm", "usable"),
    ("kvm module", "kvm", "module"),
)


# --- statistics (pure) -------------------------------------------------------


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
    rng = random.Random(seed)
    changes: list[float] = []
    nb, nn = len(base), len(new)
    for _ in range(resamples):
        mb = statistics.median(rng.choices(base, k=nb))
        mn = statistics.median(rng.choices(new, k=nn))
        if mb > 0:
            changes.append(mn / mb - 1)
    if len(changes) < resamples // 2:
        return None
    changes.sort()
    tail = (1 - confidence) / 2
    return _quantile(changes, tail), _quantile(changes, 1 - tail)


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


def _numbers(values: Any) -> list[float]:
    return [float(v) for v in values or () if isinstance(v, int | float) and not isinstance(v, bool)]


def metric_change(
    name: str,
    unit: str,
    base: Sequence[float],
    new: Sequence[float],
    threshold: float,
    higher_is_better: bool = False,
) -> MetricChange:
    base_med = statistics.median(base) if base else None
    new_med = statistics.median(new) if new else None
    change = new_med / base_med - 1 if base_med and new_med is not None else None
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


def _get(doc: Any, path: Sequence[str]) -> Any:
    for key in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def environment_differences(base: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What differs between the environments of two bench reports, as "field: base -> new"."""
    out = []
    for label, path in ENV_FIELDS:
        b = _get(base, ("environment", *path))
        n = _get(new, ("environment", *path))
        if b != n:
            out.append(f"{label}: {show_value(b)} -> {show_value(n)}")
    return out


def _command(baseline: dict[str, Any]) -> list[str] | None:
    """The QEMU command line a measured baseline records in its notes (vm_qemu.baseline)."""
    for note in baseline.get("notes") or ():
        if isinstance(note, str) and note.startswith("command: "):
            # vm_qemu writes placeholders such as "<kernel vmlinuz-6.1>": one token each.
            return re.findall(r"<[^>]*>|\S+", note.removeprefix("command: "))
    return None


def _token_changes(base: list[str], new: list[str]) -> list[str]:
    """The replaced, removed and added runs of two argument lists, as "old -> new"."""
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=base, b=new, autojunk=False).get_opcodes():
        if op != "equal":
            out.append(f"{' '.join(base[i1:i2]) or '(nothing)'} -> {' '.join(new[j1:j2]) or '(nothing)'}")
    return out


def setup_differences(base: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What was measured differently: the image, the timing basis, a measured VM's command line."""
    out = []
    for label, path in (("image", ("container", "image", "name")), ("timing basis", ("container", "timing_basis"))):
        b, n = _get(base, path), _get(new, path)
        if b != n:
            out.append(f"{label}: {show_value(b)} -> {show_value(n)}")
    new_vms = {b.get("name"): b for b in _get(new, ("vm", "baselines")) or () if b.get("kind") == "measured"}
    for b in _get(base, ("vm", "baselines")) or ():
        other = new_vms.get(b.get("name"))
        if b.get("kind") != "measured" or other is None:
            continue
        cb, cn = _command(b), _command(other)
        if cb is not None and cn is not None and cb != cn:
            out.append(f"vm {b.get('name')} command: " + "; ".join(_token_changes(cb, cn)))
    return out


def _bench_series(doc: dict[str, Any]) -> list[tuple[str, str, bool, list[float]]]:
    """(name, unit, higher_is_better, samples) for every comparable metric in a bench doc."""
    series: list[tuple[str, str, bool, list[float]]] = []
    container = doc.get("container") or {}
    samples = container.get("samples") or []
    for phase in PHASES:
        series.append((f"container {phase}", "s", False, _numbers(measured(samples, phase))))
    memory = container.get("memory") or {}
    for key in ("cgroup_bytes", "shim_pss_bytes"):
        series.append((f"memory {key}", "bytes", False, _numbers(memory.get(key))))
    drop = memory.get("host_available_drop_bytes_per_container")
    series.append(("memory host_drop_bytes_per_container", "bytes", False, _numbers([drop])))
    parallel = container.get("parallel") or {}
    series.append(("parallel cycle_s", "s", False, _numbers(parallel.get("cycle_s"))))
    series.append(("parallel containers_per_s", "1/s", True, _numbers([parallel.get("containers_per_s")])))
    for baseline in _get(doc, ("vm", "baselines")) or ():
        if baseline.get("kind") == "measured":
            series.append((f"vm {baseline.get('name')} boot_s", "s", False, _numbers(baseline.get("boot_samples_s"))))
    return series


def compare_bench(
    base: dict[str, Any],
    new: dict[str, Any],
    threshold: float = 0.10,
    force: bool = False,
    base_name: str = "base",
    new_name: str = "new",
) -> Comparison:
    diffs = environment_differences(base, new)
    if diffs and not force:
        raise InputError(
            f"{base_name} and {new_name} come from different environments ({'; '.join(diffs)}); "
            "their figures are not comparable. Pass --force to compare anyway"
        )
    new_series = {name: (unit, hib, xs) for name, unit, hib, xs in _bench_series(new)}
    metrics = []
    for name, unit, hib, base_xs in _bench_series(base):
        _, _, new_xs = new_series.pop(name, (unit, hib, []))
        if base_xs or new_xs:
            metrics.append(metric_change(name, unit, base_xs, new_xs, threshold, hib))
    for name, (unit, hib, new_xs) in new_series.items():  # only in the new report
        if new_xs:
            metrics.append(metric_change(name, unit, [], new_xs, threshold, hib))
    setup = tuple(setup_differences(base, new))
    return Comparison(KIND_BENCH, base_name, new_name, threshold, tuple(metrics), (), tuple(diffs), setup)


def compare_detect(
    base: dict[str, Any], new: dict[str, Any], base_name: str = "base", new_name: str = "new"
) -> Comparison:
    changes = []
    for label, section, key in DETECT_FIELDS:
        b, n = _get(base, (section, key)), _get(new, (section, key))
        if b != n:
            changes.append((label, show_value(b), show_value(n)))
    return Comparison(KIND_DETECT, base_name, new_name, 0.0, (), tuple(changes), ())


def compare(
    base: dict[str, Any],
    new: dict[str, Any],
    threshold: float = 0.10,
    force: bool = False,
    base_name: str = "base",
    new_name: str = "new",
) -> Comparison:
    """Compare two loaded reports of the same kind (see load.load_report)."""
    if base.get("kind") != new.get("kind"):
        raise InputError(
            f"cannot compare a {base.get('kind')} report ({base_name}) with a {new.get('kind')} report ({new_name})"
        )
    if threshold < 0:
        raise InputError(f"threshold {threshold:g} is negative; give a percentage such as 10")
    if base.get("kind") == KIND_DETECT:
        return compare_detect(base, new, base_name, new_name)
    return compare_bench(base, new, threshold, force, base_name, new_name)


# --- rendering (pure) --------------------------------------------------------

SETUP_WARNING = "measured differently, so a change may come from the setup, not the machine: "


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    if unit == "s":
        if value < 1:
            return f"{value * 1000:.3g} ms" if value < 0.01 else f"{value * 1000:.1f} ms"
        return f"{value:.3f} s"
    if unit == "bytes":
        if value >= 1024 * 1024:
            return f"{value / (1024 * 1024):.1f} MiB"
        return f"{value / 1024:.0f} KiB"
    if unit == "1/s":
        return f"{value:.2f}/s"
    return f"{value:g}"


def format_change(m: MetricChange) -> str:
    if m.change is None:
        return "–"
    text = f"{m.change * 100:+.1f}%"
    if m.ci_low is not None and m.ci_high is not None:
        text += f" [{m.ci_low * 100:+.1f}%, {m.ci_high * 100:+.1f}%]"
    return text


def format_p(p: float | None) -> str:
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def verdict(m: MetricChange) -> str:
    if m.regression:
        return "REGRESSION"
    if m.improvement:
        return "improvement"
    if m.note:
        return m.note
    if m.significant:
        return "significant, within threshold"
    return "no significant change"


def summary_line(c: Comparison) -> str:
    if c.kind == KIND_DETECT:
        n = len(c.verdict_changes)
        return "no verdict changed" if n == 0 else f"{n} verdict{'s' if n != 1 else ''} changed"
    regs = c.regressions
    if regs:
        return (
            f"{len(regs)} regression{'s' if len(regs) != 1 else ''} "
            f"(significant at p < {ALPHA} and worse than "
            f"{c.threshold * 100:g}%): " + ", ".join(m.name for m in regs)
        )
    return f"no regression (threshold {c.threshold * 100:g}%, p < {ALPHA})"


def render_comparison_table(c: Comparison) -> Any:
    """A Rich renderable of the comparison."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = []
    if c.env_differences:
        parts.append(
            Text("environments differ (compared with --force): " + "; ".join(c.env_differences), style="yellow")
        )
    if c.setup_differences:
        parts.append(Text(SETUP_WARNING + "; ".join(c.setup_differences), style="yellow"))
    if c.kind == KIND_DETECT:
        parts.append(Text(f"detect: {c.base_name} -> {c.new_name}", style="bold"))
        table = Table()
        table.add_column("verdict")
        table.add_column("base")
        table.add_column("new")
        for label, b, n in c.verdict_changes:
            table.add_row(label, b, n)
        if c.verdict_changes:
            parts.append(table)
    else:
        parts.append(Text(f"bench: {c.base_name} -> {c.new_name}", style="bold"))
        table = Table()
        for col, justify in (
            ("metric", "left"),
            ("base", "right"),
            ("new", "right"),
            ("change [95% CI]", "right"),
            ("p", "right"),
            ("verdict", "left"),
        ):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for m in c.metrics:
            style = "bold red" if m.regression else ("green" if m.improvement else "")
            table.add_row(
                m.name,
                format_value(m.base_median, m.unit),
                format_value(m.new_median, m.unit),
                format_change(m),
                format_p(m.p_value),
                Text(verdict(m), style=style),
            )
        parts.append(table)
    parts.append(Text(summary_line(c), style="bold red" if c.regressions else "bold"))
    return Group(*parts)


def render_comparison_markdown(c: Comparison) -> str:
    lines = [f"### virtprobe compare: `{c.base_name}` → `{c.new_name}`", ""]
    if c.env_differences:
        lines += [f"> **Environments differ** (compared with --force): {'; '.join(c.env_differences)}", ""]
    if c.setup_differences:
        from virtprobe.report.markdown import cell  # markdown imports this module

        lines += [f"> **{SETUP_WARNING.rstrip(': ')}**: {cell('; '.join(c.setup_differences))}", ""]
    if c.kind == KIND_DETECT:
        for label, b, n in c.verdict_changes:
            lines.append(f"- {label}: {b} -> {n}")
        if c.verdict_changes:
            lines.append("")
    else:
        lines += ["| metric | base | new | change [95% CI] | p | verdict |", "|---|---:|---:|---:|---:|---|"]
        for m in c.metrics:
            v = verdict(m)
            lines.append(
                f"| {m.name} | {format_value(m.base_median, m.unit)} | "
                f"{format_value(m.new_median, m.unit)} | "
                f"{format_change(m)} | {format_p(m.p_value)} | {'**' + v + '**' if m.regression else v} |"
            )
        lines.append("")
    lines += [f"**{summary_line(c)}**", ""]
    return "\n".join(lines)
