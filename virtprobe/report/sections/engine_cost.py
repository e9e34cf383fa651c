"""Builder of the `--engine-cost` section: the engine's own CPU per container, by process, and its PSS."""

from __future__ import annotations

from virtprobe import stats
from virtprobe.benchmark.result import BenchResult
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
from virtprobe.report.sections.common import MUTED


def engine_cost_section(result: BenchResult) -> Section | None:
    cost = result.engine_cost
    if cost is None:
        return None
    title = "The engine's own cost per container"
    if not cost.available:
        return Section("bench.engine_cost", title, (Note(f"not measured: {cost.reason}", NoteKind.warning),))
    columns = (
        Column("process", ColumnKind.label, metric="process"),
        Column("CPU per container, median", ColumnKind.seconds, metric="engine_cpu_median"),
        Column("p99", ColumnKind.seconds, metric="engine_cpu_p99"),
        Column("share", ColumnKind.percent, metric="engine_cpu_share"),
    )
    by = cost.cpu_s_by_process or {}
    total = sum(sum(v) for v in by.values())
    rows = []
    for name in sorted(by, key=lambda k: -sum(by[k])):
        s = stats.summarize(by[name])
        share = sum(by[name]) / total if total > 0 else None
        rows.append((Cell(name), Cell(s.median), Cell(s.p99), Cell(share) if share is not None else MUTED))
    all_s = stats.summarize(cost.cpu_s)
    rows.append((Cell("all engine processes", tone=Tone.strong), Cell(all_s.median, tone=Tone.strong),
                 Cell(all_s.p99), Cell(1.0 if total > 0 else None)))  # fmt: skip
    pss = stats.summarize(cost.process_pss_bytes)
    pss_columns = (Column("per-container process", ColumnKind.label, metric="process"),
                   Column("PSS median", ColumnKind.bytes, metric="engine_process_pss"),
                   Column("n", ColumnKind.integer))  # fmt: skip
    pss_row = (Cell(cost.process_name or "unknown"), Cell(pss.median) if pss.median is not None else MUTED, Cell(pss.n))
    names = tuple(sorted(by))
    chart = Chart("bench.engine_cost.chart", ChartKind.bar, "Engine CPU per container, by process (median)", "s",
                  (Series("CPU", tuple(stats.summarize(by[n]).median for n in names)),), categories=names)  # fmt: skip
    blocks = (
        Table("bench.engine_cost", columns, tuple(rows), title="CPU time (user + system) per container lifecycle"),
        Table("bench.engine_cost.pss", pss_columns, (pss_row,), title="Memory of the per-container process"),
        chart,
        *(Note(n, NoteKind.caveat) for n in cost.notes),
        *((Note(cost.method, NoteKind.info),) if cost.method else ()),
    )
    return Section("bench.engine_cost", title, blocks)
