"""The compare page, and the metric tables and change chart that the fleet comparison shares.

A change is shown with its 95% bootstrap interval and its Mann-Whitney p, and a
verdict in one vocabulary everywhere ("REGRESSION", "improvement", "no significant
change"). Metrics are grouped by unit (times, memory, rates) so that every
column holds one kind of figure.
"""

from __future__ import annotations

from collections.abc import Sequence

from virtprobe.benchmark.result import BenchResult
from virtprobe.report.compare import ALPHA, Comparison, MetricChange
from virtprobe.report.document import KIND_DETECT
from virtprobe.report.labels import phase_label
from virtprobe.report.page import (
    Cell,
    Chart,
    ChartKind,
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

SETUP_WARNING = "measured differently, so a change may come from the setup, not the machine: "
UNITS: tuple[tuple[str, ColumnKind, str], ...] = (
    ("s", ColumnKind.seconds, "Times"),
    ("bytes", ColumnKind.bytes, "Memory"),
    ("1/s", ColumnKind.rate, "Rates"),
)


def format_change(m: MetricChange) -> str | None:
    """ "+30.2% [+25.1%, +35.0%]": the change of the medians and its 95% interval (None: no change computed)."""
    if m.change is None:
        return None
    text = f"{m.change * 100:+.1f}%"
    if m.ci_low is not None and m.ci_high is not None:
        text += f" [{m.ci_low * 100:+.1f}%, {m.ci_high * 100:+.1f}%]"
    return text


def format_p(p: float | None) -> str | None:
    if p is None:
        return None
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def verdict(m: MetricChange) -> str:
    if m.regression:
        return "REGRESSION"
    if m.improvement:
        return "improvement"
    if m.note:
        return m.note
    if m.significant:
        return "significant, within threshold"
    return "no significant change"


def verdict_tone(m: MetricChange) -> Tone:
    return Tone.bad if m.regression else Tone.good if m.improvement else Tone.muted if m.note else Tone.plain


def summary_line(c: Comparison) -> str:
    if c.kind == KIND_DETECT:
        n = len(c.verdict_changes)
        return "no verdict changed" if n == 0 else f"{n} verdict{'s' if n != 1 else ''} changed"
    regs = c.regressions
    if regs:
        return (
            f"{len(regs)} regression{'s' if len(regs) != 1 else ''} (significant at p < {ALPHA} and worse than "
            f"{c.threshold * 100:g}%): " + ", ".join(m.name for m in regs)
        )
    return f"no regression (threshold {c.threshold * 100:g}%, p < {ALPHA})"


def metric_tables(metrics: Sequence[MetricChange], key: str, labels: tuple[tuple[str, str], ...] = ()) -> list[Table]:
    """One table per unit: metric, samples on each side, medians, change [95% CI], p, verdict."""
    tables = []
    for unit, kind, title in UNITS:
        rows = tuple(
            (
                Cell(m.name),
                Cell(m.n_base),
                Cell(m.n_new),
                Cell(m.base_median),
                Cell(m.new_median),
                Cell(m.change, format_change(m), verdict_tone(m)),
                Cell(m.p_value, format_p(m.p_value)),
                Cell(verdict(m), tone=verdict_tone(m)),
            )
            for m in metrics
            if m.unit == unit
        )
        if not rows:
            continue
        columns = (
            Column("metric", ColumnKind.label, metric="metric"),
            Column("n base", ColumnKind.integer),
            Column("n new", ColumnKind.integer),
            Column("base median", kind, metric="compare_base_median"),
            Column("new median", kind, metric="compare_new_median"),
            Column("change [95% CI]", ColumnKind.percent, metric="compare_change"),
            Column("p", ColumnKind.number, metric="compare_p_value"),
            Column("verdict", ColumnKind.status, metric="verdict"),
        )
        tables.append(Table(f"{key}.{unit}", columns, rows, title=title, labels=labels))
    return tables


def change_chart(metrics: Sequence[MetricChange], threshold: float, key: str) -> Chart | None:
    """The change of every metric's median, its 95% interval as a whisker, the threshold marked."""
    rows = [m for m in metrics if m.change is not None]
    if not rows:
        return None
    series = Series(
        "change of the median",
        tuple(m.change for m in rows),
        tones=tuple(verdict_tone(m) for m in rows),
        intervals=tuple(
            (m.ci_low, m.ci_high) if m.ci_low is not None and m.ci_high is not None else None for m in rows
        ),
    )
    return Chart(
        f"{key}.chart.change",
        ChartKind.bar,
        f"Change of medians, new vs base (threshold ±{threshold * 100:g}%)",
        "%",
        (series,),
        categories=tuple(m.name for m in rows),
        marks=(Mark(f"+{threshold * 100:g}%", threshold), Mark(f"−{threshold * 100:g}%", -threshold)),
        caption=f"Whiskers are 95% bootstrap intervals; red: a regression (p < {ALPHA} and beyond the threshold), "
        "green: an improvement.",
    )


def samples_chart(base: BenchResult, new: BenchResult) -> Chart | None:
    """Box plots of base against new for the start call and the whole cycle, side by side."""
    series = []
    for phase in ("start_s", "cycle_s"):
        for name, result in (("base", base), ("new", new)):
            xs = result.container.measured(phase) if result.container is not None else []
            if xs:
                series.append(Series(f"{name}: {phase_label(phase)}", tuple(xs)))
    if not series:
        return None
    return Chart("compare.chart.samples", ChartKind.box, "Base vs new, every sample", "s", tuple(series))


def environment_notes(c: Comparison) -> list[Note]:
    notes = []
    if c.env_differences:
        notes.append(Note("Environments differ (compared with --force): " + "; ".join(c.env_differences),
                          NoteKind.warning))  # fmt: skip
    if c.setup_differences:
        text = SETUP_WARNING[:1].upper() + SETUP_WARNING[1:] + "; ".join(c.setup_differences)
        notes.append(Note(text, NoteKind.warning))
    return notes


def build_compare_page(c: Comparison, base: BenchResult | None = None, new: BenchResult | None = None) -> Page:
    """The comparison; with the two bench results, a chart of their samples too."""
    blocks: list[Note | Table | Chart] = [*environment_notes(c)]
    if c.kind == KIND_DETECT:
        columns = (Column("verdict", ColumnKind.label), Column("base"), Column("new"))
        rows = tuple((Cell(f), Cell(b), Cell(n)) for f, b, n in c.verdict_changes)
        if rows:
            blocks.append(Table("compare.verdicts", columns, rows))
    else:
        blocks += metric_tables(c.metrics, "compare.metrics")
        charts = [change_chart(c.metrics, c.threshold, "compare"),
                  samples_chart(base, new) if base is not None and new is not None else None]  # fmt: skip
        blocks += [ch for ch in charts if ch is not None]
    if not blocks:
        blocks.append(Note("nothing to compare"))
    section = Section("compare", f"{c.kind}: {c.base_name} → {c.new_name}", tuple(blocks))
    return Page.of(
        "compare",
        f"virtprobe compare: {c.base_name} → {c.new_name}",
        (section,),
        headline=summary_line(c),
        headline_tone=Tone.bad if c.regressions else Tone.strong,
    )
