"""Builder of the `--snapshot` section: restore to first instruction, measured, cited or refused with why.

The section cites its simulated rows' sources: `restore_citations(result)` gives the
page's Citation entries for them (a Page lists each source once, so the page builder
adds these to its own).
"""

from __future__ import annotations

from virtprobe import stats
from virtprobe.benchmark.result import MEASURED, SIMULATED, BenchResult, RestoreRow
from virtprobe.report.page import (
    Cell,
    Chart,
    ChartKind,
    Citation,
    Column,
    ColumnKind,
    Note,
    NoteKind,
    Section,
    Series,
    Table,
    Tone,
)
from virtprobe.report.sections.common import MUTED
from virtprobe.report.sections.sources import source_citation

KIND_TONES = {MEASURED: Tone.plain, SIMULATED: Tone.simulated}


def _citations(rows: tuple[RestoreRow, ...]) -> dict[str, Citation]:
    """Each row's source as the page's one citation of it (sources.source_citation: the VM section shares them)."""
    return {r.name: c for r in rows if (c := source_citation(r.source)) is not None}


def restore_citations(result: BenchResult) -> tuple[Citation, ...]:
    rows = result.restore.rows if result.restore is not None else ()
    return tuple({c.key: c for c in _citations(rows).values()}.values())


def _row(r: RestoreRow) -> tuple[Cell, ...]:
    s = stats.summarize(r.samples_s)
    tone = KIND_TONES.get(r.kind, Tone.muted)
    what = r.refused if r.refused else (r.meaning or "")
    word = {MEASURED: "measured here", SIMULATED: "published (simulated)"}.get(r.kind, "refused")
    return (
        Cell(r.label, tone=tone),
        Cell(word, tone=tone),
        Cell(s.median, tone=tone) if s.median is not None else MUTED,
        Cell(s.p99) if s.p99 is not None and s.n > 1 else MUTED,
        Cell(s.n),
        Cell(what, tone=Tone.muted if r.refused else Tone.plain),
    )


def restore_section(result: BenchResult) -> Section | None:
    sec = result.restore
    if sec is None:
        return None
    columns = (
        Column("restore", ColumnKind.label, metric="restore"),
        Column("kind", ColumnKind.text),
        Column("median", ColumnKind.seconds, metric="restore_median"),
        Column("p99", ColumnKind.seconds, metric="restore_p99"),
        Column("n", ColumnKind.integer),
        Column("what it is, or why not", ColumnKind.text),
    )
    cited = _citations(sec.rows)
    cites = tuple(dict.fromkeys(c.key for c in cited.values()))
    table = Table("bench.restore", columns, tuple(_row(r) for r in sec.rows),
                  title="Snapshot restore to first instruction", cites=cites)  # fmt: skip
    shown = [r for r in sec.rows if r.samples_s]
    chart = Chart(
        "bench.restore.chart", ChartKind.box, "Restore to first instruction", "s",
        tuple(Series(r.label, r.samples_s, KIND_TONES.get(r.kind, Tone.plain)) for r in shown),
        categories=tuple(r.label for r in shown),
        cites=tuple(dict.fromkeys(cited[r.name].key for r in shown if r.name in cited)),
    )  # fmt: skip
    notes = [Note(n, NoteKind.caveat) for r in sec.rows for n in r.notes]
    return Section("bench.restore", "Snapshot restore", (table, chart, *notes), citations=restore_citations(result))
