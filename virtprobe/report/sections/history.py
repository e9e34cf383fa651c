"""The history page: one row per metric (newest against its baseline), one trend chart per metric, the method."""

from __future__ import annotations

from virtprobe.report.history import (
    IMPROVEMENT,
    METHOD,
    REGRESSION,
    History,
    MetricHistory,
)
from virtprobe.report.page import (
    Cell,
    Chart,
    ChartKind,
    Citation,
    Column,
    ColumnKind,
    Mark,
    Note,
    NoteKind,
    Page,
    Section,
    Series,
    Table,
    Tone,
)
from virtprobe.report.sections.common import MUTED, value_cell

UNIT_KINDS = {"s": ColumnKind.seconds, "bytes": ColumnKind.bytes, "1/s": ColumnKind.rate}
STATUS_TONES = {REGRESSION: Tone.bad, IMPROVEMENT: Tone.good}

CITATIONS = (
    Citation(
        "matteson-james-2014",
        "Matteson, D. S. and James, N. A., A Nonparametric Approach for Multiple Change Point Analysis of "
        "Multivariate Data, Journal of the American Statistical Association 109(505), 334-345, 2014",
        "https://doi.org/10.1080/01621459.2013.849605",
    ),
    Citation(
        "daly-2020",
        "Daly, D., Brown, W., Ingo, H., O'Leary, J. and Bradford, D., The Use of Change Point Detection to "
        "Identify Software Performance Regressions in a Continuous Integration System, ICPE 2020",
        "https://doi.org/10.1145/3358960.3375791",
    ),
)


def median_cell(value: float | None, unit: str) -> Cell:
    """A median in its metric's unit: rows of one column hold seconds, bytes and rates alike."""
    if value is None:
        return MUTED
    if unit == "s":
        return Cell(value, f"{value * 1000:.3g} ms")
    if unit == "bytes":
        return Cell(value, f"{value / (1024 * 1024):.2f} MiB")
    return Cell(value, f"{value:.3g}/s" if unit == "1/s" else f"{value:.4g} {unit}")


def summary_table(h: History) -> Table:
    columns = (
        Column("metric", ColumnKind.label, metric="metric"),
        Column("reports", ColumnKind.integer, metric="history_reports"),
        Column("baseline median", ColumnKind.number, metric="history_baseline_median"),
        Column("newest median", ColumnKind.number, metric="history_newest_median"),
        Column("change", ColumnKind.percent, metric="history_change"),
        Column("p", ColumnKind.number, metric="history_p_value"),
        Column("threshold", ColumnKind.percent, metric="history_threshold"),
        Column("change points", ColumnKind.text),
        Column("newest", ColumnKind.status),
    )
    rows = []
    for m in h.metrics:
        n = m.newest
        cps = ", ".join(f"#{c + 1}" for c in m.change_points) or "none"
        rows.append(
            (
                Cell(m.name),
                Cell(len(m.points)),
                median_cell(n.baseline_median, m.unit),
                median_cell(n.newest_median, m.unit),
                value_cell(n.change),
                value_cell(n.p_value),
                value_cell(n.threshold),
                Cell(cps),
                Cell(n.status, tone=STATUS_TONES.get(n.status, Tone.muted if n.p_value is None else Tone.plain)),
            )
        )
    return Table("history.metrics", columns, tuple(rows), title="Newest report against its baseline")


def trend_chart(h: History, m: MetricHistory) -> Chart:
    """Per-report medians over the reports (x = report number), change points and the baseline marked."""
    marks = [Mark(f"change point at #{c + 1}", float(c + 1), axis="x") for c in m.change_points]
    if m.newest.baseline_median is not None:
        marks.append(Mark("baseline median", m.newest.baseline_median))
    values = {p.report: p.median for p in m.points}
    return Chart(
        key=f"history.trend.{m.name}",
        kind=ChartKind.line,
        title=f"{m.name}: median per report",
        unit=m.unit,
        series=(Series("median", tuple(values.get(i) for i in range(len(h.reports)))),),
        x=tuple(float(i + 1) for i in range(len(h.reports))),
        x_title="report (oldest first)",
        marks=tuple(marks),
        caption=f"newest: {m.newest.status}",
        cites=("matteson-james-2014",) if m.change_points else (),
    )


def reports_table(h: History) -> Table:
    columns = (Column("#", ColumnKind.integer), Column("report", ColumnKind.text),
               Column("created (UTC)", ColumnKind.text), Column("run", ColumnKind.label, metric="run_id"))  # fmt: skip
    rows = tuple((Cell(i + 1), Cell(r.name), Cell(r.created_utc), Cell(r.run_id)) for i, r in enumerate(h.reports))
    return Table("history.reports", columns, rows, title="Reports, oldest first")


def build_history_page(h: History) -> Page:
    regressions = h.regressions
    if regressions:
        headline = "REGRESSION in the newest report: " + ", ".join(
            f"{m.name} {m.newest.change:+.1%}" for m in regressions if m.newest.change is not None
        )
    else:
        headline = f"no significant regression in the newest of {len(h.reports)} reports"
    method = Note(METHOD, NoteKind.info, cites=tuple(c.key for c in CITATIONS))
    notes = tuple(Note(n, NoteKind.warning) for n in h.notes)
    sections = (
        Section(
            "history.summary",
            "Trend per metric",
            (Note(headline, NoteKind.verdict), summary_table(h), method, *notes),
            citations=CITATIONS,
        ),
        Section("history.trends", "Trends", tuple(trend_chart(h, m) for m in h.metrics)),
        Section("history.reports", "Reports", (reports_table(h),)),
    )
    tone = Tone.bad if regressions else Tone.strong
    return Page.of("history", "virtprobe history", sections, headline=headline, headline_tone=tone)
