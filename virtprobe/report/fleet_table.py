"""Rich rendering of a fleet report and of a fleet comparison (pure: typed data in, renderables out)."""

from __future__ import annotations

from rich import box
from rich.console import Group as RichGroup
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from virtprobe.report.fleet import (
    HOST_METRICS,
    FleetReport,
    bench_summary,
    groups,
    metric_label,
    show_metric,
    show_unit,
    verdict_counts,
)
from virtprobe.report.fleet_compare import FleetComparison


def _members_table(fleet: FleetReport) -> Table:
    table = Table(title=f"Fleet: {len(fleet.members)} member(s), {len(fleet.failed)} failed", box=box.SIMPLE)
    for col in ("member", "kind", "status", "source"):
        table.add_column(col)
    for m in fleet.members:
        status = (
            Text("ok", style="green") if m.ok else Text(f"FAILED: {m.error.message if m.error else '?'}", style="red")
        )
        table.add_row(m.name, m.kind or "-", status, "" if m.source == m.name else m.source)
    return table


def _groups_table(fleet: FleetReport) -> Table:
    table = Table(title="Environment groups", box=box.SIMPLE)
    for col in ("group", "kind", "hosts", "environment"):
        table.add_column(col)
    for g in groups(fleet):
        table.add_row(g.id, g.kind, ", ".join(m.name for m in g.members), g.text)
    return table


def _verdicts_table(fleet: FleetReport) -> Table | None:
    counts = verdict_counts(fleet.members)
    if not counts:
        return None
    table = Table(title="Detect verdicts across hosts", box=box.SIMPLE)
    table.add_column("topic")
    table.add_column("hosts")
    table.add_column("which")
    for vc in counts:
        table.add_row(vc.topic, vc.line, ", ".join(vc.hosts))
    return table


def _bench_tables(fleet: FleetReport) -> list[RenderableType]:
    summary = bench_summary(fleet)
    if not summary.rows:
        return []
    hosts = Table(title="Bench: one row per host (medians; * = outlier host by modified Z-score)", box=box.SIMPLE)
    hosts.add_column("host")
    hosts.add_column("group")
    hosts.add_column("runs", justify="right")
    for _key, label in HOST_METRICS:
        hosts.add_column(label, justify="right")
    hosts.add_column("clock")
    for row in summary.rows:
        cells = [show_metric(k, row.medians[k]) + (" *" if k in row.outlier_metrics else "") for k, _ in HOST_METRICS]
        hosts.add_row(row.name, row.group, str(row.runs), *cells, row.timing)
    fleet_stats = Table(title="Fleet over host medians", box=box.SIMPLE)
    for col in ("metric", "hosts", "p50", "p99", "outlier hosts"):
        fleet_stats.add_column(col, justify="right" if col in ("hosts", "p50", "p99") else "left")
    for st in summary.stats:
        fleet_stats.add_row(
            metric_label(st.metric), str(st.n_hosts), show_metric(st.metric, st.p50), show_metric(st.metric, st.p99),
            ", ".join(st.outliers) or "-",
        )  # fmt: skip
    return [hosts, fleet_stats]


def render_fleet(fleet: FleetReport) -> RenderableType:
    parts: list[RenderableType] = [_members_table(fleet), _groups_table(fleet)]
    verdicts = _verdicts_table(fleet)
    if verdicts is not None:
        parts.append(verdicts)
    parts.extend(_bench_tables(fleet))
    return RichGroup(*parts)


def render_fleet_comparison(c: FleetComparison) -> RenderableType:
    parts: list[RenderableType] = [Text(f"{c.base_name} -> {c.new_name}: {c.summary_line()}")]
    for g in c.groups:
        head = f"{g.id} ({g.kind}): {g.text}"
        if g.only is not None:
            parts.append(Text(f"{head}: only in {g.only} ({', '.join(g.base_hosts or g.new_hosts)})", style="yellow"))
            continue
        table = Table(title=f"{head}\nbase: {', '.join(g.base_hosts)}; new: {', '.join(g.new_hosts)}", box=box.SIMPLE)
        if g.kind == "bench":
            for col in ("metric", "n base", "n new", "base median", "new median", "change", "p", "verdict"):
                table.add_column(col)
            for m in g.metrics:
                verdict = "REGRESSION" if m.regression else "improved" if m.improvement else m.note or "same"
                table.add_row(
                    m.name, str(m.n_base), str(m.n_new),
                    show_unit(m.base_median, m.unit), show_unit(m.new_median, m.unit),
                    "-" if m.change is None else f"{m.change * 100:+.1f}%",
                    "-" if m.p_value is None else f"{m.p_value:.3g}", verdict,
                )  # fmt: skip
        else:
            for col in ("topic", "base", "new"):
                table.add_column(col)
            for topic, b, n in g.verdict_changes:
                table.add_row(topic, b, n)
            if not g.verdict_changes:
                table.add_row("-", "no verdict count changed", "")
        parts.append(table)
    return RichGroup(*parts)
