"""The terminal writer: pages as Rich renderables, and as plain text of a given width.

Every string from a report becomes a `rich.text.Text` after `cells.printable` and
`cells.defused`: Rich never parses it as markup (`[/]`, `[link=...]` stay text), no
control character or escape sequence reaches the terminal, and no line of it, wrapped
anywhere, is a GitHub workflow command in a CI log. Tones become styles, never words. Charts
have no terminal form: the tables beside them hold the same figures.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import assert_never

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table as RichTable
from rich.text import Text

from virtprobe.report.page import (
    NUMERIC_KINDS,
    Cell,
    Chart,
    Column,
    ColumnKind,
    Facts,
    Note,
    NoteKind,
    Page,
    Section,
    Table,
    Tone,
)
from virtprobe.report.writers.cells import cell_text, defused, printable, value_text


def tone_style(tone: Tone) -> str:
    match tone:
        case Tone.plain:
            return ""
        case Tone.strong:
            return "bold"
        case Tone.good:
            return "green"
        case Tone.bad:
            return "bold red"
        case Tone.warn:
            return "yellow"
        case Tone.muted:
            return "dim"
        case Tone.simulated:
            return "italic magenta"
        case _:
            assert_never(tone)


def note_style(kind: NoteKind) -> str:
    match kind:
        case NoteKind.info:
            return ""
        case NoteKind.verdict:
            return "bold"
        case NoteKind.warning:
            return "yellow"
        case NoteKind.caveat:
            return "yellow"
        case NoteKind.simulated:
            return "italic magenta"
        case _:
            assert_never(kind)


def _justify(kind: ColumnKind) -> str:
    match kind:
        case ColumnKind.text | ColumnKind.label | ColumnKind.status:
            return "left"
        case (
            ColumnKind.number
            | ColumnKind.seconds
            | ColumnKind.bytes
            | ColumnKind.ratio
            | ColumnKind.percent
            | ColumnKind.rate
            | ColumnKind.integer
        ):
            return "right"
        case _:
            assert_never(kind)


def text(value: str, style: str = "") -> Text:
    """The one way report text enters Rich: printable, never markup, never a CI workflow command."""
    return Text(defused(printable(value)), style=style)


class _Refs:
    """Citation markers: " [2]" after a block that cites the page's second source."""

    def __init__(self, page: Page) -> None:
        self.numbers = {c.key: i + 1 for i, c in enumerate(page.citations)}

    def marks(self, keys: Sequence[str]) -> str:
        return "".join(f" [{self.numbers[k]}]" for k in keys)


def _cell(cell: Cell, column: Column) -> Text:
    return text(cell_text(cell, column), tone_style(cell.tone))


def _longest_word(value: str) -> int:
    return max((len(w) for w in value.split()), default=0)


def _longest_line(value: str) -> int:
    return max((len(line) for line in value.split("\n")), default=0)


def column_widths(table: Table, width: int) -> list[int] | None:
    """Widths that fit `width` without cutting a figure or a word (None: no such widths).

    Figures keep their full width. Labels get at least their longest word (up to 20),
    text at least 12 characters or its longest word up to 16 (a longer one, a path or
    a hash, may fold); the room left goes first to whole words that still fold, the
    cheapest first, then to the columns furthest from their natural width. Each column
    costs 2 more characters.
    """
    desired, least, whole = [], [], []
    for j, col in enumerate(table.columns):
        title = printable(col.title)
        cells = [printable(cell_text(row[j], col)) for row in table.rows]
        longest = max([_longest_line(c) for c in cells] + [1])
        words = max([_longest_word(title), *(_longest_word(c) for c in cells)])
        if col.kind in NUMERIC_KINDS:
            # A figure stays whole; a sentence in its place ("not measurable: ...") may wrap.
            figures = [len(c) for c, row in zip(cells, table.rows, strict=True) if row[j].value is not None]
            texts = [min(_longest_word(c), 16) for c, row in zip(cells, table.rows, strict=True)
                     if row[j].value is None]  # fmt: skip
            desired.append(max(longest, len(title)))
            least.append(max([*figures, *texts, _longest_word(title), 1]))
        else:
            # Text gets at least 12 columns; a word beyond 16 (a path, a hash) may fold.
            # A label keeps its words whole up to 20 characters.
            floor, cap = (12, 16) if col.kind is ColumnKind.text else (1, 20)
            desired.append(max(longest, len(title)))
            least.append(min(desired[-1], max(floor, min(cap, words))))
        whole.append(min(desired[-1], max(least[-1], words)))
    room = width - 2 * len(table.columns)
    if sum(least) > room:
        return None
    if sum(desired) <= room:
        return desired
    widths = list(least)
    spare = room - sum(widths)
    for j in sorted(range(len(widths)), key=lambda k: (whole[k] - widths[k], k)):
        need = whole[j] - widths[j]
        if 0 < need <= spare:
            widths[j], spare = whole[j], spare - need
    while spare > 0:
        j = max(range(len(widths)), key=lambda k: (desired[k] - widths[k], -k))
        if desired[j] <= widths[j]:
            break
        widths[j], spare = widths[j] + 1, spare - 1
    return widths


class _Fitted:
    """A table laid out for the width it is printed at, or each row as a short list where no layout fits.

    Rich left alone squeezes a table that is too wide until a column shows three letters
    of a runtime's name; here columns keep their figures and words whole, and a table that
    cannot fits becomes "column: value" lines per row, readable at any width.
    """

    def __init__(self, table: Table, refs: _Refs) -> None:
        self.table, self.refs = table, refs

    def _pick(self, options: ConsoleOptions) -> RenderableType:
        widths = column_widths(self.table, options.max_width)
        if widths is None:
            return _stacked(self.table, self.refs)
        return _grid(self.table, self.refs, widths)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self._pick(options)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement.get(console, options, self._pick(options))


def _title(table: Table, refs: _Refs) -> Text | None:
    if table.title or table.cites:
        return text((table.title or "") + refs.marks(table.cites), "bold")
    return None


def _grid(table: Table, refs: _Refs, widths: list[int]) -> RichTable:
    out = RichTable(
        title=_title(table, refs),
        title_justify="left",
        caption=text(table.caption) if table.caption else None,
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for col, width in zip(table.columns, widths, strict=True):
        out.add_column(text(col.title), justify=_justify(col.kind), width=width, overflow="fold")  # type: ignore[arg-type]
    for row in table.rows:
        out.add_row(*(_cell(c, col) for c, col in zip(row, table.columns, strict=True)))
    return out


def _stacked(table: Table, refs: _Refs) -> RenderableType:
    """Each row as its first cell, then "column: value" for the others (empty values left out)."""
    parts: list[RenderableType] = []
    title = _title(table, refs)
    if title is not None:
        parts.append(title)
    for row in table.rows:
        head, *rest = zip(row, table.columns, strict=True)
        first = _cell(*head)
        first.stylize("bold")
        parts.append(first)
        for c, col in rest:
            if c.value is None and c.text is None:
                continue
            line = Text("  ")
            line.append_text(text(col.title + ": "))
            line.append_text(_cell(c, col))
            parts.append(line)
    if table.caption:
        parts.append(text(table.caption))
    return Group(*parts)


def _table(table: Table, refs: _Refs) -> RenderableType:
    if not table.columns:
        return Group()
    return _Fitted(table, refs)


def _facts(facts: Facts) -> RenderableType:
    grid = RichTable.grid(padding=(0, 2))
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column(overflow="fold")
    for name, cell in facts.items:
        grid.add_row(text(name), text(cell.text if cell.text is not None else value_text(cell.value),
                                      tone_style(cell.tone)))  # fmt: skip
    if facts.title:
        return Group(text(facts.title, "bold"), grid)
    return grid


def _note(note: Note, refs: _Refs) -> RenderableType:
    return text(note.text + refs.marks(note.cites), note_style(note.kind))


def block(item: Facts | Table | Note | Chart, refs: _Refs) -> RenderableType | None:
    match item:
        case Facts():
            return _facts(item)
        case Table():
            return _table(item, refs)
        case Note():
            return _note(item, refs)
        case Chart():
            return None  # drawn by the HTML writer; its figures are in the section's tables
        case _:
            assert_never(item)


def _section(section: Section, refs: _Refs) -> list[RenderableType]:
    parts: list[RenderableType] = [text(section.title, "bold underline")]
    parts += [r for b in section.blocks if (r := block(b, refs)) is not None]
    return parts


def page_renderables(page: Page) -> list[RenderableType]:
    refs = _Refs(page)
    parts: list[RenderableType] = [text(page.title, "bold")]
    if page.headline:
        parts.append(text(page.headline, tone_style(page.headline_tone)))
    for section in page.sections:
        parts.append(Text(""))
        parts += _section(section, refs)
    if page.citations:
        parts += [Text(""), Text("Sources", style="bold")]
        for i, c in enumerate(page.citations, 1):
            parts.append(text(f"[{i}] {c.text}" + (f" {c.url}" if c.url and c.url not in c.text else "")))
    if page.footer:
        parts += [Text(""), text(page.footer, "dim")]
    return parts


def renderables(pages: Sequence[Page]) -> list[RenderableType]:
    """What the CLI prints: each page, a blank line between pages."""
    out: list[RenderableType] = []
    for i, page in enumerate(pages):
        if i:
            out.append(Text(""))
        out += page_renderables(page)
    return out


def renderable(pages: Sequence[Page]) -> RenderableType:
    """The pages as one renderable, for `console.print`."""
    return Group(*renderables(pages))


def write(pages: Sequence[Page], width: int = 100) -> str:
    """Plain text (no colour, no escape sequences) at a fixed width: files and golden tests."""
    buf = io.StringIO()
    console = Console(
        file=buf, width=width, color_system=None, force_terminal=False, legacy_windows=False, soft_wrap=False
    )
    for r in renderables(pages):
        console.print(r)
    return buf.getvalue()
