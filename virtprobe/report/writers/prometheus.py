"""The Prometheus writer: OpenMetrics text for node_exporter's textfile collector.

What a builder marks machine-readable becomes a sample: a table column with a
`metric` (numeric kinds a gauge in base units, `label` and `status` kinds a label
of the row's samples), a table's `metric` (an info-style sample of value 1 per row),
and named `Facts` items (strings labels of the info sample, bools and numbers
gauges). Unknown values are left out, never written as 0. Everything else (notes,
charts, text columns) is for people and is not written.

The output is the OpenMetrics text format (`# EOF` at the end, `# UNIT` for seconds
and bytes) restricted to what Prometheus's classic text parser also reads, because
node_exporter's textfile collector reads files with that parser: an info figure is
a gauge named `..._info` (the classic parser refuses `# TYPE ... info`), and no
sample has a timestamp (the textfile collector refuses them). Label values are
escaped as the format says (backslash, double quote, newline); families are grouped
and a series (name and labels) appears once, the first time it is met.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from virtprobe.lean_typing import assert_never
from virtprobe.report.page import NUMERIC_KINDS, Cell, Chart, Column, ColumnKind, Facts, Note, Page, Table
from virtprobe.report.writers.cells import printable

PREFIX = "virtprobe_"
_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

Labels = tuple[tuple[str, str], ...]


def suffix(kind: ColumnKind) -> tuple[str, str | None]:
    """(name suffix, OpenMetrics unit) of a figure of this kind; values are in base units."""
    match kind:
        case ColumnKind.seconds:
            return "_seconds", "seconds"
        case ColumnKind.bytes:
            return "_bytes", "bytes"
        case ColumnKind.ratio | ColumnKind.percent:  # a percent column holds a fraction
            return "_ratio", None
        case ColumnKind.rate:
            return "_per_second", None
        case ColumnKind.integer | ColumnKind.number:
            return "", None
        case ColumnKind.text | ColumnKind.label | ColumnKind.status:
            return "", None
        case _:
            assert_never(kind)


def label_value(value: str) -> str:
    """A label value escaped as the exposition format requires; printable, and with no "##[" (the
    older GitHub workflow syntax acts on it anywhere in a CI log line; "::" only starts one)."""
    value = printable(value).replace("##[", "#\u200b#[")
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _help(text: str) -> str:
    # Quotes are escaped differently by the two formats (OpenMetrics: \", classic: kept): avoid them.
    return printable(text, newlines=False).replace("\\", "\\\\").replace('"', "'")


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _checked(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"not a Prometheus name: {name!r}")
    return name


@dataclass(frozen=True)
class Family:
    """One metric family; its samples fill in as the pages are read (the dict, not the field, changes)."""

    name: str
    help: str
    unit: str | None
    samples: dict[Labels, float] = field(default_factory=dict)


class _Families:
    def __init__(self) -> None:
        self.by_name: dict[str, Family] = {}

    def add(self, name: str, help_text: str, unit: str | None, labels: Labels, value: float) -> None:
        fam = self.by_name.setdefault(name, Family(_checked(name), help_text, unit))
        fam.samples.setdefault(labels, value)


def _labels(pairs: Iterable[tuple[str, object]]) -> Labels:
    """Label pairs without unknown values; a name given twice keeps its first value."""
    out: dict[str, str] = {}
    for k, v in pairs:
        if v is not None:
            out.setdefault(_checked(k), str(v))
    return tuple(out.items())


def _table(table: Table, what: str, out: _Families) -> None:
    named = [(i, c) for i, c in enumerate(table.columns) if c.metric]
    label_cols = [(i, c) for i, c in named if c.kind in (ColumnKind.label, ColumnKind.status)]
    figures = [(i, c) for i, c in named if c.kind in NUMERIC_KINDS]
    for row in table.rows:
        labels = _labels([*table.labels, *((c.metric or "", _label_of(row[i])) for i, c in label_cols)])
        if table.metric:
            out.add(PREFIX + table.metric + "_info", what, None, labels, 1.0)
        for i, col in figures:
            _figure(col, row[i], labels, what, out)


def _label_of(cell: Cell) -> str | None:
    return None if cell.value is None else str(cell.value)


def _figure(col: Column, cell: Cell, labels: Labels, what: str, out: _Families) -> None:
    value = _number(cell.value)
    if value is None:
        return
    end, unit = suffix(col.kind)
    name = PREFIX + (col.metric or "") + end
    out.add(name, f"{what}: {col.title}", unit, labels, value)


def _facts(facts: Facts, what: str, out: _Families) -> None:
    if not facts.names:
        return
    info: list[tuple[str, object]] = []
    for (title, cell), name in zip(facts.items, facts.names, strict=True):
        if name is None or cell.value is None:
            continue
        value = _number(cell.value)
        if value is None:
            info.append((name, cell.value))
        else:
            out.add(PREFIX + name, f"{what}: {title}", None, (), value)
    if facts.metric:
        out.add(PREFIX + facts.metric + "_info", what, None, _labels(info), 1.0)


def block(item: Facts | Table | Note | Chart, what: str, out: _Families) -> None:
    """Add the item's samples; `what` (its section) begins the HELP text of their families."""
    match item:
        case Facts():
            _facts(item, what, out)
        case Table():
            _table(item, what, out)
        case Note() | Chart():
            pass  # for people: nothing machine-readable
        case _:
            assert_never(item)


def _sample(name: str, labels: Labels, value: float) -> str:
    body = ",".join(f'{k}="{label_value(v)}"' for k, v in labels)
    text = str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    return f"{name}{{{body}}} {text}" if labels else f"{name} {text}"


def write(pages: Sequence[Page]) -> str:
    families = _Families()
    for page in pages:
        for section in page.sections:
            for item in section.blocks:
                # HELP from the section's key, not its title: a title may hold data ("8 starts at
                # a time"), and node_exporter refuses one metric with two HELP texts across files.
                block(item, f"virtprobe {section.key}", families)
    lines = []
    for fam in families.by_name.values():
        lines.append(f"# HELP {fam.name} {_help(fam.help)}")
        lines.append(f"# TYPE {fam.name} gauge")
        if fam.unit:
            lines.append(f"# UNIT {fam.name} {fam.unit}")
        lines += [_sample(fam.name, labels, value) for labels, value in fam.samples.items()]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"
