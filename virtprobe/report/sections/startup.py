"""Bench sections about starting containers: every runtime's phases, runtimes side by side, density.

The charts are the ones a performance engineer reads first: where a cycle's time
goes (a stacked bar per engine and runtime), the distribution of the whole cycle
(an ECDF with p50 and p99 marked), every phase as a labelled box plot, and the
cycles in run order (drift, warmups, outliers).
"""

from __future__ import annotations

from virtprobe import stats
from virtprobe.benchmark.result import PHASES, BenchResult, ContainerSection
from virtprobe.report.labels import PHASE_LABELS, SEGMENT_LABELS, phase_label, product_name
from virtprobe.report.metrics import clock_line, outlier_lines, runtime_rows
from virtprobe.report.page import (
    Cell,
    Chart,
    ChartKind,
    Column,
    ColumnKind,
    Mark,
    Note,
    NoteKind,
    Section,
    Series,
    Table,
    Tone,
)

MS = "ms"


def runtime_name(sec: ContainerSection) -> str:
    return sec.runtime or "default"


def table_labels(result: BenchResult, sec: ContainerSection | None = None) -> tuple[tuple[str, str], ...]:
    """The labels every machine-readable figure of a bench table carries: the engine, and the runtime."""
    engine = result.environment.engine
    labels = [("engine", (engine.product if engine else None) or "unknown")]
    if sec is not None:
        labels.append(("runtime", runtime_name(sec)))
    return tuple(labels)


def engine_runtime(result: BenchResult, sec: ContainerSection) -> str:
    """ "Docker Engine · runc": a category of the charts that set runtimes side by side."""
    engine = result.environment.engine
    return f"{product_name(engine.product if engine else None)} · {runtime_name(sec)}"


PHASE_COLUMNS = (
    Column("phase", ColumnKind.label, metric="phase"),
    Column("median", ColumnKind.seconds, metric="bench_phase_median", display=MS),
    Column("MAD", ColumnKind.seconds, metric="bench_phase_mad", display=MS),
    Column("p95", ColumnKind.seconds, metric="bench_phase_p95", display=MS),
    Column("p99", ColumnKind.seconds, metric="bench_phase_p99", display=MS),
    Column("min", ColumnKind.seconds, metric="bench_phase_min", display=MS),
    Column("max", ColumnKind.seconds, metric="bench_phase_max", display=MS),
    Column("CV", ColumnKind.percent, metric="bench_phase_cv"),
    Column("n", ColumnKind.integer, metric="bench_phase_samples"),
)


def phase_table(result: BenchResult, sec: ContainerSection) -> Table:
    rows = []
    for phase in PHASES:
        s = sec.summary(phase)
        if s.n == 0:
            continue
        label = PHASE_LABELS[phase] + (" (noisy)" if s.noisy else "")
        rows.append(
            (
                Cell(phase.removesuffix("_s"), label, Tone.warn if s.noisy else Tone.plain),
                Cell(s.median),
                Cell(s.mad),
                Cell(s.p95),
                Cell(s.p99),
                Cell(s.min),
                Cell(s.max),
                Cell(s.cv, tone=Tone.warn if s.noisy else Tone.plain),
                Cell(s.n),
            )
        )
    image = sec.image.name if sec.image is not None else None
    return Table(
        f"bench.phases.{runtime_name(sec)}",
        PHASE_COLUMNS,
        tuple(rows),
        title=f"runtime {runtime_name(sec)}, in ms",
        caption=f"image {image or '?'}, {sec.timing_basis or '?'} basis; noisy: CV ≥ {stats.NOISY_CV:.0%}",
        labels=table_labels(result, sec),
    )


def runtime_notes(sec: ContainerSection) -> list[Note]:
    notes = [Note(f"runtime {runtime_name(sec)}: {clock_line(sec)}")]
    if sec.timing_basis == "first_output":
        notes.append(Note("Timing basis: first byte of output (not the probe image).", NoteKind.caveat))
    notes += [Note(f"Outliers, runtime {runtime_name(sec)}: {line}", NoteKind.warning) for line in outlier_lines(sec)]
    return notes


# --- charts -------------------------------------------------------------------------------

def segment_medians(sec: ContainerSection) -> dict[str, float | None]:
    """The median of each part of the cycle (report/labels.py SEGMENT_LABELS) over the measured cycles."""
    per: dict[str, list[float]] = {key: [] for key in SEGMENT_LABELS}
    for s in sec.samples:
        if s.warmup or s.cycle_s is None:
            continue
        parts = [s.create_s, s.start_s, s.run_to_exit_s, s.remove_s]
        if any(p is None for p in parts):
            continue
        per["create"].append(s.create_s or 0.0)
        fi = s.first_instruction_s
        if fi is not None and 0 <= fi <= (s.start_s or 0.0):
            per["first_instruction"].append(fi)
            per["after_first_instruction"].append((s.start_s or 0.0) - fi)
        else:
            per["start_unsplit"].append(s.start_s or 0.0)
        per["run_to_exit"].append(s.run_to_exit_s or 0.0)
        per["remove"].append(s.remove_s or 0.0)
        per["rest"].append(max(0.0, s.cycle_s - sum(p or 0.0 for p in parts)))
    return {key: stats.summarize(xs).median for key, xs in per.items()}


def segment_series(sections: list[ContainerSection]) -> tuple[Series, ...]:
    """One series per part of the cycle that any section has, one value per section."""
    medians = [segment_medians(s) for s in sections]
    return tuple(Series(label, tuple(m[key] for m in medians)) for key, label in SEGMENT_LABELS.items()
                 if any(m[key] for m in medians))  # fmt: skip


def phases_chart(result: BenchResult) -> Chart | None:
    sections = [s for s in result.runtime_sections if not s.refused and s.measured("cycle_s")]
    if not sections:
        return None
    return Chart(
        "bench.chart.segments",
        ChartKind.stacked_bar,
        "Where a container's cycle goes, per engine and runtime (medians)",
        "s",
        segment_series(sections),
        categories=tuple(engine_runtime(result, s) for s in sections),
        caption="Each part is the median of that part over the measured cycles; the start call is split at the "
        "probe's first instruction where the probe shares this machine's clock.",
    )


def cycle_ecdf(result: BenchResult) -> Chart | None:
    sections = [s for s in result.runtime_sections if s.measured("cycle_s")]
    if not sections:
        return None
    series, marks = [], []
    for sec in sections:
        name = f"{runtime_name(sec)} whole cycle"
        xs = sec.measured("cycle_s")
        s = stats.summarize(xs)
        series.append(Series(name, tuple(xs)))
        if s.median is not None and s.p99 is not None:
            marks += [Mark(f"{runtime_name(sec)} p50", s.median, series=name),
                      Mark(f"{runtime_name(sec)} p99", s.p99, series=name)]  # fmt: skip
    return Chart(
        "bench.chart.cycle-ecdf",
        ChartKind.ecdf,
        "Distribution of the whole cycle (ECDF), p50 and p99 marked",
        "s",
        tuple(series),
        marks=tuple(marks),
        caption="The fraction of measured cycles that took at most the time on the axis; warmups excluded.",
    )


def phase_boxes(sec: ContainerSection) -> Chart | None:
    series = tuple(Series(phase_label(p), tuple(sec.measured(p))) for p in PHASES if sec.measured(p))
    if not series:
        return None
    return Chart(
        f"bench.chart.phase-box.{runtime_name(sec)}",
        ChartKind.box,
        f"Every phase, runtime {runtime_name(sec)}: box plots (quartiles, Tukey whiskers)",
        "s",
        series,
        caption="Boxes span the middle half of the samples, the thick line is the median, whiskers reach the last "
        "sample within 1.5 × IQR, circles are beyond; warmups excluded.",
    )


def run_order(sec: ContainerSection) -> Chart | None:
    cycle = [s.cycle_s for s in sec.samples]
    if not any(v is not None for v in cycle):
        return None
    measured = [(i, s.cycle_s) for i, s in enumerate(sec.samples) if not s.warmup and s.cycle_s is not None]
    flagged = {measured[k][0] for k in stats.outlier_indexes([v for _, v in measured])} if len(measured) > 2 else set()
    series = [
        Series("whole cycle", tuple(None if s.warmup else s.cycle_s for s in sec.samples)),
        Series("warmup (excluded)", tuple(s.cycle_s if s.warmup else None for s in sec.samples), Tone.muted),
    ]
    if flagged:
        series.append(Series("outlier (modified Z > 3.5)", tuple(v if i in flagged else None
                                                                 for i, v in enumerate(cycle)), Tone.bad))  # fmt: skip
    median = stats.summarize([v for _, v in measured]).median
    return Chart(
        f"bench.chart.run-order.{runtime_name(sec)}",
        ChartKind.run_order,
        f"Whole cycle in run order, runtime {runtime_name(sec)}",
        "s",
        tuple(series),
        x_title="container, in the order started",
        marks=(Mark("median", median),) if median is not None else (),
        caption="A slope shows drift (the host warming up or filling up); isolated points far from the line are "
        "the outliers named above.",
    )


def startup_section(result: BenchResult) -> Section | None:
    """Every runtime's phases (the reference first), their notes, then the charts of the cycle."""
    if result.container is None:
        return None
    blocks: list[Table | Note | Chart] = []
    for sec in result.runtime_sections:
        if sec.refused:
            blocks.append(Note(f"runtime {runtime_name(sec)}: refused: {sec.refused}", NoteKind.warning))
            continue
        blocks.append(phase_table(result, sec))
        blocks += runtime_notes(sec)
    charts = [phases_chart(result), cycle_ecdf(result), phase_boxes(result.container), run_order(result.container)]
    blocks += [c for c in charts if c is not None]
    return Section("bench.startup", "Container startup, phase by phase", tuple(blocks))


# --- runtimes side by side, and density --------------------------------------------------


def runtimes_section(result: BenchResult) -> Section | None:
    """--runtime: one row per runtime, client-side phases for all, the cycle's ratio to the first."""
    if not result.other_runtimes:
        return None
    columns = (
        Column("runtime", ColumnKind.label, metric="runtime"),
        Column("start (API call)", ColumnKind.seconds, display=MS),
        Column("first instruction", ColumnKind.seconds, display=MS),
        Column("whole cycle", ColumnKind.seconds, display=MS),
        Column("× cycle", ColumnKind.ratio, metric="bench_cycle_vs_first_runtime"),
        Column("n", ColumnKind.integer),
        Column("clock / why not measured"),
    )
    rows = []
    for row in runtime_rows(result):
        if row.refused:
            rows.append((Cell(row.runtime), Cell(None), Cell(None), Cell(None), Cell(None), Cell(0),
                         Cell(f"refused: {row.refused}", tone=Tone.bad)))  # fmt: skip
            continue
        fi = Cell(row.first_instruction.median) if row.first_instruction is not None else Cell(None, "own clock")
        rows.append((Cell(row.runtime), Cell(row.start.median), fi, Cell(row.cycle.median),
                     Cell(row.cycle_ratio), Cell(row.cycle.n), Cell(row.clock)))  # fmt: skip
    table = Table(
        "bench.runtimes",
        columns,
        tuple(rows),
        title="medians in ms; × cycle = the runtime's whole cycle / the first runtime's",
        labels=table_labels(result),
    )
    return Section("bench.runtimes", "Runtimes side by side", (table,))


def parallel_section(result: BenchResult) -> Section | None:
    """--parallel P: full cycles P at a time, against the serial rate."""
    c = result.container
    par = c.parallel if c is not None else None
    if c is None or par is None:
        return None
    serial = c.summary("cycle_s").median
    under = stats.summarize(par.cycle_s)
    columns = (
        Column("at a time", ColumnKind.label, metric="parallel"),
        Column("containers/s", ColumnKind.rate, metric="bench_parallel_throughput"),
        Column("serially (1 / cycle median)", ColumnKind.rate, metric="bench_serial_throughput"),
        Column("cycle under load, median", ColumnKind.seconds, display=MS, metric="bench_parallel_cycle_median"),
        Column("p95", ColumnKind.seconds, display=MS, metric="bench_parallel_cycle_p95"),
        Column("containers", ColumnKind.integer),
    )
    row = (Cell(par.parallel), Cell(par.containers_per_s, tone=Tone.strong), Cell(1 / serial if serial else None),
           Cell(under.median), Cell(under.p95), Cell(par.n))  # fmt: skip
    table = Table("bench.parallel", columns, (row,), title="times in ms", labels=table_labels(result, c))
    return Section("bench.parallel", f"Parallel start: {par.parallel} at a time", (table,))

