"""Builder of the `--parallel 1,2,4,...` section: throughput and p99 per concurrency level, the scaling curve."""

from __future__ import annotations

from virtprobe import stats
from virtprobe.benchmark.result import BenchResult, measured_values
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
)
from virtprobe.report.sections.common import value_cell


def scaling_section(result: BenchResult) -> Section | None:
    sc = result.scaling
    if sc is None or not sc.levels:
        return None
    columns = (
        Column("at a time", ColumnKind.integer, metric="parallel"),
        Column("cycles", ColumnKind.integer, metric="scaling_cycles"),
        Column("throughput", ColumnKind.rate, metric="scaling_containers_per_second"),
        Column("speed-up", ColumnKind.ratio, metric="scaling_speedup"),
        Column("cycle p50", ColumnKind.seconds, metric="scaling_cycle_p50"),
        Column("cycle p99", ColumnKind.seconds, metric="scaling_cycle_p99"),
        Column("start p99", ColumnKind.seconds, metric="scaling_start_p99"),
    )
    first = sc.levels[0].containers_per_s
    rows = []
    for lv in sc.levels:
        rate = lv.containers_per_s
        cycle = stats.summarize(measured_values(lv.samples, "cycle_s"))
        start = stats.summarize(measured_values(lv.samples, "start_s"))
        speedup = rate / first if rate is not None and first else None
        figures = (rate, speedup, cycle.median, cycle.p99, start.p99)
        rows.append((Cell(lv.parallel), Cell(len(lv.samples)), *(value_cell(v) for v in figures)))
    x = tuple(float(lv.parallel) for lv in sc.levels)
    charts = (
        Chart("bench.scaling.throughput", ChartKind.line, "Throughput against concurrency", "1/s",
              (Series("containers/s", tuple(lv.containers_per_s for lv in sc.levels)),), x=x,
              x_title="containers started at a time"),
        Chart("bench.scaling.p99", ChartKind.line, "Cycle p50 and p99 against concurrency", "s",
              (Series("cycle p50", tuple(stats.summarize(measured_values(lv.samples, "cycle_s")).median
                                         for lv in sc.levels)),
               Series("cycle p99", tuple(stats.summarize(measured_values(lv.samples, "cycle_s")).p99
                                         for lv in sc.levels))),
              x=x, x_title="containers started at a time"),
    )  # fmt: skip
    note = Note(
        "Each level runs max(runs, 2 × level) full cycles (create, start, wait, remove) on that many threads; "
        "throughput is cycles / wall time of the level; speed-up is against the first level.",
        NoteKind.info,
    )
    table = Table("bench.scaling", columns, tuple(rows), title="Scaling with concurrency")
    return Section("bench.scaling", "Concurrency", (table, *charts, note))
