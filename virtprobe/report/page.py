"""The section model: what a report says, decided once, as typed data that every writer only renders.

Each report kind (detect, bench, compare, fleet, history) is turned into one `Page` by a
builder in `report/sections/`; each output format (terminal, Markdown, HTML, Prometheus,
CSV) is one writer in `report/writers/` that maps a `Page` to text.
Wording, labels, order, units, emphasis and citations are decided by the builders;
escaping is done once per writer (hyperfine's `export/markup.rs` shares one table model
between its Markdown, AsciiDoc and Org exporters in the same way).

Everything here is plain immutable data: no I/O, no rendering, no third-party import. The
types are NamedTuples, not dataclasses: `detect` and `detect --check` build a page on their
way to the terminal, and `import dataclasses` (which imports `inspect`) plus about 0.4 ms per
frozen dataclass cost those start-up targets some 10 ms (docs/architecture.md, "Result
types"). A NamedTuple has no `__post_init__`, so the checks a page must pass live in
`check_page`, which `Page.of` (every builder's way to a page) runs.
"""

from __future__ import annotations

import enum

from virtprobe.lean_typing import NamedTuple


class ColumnKind(enum.StrEnum):
    """What a column holds: a writer formats and aligns a cell by its column's kind."""

    text = "text"  # free text, left-aligned
    label = "label"  # a row's name (a phase, an engine, a host); a Prometheus label
    number = "number"  # a plain number in `unit` (may be None: no unit)
    seconds = "seconds"  # a duration in seconds, shown in ms or s
    bytes = "bytes"  # a size in bytes, shown in KiB, MiB or GiB
    ratio = "ratio"  # a multiple, shown as 1.23×
    percent = "percent"  # a fraction, shown as 12.3% (value 0.123)
    rate = "rate"  # events per second, shown as 4.2/s
    integer = "integer"  # a whole number (n, containers)
    status = "status"  # PASS / WARN / FAIL / REGRESSION ...: a word that carries `Tone`


NUMERIC_KINDS = frozenset(
    {
        ColumnKind.number,
        ColumnKind.seconds,
        ColumnKind.bytes,
        ColumnKind.ratio,
        ColumnKind.percent,
        ColumnKind.rate,
        ColumnKind.integer,
    }
)


class Tone(enum.StrEnum):
    """How a cell, note or series should stand out. Writers map a tone to a style; never to words."""

    plain = "plain"
    strong = "strong"  # a headline figure or a total
    good = "good"  # PASS, an improvement
    bad = "bad"  # FAIL, a regression
    warn = "warn"  # WARN, noisy, a caveat
    muted = "muted"  # not measured, refused, n/a
    simulated = "simulated"  # a figure that was not measured here (always with a citation)


class Column(NamedTuple):
    """A table column: its title, what it holds, and (for Prometheus and CSV) its machine name.

    `metric` names the column's figure for machine-readable writers: for a numeric
    column, the Prometheus metric name stem (the writer adds `virtprobe_` and the unit
    suffix); a `label` column's `metric` is the Prometheus label name.
    """

    title: str
    kind: ColumnKind = ColumnKind.text
    unit: str | None = None  # for ColumnKind.number: the unit shown after the figure
    metric: str | None = None
    # For seconds and bytes: show every figure of the column in this unit ("ms", "µs", "MiB"),
    # without a suffix, so that a column reads at a glance; the builder names the unit in a title.
    # None: each figure picks its own unit and carries it ("5.32 ms", "1.234 s").
    display: str | None = None


class Cell(NamedTuple):
    """One value. `text` overrides the writer's formatting (for "own clock", "refused: …");
    `value` stays the number, for machine-readable writers and for charts."""

    value: str | float | int | bool | None
    text: str | None = None
    tone: Tone = Tone.plain


class Table(NamedTuple):
    """Rows of cells under typed columns. Every row has exactly one cell per column."""

    key: str  # stable, machine-readable: "bench.phases", "detect.checks"
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    title: str | None = None
    caption: str | None = None
    cites: tuple[str, ...] = ()  # keys into Page.citations (the sources of simulated rows)
    # For machine-readable writers: `metric` names an info-style figure of each row (the row's
    # label columns as labels, value 1), and `labels` are labels every figure of the table carries
    # (("engine", "docker-engine"), ("runtime", "runc")).
    metric: str | None = None
    labels: tuple[tuple[str, str], ...] = ()


class Facts(NamedTuple):
    """Name-value pairs shown as a two-column list (the verdict summary of detect, a host's setup)."""

    key: str
    items: tuple[tuple[str, Cell], ...]
    title: str | None = None
    # For machine-readable writers: `names[i]` is item i's machine name (None: for people only).
    # A named item whose value is a string is a label of the `metric` info figure; a bool or a
    # number is a gauge of that name (a bool as 1 or 0); None (unknown) is left out, never 0.
    metric: str | None = None
    names: tuple[str | None, ...] = ()


class NoteKind(enum.StrEnum):
    info = "info"
    verdict = "verdict"  # the one-line answer, shown first and prominently
    warning = "warning"  # something the reader must weigh (noisy, different environments)
    caveat = "caveat"  # a known limit of the figure (TCG is not hardware virtualization)
    simulated = "simulated"  # the figures beside it are simulated; the note names the source


class Note(NamedTuple):
    text: str
    kind: NoteKind = NoteKind.info
    cites: tuple[str, ...] = ()  # keys into Page.citations


class Citation(NamedTuple):
    """A public source for simulated figures or rules, listed once per page however often it is cited."""

    key: str
    text: str
    url: str | None = None


class ChartKind(enum.StrEnum):
    stacked_bar = "stacked_bar"  # categories × stacked series (phases per engine and runtime)
    bar = "bar"  # categories × one value each (memory per instance)
    box = "box"  # categories × a distribution each (labelled box plots)
    ecdf = "ecdf"  # one empirical CDF per series, with `marks` (p50, p99)
    run_order = "run_order"  # each series' samples in the order they were taken (drift, outliers)
    line = "line"  # x values × series (scaling curves, trends over runs)


class Series(NamedTuple):
    """One named set of values in a chart.

    For `bar` and `stacked_bar`, `values[i]` belongs to `Chart.categories[i]` (None: no bar).
    For `box`, `ecdf` and `run_order`, `values` are the raw samples of this series.
    For `line`, `values[i]` is the y at `Chart.x[i]`.
    """

    name: str
    values: tuple[float | None, ...]
    tone: Tone = Tone.plain  # Tone.simulated draws the series differently and says so in the legend
    tones: tuple[Tone, ...] = ()  # bar charts: a tone per value (a regression among changes); () = `tone`
    intervals: tuple[tuple[float, float] | None, ...] = ()  # bar charts: an interval per value (a 95% CI)


class Mark(NamedTuple):
    """A labelled reference value drawn across a chart (p50, p99, a threshold, a change point)."""

    label: str
    value: float
    axis: str = "y"  # "y": a value on the value axis; "x": a position on the x axis (line charts)
    series: str | None = None  # the series it belongs to (drawn in its colour), None: the whole chart


class Chart(NamedTuple):
    key: str
    kind: ChartKind
    title: str
    unit: str  # "s", "bytes", "1/s", "%" or "": the value axis's unit
    series: tuple[Series, ...]
    categories: tuple[str, ...] = ()
    x: tuple[float, ...] = ()  # for ChartKind.line
    x_title: str = ""
    marks: tuple[Mark, ...] = ()
    log: bool | None = None  # None: the writer chooses (log where the values span more than a decade)
    caption: str | None = None
    cites: tuple[str, ...] = ()


Block = Facts | Table | Note | Chart


class Section(NamedTuple):
    """A titled part of a page: its blocks in reading order."""

    key: str
    title: str
    blocks: tuple[Block, ...]
    # The sources this section's blocks cite. A page lists each source once, however many
    # sections cite it: build pages with `Page.of(...)`, which gathers them.
    citations: tuple[Citation, ...] = ()


class Page(NamedTuple):
    """One report as people read it: a title, the headline, sections, and each citation once."""

    kind: str  # "detect" | "bench" | "compare" | "fleet" | "fleet-compare" | "history"
    title: str
    sections: tuple[Section, ...]
    headline: str | None = None  # the one-line verdict
    citations: tuple[Citation, ...] = ()
    footer: str | None = None  # tool, version, schema, time
    meta: tuple[tuple[str, str], ...] = ()  # machine-readable facts for writers (host, run id)
    headline_tone: Tone = Tone.strong  # Tone.bad for a regression found

    @classmethod
    def of(
        cls,
        kind: str,
        title: str,
        sections: tuple[Section, ...],
        *,
        headline: str | None = None,
        headline_tone: Tone = Tone.strong,
        footer: str | None = None,
        meta: tuple[tuple[str, str], ...] = (),
    ) -> Page:
        """A page whose citations are its sections' own, each listed once, in the order first cited; checked."""
        found: dict[str, Citation] = {}
        for section in sections:
            for citation in section.citations:
                if found.setdefault(citation.key, citation) != citation:
                    raise ValueError(f"citation {citation.key!r} has two different texts")
        return check_page(cls(kind, title, sections, headline, tuple(found.values()), footer, meta, headline_tone))


def check_page(page: Page) -> Page:
    """The page, after checking what every writer relies on; ValueError names the first break.

    Each table row has one cell per column; a Facts' machine names, when given, match its
    items; each citation key appears once; every block cites only the page's citations.
    """
    keys = {c.key for c in page.citations}
    if len(keys) != len(page.citations):
        raise ValueError("a citation key appears twice: each source is listed once per page")
    for section in page.sections:
        for block in section.blocks:
            if isinstance(block, Table):
                for row in block.rows:
                    if len(row) != len(block.columns):
                        raise ValueError(
                            f"table {block.key}: a row has {len(row)} cells for {len(block.columns)} columns"
                        )
            elif isinstance(block, Facts) and block.names and len(block.names) != len(block.items):
                raise ValueError(f"facts {block.key}: {len(block.names)} names for {len(block.items)} items")
            missing = set(block.cites) - keys if not isinstance(block, Facts) else set()
            if missing:
                raise ValueError(f"section {section.key}: cites {sorted(missing)}, not in the page's citations")
    return page
