"""The HTML writer: one self-contained page, one stylesheet for every report kind, charts as inline SVG.

Nothing is loaded: no script, no link, no image, no font, no `url()`; a URL appears
only as the text of a source. Every string from a report goes through `htmltext.esc`
(the one escaping step, shared with the charts). Tones and note kinds become CSS
classes, never words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import assert_never

from virtprobe.report.page import (
    NUMERIC_KINDS,
    Cell,
    Chart,
    Column,
    Facts,
    Note,
    NoteKind,
    Page,
    Section,
    Table,
    Tone,
)
from virtprobe.report.writers import svg
from virtprobe.report.writers.cells import cell_text, value_text
from virtprobe.report.writers.htmltext import esc

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1100px;
     color:#1d2330;line-height:1.4;padding:0 1rem}
article{margin-bottom:3rem}
h1{font-size:1.5rem;margin-bottom:.3rem}
h2{font-size:1.2rem;border-bottom:1px solid #ccd;padding-bottom:.2rem;margin-top:2rem}
h3{font-size:1rem;margin:1.2rem 0 .3rem}
table{border-collapse:collapse;margin:.3rem 0 .6rem;display:block;max-width:100%;overflow-x:auto}
td,th{border:1px solid #ccd;padding:.25rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f5f9}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
dl.facts{display:grid;grid-template-columns:max-content auto;gap:.15rem 1rem;margin:.3rem 0 .8rem}
dl.facts dt{font-weight:600}dl.facts dd{margin:0}
.headline{font-weight:600;background:#eef3fb;padding:.5rem .75rem;border-radius:4px}
.headline.tone-bad{background:#fdecec}
.caption,figcaption{color:#667;font-size:.85rem;margin:.1rem 0 .8rem}
.note{margin:.3rem 0}
.note-verdict{font-weight:600}
.note-warning{background:#fff6e5;border-left:3px solid #ef6c00;padding:.3rem .6rem}
.note-caveat{color:#8a3b00}
.note-simulated,.tone-simulated{color:#7a4b00;font-style:italic}
.tone-strong{font-weight:700}.tone-good{color:#1b7f3b}.tone-bad{color:#b00020;font-weight:700}
.tone-warn{color:#b35c00}.tone-muted{color:#889}
figure.chart{margin:.6rem 0 1.2rem}figure.chart svg{max-width:100%;height:auto}
ol.sources{font-size:.9rem}
.footer{color:#667;font-size:.85rem}
"""


def tone_class(tone: Tone) -> str:
    match tone:
        case Tone.plain:
            return ""
        case Tone.strong | Tone.good | Tone.bad | Tone.warn | Tone.muted | Tone.simulated:
            return f"tone-{tone.value}"
        case _:
            assert_never(tone)


def note_class(kind: NoteKind) -> str:
    match kind:
        case NoteKind.info | NoteKind.verdict | NoteKind.warning | NoteKind.caveat | NoteKind.simulated:
            return f"note note-{kind.value}"
        case _:
            assert_never(kind)


def _classes(*names: str) -> str:
    joined = " ".join(n for n in names if n)
    return f' class="{joined}"' if joined else ""


def _marks(keys: Sequence[str], numbers: dict[str, int]) -> str:
    return "".join(f" [{numbers[k]}]" for k in keys)


def _cell(cell: Cell, column: Column) -> str:
    num = "num" if column.kind in NUMERIC_KINDS else ""
    return f"<td{_classes(num, tone_class(cell.tone))}>{esc(cell_text(cell, column))}</td>"


def _table(table: Table, numbers: dict[str, int]) -> str:
    out = []
    if table.title or table.cites:
        out.append(f"<h3>{esc(table.title or '')}{_marks(table.cites, numbers)}</h3>")
    head = "".join(
        f"<th{_classes('num' if c.kind in NUMERIC_KINDS else '')}>{esc(c.title)}</th>" for c in table.columns
    )
    out.append(f"<table><thead><tr>{head}</tr></thead><tbody>")
    for row in table.rows:
        out.append("<tr>" + "".join(_cell(c, col) for c, col in zip(row, table.columns, strict=True)) + "</tr>")
    out.append("</tbody></table>")
    if table.caption:
        out.append(f'<p class="caption">{esc(table.caption)}</p>')
    return "\n".join(out)


def _facts(facts: Facts) -> str:
    out = [f"<h3>{esc(facts.title)}</h3>"] if facts.title else []
    out.append('<dl class="facts">')
    for name, cell in facts.items:
        value = cell.text if cell.text is not None else value_text(cell.value)
        out.append(f"<dt>{esc(name)}</dt><dd{_classes(tone_class(cell.tone))}>{esc(value)}</dd>")
    out.append("</dl>")
    return "\n".join(out)


def _chart(chart: Chart, numbers: dict[str, int]) -> str:
    caption = ""
    if chart.caption or chart.cites:
        caption = f"<figcaption>{esc(chart.caption or '')}{_marks(chart.cites, numbers)}</figcaption>"
    return f'<figure class="chart">\n{svg.render(chart)}\n{caption}</figure>'


def block(item: Facts | Table | Note | Chart, numbers: dict[str, int]) -> str:
    match item:
        case Facts():
            return _facts(item)
        case Table():
            return _table(item, numbers)
        case Note():
            return f'<p class="{note_class(item.kind)}">{esc(item.text)}{_marks(item.cites, numbers)}</p>'
        case Chart():
            return _chart(item, numbers)
        case _:
            assert_never(item)


def _section(section: Section, numbers: dict[str, int]) -> str:
    body = "\n".join(block(b, numbers) for b in section.blocks)
    return f"<section>\n<h2>{esc(section.title)}</h2>\n{body}\n</section>"


def page_html(page: Page) -> str:
    numbers = {c.key: i + 1 for i, c in enumerate(page.citations)}
    kind = re.sub(r"[^a-z0-9-]", "", page.kind.lower())
    out = [f'<article class="page page-{kind}">', f"<h1>{esc(page.title)}</h1>"]
    if page.headline:
        out.append(f'<p class="headline {tone_class(page.headline_tone)}">{esc(page.headline)}</p>')
    out += [_section(s, numbers) for s in page.sections]
    if page.citations:
        # A source's URL is text, never a link: the page must not load or point anywhere by itself.
        items = "".join(
            f"<li>{esc(c.text)}{' — ' + esc(c.url) if c.url and c.url not in c.text else ''}</li>"
            for c in page.citations
        )
        out.append(f'<h2>Sources</h2>\n<ol class="sources">{items}</ol>')
    if page.footer:
        out.append(f'<p class="footer">{esc(page.footer)}</p>')
    out.append("</article>")
    return "\n".join(out)


def write(pages: Sequence[Page]) -> str:
    """One HTML document holding every page, in order."""
    title = pages[0].title if pages else "virtprobe"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{esc(title)}</title>'
        f"<style>{CSS}</style></head><body>\n" + "\n".join(page_html(p) for p in pages) + "\n</body></html>\n"
    )
