"""Rich rendering of a bench document (pure: a document in, a renderable out).

Summaries are recomputed from the raw samples, never read from the file, so a
report renders the same whatever produced it. Warmup samples are excluded.
"""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from virtprobe import stats
from virtprobe.benchmark.result import (
    BenchResult,
    ContainerSection,
    ExitRoundTrip,
    FloorSection,
    HwvirtSection,
    MemorySection,
    ParallelSection,
    VmBaseline,
)
from virtprobe.report.labels import (
    ENGINE_CYCLE_LABEL,
    ENGINE_START_LABEL,
    FLOOR_LABELS,
    FLOOR_ORDER,
    PHASE_LABELS,
    baseline_kind,
    phase_label,
)
from virtprobe.report.metrics import (
    BILLING_RULE,
    BILLING_SOURCE,
    clock_line,
    container_memory_per_instance,
    container_startup_phase,
    engine_line,
    function_clock_note,
    function_row_label,
    function_rows,
    outlier_lines,
    process_label,
    runtime_rows,
    source_text,
    vm_memory,
)


def ms(x: float | None) -> str:
    return "-" if x is None else f"{x * 1000:.2f}"


def ms1(x: float | None) -> str:
    return "-" if x is None else f"{x * 1000:.1f}"


def mib(x: float | None) -> str:
    return "-" if x is None else f"{x / (1024 * 1024):.2f}"


def phase_table(container: ContainerSection) -> Table:
    image_name = container.image.name if container.image is not None else None
    title = "Container start, phase by phase (ms)"
    if container.runtime:
        title += f", runtime {container.runtime}"
    # Compact (no vertical rules, one decimal) so that it fits 80 columns.
    table = Table(
        title=title,
        title_justify="left",
        caption=f"image {image_name or '?'}, {container.timing_basis or '?'} basis",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("phase", no_wrap=True)
    for name in ("median", "MAD", "p95", "p99", "min", "max", "CV%", "n"):
        table.add_column(name, justify="right", no_wrap=True)
    for key, label in PHASE_LABELS.items():
        s = container.summary(key)
        if s.n == 0:
            continue
        cv = "-" if s.cv is None else f"{s.cv * 100:.0f}" + ("!" if s.noisy else "")
        table.add_row(label, ms1(s.median), ms1(s.mad), ms1(s.p95), ms1(s.p99), ms1(s.min), ms1(s.max), cv, str(s.n))
    return table


def memory_table(memory: MemorySection, runtime: str | None = None) -> RenderableType:
    title = f"Memory of one idle container ({memory.n} running, MiB)" + (f", runtime {runtime}" if runtime else "")
    if memory.host_side_reason:
        return Text(f"{title}: {memory.host_side_reason}")
    table = Table(title=title, title_justify="left")
    table.add_column("measure")
    for name in ("median", "min", "max", "n"):
        table.add_column(name, justify="right")
    for values, label in (
        (memory.cgroup_bytes, "cgroup memory usage"),
        (memory.process_pss_bytes, f"{process_label(memory.process_name)} PSS"),
    ):
        s = stats.summarize(values or ())
        if s.n:
            table.add_row(label, mib(s.median), mib(s.min), mib(s.max), str(s.n))
    for value, figure, label in (
        (memory.host_available_drop_bytes_per_container, memory.host_available, "host MemAvailable drop / container"),
        (
            memory.host_kernel_anon_growth_bytes_per_container,
            memory.host_kernel_anon,
            "host kernel+anon growth / container",
        ),
    ):
        if value is not None:
            table.add_row(label, mib(value), "", "", "")
        elif figure is not None and figure.reason:
            table.add_row(label, figure.reason, "", "", "")
    return table


def runtimes_table(result: BenchResult) -> Table:
    """--runtime: one row per runtime, client-side phases for all, ratio of the whole cycle to the first."""
    table = Table(
        title="Runtimes side by side (median ms; x cycle = cycle / the first runtime's)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for name in ("runtime", "start", "first instr.", "cycle", "x cycle", "n", "clock / reason"):
        table.add_column(name, justify="left" if name in ("runtime", "clock / reason") else "right")
    for row in runtime_rows(result):
        if row.refused:
            table.add_row(row.runtime, "-", "-", "-", "-", "0", f"refused: {row.refused}")
            continue
        fi = ms1(row.first_instruction.median) if row.first_instruction is not None else "own clock"
        ratio = "-" if row.cycle_ratio is None else f"{row.cycle_ratio:.2f}x"
        table.add_row(row.runtime, ms1(row.start.median), fi, ms1(row.cycle.median), ratio, str(row.cycle.n), row.clock)
    return table


def function_table(result: BenchResult) -> list[RenderableType]:
    """--function: cold, warm, paused and each VM booted per call, with the two billing rules."""
    fn = result.function
    if fn is None:
        return []
    table = Table(
        title=f"The serverless cycle: a function of {fn.function_ms} ms of CPU"
        + (f", runtime {fn.runtime}" if fn.runtime else ""),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for name in ("how it is served", "wall ms", "work ms", "work %", "billed 1ms", "billed 100ms", "n"):
        table.add_column(name, justify="left" if name == "how it is served" else "right")
    notes: list[RenderableType] = []
    for row in function_rows(result):
        if row.wall_s is None:
            table.add_row(row.label, "-", "-", "-", "-", "-", "0")
            if row.note:
                notes.append(Text(f"{row.label}: {row.note}"))
            continue
        share = "-" if row.share is None else f"{row.share * 100:.0f}"
        label = function_row_label(row)
        table.add_row(
            label, ms1(row.wall_s), ms1(row.work_s), share, str(row.billed_1ms), str(row.billed_100ms), str(row.n)
        )
    notes.append(Text(f"billing: {BILLING_RULE}; source: {BILLING_SOURCE}"))
    clock_note = function_clock_note(result)
    if clock_note:
        notes.append(Text(clock_note))
    return [table, *notes]


def parallel_table(par: ParallelSection, serial_cycle_median_s: float | None) -> Table:
    table = Table(title=f"Density: {par.parallel} starts at a time", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rate = par.containers_per_s
    table.add_row("containers/s", "-" if rate is None else f"{rate:.2f}")
    if serial_cycle_median_s:
        table.add_row("containers/s serially (1 / cycle median)", f"{1 / serial_cycle_median_s:.2f}")
    s = stats.summarize(par.cycle_s)
    table.add_row("cycle under load, median ms", ms(s.median))
    table.add_row("cycle under load, p95 ms", ms(s.p95))
    table.add_row("containers", str(par.n))
    return table


def floor_table(floor: FloorSection, docker_start_s: float | None, docker_cycle_s: float | None) -> Table:
    table = Table(title="Where the engine's time goes (median ms)", title_justify="left")
    table.add_column("what starts the probe")
    table.add_column("median", justify="right")
    table.add_column("n", justify="right")
    for key in FLOOR_ORDER:
        s = stats.summarize(floor.samples(key))
        table.add_row(FLOOR_LABELS[key], ms(s.median) if s.n else "not measured", str(s.n))
    if docker_start_s is not None:
        table.add_row(ENGINE_START_LABEL, ms(docker_start_s), "")
    if docker_cycle_s is not None:
        table.add_row(ENGINE_CYCLE_LABEL, ms(docker_cycle_s), "")
    return table


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or not b:
        return "-"
    r = a / b
    return f"{r:.0f}x" if r >= 100 else f"{r:.1f}x" if r >= 10 else f"{r:.2f}x"


def vm_table(container: ContainerSection | None, baselines: tuple[VmBaseline, ...]) -> tuple[Table, list[str]]:
    """Containers against each VM baseline, with ratios; the sources as numbered notes."""
    table = Table(
        title="Containers vs VMs (startup ms; memory MiB per instance; ratio = VM / container)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for name, justify in (
        ("instance", "left"),
        ("kind", "left"),
        ("median", "right"),
        ("p99", "right"),
        ("x start", "right"),
        ("memory", "right"),
        ("x mem", "right"),
        ("src", "right"),
    ):
        table.add_column(name, justify=justify, no_wrap=name != "instance")  # type: ignore[arg-type]
    cont_start: float | None = None
    cont_mem: float | None = None
    if container is not None:
        phase = container_startup_phase(container)
        s = container.summary(phase)
        cont_start = s.median
        cont_mem, _basis = container_memory_per_instance(container)
        table.add_row(
            f"container ({phase_label(phase)})",
            "measured here",
            ms1(s.median),
            ms1(s.p99),
            "1x",
            mib(cont_mem),
            "1x",
            "",
        )
    notes: list[str] = []
    refs: dict[str, int] = {}  # one numbered note per distinct source or caveat

    def ref_for(text: str) -> str:
        if text not in refs:
            refs[text] = len(refs) + 1
            notes.append(f"[{refs[text]}] {text}")
        return f"[{refs[text]}]"

    for b in baselines:
        s = b.boot_summary()
        mem, _what = vm_memory(b)
        if b.simulated:
            ref = ref_for("simulated from: " + (source_text(b) or "no source given"))
        else:
            ref = ref_for(f"{b.label}: " + " | ".join(b.notes or ("measured here",)))
        table.add_row(
            b.label,
            baseline_kind(b),
            ms1(s.median),
            ms1(s.p99),
            _ratio(s.median, cont_start),
            mib(mem),
            _ratio(mem, cont_mem),
            ref,
        )
    return table, notes


def _us(x: float | None) -> str:
    return "-" if x is None else f"{x * 1e6:.2f}"


def _exit_rows(table: Table, ex: ExitRoundTrip, label: str) -> None:
    raw = stats.summarize(ex.raw_per_exit_s)
    null = stats.summarize(ex.null_ioctl_per_call_s)
    net = stats.summarize(ex.net_per_exit_s)
    table.add_row(f"VM exit round trip, {label}, raw (us)", _us(raw.median), _us(raw.p99), str(raw.n))
    table.add_row("  Python null ioctl (us)", _us(null.median), _us(null.p99), str(null.n))
    table.add_row("  net per exit (us)", _us(net.median), _us(net.p99), str(net.n))


def hwvirt_table(hw: HwvirtSection) -> list[RenderableType]:
    """/dev/kvm driven directly: the floor, the exit cost, near-native speed, each with its meaning."""
    if not hw.available:
        return [Text(f"hardware virtualization (--hwvirt): not available: {hw.reason or 'unknown reason'}")]
    table = Table(
        title=f"Hardware virtualization itself (/dev/kvm via {hw.kvm_module or '?'}, no VMM)",
        title_justify="left",
    )
    table.add_column("measure")
    table.add_column("median", justify="right")
    table.add_column("p99", justify="right")
    table.add_column("n", justify="right")
    meanings: list[RenderableType] = []
    if hw.vm_floor is not None:
        s = stats.summarize(hw.vm_floor.samples_s)
        table.add_row("VM floor: KVM_CREATE_VM to first guest output (ms)", ms(s.median), ms(s.p99), str(s.n))
        meanings.append(Text(f"VM floor: {hw.vm_floor.meaning}"))
    if hw.exit_round_trip is not None:
        _exit_rows(table, hw.exit_round_trip, "64-bit user mode")
        meanings.append(Text(f"VM exit: {hw.exit_round_trip.meaning}"))
    if hw.exit_round_trip_real_mode is not None:
        _exit_rows(table, hw.exit_round_trip_real_mode, "real mode")
    nn = hw.near_native
    if nn is not None:
        for value, label in (
            (nn.ratio_user, "guest user mode / native"),
            (nn.ratio_kernel, "guest kernel mode / native"),
        ):
            if value is not None:
                table.add_row(f"Same compute loop, {label}", f"{value:.2f}x", "", "")
        meanings.append(Text(f"Near-native: {nn.meaning}"))
        if nn.verdict:
            meanings.append(Text(f"Verdict: {nn.verdict}"))
    notes = [Text(f"note: {n}") for n in hw.notes]
    return [table, *meanings, *notes]


def render_bench(result: BenchResult) -> RenderableType:
    """The bench report: phases, memory, density, floor ladder, then outliers, warnings and notes."""
    parts: list[RenderableType] = [Text(f"engine: {engine_line(result.environment.engine)}")]
    container = result.container
    if container is not None:
        if container.refused:
            parts.append(Text(f"runtime {container.runtime}: refused: {container.refused}"))
        else:
            parts.append(phase_table(container))
        parts.append(Text(clock_line(container)))
        if container.timing_basis == "first_output":
            parts.append(Text("Timing basis: first byte of output (not the probe image)."))
        cycle = container.summary("cycle_s").median
        start = container.summary("start_s").median
        if result.other_runtimes:
            parts.append(runtimes_table(result))
            parts.extend(Text(f"runtime {o.runtime}: {clock_line(o)}") for o in result.other_runtimes if not o.refused)
        if container.memory is not None:
            parts.append(memory_table(container.memory, container.runtime if result.other_runtimes else None))
        for other in result.other_runtimes:
            if other.memory is not None:
                parts.append(memory_table(other.memory, other.runtime))
        if container.parallel is not None:
            parts.append(parallel_table(container.parallel, cycle))
        if container.floor is not None:
            parts.append(floor_table(container.floor, start, cycle))
            parts.extend(Text(f"floor note: {note}") for note in container.floor.notes)
    if result.baselines:
        table, notes = vm_table(container, result.baselines)
        parts.append(table)
        parts.extend(Text(n) for n in notes)
    parts.extend(function_table(result))
    if result.hwvirt is not None:
        parts.extend(hwvirt_table(result.hwvirt))
    parts.extend(Text(f"outliers: {line}") for line in outlier_lines(container))
    parts.extend(Text(f"warning: {w}") for w in result.warnings)
    if len(parts) == 1 and container is None:
        parts.append(Text("no container measurements in this report"))
    return Group(*parts)
