"""The terminal writer: pages as text of a given width, with ANSI styles only when asked for.

A small layout engine in the standard library, not Rich: `detect` and `detect --check`
print through this writer, and importing Rich's console, table and text costs about
26 ms, 60% of virt-what's whole run, where those commands must start within 1.5x of it
(issue 17; benchmarks/detect_speed.py). What Rich did here is kept: tables fitted to the
width with figures and words whole (or "column: value" lines where no table fits),
display widths of wide and combining characters, wrapping at word boundaries.

Every string from a report passes `cells.printable` and `cells.defused` before it is laid
out: no control character or escape sequence reaches the terminal, there is no markup
language to inject into, and no line, wrapped anywhere, is a GitHub workflow command in a
CI log. Tones become SGR styles, never words, and only when colour is on. Charts have no
terminal form: the tables beside them hold the same figures.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from virtprobe.lean_typing import assert_never
from virtprobe.report.page import (
    NUMERIC_KINDS,
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

RULE = "─"  # under a table's header: the one box line this writer draws
GAP = "  "  # between table columns, and between a fact's name and its value
BOLD, UNDERLINE = "1", "4"


def tone_style(tone: Tone) -> str:
    """A tone's SGR parameters ("" for none)."""
    match tone:
        case Tone.plain:
            return ""
        case Tone.strong:
            return BOLD
        case Tone.good:
            return "32"  # green
        case Tone.bad:
            return "1;31"  # bold red
        case Tone.warn:
            return "33"  # yellow
        case Tone.muted:
            return "2"  # dim
        case Tone.simulated:
            return "3;35"  # italic magenta
        case _:
            assert_never(tone)


def note_style(kind: NoteKind) -> str:
    match kind:
        case NoteKind.info:
            return ""
        case NoteKind.verdict:
            return BOLD
        case NoteKind.warning | NoteKind.caveat:
            return "33"
        case NoteKind.simulated:
            return "3;35"
        case _:
            assert_never(kind)


# --- display width and wrapping ------------------------------------------------------------


def char_width(ch: str) -> int:
    """Columns a character takes on a terminal: 0 for combining and format characters, 2 for wide ones."""
    if ch < "\u0300":
        return 1
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0  # combining marks, and the zero-width space `defused` puts between "::"
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def cells(text: str) -> int:
    """The display width of one line of text."""
    if text.isascii():
        return len(text)
    return sum(char_width(ch) for ch in text)


def _fold(word: str, width: int) -> list[str]:
    """A word longer than `width` cut into pieces of at most `width` columns (at least one character each)."""
    pieces, piece, used = [], "", 0
    for ch in word:
        w = char_width(ch)
        if piece and used + w > width:
            pieces.append(piece)
            piece, used = "", 0
        piece, used = piece + ch, used + w
    return [*pieces, piece] if piece else pieces


def wrap(text: str, width: int) -> list[str]:
    """Lines of at most `width` columns, broken at spaces; a word wider than a line folds."""
    width = max(width, 1)
    out: list[str] = []
    for para in text.split("\n"):
        if cells(para) <= width:
            out.append(para.rstrip(" "))
            continue
        line, used = "", 0
        for word in para.split(" "):
            w = cells(word)
            if line and used + 1 + w <= width:
                line, used = f"{line} {word}", used + 1 + w
                continue
            if line or used:
                out.append(line.rstrip(" "))
                line, used = "", 0
                if not word:
                    continue  # the spaces at a break are dropped
            if w > width:
                *full, word = _fold(word, width)
                out += full
                w = cells(word)
            line, used = word, w
        out.append(line.rstrip(" "))
    return out


# --- lines of styled segments ----------------------------------------------------------------

Segment = tuple[str, str]  # (text, SGR parameters)
Line = list[Segment]


def clean(value: str) -> str:
    """The one way report text enters a line: printable, never a CI workflow command."""
    return defused(printable(value))


def _styled(value: str, style: str, width: int) -> list[Line]:
    return [[(line, style)] for line in wrap(clean(value), width)]


def _pad(text: str, width: int, right: bool) -> tuple[str, str]:
    """(before, after): the spaces that fill `text` out to `width`."""
    fill = " " * max(width - cells(text), 0)
    return (fill, "") if right else ("", fill)


class _Refs:
    """Citation markers: " [2]" after a block that cites the page's second source."""

    def __init__(self, page: Page) -> None:
        self.numbers = {c.key: i + 1 for i, c in enumerate(page.citations)}

    def marks(self, keys: Sequence[str]) -> str:
        return "".join(f" [{self.numbers[k]}]" for k in keys)


# --- tables ------------------------------------------------------------------------------------


def _longest_word(value: str) -> int:
    return max((cells(w) for w in value.split()), default=0)


def _longest_line(value: str) -> int:
    return max((cells(line) for line in value.split("\n")), default=0)


def column_widths(table: Table, width: int) -> list[int] | None:
    """Widths that fit `width` without cutting a figure or a word (None: no such widths).

    Figures keep their full width. Labels get at least their longest word (up to 20),
    text at least 12 characters or its longest word up to 16 (a longer one, a path or
    a hash, may fold); the room left goes first to whole words that still fold, the
    cheapest first, then to the text columns furthest from their natural width in proportion
    to it, then to figures' headers. Columns stand 2 characters apart.
    """
    desired, least, whole = [], [], []
    for j, col in enumerate(table.columns):
        title = clean(col.title)
        texts = [clean(cell_text(row[j], col)) for row in table.rows]
        longest = max([_longest_line(c) for c in texts] + [1])
        words = max([_longest_word(title), *(_longest_word(c) for c in texts)])
        if col.kind in NUMERIC_KINDS:
            # A figure stays whole; a sentence in its place ("not measurable: ...") may wrap.
            figures = [cells(c) for c, row in zip(texts, table.rows, strict=True) if row[j].value is not None]
            sentences = [min(_longest_word(c), 16) for c, row in zip(texts, table.rows, strict=True)
                         if row[j].value is None]  # fmt: skip
            desired.append(max(longest, _longest_line(title)))
            least.append(max([*figures, *sentences, _longest_word(title), 1]))
        else:
            # Text gets at least 12 columns; a word beyond 16 (a path, a hash) may fold.
            # A label keeps its words whole up to 20 characters.
            floor, cap = (12, 16) if col.kind is ColumnKind.text else (1, 20)
            desired.append(max(longest, _longest_line(title)))
            least.append(min(desired[-1], max(floor, min(cap, words))))
        whole.append(min(desired[-1], max(least[-1], words)))
    room = width - len(GAP) * (len(table.columns) - 1)
    if sum(least) > room:
        return None
    if sum(desired) <= room:
        return desired
    widths = list(least)
    words_first = [col.kind not in NUMERIC_KINDS for col in table.columns]
    spare = room - sum(widths)
    for j in sorted(range(len(widths)), key=lambda k: (whole[k] - widths[k], k)):
        need = whole[j] - widths[j]
        if 0 < need <= spare:
            widths[j], spare = whole[j], spare - need
    while spare > 0:
        # Words before figures' headers (a figure is already whole), then the column furthest from
        # its natural width in proportion to it: two long text columns share the room in the
        # ratio of their natural widths, so the shorter one is not left at its floor.
        j = max(
            range(len(widths)),
            key=lambda k: (words_first[k] and desired[k] > widths[k], (desired[k] - widths[k]) / desired[k], -k),
        )
        if desired[j] <= widths[j]:
            break
        widths[j], spare = widths[j] + 1, spare - 1
    return widths


def _right(col: Column) -> bool:
    """Numbers align on their last digit; words on their first letter."""
    return col.kind in NUMERIC_KINDS


def _row(texts: Sequence[tuple[str, str]], columns: Sequence[Column], widths: Sequence[int]) -> list[Line]:
    """One table row (each cell's text and style), each cell wrapped in its column, as lines."""
    wrapped = [wrap(t, w) for (t, _), w in zip(texts, widths, strict=True)]
    height = max(len(w) for w in wrapped)
    out: list[Line] = []
    for i in range(height):
        line: Line = []
        for j, (col, width) in enumerate(zip(columns, widths, strict=True)):
            part = wrapped[j][i] if i < len(wrapped[j]) else ""
            before, after = _pad(part, width, _right(col))
            line += [(GAP if j else "", ""), (before, ""), (part, texts[j][1]), (after, "")]
        out.append(line)
    return out


def _table_title(table: Table, refs: _Refs, width: int) -> list[Line]:
    if table.title or table.cites:
        return _styled((table.title or "") + refs.marks(table.cites), BOLD, width)
    return []


def _grid(table: Table, refs: _Refs, widths: list[int], width: int) -> list[Line]:
    out = _table_title(table, refs, width)
    out += _row([(clean(c.title), BOLD) for c in table.columns], table.columns, widths)
    out.append([(RULE * (sum(widths) + len(GAP) * (len(widths) - 1)), "")])
    for row in table.rows:
        texts = [(clean(cell_text(c, col)), tone_style(c.tone)) for c, col in zip(row, table.columns, strict=True)]
        out += _row(texts, table.columns, widths)
    if table.caption:
        out += _styled(table.caption, "", width)
    return out


def _stacked(table: Table, refs: _Refs, width: int) -> list[Line]:
    """Each row as its first cell, then "column: value" for the others (empty values left out)."""
    out = _table_title(table, refs, width)
    for row in table.rows:
        (first, col0), *rest = zip(row, table.columns, strict=True)
        out += _styled(cell_text(first, col0), BOLD, width)
        for c, col in rest:
            if c.value is None and c.text is None:
                continue
            # Cleaned as one string: a title ending ":" and its ": " must not make a "::".
            name = clean(col.title + ": ")
            value = clean(cell_text(c, col))
            lines = wrap(name + value, max(width - 2, 1))
            for i, line in enumerate(lines):
                if i == 0 and line.startswith(name):
                    out.append([("  ", ""), (name, ""), (line[len(name) :], tone_style(c.tone))])
                else:
                    out.append([("  ", ""), (line, tone_style(c.tone))])
    if table.caption:
        out += _styled(table.caption, "", width)
    return out


def _table(table: Table, refs: _Refs, width: int) -> list[Line]:
    if not table.columns:
        return []
    widths = column_widths(table, width)
    if widths is None:
        return _stacked(table, refs, width)
    return _grid(table, refs, widths, width)


# --- the other blocks ----------------------------------------------------------------------------


def _facts(facts: Facts, width: int) -> list[Line]:
    """Name and value side by side, the values aligned; a name too wide for that stands on its own line."""
    out = _styled(facts.title, BOLD, width) if facts.title else []
    items = [(clean(name), cell) for name, cell in facts.items]
    names = max((cells(n) for n, _ in items), default=0)
    room = width - names - len(GAP)
    side_by_side = room >= min(20, width // 3)
    for name, cell in items:
        value = clean(cell.text if cell.text is not None else value_text(cell.value))
        style = tone_style(cell.tone)
        if side_by_side:
            lines = wrap(value, room)
            out.append([(name, BOLD), (" " * (names - cells(name)) + GAP, ""), (lines[0], style)])
            out += [[(" " * (names + len(GAP)), ""), (line, style)] for line in lines[1:]]
        else:
            out += [[(line, BOLD)] for line in wrap(name, width)]
            out += [[(GAP, ""), (line, style)] for line in wrap(value, width - len(GAP))]
    return out


def block(item: Facts | Table | Note | Chart, refs: _Refs, width: int) -> list[Line]:
    match item:
        case Facts():
            return _facts(item, width)
        case Table():
            return _table(item, refs, width)
        case Note():
            return _styled(item.text + refs.marks(item.cites), note_style(item.kind), width)
        case Chart():
            return []  # drawn by the HTML writer; its figures are in the section's tables
        case _:
            assert_never(item)


def _section(section: Section, refs: _Refs, width: int) -> list[Line]:
    out = _styled(section.title, f"{BOLD};{UNDERLINE}", width)
    previous: Facts | Table | Note | Chart | None = None
    for b in section.blocks:
        lines = block(b, refs, width)
        if not lines:
            continue
        if previous is not None and (isinstance(b, Table) or isinstance(previous, Table)):
            out.append([])  # a table stands apart from the blocks around it
        out += lines
        previous = b
    return out


def page_lines(page: Page, width: int) -> list[Line]:
    refs = _Refs(page)
    out = _styled(page.title, BOLD, width)
    if page.headline:
        out += _styled(page.headline, tone_style(page.headline_tone), width)
    for section in page.sections:
        out.append([])
        out += _section(section, refs, width)
    if page.citations:
        out += [[], [("Sources", BOLD)]]
        for i, c in enumerate(page.citations, 1):
            out += _styled(f"[{i}] {c.text}" + (f" {c.url}" if c.url and c.url not in c.text else ""), "", width)
    if page.footer:
        out += [[], *_styled(page.footer, "2", width)]
    return out


def _text(line: Line, colour: bool) -> str:
    """A line as text; styles as SGR sequences only with colour; no trailing spaces."""
    parts = [f"\x1b[{style}m{text}\x1b[0m" if colour and style and text else text for text, style in line]
    return "".join(parts).rstrip(" ")


def render(pages: Sequence[Page], width: int, colour: bool = False) -> str:
    """The pages, a blank line between them, laid out for `width` columns."""
    width = max(width, 8)
    lines: list[Line] = []
    for i, page in enumerate(pages):
        if i:
            lines.append([])
        lines += page_lines(page, width)
    return "".join(_text(line, colour) + "\n" for line in lines)


def write(pages: Sequence[Page], width: int = 100) -> str:
    """Plain text (no colour, no escape sequences) at a fixed width: files and golden tests."""
    return render(pages, width, colour=False)


class Rendering:
    """Pages waiting for the width and colour of where they are printed (cli/console.py's `print`).

    A plain class, not a result type: it holds pages until stdout is known."""

    __slots__ = ("pages",)

    def __init__(self, pages: tuple[Page, ...]) -> None:
        self.pages = pages

    def text(self, width: int, colour: bool = False) -> str:
        return render(self.pages, width, colour)


def renderable(pages: Sequence[Page]) -> Rendering:
    """The pages, for `stdout_console().print`, which knows the terminal's width and whether it takes colour."""
    return Rendering(tuple(pages))
