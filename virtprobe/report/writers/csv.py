"""The CSV writer: one CSV block per table (and per list of facts), for spreadsheets and scripts.

A block is a line naming the table (`# bench.phases.runc`), a header row, the rows, and
a blank line. Figures are written in base units (seconds, bytes, fractions) with
the unit in the header, so nothing is lost to display rounding; a cell with no
figure but a text ("own clock", "refused: ...") carries the text. Text that a
spreadsheet would run as a formula (a leading `=`, `+`, `-`, `@`, tab or CR) gets
a leading `'` (OWASP's advice on CSV injection). Notes and charts are for people
reading the other formats and are not written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from virtprobe.lean_typing import TYPE_CHECKING, assert_never
from virtprobe.report.page import Cell, Chart, Column, ColumnKind, Facts, Note, Page, Table
from virtprobe.report.writers.cells import defused, printable

if TYPE_CHECKING:
    from _csv import Writer


def unit_of(kind: ColumnKind) -> str:
    match kind:
        case ColumnKind.seconds:
            return " (s)"
        case ColumnKind.bytes:
            return " (bytes)"
        case ColumnKind.percent:
            return " (fraction)"
        case ColumnKind.ratio:
            return " (×)"
        case ColumnKind.rate:
            return " (1/s)"
        case ColumnKind.number | ColumnKind.integer | ColumnKind.text | ColumnKind.label | ColumnKind.status:
            return ""
        case _:
            assert_never(kind)


def text(value: str) -> str:
    """A text cell that no spreadsheet runs as a formula, and no CI runner as a workflow command."""
    value = defused(printable(value, newlines=False))
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value


def _value(cell: Cell) -> str:
    v = cell.value
    if v is None:
        return text(cell.text) if cell.text is not None else ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v) if isinstance(v, float) else str(v)
    return text(v)


def _header(col: Column) -> str:
    return (
        text(col.title) + (f" [{col.unit}]" if col.unit and col.kind is ColumnKind.number else "") + unit_of(col.kind)
    )


def block(item: Facts | Table | Note | Chart, out: Writer) -> bool:
    """Write the item's block; False when it has no CSV form."""
    match item:
        case Table():
            out.writerow([text(f"# {item.key}")])  # not the title: it may name a display unit ("in ms")
            out.writerow([_header(c) for c in item.columns])
            out.writerows([_value(c) for c in row] for row in item.rows)
            return True
        case Facts():
            out.writerow([text(f"# {item.key}")])
            out.writerow(["name", "value"])
            out.writerows([text(name), _value(cell)] for name, cell in item.items)
            return True
        case Note() | Chart():
            return False
        case _:
            assert_never(item)


def write(pages: Sequence[Page]) -> str:
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    for page in pages:
        for section in page.sections:
            for item in section.blocks:
                if block(item, out):
                    out.writerow([])
    return buf.getvalue()
