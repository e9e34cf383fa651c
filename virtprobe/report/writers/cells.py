"""What every writer for people shares: a figure as text by its column's kind, and text made printable.

One table of number formats (seconds in ms or s, bytes in KiB/MiB/GiB, ratios as
1.23×) keeps the terminal, Markdown, HTML and SVG showing the same figure the same
way. `printable` removes what no output should carry from report strings: C0 and C1
control characters (ESC starts terminal escape sequences, CR overwrites a line),
Unicode bidirectional overrides (they reorder what a reader sees), and lone
surrogates (JSON can hold them, UTF-8 cannot). Each writer then escapes the rest
for its own format, once.
"""

from __future__ import annotations

import math
import re

from virtprobe.lean_typing import assert_never
from virtprobe.report.page import Cell, Column, ColumnKind

DASH = "–"  # the one sign for "no value", in every format
MIB = 1024 * 1024
GIB = 1024 * MIB

# C0 except newline, DEL, C1; the bidi embeddings, overrides and isolates (U+202A-E, U+2066-9);
# lone surrogates.
_UNPRINTABLE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text: str, newlines: bool = True) -> str:
    """text without control characters; with newlines=False, every line break becomes a space."""
    text = _UNPRINTABLE.sub("", text.replace("\t", " ").replace("\r\n", "\n").replace("\r", "\n"))
    return text if newlines else " ".join(text.split("\n"))


def defused(text: str) -> str:
    """text that cannot become a GitHub workflow command wherever a CI log line breaks it.

    The runner acts on a line that starts, after spaces, with "::" (`::error::`,
    `::add-mask::`), and on "##[" anywhere in a line (the older syntax). Table cells wrap
    and CSV rows begin with any cell, so every "::" and "##[" gets a zero-width space
    between its characters: it reads the same, and no runner parses it. Writers with an
    escape of their own (Markdown's backslash, HTML's character reference) use that instead.
    """
    return text.replace("::", ":\u200b:").replace("##[", "#\u200b#[")


def _sig(x: float) -> str:
    """Three significant digits below 10, one decimal above: 0.710, 5.32, 139.8, 1740.2."""
    if x != 0 and abs(x) < 0.001:
        return f"{x:.2e}"
    return f"{x:#.3g}" if abs(x) < 10 else f"{x:.1f}"


def seconds(value: float, display: str | None = None) -> str:
    if display == "s":
        return _sig(value)
    if display == "ms":
        return _sig(value * 1e3)
    if display == "µs":
        return _sig(value * 1e6)
    if abs(value) < 0.001 and value != 0:
        return f"{value * 1e6:.3g} µs"
    if abs(value) < 1:
        return f"{value * 1000:.3g} ms" if abs(value) < 0.01 else f"{value * 1000:.1f} ms"
    return f"{value:.3f} s"


def size(value: float, display: str | None = None) -> str:
    if display == "KiB":
        return f"{value / 1024:.0f}"
    if display == "MiB":
        return f"{value / MIB:.2f}"
    if display == "GiB":
        return f"{value / GIB:.2f}"
    if abs(value) >= GIB:
        return f"{value / GIB:.2f} GiB"
    if abs(value) >= MIB:
        return f"{value / MIB:.1f} MiB"
    return f"{value / 1024:.0f} KiB"


def ratio(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:.0f}×"
    return f"{value:.1f}×" if abs(value) >= 10 else f"{value:.2f}×"


def percent(value: float) -> str:
    """A fraction as a percentage: 0.123 -> 12.3%, 0.31 -> 31%."""
    pct = value * 100
    return f"{pct:.0f}%" if abs(pct) >= 10 else f"{pct:.1f}%"


def _number(value: float | int, unit: str | None) -> str:
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{text} {unit}" if unit else text


def figure(value: float | int, kind: ColumnKind, unit: str | None = None, display: str | None = None) -> str:
    """A number as people read it in a column of this kind."""
    match kind:
        case ColumnKind.seconds:
            return seconds(value, display)
        case ColumnKind.bytes:
            return size(value, display)
        case ColumnKind.ratio:
            return ratio(value)
        case ColumnKind.percent:
            return percent(value)
        case ColumnKind.rate:
            return f"{value:.2f}/s"
        case ColumnKind.integer:
            return str(int(value))
        case ColumnKind.number:
            return _number(value, unit)
        case ColumnKind.text | ColumnKind.label | ColumnKind.status:
            return _number(value, None)
        case _:
            assert_never(kind)


def cell_text(cell: Cell, column: Column) -> str:
    """The text of a cell: its own text, else its value formatted by the column's kind."""
    if cell.text is not None:
        return cell.text
    return value_text(cell.value, column)


def value_text(value: object, column: Column | None = None) -> str:
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        if column is None:
            return _number(value, None)
        return figure(value, column.kind, column.unit, column.display)
    return str(value)
