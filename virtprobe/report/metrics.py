"""Headline metrics derived from a bench result, shared by every renderer and the gates.

One definition of "container startup" and "memory per instance" keeps the table,
Markdown, HTML and the CI gates (--max-startup-ms, --max-memory-mib) saying the same
thing about the same report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from virtprobe import stats
from virtprobe.benchmark.clock import SAME_KERNEL
from virtprobe.benchmark.engine import EngineInfo
from virtprobe.benchmark.result import (
    PHASES,
    BenchResult,
    ContainerSection,
    FunctionMode,
    HwvirtSection,
    Phase,
    VmBaseline,
)
from virtprobe.report.labels import (
    CLOCK_LABELS,
    ENGINE_CYCLE_LABEL,
    ENGINE_START_LABEL,
    FLOOR_LABELS,
    FLOOR_ORDER,
    PHASE_LABELS,
    product_name,
)


def container_startup_phase(container: ContainerSection) -> Phase:
    """The phase that stands for "the container started", to set against a VM's boot time.

    The start request to the probe's first instruction (first output for user
    images) is the nearest analogue of a VM's boot to init: both exclude the
    create/configure step, as Firecracker's "pre-configured" boot figure does.
    """
    basis = next((p for p in PHASES if p == f"{container.timing_basis}_s"), None)
    for phase in (basis, "first_instruction_s", "first_output_s", "start_s"):
        if phase and container.measured(phase):
            return phase
    return "start_s"


def container_startup_median_s(container: ContainerSection) -> float | None:
    return container.summary(container_startup_phase(container)).median


def container_memory_per_instance(container: ContainerSection | None) -> tuple[float | None, str]:
    """Host memory one idle container costs, and what that figure is.

    Preferred: the growth of the host's kernel and anonymous memory (AnonPages,
    PageTables, KernelStack, Slab, VmallocUsed) across N idle containers, over N.
    MemAvailable's drop is the benchmark-containerd-runtimes method, but on a
    shared host page-cache churn swamps it (seen here: -4 to +8.5 MiB per
    container), so it is used only when the growth figure is absent. Last: the
    container's cgroup usage plus its shim's PSS.
    """
    memory = container.memory if container is not None else None
    if memory is None:
        return None, "not measured"
    growth = memory.host_kernel_anon_growth_bytes_per_container
    if growth is not None and growth > 0:
        return growth, "host kernel+anon growth per container"
    drop = memory.host_available_drop_bytes_per_container
    if drop is not None and drop > 0:
        return drop, "host MemAvailable drop per container"
    cg = stats.summarize(memory.cgroup_bytes).median
    proc = stats.summarize(memory.process_pss_bytes or ()).median
    if cg is None:
        return None, "not measured" if memory.host_side_reason is None else memory.host_side_reason
    if proc is None:
        return cg, "cgroup usage"
    return cg + proc, f"cgroup usage + {process_label(memory.process_name)} PSS"


def process_label(name: str | None) -> str:
    """What the per-container process row is called: its own name, never a guess."""
    return name or "per-container process (unnamed)"


# --- the engine and its clocks ------------------------------------------------------------


def engine_line(engine: EngineInfo | None) -> str:
    """The engine and everything under it, in one line for every format."""
    if engine is None:
        return "engine not recorded"
    version = engine.product_version or engine.engine_version
    parts = [f"{product_name(engine.product)} {version or '?'}"]
    if engine.product == "docker-desktop" and engine.engine_version:
        parts[0] += f" (engine {engine.engine_version})"
    runtime = engine.runtime_kind or engine.runtime or "?"
    rt = f"OCI runtime {runtime} {engine.runtime_version or '(version not reported)'}"
    if engine.runtime and engine.runtime != runtime:
        rt += f" as {engine.runtime!r}"
    parts.append(rt)
    if engine.container_process:
        version = f" {engine.container_process_version}" if engine.container_process_version else ""
        parts.append(f"per container: {engine.container_process}{version}")
    if engine.containerd_version:
        parts.append(f"containerd {engine.containerd_version}")
    cgroup = f"cgroup v{engine.cgroup_version}" if engine.cgroup_version else "cgroup version unknown"
    if engine.cgroup_driver:
        cgroup += f" ({engine.cgroup_driver} driver)"
    parts.append(cgroup)
    parts.append({True: "rootless", False: "rootful", None: "rootless unknown"}[engine.rootless])
    if engine.runtimes:
        parts.append("runtimes offered: " + ", ".join(r.name for r in engine.runtimes))
    where = {True: "on this machine", False: "not on this machine", None: "location unknown"}[engine.on_this_machine]
    parts.append(f"{where} ({engine.location_reason})" if engine.on_this_machine is not True else where)
    return " · ".join(parts)


def clock_line(section: ContainerSection) -> str:
    """Which clock the section's first-instruction times use, and why, in one line."""
    verdict = section.clock
    if verdict is None:
        return "clock: not checked (a 1.0 report assumed the probe ran under this kernel)"
    return f"clock: {CLOCK_LABELS[verdict.mode]}: {verdict.reason}"


def own_clock(section: ContainerSection) -> bool:
    """True when the section's first-instruction figures were withheld (another kernel's clock)."""
    return section.clock is not None and not section.clock.first_instruction_allowed


# --- one row per runtime (--runtime) ---------------------------------------------------------


@dataclass(frozen=True)
class RuntimeRow:
    """One runtime's figures side by side: client-side phases for all, first instruction where allowed."""

    runtime: str
    kind: str | None
    start: stats.Summary  # the start API call
    cycle: stats.Summary  # the whole cycle, create request to removed
    first_instruction: stats.Summary | None  # None: withheld (another kernel's clock) or a user image
    cycle_ratio: float | None  # this runtime's cycle median / the first runtime's
    clock: str  # CLOCK_LABELS of the verdict, "not checked" for a 1.0 report
    refused: str | None


def runtime_rows(result: BenchResult) -> list[RuntimeRow]:
    sections = result.runtime_sections
    if not sections:
        return []
    ref = sections[0].summary("cycle_s").median
    rows = []
    for sec in sections:
        cycle = sec.summary("cycle_s")
        fi = sec.summary("first_instruction_s") if sec.timing_basis == "first_instruction" else None
        if fi is not None and fi.n == 0:
            fi = None
        rows.append(
            RuntimeRow(
                runtime=sec.runtime or "default",
                kind=sec.runtime_kind,
                start=sec.summary("start_s"),
                cycle=cycle,
                first_instruction=fi,
                cycle_ratio=cycle.median / ref if cycle.median is not None and ref else None,
                clock="not checked" if sec.clock is None else CLOCK_LABELS[sec.clock.mode],
                refused=sec.refused,
            )
        )
    return rows


# --- the serverless cycle (--function) ---------------------------------------------------------

# AWS Lambda bills duration per millisecond since 2020-12-01; before that, in 100 ms steps.
BILLING_SOURCE = (
    'AWS, "AWS Lambda changes duration billing granularity from 100ms down to 1ms", 2020-12-01, '
    "aws.amazon.com/about-aws/whats-new/2020/12/"
)
BILLING_STEPS_MS = (1, 100)
BILLING_RULE = "each call's wall time rounded up to 1 ms, and to 100 ms (the rule before December 2020)"


def billed_ms(duration_s: float, step_ms: int) -> int:
    """A duration rounded up to the billing step, in ms (a call of 0.2 ms is billed 1 ms, or 100 ms)."""
    return max(1, math.ceil(round(duration_s * 1000, 6) / step_ms)) * step_ms


@dataclass(frozen=True)
class FunctionRow:
    """One way of serving a call: its wall time, the function's own share, and what each billing rule charges."""

    label: str
    kind: str  # "measured here" or the baseline's kind
    wall_s: float | None
    work_s: float | None
    first_instruction_s: float | None  # request -> the function's first instruction (same kernel only)
    share: float | None  # work / wall
    billed_1ms: int | None
    billed_100ms: int | None
    n: int
    note: str | None = None


def _row(label: str, kind: str, wall: float | None, work: float | None, first: float | None, n: int, note: str | None
         ) -> FunctionRow:  # fmt: skip
    share = work / wall if wall and work is not None else None
    return FunctionRow(
        label,
        kind,
        wall,
        work,
        first,
        share,
        billed_ms(wall, 1) if wall is not None else None,
        billed_ms(wall, 100) if wall is not None else None,
        n,
        note,
    )


FUNCTION_MODE_LABELS = {
    "cold": "cold: a new container per call (request -> removed)",
    "warm": "warm: exec into a kept container",
    "paused": "paused: unpause, exec, pause",
}


def function_mode_row(mode: FunctionMode) -> FunctionRow:
    wall = stats.summarize(mode.measured("wall_s"))
    work = stats.summarize(mode.measured("work_s")).median
    first = stats.summarize(mode.measured("first_instruction_s")).median
    return _row(FUNCTION_MODE_LABELS.get(mode.mode, mode.mode), "measured here", wall.median, work, first, wall.n,
                mode.refused)  # fmt: skip


def function_rows(result: BenchResult) -> list[FunctionRow]:
    """cold, warm, paused, then each VM baseline booted per call (its boot median + the function's work)."""
    fn = result.function
    if fn is None:
        return []
    rows = [function_mode_row(m) for m in fn.modes]
    work = fn.function_ms / 1000
    for b in result.baselines:
        boot = b.boot_summary()
        if boot.median is None:
            continue
        kind = "simulated" if b.simulated else f"measured here ({b.accel or '?'})"
        note = "a VM booted per call: its boot median + the function's work (teardown not counted)"
        rows.append(_row(f"{b.label}, booted per call", kind, boot.median + work, work, None, boot.n, note))
    return rows


def function_row_label(row: FunctionRow) -> str:
    """The row's label with its kind, unless the label already says it ("... (simulated)")."""
    if row.kind == "measured here" or row.kind.split(" ")[0] in row.label:
        return row.label
    return f"{row.label} ({row.kind})"


def function_clock_note(result: BenchResult) -> str | None:
    """Why request -> first instruction is missing from the function rows, when it is."""
    fn = result.function
    if fn is None or fn.clock is None or fn.clock.mode == SAME_KERNEL:
        return None
    return (
        "request -> first instruction is not shown: the function ran under another kernel's clock "
        f"({fn.clock.reason}); its own work is a difference on its own clock, and wall times are virtprobe's"
    )


def vm_memory(baseline: VmBaseline) -> tuple[float | None, str]:
    if baseline.memory is None:
        return None, "unknown"
    return baseline.memory.per_instance()


def floor_rows(container: ContainerSection | None) -> list[tuple[str, float | None, int]]:
    """Where the engine's time goes: (what started the probe, median seconds, n), cheapest first."""
    if container is None or container.floor is None:
        return []
    floor = container.floor
    rows = [(FLOOR_LABELS[key], *_median_n(floor.samples(key))) for key in FLOOR_ORDER]
    engine_rows: tuple[tuple[Phase, str], ...] = (("start_s", ENGINE_START_LABEL), ("cycle_s", ENGINE_CYCLE_LABEL))
    for key, label in engine_rows:
        rows.append((label, *_median_n(container.measured(key))))
    return rows


def _median_n(xs: list[float] | tuple[float, ...]) -> tuple[float | None, int]:
    s = stats.summarize(xs)
    return s.median, s.n


def hwvirt_rows(hw: HwvirtSection) -> list[tuple[str, str, str]]:
    """/dev/kvm driven directly: (measure, median as text, what it shows)."""
    if not hw.available:
        return []
    rows: list[tuple[str, str, str]] = []
    if hw.vm_floor is not None and hw.vm_floor.samples_s:
        med = stats.summarize(hw.vm_floor.samples_s).median
        rows.append(("VM floor: KVM_CREATE_VM to first guest output", _fmt(med, 1e3, "ms"), hw.vm_floor.meaning))
    ex = hw.exit_round_trip
    if ex is not None and ex.raw_per_exit_s:
        raw = stats.summarize(ex.raw_per_exit_s).median
        net = stats.summarize(ex.net_per_exit_s).median
        rows.append(
            (
                "VM exit round trip (64-bit guest user mode), raw / net of a null ioctl",
                f"{_fmt(raw, 1e6, 'µs')} / {_fmt(net, 1e6, 'µs')}",
                ex.meaning,
            )
        )
    nn = hw.near_native
    if nn is not None:
        for value, label in ((nn.ratio_user, "guest user mode"), (nn.ratio_kernel, "guest kernel mode")):
            if value is not None:
                rows.append((f"Same compute loop, {label} / native", f"{value:.2f}×", nn.verdict))
    return rows


def _fmt(x: float | None, scale: float, unit: str) -> str:
    return "–" if x is None else f"{x * scale:.2f} {unit}"


def source_text(baseline: VmBaseline) -> str | None:
    """Where a simulated baseline's figures come from, in one line (None when unsourced)."""
    if baseline.source is None:
        return None
    return baseline.source.text() or None


def outlier_lines(container: ContainerSection | None) -> list[str]:
    """hyperfine-style: how many samples of which phase are outliers (modified Z-score > 3.5)."""
    if container is None:
        return []
    lines = []
    for phase, label in PHASE_LABELS.items():
        s = container.summary(phase)
        if s.outliers:
            lines.append(
                f"{len(s.outliers)} of {s.n} '{label}' samples are statistical outliers "
                f"(modified Z-score > {stats.OUTLIER_Z:g}); other work on the host may have disturbed them"
            )
    return lines
