"""Builder of the `--density` section: startup p50/p99 with N idle containers, and memory per extra container."""

from __future__ import annotations

from virtprobe import stats
from virtprobe.benchmark.result import BenchResult, measured_values
from virtprobe.report.page import (
    Cell,
    Chart,
    ChartKind,
    Column,
    ColumnKind,
    Facts,
    Note,
    NoteKind,
    Section,
    Series,
    Table,
    Tone,
)
from virtprobe.report.sections.common import MUTED, value_cell


def density_levels_section(result: BenchResult) -> Section | None:
    d = result.density
    if d is None:
        return None
    columns = (
        Column("idle containers", ColumnKind.integer, metric="density_idle"),
        Column("cycle p50", ColumnKind.seconds, metric="density_cycle_p50"),
        Column("cycle p99", ColumnKind.seconds, metric="density_cycle_p99"),
        Column("start p50", ColumnKind.seconds, metric="density_start_p50"),
        Column("first instruction p50", ColumnKind.seconds, metric="density_first_instruction_p50"),
        Column("kernel + anon memory", ColumnKind.bytes, metric="density_kernel_anon"),
        Column("note", ColumnKind.text),
    )
    rows = []
    ran = []
    for lv in d.levels:
        if lv.refused:
            rows.append(
                (Cell(lv.idle), MUTED, MUTED, MUTED, MUTED, MUTED, Cell(f"refused: {lv.refused}", tone=Tone.muted))
            )
            continue
        cycle = stats.summarize(measured_values(lv.samples, "cycle_s"))
        ran.append((lv.idle, cycle))
        rows.append(
            (
                Cell(lv.idle),
                value_cell(cycle.median),
                value_cell(cycle.p99),
                value_cell(stats.summarize(measured_values(lv.samples, "start_s")).median),
                value_cell(stats.summarize(measured_values(lv.samples, "first_instruction_s")).median),
                value_cell(None if lv.kernel_anon_bytes is None else float(lv.kernel_anon_bytes)),
                Cell(""),
            )
        )
    blocks: list[Table | Facts | Note | Chart] = [
        Table("bench.density", columns, tuple(rows), title="Startup under density")
    ]
    slope_k, slope_a = d.slope_bytes_per_container("kernel_anon"), d.slope_bytes_per_container("mem_available")
    blocks.append(
        Facts(
            "bench.density.slope",
            (
                ("Memory per extra container (kernel + anon slope)", value_cell(slope_k)),
                ("Memory per extra container (MemAvailable slope)", value_cell(slope_a)),
            ),
        )
    )
    if len(ran) >= 2:
        x = tuple(float(n) for n, _ in ran)
        series = (
            Series("cycle p50", tuple(s.median for _, s in ran)),
            Series("cycle p99", tuple(s.p99 for _, s in ran)),
        )
        blocks.append(Chart("bench.density.chart", ChartKind.line, "Cycle time against idle containers", "s",
                            series, x=x, x_title="idle containers already running"))  # fmt: skip
    if d.host_side_reason:
        blocks.append(Note(d.host_side_reason, NoteKind.caveat))
    if d.method:
        blocks.append(Note(d.method, NoteKind.info))
    return Section("bench.density", "Density", tuple(blocks))
