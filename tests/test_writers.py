"""Every writer renders every kind of block, column, tone, note and chart; hostile text stays inert in each.

The first test is the exhaustiveness check: a page holding one of everything the
section model has goes through every writer. A writer that lacks a branch for
a kind hits its `assert_never` and the test fails (and mypy flags it too).
The property tests feed strings built to break each format: terminal escape
sequences and Rich markup, GitHub workflow commands and raw HTML in Markdown,
scripts in HTML, quotes and newlines in Prometheus label values, formulas in CSV.
"""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_classic

from virtprobe.report.formats import OutputFormat, write_pages
from virtprobe.report.page import (
    Cell,
    Chart,
    ChartKind,
    Citation,
    Column,
    ColumnKind,
    Facts,
    Mark,
    Note,
    NoteKind,
    Page,
    Section,
    Series,
    Table,
    Tone,
)
from virtprobe.report.writers import csv as csv_writer
from virtprobe.report.writers import html, markdown, prometheus, terminal
from virtprobe.report.writers.cells import printable

NUMBERS: dict[ColumnKind, float | int] = {
    ColumnKind.number: 3.5,
    ColumnKind.seconds: 0.1234,
    ColumnKind.bytes: 3_400_000,
    ColumnKind.ratio: 1.84,
    ColumnKind.percent: 0.123,
    ColumnKind.rate: 10.77,
    ColumnKind.integer: 20,
}


def _column(kind: ColumnKind, name: str = "") -> Column:
    metric = None if kind is ColumnKind.text else f"col_{kind.value}{name}"
    return Column(f"col-{kind.value}{name}", kind, unit="widgets" if kind is ColumnKind.number else None,
                  metric=metric)  # fmt: skip


def _value(kind: ColumnKind, text: str) -> str | float | int:
    return NUMBERS.get(kind, text)


def everything_page(text: str = "x") -> Page:
    """One of every block kind, column kind, tone, note kind and chart kind, with `text` in every string."""
    cite = Citation("src", f"source {text}", f"https://example.org/{text}")
    columns = tuple(_column(kind) for kind in ColumnKind)
    rows = [tuple(Cell(_value(c.kind, f"{text} {tone.value}"), tone=tone) for c in columns) for tone in Tone]
    rows.append(tuple(Cell(None) for _ in columns))  # unknown everywhere
    rows.append(tuple(Cell(None, f"{text} own text") for _ in columns))  # text in place of a figure
    table = Table("every.table", columns, tuple(rows), title=f"table {text}", caption=f"caption {text}",
                  cites=("src",), metric="every_row", labels=(("fixed", f"fixed {text}"),))  # fmt: skip
    facts = Facts(
        "every.facts",
        ((f"name {text}", Cell(f"label {text}")), ("flag", Cell(True)), ("count", Cell(3)), ("unknown", Cell(None)),
         ("strong", Cell(f"tone {text}", tone=Tone.strong))),
        title=f"facts {text}",
        metric="every_facts",
        names=("label", "flag_gauge", "count_gauge", "unknown_gauge", None),
    )  # fmt: skip
    notes = tuple(Note(f"note {kind.value} {text}", kind, ("src",)) for kind in NoteKind)
    tones = (Tone.bad, Tone.good, Tone.plain, Tone.plain)
    intervals = ((0.005, 0.015), None, (0.4, 0.6), None)
    series = (
        Series(f"series {text}", (0.01, 0.02, 0.5, None), Tone.plain, tones=tones, intervals=intervals),
        Series(f"simulated {text}", (0.03, 0.04, 0.2, 0.1), Tone.simulated),
        Series(f"muted {text}", (0.05, None, 0.7, 0.3), Tone.muted),
    )
    marks = (Mark(f"mark {text}", 0.05), Mark(f"x mark {text}", 2.0, "x", series[0].name))
    units = ("s", "bytes", "%", "1/s", "×", "")
    logs = (None, True, False, None, None, True)
    charts = tuple(
        Chart(f"every.chart.{kind.value}", kind, f"chart {kind.value} {text}", unit, series,
              categories=tuple(f"category {i} {text}" for i in range(4)), x=(1.0, 2.0, 4.0, 8.0),
              x_title=f"x {text}", marks=marks, log=log, caption=f"chart caption {text}", cites=("src",))
        for kind, unit, log in zip(ChartKind, units, logs, strict=True)
    )  # fmt: skip
    sections = (
        Section("every.one", f"section {text}", (facts, table), (cite,)),
        Section("every.two", f"notes {text}", notes),
        Section("every.three", f"charts {text}", charts),
    )
    return Page.of("every", f"title {text}", sections, headline=f"headline {text}", headline_tone=Tone.bad,
                   footer=f"footer {text}")  # fmt: skip


PAGE_FORMATS = [f for f in OutputFormat if f is not OutputFormat.json]


def test_the_page_holds_one_of_everything() -> None:
    page = everything_page()
    blocks = [b for s in page.sections for b in s.blocks]
    assert {type(b) for b in blocks} == {Facts, Table, Note, Chart}
    assert {c.kind for b in blocks if isinstance(b, Table) for c in b.columns} == set(ColumnKind)
    assert {c.tone for b in blocks if isinstance(b, Table) for row in b.rows for c in row} == set(Tone)
    assert {b.kind for b in blocks if isinstance(b, Note)} == set(NoteKind)
    assert {b.kind for b in blocks if isinstance(b, Chart)} == set(ChartKind)


@pytest.mark.parametrize("fmt", PAGE_FORMATS, ids=str)
def test_every_format_renders_every_kind(fmt: OutputFormat) -> None:
    out = write_pages([everything_page()], fmt)
    text = out if isinstance(out, str) else terminal.write([everything_page()], 200)
    for kind in ColumnKind:
        if fmt is OutputFormat.prometheus:
            if kind is not ColumnKind.text:
                assert f"col_{kind.value}" in text, kind
        else:
            assert f"col-{kind.value}" in text, kind
    if fmt in (OutputFormat.table, OutputFormat.markdown, OutputFormat.html):
        for note in NoteKind:
            assert f"note {note.value} x" in text, note
        for tone in Tone:
            assert f"x {tone.value}" in text, tone
    if fmt is OutputFormat.html:
        for chart in ChartKind:
            assert f"chart {chart.value} x" in text and text.count("<svg") == len(ChartKind)


def test_every_output_format_has_a_writer() -> None:
    """formats.write_pages is exhaustive: each format but json (which writes documents) renders a page."""
    for fmt in OutputFormat:
        if fmt is OutputFormat.json:
            with pytest.raises(ValueError, match="documents"):
                write_pages([everything_page()], fmt)
            continue
        assert write_pages([everything_page()], fmt)


def test_tones_and_kinds_have_distinct_looks() -> None:
    """Writers show tones as styles and classes, never as words; each tone looks different in each."""
    assert len({terminal.tone_style(t) for t in Tone}) == len(Tone)
    assert len({html.tone_class(t) for t in Tone}) == len(Tone)
    assert len({terminal.note_style(k) for k in NoteKind}) >= 4
    assert len({html.note_class(k) for k in NoteKind}) == len(NoteKind)


def test_every_writer_is_deterministic() -> None:
    for fmt in PAGE_FORMATS:
        if fmt is OutputFormat.table:
            assert terminal.write([everything_page()], 80) == terminal.write([everything_page()], 80)
        else:
            assert write_pages([everything_page()], fmt) == write_pages([everything_page()], fmt)


# --- hostile text ---------------------------------------------------------------------------

ATTACKS = [
    "\x1b[31mred\x1b[0m",  # SGR
    "\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\",  # OSC 8 hyperlink
    "\x1b]0;title\x07",  # OSC window title
    "\x9b31m",  # C1 CSI
    "a\rb",  # carriage return overwrites a line
    "[/]",
    "[link=https://evil.example]x[/link]",
    "[blink]x[/blink]",
    ":smile: :x:",
    "::error::injected",
    "::add-mask::secret",
    "  ::warning file=a::x",
    "##[error]old style",
    "# Heading",
    "| a | b |",
    "line\n::error::two",
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    '"quoted" \\ back\\slash',
    "=cmd|' /C calc'!A0",
    "+1+1",
    "@SUM(A1)",
    "\u202eevil",  # right-to-left override
    "\ud800",  # a lone surrogate, as JSON can hold
    "[click](javascript:alert(1))",
    "$x$ and $$y$$",
    "",
]
hostile = st.one_of(
    st.sampled_from(ATTACKS),
    st.text(st.characters(codec=None, exclude_categories=()), max_size=30),
    st.lists(st.sampled_from(ATTACKS), min_size=1, max_size=4).map(" ".join),
)
SETTINGS = settings(max_examples=60, deadline=None)


def no_workflow_command(out: str) -> None:
    """No line a GitHub runner would act on: "::" at a line's start (after spaces), "##[" anywhere.

    Every format may be printed to a CI log (`virtprobe report --format ...` on stdout).
    """
    for line in out.splitlines():
        assert not line.lstrip().startswith("::"), line
        assert "##[" not in line, line
ESCAPE_OR_CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@SETTINGS
@given(text=hostile)
def test_terminal_shows_hostile_text_as_text(text: str) -> None:
    out = terminal.write([everything_page(text)], 100)
    assert not ESCAPE_OR_CONTROL.search(out)
    no_workflow_command(out)
    no_workflow_command(terminal.write([everything_page(text)], 31))  # wrapped anywhere
    out.encode("utf-8")  # no lone surrogate reaches the terminal


def test_terminal_never_interprets_rich_markup() -> None:
    out = terminal.write([everything_page("[bold]b[/bold] [/] [link=https://evil.example]x[/link]")], 400)
    assert "[bold]b[/bold]" in out and "[link=https://evil.example]x[/link]" in out


def _md_table_cells(line: str) -> int:
    return len(re.findall(r"(?<!\\)\|", line)) - 1


@SETTINGS
@given(text=hostile)
def test_markdown_neutralises_workflow_commands_html_and_table_breaks(text: str) -> None:
    out = markdown.write([everything_page(text)])
    no_workflow_command(out)
    for line in out.splitlines():
        assert not re.search(r"<(?!sub>|/sub>)[A-Za-z/!?]", line), line
        assert not ESCAPE_OR_CONTROL.search(line)
    columns = len(ColumnKind)
    rows = [ln for ln in out.splitlines() if ln.startswith("| ") and "col-" not in ln and ln.count("|") > 3]
    assert all(_md_table_cells(r) in (columns, 2) for r in rows), rows
    assert "](" not in out.replace("]\\(", "")  # no inline link


def test_markdown_keeps_ordinary_text_readable() -> None:
    assert markdown.esc("start → first instruction <0.001 ms") == "start → first instruction <0.001 ms"
    assert markdown.esc("::error::x") == ":\\:error:\\:x"
    assert markdown.esc("# title") == "\\# title"
    assert markdown.esc("a|b\nc") == "a\\|b c"


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs.update(name for name, _ in attrs)


WRITER_TAGS = {"html", "head", "meta", "title", "style", "body", "article", "h1", "h2", "h3", "p", "section", "dl",
               "dt", "dd", "table", "thead", "tbody", "tr", "th", "td", "ol", "li", "figure", "figcaption", "svg",
               "rect", "line", "text", "path", "circle"}  # fmt: skip


@SETTINGS
@given(text=hostile)
def test_html_escapes_everything(text: str) -> None:
    out = html.write([everything_page(text)])
    no_workflow_command(out)
    parser = _Tags()
    parser.feed(out)
    assert parser.tags <= WRITER_TAGS, parser.tags - WRITER_TAGS
    assert not any(a.startswith("on") or a in ("href", "src", "style") for a in parser.attrs), parser.attrs
    assert not ESCAPE_OR_CONTROL.search(out.replace("\n", ""))


@SETTINGS
@given(text=hostile)
def test_prometheus_output_always_parses_and_keeps_the_label_value(text: str) -> None:
    out = prometheus.write([everything_page(text)])
    no_workflow_command(out)
    families = {f.name: f for f in parse_openmetrics(out)}
    assert {f.name for f in parse_classic(out)} >= {"virtprobe_every_row_info", "virtprobe_col_seconds_seconds"}
    info = families.get("virtprobe_every_row") or families["virtprobe_every_row_info"]
    shown = printable(f"fixed {text}").replace("##[", "#\u200b#[")
    assert all(s.labels["fixed"] == shown for s in info.samples)
    facts = families.get("virtprobe_every_facts") or families["virtprobe_every_facts_info"]
    assert facts.samples[0].labels["label"] == printable(f"label {text}").replace("##[", "#\u200b#[")


@SETTINGS
@given(text=hostile)
def test_csv_parses_and_runs_no_formula(text: str) -> None:
    out = csv_writer.write([everything_page(text)])
    no_workflow_command(out)
    rows = list(csv.reader(io.StringIO(out)))
    assert rows
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")) or cell.lstrip("-").replace(".", "", 1).isdigit(), cell
