"""The bench section on where the engine's time goes (--floor): the same probe started without it, cheapest first."""

from __future__ import annotations

from virtprobe.benchmark.result import BenchResult
from virtprobe.report.metrics import floor_rows
from virtprobe.report.page import Cell, Column, ColumnKind, Note, Section, Table, Tone
from virtprobe.report.sections.startup import MS, table_labels


def floor_section(result: BenchResult) -> Section | None:
    container = result.container
    ladder = floor_rows(container)
    if container is None or not ladder:
        return None
    columns = (
        Column("what starts the probe", ColumnKind.label, metric="what"),
        Column("median", ColumnKind.seconds, display=MS, metric="bench_floor_median"),
        Column("n", ColumnKind.integer, metric="bench_floor_samples"),
    )
    rows = tuple(
        (Cell(label), Cell(median) if n else Cell(None, "not measured", Tone.muted), Cell(n))
        for label, median, n in ladder
    )
    table = Table("bench.floor", columns, rows, title="medians in ms", labels=table_labels(result, container))
    notes = [Note(n) for n in (container.floor.notes if container.floor is not None else ())]
    return Section("bench.floor", "Where the engine's time goes", (table, *notes))
