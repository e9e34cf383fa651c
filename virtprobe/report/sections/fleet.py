"""The fleet page and the fleet comparison page: members, environment groups, verdict counts, bench per host.

Charts show the fleet per host (every sample of the whole cycle, where each host's
cycle goes) and per environment group (the group's samples pooled, as the fleet
comparison pools them).
"""

from __future__ import annotations

from virtprobe.report.document import BenchReport
from virtprobe.report.fleet import HOST_METRICS, FleetReport, bench_summary, groups, verdict_counts
from virtprobe.report.fleet_compare import FleetComparison, GroupComparison
from virtprobe.report.labels import HOST_METRIC_LABELS
from virtprobe.report.page import (
    Cell,
    Chart,
    ChartKind,
    Column,
    ColumnKind,
    Facts,
    Note,
    NoteKind,
    Page,
    Section,
    Series,
    Table,
    Tone,
)
from virtprobe.report.sections.common import footer
from virtprobe.report.sections.compare import change_chart, metric_tables
from virtprobe.report.sections.startup import engine_runtime, segment_series

TIMES = tuple(k for k in HOST_METRICS if k.endswith("_s"))


def _metric_kind(key: str) -> ColumnKind:
    return ColumnKind.bytes if key.endswith("_bytes") else ColumnKind.seconds


def _stem(key: str) -> str:
    return key.removesuffix("_s").removesuffix("_bytes")


def members_section(fleet: FleetReport) -> Section:
    columns = (
        Column("member", ColumnKind.label, metric="host"),
        Column("kind", ColumnKind.label, metric="kind"),
        Column("status", ColumnKind.status, metric="status"),
        Column("source"),
    )
    rows = []
    for m in fleet.members:
        status = Cell("ok", tone=Tone.good) if m.ok else Cell(
            "failed", f"FAILED: {m.error.message if m.error else '?'}", Tone.bad
        )
        rows.append((Cell(m.name), Cell(m.kind), status, Cell(None if m.source == m.name else m.source)))
    table = Table("fleet.members", columns, tuple(rows), metric="fleet_member")
    return Section("fleet.members", f"Fleet: {len(fleet.members)} member(s), {len(fleet.failed)} failed", (table,))


def groups_section(fleet: FleetReport) -> Section:
    columns = (Column("group", ColumnKind.label), Column("kind", ColumnKind.label), Column("hosts"),
               Column("environment"))  # fmt: skip
    rows = tuple((Cell(g.id), Cell(g.kind), Cell(", ".join(m.name for m in g.members)), Cell(g.text))
                 for g in groups(fleet))  # fmt: skip
    return Section("fleet.groups", "Environment groups", (Table("fleet.groups", columns, rows),))


def verdicts_section(fleet: FleetReport) -> Section | None:
    counts = verdict_counts(fleet.members)
    if not counts:
        return None
    columns = (Column("topic", ColumnKind.label), Column("hosts"), Column("which"))
    rows = tuple((Cell(vc.topic), Cell(vc.line), Cell(", ".join(vc.hosts))) for vc in counts)
    return Section("fleet.verdicts", "Detect verdicts across hosts", (Table("fleet.verdicts", columns, rows),))


def _median_column(key: str) -> Column:
    display = "ms" if key.endswith("_s") else "MiB"
    return Column(HOST_METRIC_LABELS[key], _metric_kind(key), metric=f"fleet_host_{_stem(key)}_median", display=display)


def _host_table(fleet: FleetReport) -> Table | None:
    summary = bench_summary(fleet)
    if not summary.rows:
        return None
    columns = (
        Column("host", ColumnKind.label, metric="host"),
        Column("group", ColumnKind.label, metric="group"),
        Column("runs", ColumnKind.integer),
        *(_median_column(k) for k in HOST_METRICS),
        Column("outlier in"),
        Column("clock"),
    )
    rows = tuple(
        (
            Cell(row.name),
            Cell(row.group),
            Cell(row.runs),
            *(Cell(row.medians[k], tone=Tone.warn if k in row.outlier_metrics else Tone.plain) for k in HOST_METRICS),
            Cell(", ".join(HOST_METRIC_LABELS[k] for k in row.outlier_metrics) or None, tone=Tone.warn),
            Cell(row.timing),
        )
        for row in summary.rows
    )
    return Table("fleet.hosts", columns, rows, title="medians per host: times in ms, memory in MiB",
                 caption="outlier in: the metrics where this host is an outlier of the fleet (modified Z-score "
                 "> 3.5 over the host medians)")  # fmt: skip


def _fleet_stats(fleet: FleetReport) -> list[Table]:
    summary = bench_summary(fleet)
    tables = []
    for kind, title in ((ColumnKind.seconds, "times"), (ColumnKind.bytes, "memory")):
        stats_rows = [st for st in summary.stats if _metric_kind(st.metric) is kind]
        if not stats_rows:
            continue
        columns = (
            Column("metric", ColumnKind.label, metric="metric"),
            Column("hosts", ColumnKind.integer, metric="fleet_hosts"),
            Column("p50", kind, metric="fleet_p50"),
            Column("p99", kind, metric="fleet_p99"),
            Column("outlier hosts"),
        )
        rows = tuple((Cell(_stem(st.metric), HOST_METRIC_LABELS[st.metric]), Cell(st.n_hosts), Cell(st.p50),
                      Cell(st.p99), Cell(", ".join(st.outliers) or None)) for st in stats_rows)  # fmt: skip
        tables.append(Table(f"fleet.stats.{title}", columns, rows, title=f"Fleet over host medians: {title}"))
    return tables


def _charts(fleet: FleetReport) -> list[Chart]:
    benches = [(m.name, m.report.result) for m in fleet.members if isinstance(m.report, BenchReport)]
    per_host = tuple(Series(name, tuple(r.container.measured("cycle_s"))) for name, r in benches
                     if r.container is not None and r.container.measured("cycle_s"))  # fmt: skip
    charts = []
    if per_host:
        charts.append(Chart("fleet.chart.hosts", ChartKind.box, "Whole cycle per host (every sample)", "s", per_host))
    with_cycles = [(name, r) for name, r in benches if r.container is not None and r.container.measured("cycle_s")]
    if with_cycles:
        series = segment_series([r.container for _, r in with_cycles if r.container is not None])
        categories = tuple(f"{name}: {engine_runtime(r, r.container)}" for name, r in with_cycles
                           if r.container is not None)  # fmt: skip
        charts.append(Chart("fleet.chart.segments", ChartKind.stacked_bar,
                            "Where each host's cycle goes (medians)", "s", series, categories=categories))  # fmt: skip
    per_group = []
    for g in groups(fleet):
        pooled = [v for m in g.members if isinstance(m.report, BenchReport) and m.report.result.container is not None
                  for v in m.report.result.container.measured("cycle_s")]  # fmt: skip
        if pooled:
            per_group.append(Series(f"{g.id} ({len(g.members)} host{'s' if len(g.members) != 1 else ''})",
                                    tuple(pooled)))  # fmt: skip
    if per_group:
        charts.append(Chart("fleet.chart.groups", ChartKind.box, "Whole cycle per environment group (samples pooled)",
                            "s", tuple(per_group),
                            caption="Hosts of one group share an environment, so their samples are pooled, as "
                            "the fleet comparison pools them."))  # fmt: skip
    return charts


def bench_section(fleet: FleetReport) -> Section | None:
    table = _host_table(fleet)
    if table is None:
        return None
    return Section("fleet.bench", "Bench per host", (table, *_fleet_stats(fleet), *_charts(fleet)))


def build_fleet_page(fleet: FleetReport) -> Page:
    sections = [members_section(fleet), groups_section(fleet)]
    sections += [s for s in (verdicts_section(fleet), bench_section(fleet)) if s is not None]
    headline = f"{len(fleet.members)} member(s), {len(fleet.failed)} failed, {len(groups(fleet))} environment group(s)"
    return Page.of("fleet", f"virtprobe fleet ({fleet.header.created_utc})", tuple(sections), headline=headline,
                   footer=footer(fleet.header))  # fmt: skip


# --- two fleets compared ------------------------------------------------------------------


def _group_section(g: GroupComparison, threshold: float) -> Section:
    title = f"{g.id} ({g.kind})"
    env = ("environment", Cell(g.text))
    if g.only is not None:
        hosts = ", ".join(g.base_hosts or g.new_hosts)
        facts = Facts(f"fleet-compare.{g.id}", (env, (f"only in {g.only}", Cell(hosts))))
        return Section(f"fleet-compare.{g.id}", title, (facts, Note("not compared: the group is on one side only")))
    facts = Facts(f"fleet-compare.{g.id}", (env, ("base hosts", Cell(", ".join(g.base_hosts))),
                                            ("new hosts", Cell(", ".join(g.new_hosts)))))  # fmt: skip
    blocks: list[Facts | Table | Note | Chart] = [facts]
    if g.kind == "bench":
        blocks += metric_tables(g.metrics, f"fleet-compare.{g.id}.metrics", labels=(("group", g.id),))
        chart = change_chart(g.metrics, threshold, f"fleet-compare.{g.id}")
        if chart is not None:
            blocks.append(chart)
    elif g.verdict_changes:
        columns = (Column("topic", ColumnKind.label), Column("base"), Column("new"))
        rows = tuple((Cell(t), Cell(b), Cell(n)) for t, b, n in g.verdict_changes)
        blocks.append(Table(f"fleet-compare.{g.id}.verdicts", columns, rows))
    else:
        blocks.append(Note("no verdict count changed"))
    return Section(f"fleet-compare.{g.id}", title, tuple(blocks))


def build_fleet_compare_page(c: FleetComparison) -> Page:
    sections = tuple(_group_section(g, c.threshold) for g in c.groups)
    if not sections:
        sections = (Section("fleet-compare.empty", "Groups", (Note("no group to compare", NoteKind.warning),)),)
    return Page.of(
        "fleet-compare",
        f"Fleet comparison: {c.base_name} → {c.new_name}",
        sections,
        headline=c.summary_line(),
        headline_tone=Tone.bad if c.regressions else Tone.strong,
    )
