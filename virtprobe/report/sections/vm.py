"""The bench section that sets containers beside VM baselines, simulated ones visibly apart and cited.

A simulated row is named "(simulated)", drawn dashed, and cites its public source
(listed once per page); a measured row names its accelerator, and a TCG row says
that software emulation is not hardware virtualization. Startup ratios set the
container's start (its first instruction where measured) against each VM's boot.
Memory is charted per measure: a VM's committed RAM and a VMM's RSS are not a
container's host growth, so they never share an axis with it.
"""

from __future__ import annotations

from virtprobe.benchmark.result import BenchResult, VmBaseline
from virtprobe.report.labels import TCG_CAVEAT, baseline_kind, baseline_name, phase_label
from virtprobe.report.metrics import container_memory_per_instance, container_startup_phase, vm_memory
from virtprobe.report.page import (
    Cell,
    Chart,
    ChartKind,
    Citation,
    Column,
    ColumnKind,
    Note,
    NoteKind,
    Section,
    Series,
    Table,
    Tone,
)
from virtprobe.report.sections.sources import source_citation
from virtprobe.report.sections.startup import MS, table_labels

STARTUP_COLUMNS = (
    Column("instance", ColumnKind.label, metric="instance"),
    Column("kind", ColumnKind.label, metric="kind"),
    Column("median", ColumnKind.seconds, metric="bench_instance_startup_median", display=MS),
    Column("p99", ColumnKind.seconds, metric="bench_instance_startup_p99", display=MS),
    Column("× container", ColumnKind.ratio),
)
MEMORY_COLUMNS = (
    Column("instance", ColumnKind.label, metric="instance"),
    Column("memory", ColumnKind.bytes, metric="bench_instance_memory"),
    Column("what it is", ColumnKind.label, metric="measure"),
    Column("× container", ColumnKind.ratio),
)


def _ratio(value: float | None, container: float | None) -> float | None:
    return value / container if value is not None and container else None


def _tone(b: VmBaseline) -> Tone:
    return Tone.simulated if b.simulated else Tone.plain


def vm_tables(result: BenchResult, cites: tuple[str, ...]) -> list[Table]:
    """Startup (a container's start, a VM's boot) and memory per instance, each with its ratio to the container."""
    startup: list[tuple[Cell, ...]] = []
    memory: list[tuple[Cell, ...]] = []
    cont_start = cont_mem = None
    container = result.container
    if container is not None and not container.refused:
        phase = container_startup_phase(container)
        s = container.summary(phase)
        cont_start = s.median
        cont_mem, basis = container_memory_per_instance(container)
        name = Cell("container", f"container ({phase_label(phase)})")
        startup.append((name, Cell("measured", "measured here"), Cell(s.median), Cell(s.p99),
                        Cell(1.0 if s.median else None)))  # fmt: skip
        memory.append((name, Cell(cont_mem), Cell(basis), Cell(1.0 if cont_mem else None)))
    for b in result.baselines:
        s = b.boot_summary()
        mem, what = vm_memory(b)
        tone = _tone(b)
        name = Cell(b.name, baseline_name(b), tone)
        startup.append((name, Cell(b.kind, baseline_kind(b), tone), Cell(s.median), Cell(s.p99),
                        Cell(_ratio(s.median, cont_start))))  # fmt: skip
        memory.append((name, Cell(mem), Cell(what), Cell(_ratio(mem, cont_mem))))
    labels = table_labels(result)
    startup_title = "Startup in ms: the container's start, a VM's boot; × = VM / container"
    memory_title = "Memory per instance, each in its own measure; × = VM / container"
    return [
        Table("bench.vm.startup", STARTUP_COLUMNS, tuple(startup), startup_title, labels=labels, cites=cites),
        Table("bench.vm.memory", MEMORY_COLUMNS, tuple(memory), memory_title, labels=labels, cites=cites),
    ]


def _notes(baselines: tuple[VmBaseline, ...], keys: dict[str, str | None]) -> list[Note]:
    """One note per source of simulated rows (naming its rows), then each measured row's caveats and notes."""
    by_source: dict[str | None, list[str]] = {}
    for b in baselines:
        if b.simulated:
            by_source.setdefault(keys.get(b.name), []).append(baseline_name(b))
    notes = [
        Note(
            f"Simulated from {'this source' if key else 'no source given'}: {', '.join(names)}",
            NoteKind.simulated,
            (key,) if key else (),
        )
        for key, names in by_source.items()
    ]
    for b in baselines:
        if b.simulated:
            continue
        if b.accel == "tcg" and not any("software emulation" in n for n in b.notes):
            notes.append(Note(f"{baseline_name(b)}: {TCG_CAVEAT}", NoteKind.caveat))
        notes += [Note(f"{baseline_name(b)}: {n}") for n in b.notes]
    return notes


def boot_chart(result: BenchResult) -> Chart | None:
    series = []
    container = result.container
    if container is not None:
        phase = container_startup_phase(container)
        if container.measured(phase):
            series.append(Series(f"container: {phase_label(phase)}", tuple(container.measured(phase))))
    series += [Series(baseline_name(b), b.boot_samples_s, _tone(b)) for b in result.baselines if b.boot_samples_s]
    if len(series) < 2:
        return None
    return Chart(
        "bench.chart.vm-boot",
        ChartKind.box,
        "Container startup beside VM boot (box plots)",
        "s",
        tuple(series),
        caption="Dashed boxes are simulated from the cited sources, not measured here.",
    )


def memory_charts(result: BenchResult) -> list[Chart]:
    """One chart per memory measure of the VMs (committed, peak RSS, PSS): never two measures on one axis."""
    by_measure: dict[str, list[tuple[VmBaseline, float]]] = {}
    for b in result.baselines:
        value, what = vm_memory(b)
        if value is not None:
            by_measure.setdefault(what, []).append((b, value))
    charts = []
    for what, items in by_measure.items():
        charts.append(
            Chart(
                f"bench.chart.vm-memory.{what}",
                ChartKind.bar,
                f"VM memory per instance: {what}",
                "bytes",
                (Series(what, tuple(v for _, v in items), tones=tuple(_tone(b) for b, _ in items)),),
                categories=tuple(baseline_name(b) for b, _ in items),
                caption="Dashed bars are simulated. A container's memory is another measure: see the memory section.",
            )
        )
    return charts


def vm_section(result: BenchResult) -> Section | None:
    if not result.baselines:
        return None
    citations: dict[str, Citation] = {}
    keys: dict[str, str | None] = {}
    for b in result.baselines:
        c = source_citation(b.source) if b.simulated else None
        keys[b.name] = c.key if c else None
        if c is not None:
            citations.setdefault(c.key, c)
    blocks: list[Table | Note | Chart] = [*vm_tables(result, tuple(citations))]
    blocks += _notes(result.baselines, keys)
    blocks += [c for c in (boot_chart(result), *memory_charts(result)) if c is not None]
    return Section("bench.vm", "Containers beside VMs", tuple(blocks), tuple(citations.values()))

