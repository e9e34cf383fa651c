"""The bench section on the serverless cycle (--function MS): cold, warm, paused, and a VM booted per call."""

from __future__ import annotations

from virtprobe.benchmark.result import BenchResult
from virtprobe.report.metrics import (
    BILLING_RULE,
    BILLING_SOURCE,
    function_clock_note,
    function_row_label,
    function_rows,
)
from virtprobe.report.page import Cell, Citation, Column, ColumnKind, Note, NoteKind, Section, Table, Tone
from virtprobe.report.sections.startup import MS

BILLING = Citation("aws-lambda-billing-2020", BILLING_SOURCE)


def function_section(result: BenchResult) -> Section | None:
    fn = result.function
    if fn is None:
        return None
    columns = (
        Column("how it is served", ColumnKind.label),
        Column("wall", ColumnKind.seconds, display=MS),
        Column("function's own work", ColumnKind.seconds, display=MS),
        Column("share of wall", ColumnKind.percent),
        Column("billed at 1 ms", ColumnKind.number, unit="ms"),
        Column("billed at 100 ms", ColumnKind.number, unit="ms"),
        Column("n", ColumnKind.integer),
    )
    rows = []
    notes: dict[str, list[str]] = {}  # one note per distinct text, naming its rows when it is one
    for row in function_rows(result):
        label = function_row_label(row)
        tone = Tone.simulated if row.kind == "simulated" else Tone.plain
        if row.wall_s is None:
            rows.append((Cell(label, tone=tone), *(Cell(None) for _ in range(5)), Cell(0)))
            if row.note:
                notes.setdefault(f"not measured: {row.note}", []).append(label)
            continue
        rows.append((Cell(label, tone=tone), Cell(row.wall_s, tone=Tone.strong), Cell(row.work_s), Cell(row.share),
                     Cell(row.billed_1ms), Cell(row.billed_100ms), Cell(row.n)))  # fmt: skip
        if row.note:
            notes.setdefault(row.note, []).append(label)
    runtime = f", runtime {fn.runtime}" if fn.runtime else ""
    table = Table("bench.function", columns, tuple(rows), title="times in ms")
    blocks: list[Table | Note] = [table]
    for text, labels in notes.items():
        kind = NoteKind.warning if text.startswith("not measured") else NoteKind.info
        blocks.append(Note(f"{labels[0]}: {text}" if len(labels) == 1 else text[:1].upper() + text[1:], kind))
    blocks.append(Note(f"Billing: {BILLING_RULE}", cites=(BILLING.key,)))
    clock = function_clock_note(result)
    if clock:
        blocks.append(Note(clock, NoteKind.caveat))
    title = f"The serverless cycle: a function of {fn.function_ms} ms of CPU{runtime}"
    return Section("bench.function", title, tuple(blocks), (BILLING,))
