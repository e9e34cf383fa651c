"""The bench section on the memory of idle containers: every measure per runtime, and the one per-container figure.

A container's cgroup usage, its per-container process's PSS and the host's growth
per container are different measures; each keeps its name in every row and bar.
A VM's memory is yet another measure (committed guest RAM, or a VMM's RSS): it is
charted in the VM section, never on this axis.
"""

from __future__ import annotations

from virtprobe import stats
from virtprobe.benchmark.result import BenchResult, ContainerSection, MemorySection
from virtprobe.report.labels import MEMORY_LABELS, memory_label
from virtprobe.report.metrics import container_memory_per_instance, process_label
from virtprobe.report.page import (
    Cell,
    Chart,
    ChartKind,
    Column,
    ColumnKind,
    Note,
    NoteKind,
    Section,
    Series,
    Table,
    Tone,
)
from virtprobe.report.sections.startup import runtime_name, table_labels

MIB = "MiB"
COLUMNS = (
    Column("measure", ColumnKind.label, metric="measure"),
    Column("median", ColumnKind.bytes, metric="bench_memory_median", display=MIB),
    Column("min", ColumnKind.bytes, metric="bench_memory_min", display=MIB),
    Column("max", ColumnKind.bytes, metric="bench_memory_max", display=MIB),
    Column("n", ColumnKind.integer, metric="bench_memory_samples"),
)
HOST_FIGURES = ("host_available_drop", "host_kernel_anon_growth")


def _host_rows(memory: MemorySection) -> list[tuple[Cell, ...]]:
    rows: list[tuple[Cell, ...]] = []
    for key, value, figure in zip(
        HOST_FIGURES,
        (memory.host_available_drop_bytes_per_container, memory.host_kernel_anon_growth_bytes_per_container),
        (memory.host_available, memory.host_kernel_anon),
        strict=True,
    ):
        name = Cell(key, memory_label(key))
        if value is not None:
            rows.append((name, Cell(value), Cell(None), Cell(None), Cell(None)))
        elif figure is not None and figure.reason:
            rows.append((name, Cell(None, figure.reason, Tone.muted), Cell(None), Cell(None), Cell(None)))
    return rows


def memory_table(result: BenchResult, sec: ContainerSection, memory: MemorySection) -> Table:
    rows: list[tuple[Cell, ...]] = []
    for key, values in (("cgroup_usage", memory.cgroup_bytes), ("process_pss", memory.process_pss_bytes or ())):
        s = stats.summarize(values)
        if s.n:
            label = memory_label(key, process_label(memory.process_name))
            rows.append((Cell(key, label), Cell(s.median), Cell(s.min), Cell(s.max), Cell(s.n)))
    if not memory.host_side_reason:
        rows += _host_rows(memory)
    return Table(
        f"bench.memory.{runtime_name(sec)}",
        COLUMNS,
        tuple(rows),
        title=f"runtime {runtime_name(sec)}: one idle container of {memory.n} running, in MiB",
        labels=table_labels(result, sec),
    )


def per_container_table(result: BenchResult) -> Table | None:
    """The one figure per runtime that gates and comparisons use, and what it is."""
    rows = []
    for sec in result.runtime_sections:
        if sec.memory is None:
            continue
        value, basis = container_memory_per_instance(sec)
        rows.append((Cell(runtime_name(sec)), Cell(value, tone=Tone.strong), Cell(basis)))
    if not rows:
        return None
    columns = (
        Column("runtime", ColumnKind.label, metric="runtime"),
        Column("memory", ColumnKind.bytes, metric="bench_memory_per_container"),
        Column("what it is", ColumnKind.label, metric="measure"),
    )
    return Table("bench.memory.per-container", columns, tuple(rows), title="Memory per container",
                 labels=table_labels(result))  # fmt: skip


def memory_chart(result: BenchResult) -> Chart | None:
    sections = [s for s in result.runtime_sections if s.memory is not None and not s.memory.host_side_reason]
    if not sections:
        return None
    measures: dict[str, list[float | None]] = {key: [] for key in MEMORY_LABELS}
    for sec in sections:
        m = sec.memory
        assert m is not None
        measures["cgroup_usage"].append(stats.summarize(m.cgroup_bytes).median)
        measures["process_pss"].append(stats.summarize(m.process_pss_bytes or ()).median)
        measures["host_available_drop"].append(m.host_available_drop_bytes_per_container)
        measures["host_kernel_anon_growth"].append(m.host_kernel_anon_growth_bytes_per_container)
    series = tuple(Series(MEMORY_LABELS[key] + (" (median)" if key in ("cgroup_usage", "process_pss") else ""),
                          tuple(vs)) for key, vs in measures.items() if any(v is not None for v in vs))  # fmt: skip
    if not series:
        return None
    return Chart(
        "bench.chart.memory",
        ChartKind.bar,
        "Memory of one idle container, by measure",
        "bytes",
        series,
        categories=tuple(f"runtime {runtime_name(s)}" for s in sections),
        caption="Four different measures of one container, each named; a VM's memory is another measure and is "
        "charted with the VMs.",
    )


def memory_section(result: BenchResult) -> Section | None:
    blocks: list[Table | Note | Chart] = []
    for sec in result.runtime_sections:
        memory = sec.memory
        if memory is None:
            continue
        blocks.append(memory_table(result, sec, memory))
        if memory.host_side_reason:
            blocks.append(Note(f"runtime {runtime_name(sec)}, host-side figures: {memory.host_side_reason}",
                               NoteKind.caveat))  # fmt: skip
    if not blocks:
        return None
    per = per_container_table(result)
    if per is not None:
        blocks.append(per)
    chart = memory_chart(result)
    if chart is not None:
        blocks.append(chart)
    return Section("bench.memory", "Memory of idle containers", tuple(blocks))
