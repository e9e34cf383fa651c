"""The Markdown writer: GitHub-flavoured Markdown, short enough for $GITHUB_STEP_SUMMARY.

`esc` is the one escaping step for report text. It keeps a string on one line (a
newline would end a table row), escapes what Markdown would interpret (`|` in
cells, emphasis, code, links, math, raw HTML, a leading `#`), and neutralises GitHub
workflow commands: the runner acts on any stdout line that starts, after spaces,
with `::` (`::error::`, `::add-mask::`), and on `##[` (the old syntax), so `::`
and `##[` never come out as such. Every line the writer makes starts with its
own markup, never with report text. Charts have no Markdown form here: the HTML
writer draws them, and their figures are in the tables.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import assert_never

from virtprobe.report.page import (
    NUMERIC_KINDS,
    Chart,
    ColumnKind,
    Facts,
    Note,
    NoteKind,
    Page,
    Table,
    Tone,
)
from virtprobe.report.writers.cells import cell_text, printable, value_text

_SPECIAL = re.compile(r"([\\`*|~$])")
_TAG = re.compile(r"<(?=[A-Za-z/!?])")  # where CommonMark starts raw HTML or an autolink
_LONE_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")


def esc(value: str) -> str:
    """Report text as inert Markdown on one line."""
    text = printable(value, newlines=False)
    text = _SPECIAL.sub(r"\\\1", text)
    text = _LONE_UNDERSCORE.sub(r"\\_", text)
    text = text.replace("](", "]\\(")  # no inline link or image: "[text](url)" needs "]("
    text = _TAG.sub("&lt;", text)  # no tag, no autolink; "<0.001" and "<= 5 ms" stay as they are
    text = text.replace("::", ":\\:")  # a workflow command needs "::"; "\:" still shows ":"
    text = text.replace("##[", "#\\#[")  # nor the old syntax, "##[command]"
    if text.lstrip().startswith("#"):  # a heading, were it ever at the start of a line
        text = "\\" + text.lstrip()
    return text


def emphasis(text: str, tone: Tone) -> str:
    """Escaped text with the tone's emphasis (Markdown has bold and italics only)."""
    if not text:
        return text
    match tone:
        case Tone.plain | Tone.good | Tone.muted:
            return text
        case Tone.strong | Tone.bad:
            return f"**{text}**"
        case Tone.warn | Tone.simulated:
            return f"_{text}_"
        case _:
            assert_never(tone)


def _align(kind: ColumnKind) -> str:
    return "---:" if kind in NUMERIC_KINDS else "---"


def _marks(keys: Sequence[str], numbers: dict[str, int]) -> str:
    return "".join(f" [{numbers[k]}]" for k in keys)


def _table(table: Table, numbers: dict[str, int]) -> list[str]:
    lines = []
    if table.title or table.cites:
        lines += [f"**{esc(table.title or '')}**{_marks(table.cites, numbers)}", ""]
    lines.append("| " + " | ".join(esc(c.title) for c in table.columns) + " |")
    lines.append("|" + "|".join(_align(c.kind) for c in table.columns) + "|")
    for row in table.rows:
        cells = (emphasis(esc(cell_text(c, col)), c.tone) for c, col in zip(row, table.columns, strict=True))
        lines.append("| " + " | ".join(cells) + " |")
    if table.caption:
        lines += ["", f"_{esc(table.caption)}_"]
    return lines


def _facts(facts: Facts) -> list[str]:
    lines = [f"**{esc(facts.title)}**", ""] if facts.title else []
    lines += ["| | |", "|---|---|"]
    for name, cell in facts.items:
        value = cell.text if cell.text is not None else value_text(cell.value)
        lines.append(f"| {esc(name)} | {emphasis(esc(value), cell.tone)} |")
    return lines


def _note(note: Note, numbers: dict[str, int]) -> list[str]:
    body, marks = esc(note.text), _marks(note.cites, numbers)
    match note.kind:
        case NoteKind.verdict:
            return [f"**{body}**{marks}"]
        case NoteKind.warning:
            return [f"> {body}{marks}"]
        case NoteKind.info | NoteKind.caveat:
            return [f"- {body}{marks}"]
        case NoteKind.simulated:
            return [f"- _{body}_{marks}"]
        case _:
            assert_never(note.kind)


def block(item: Facts | Table | Note | Chart, numbers: dict[str, int]) -> list[str]:
    match item:
        case Facts():
            return _facts(item)
        case Table():
            return _table(item, numbers)
        case Note():
            return _note(item, numbers)
        case Chart():
            return []  # drawn by the HTML writer; its figures are in the section's tables
        case _:
            assert_never(item)


def page_lines(page: Page) -> list[str]:
    numbers = {c.key: i + 1 for i, c in enumerate(page.citations)}
    lines = [f"### {esc(page.title)}", ""]
    if page.headline:
        lines += [f"**{esc(page.headline)}**", ""]
    for section in page.sections:
        lines += [f"#### {esc(section.title)}", ""]
        previous_list = False
        for b in section.blocks:
            out = block(b, numbers)
            if not out:
                continue
            is_list = isinstance(b, Note) and out[0].startswith("- ")
            if lines[-1] != "" and not (is_list and previous_list):
                lines.append("")
            lines += out
            previous_list = is_list
        if lines[-1] != "":
            lines.append("")
    if page.citations:
        lines += ["**Sources**", ""]
        for i, c in enumerate(page.citations, 1):
            url = f" {esc(c.url)}" if c.url and c.url not in c.text else ""
            lines.append(f"{i}. {esc(c.text)}{url}")
        lines.append("")
    if page.footer:
        lines += [f"<sub>{esc(page.footer)}</sub>", ""]
    return lines


def write(pages: Sequence[Page]) -> str:
    return "\n".join(line for page in pages for line in page_lines(page))
