"""Markdown and HTML of a fleet report and of a fleet comparison (pure: typed data in, text out)."""

from __future__ import annotations

import html

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


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*out, ""]


def fleet_sections(fleet: FleetReport) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of every section: the one content that Markdown and HTML both show."""
    sections = [
        (
            f"Fleet: {len(fleet.members)} member(s), {len(fleet.failed)} failed",
            ["member", "kind", "status", "source"],
            [
                [m.name, m.kind or "-", "ok" if m.ok else f"FAILED: {m.error.message if m.error else '?'}", m.source]
                for m in fleet.members
            ],
        ),
        (
            "Environment groups",
            ["group", "kind", "hosts", "environment"],
            [[g.id, g.kind, ", ".join(m.name for m in g.members), g.text] for g in groups(fleet)],
        ),
    ]
    counts = verdict_counts(fleet.members)
    if counts:
        sections.append(
            (
                "Detect verdicts across hosts",
                ["topic", "hosts", "which"],
                [[vc.topic, vc.line, ", ".join(vc.hosts)] for vc in counts],
            )
        )
    summary = bench_summary(fleet)
    if summary.rows:
        sections.append(
            (
                "Bench: one row per host (medians; * = outlier host by modified Z-score)",
                ["host", "group", "runs", *(label for _, label in HOST_METRICS), "clock"],
                [
                    [
                        row.name,
                        row.group,
                        str(row.runs),
                        *(
                            show_metric(k, row.medians[k]) + (" *" if k in row.outlier_metrics else "")
                            for k, _ in HOST_METRICS
                        ),
                        row.timing,
                    ]
                    for row in summary.rows
                ],
            )
        )
        sections.append(
            (
                "Fleet over host medians",
                ["metric", "hosts", "p50", "p99", "outlier hosts"],
                [
                    [
                        metric_label(s.metric),
                        str(s.n_hosts),
                        show_metric(s.metric, s.p50),
                        show_metric(s.metric, s.p99),
                        ", ".join(s.outliers) or "-",
                    ]
                    for s in summary.stats
                ],
            )
        )
    return sections


def render_fleet_markdown(fleet: FleetReport) -> str:
    lines = [f"# virtprobe fleet ({fleet.header.created_utc})", ""]
    for title, head, rows in fleet_sections(fleet):
        lines += [f"## {title}", "", *_table(head, rows)]
    return "\n".join(lines)


def render_fleet_html(fleet: FleetReport) -> str:
    """A self-contained page (no scripts, no external resources)."""
    body = []
    for title, head, rows in fleet_sections(fleet):
        body.append(f"<h2>{html.escape(title)}</h2>")
        body.append("<table><thead><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr></thead><tbody>")
        for row in rows:
            body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
        body.append("</tbody></table>")
    title = f"virtprobe fleet ({html.escape(fleet.header.created_utc)})"
    style = (
        "body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}"
        "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f3f3f3}"
    )
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{style}</style></head><body><h1>{title}</h1>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def render_fleet_comparison_markdown(c: FleetComparison) -> str:
    lines = [f"# Fleet comparison: {c.base_name} -> {c.new_name}", "", c.summary_line(), ""]
    for g in c.groups:
        lines += [f"## {g.id} ({g.kind})", "", f"Environment: {g.text}", ""]
        if g.only is not None:
            lines += [f"Only in {g.only}: {', '.join(g.base_hosts or g.new_hosts)}", ""]
            continue
        lines += [f"Base hosts: {', '.join(g.base_hosts)}; new hosts: {', '.join(g.new_hosts)}", ""]
        if g.kind == "bench":
            rows = [
                [
                    m.name,
                    str(m.n_base),
                    str(m.n_new),
                    show_unit(m.base_median, m.unit),
                    show_unit(m.new_median, m.unit),
                    "-" if m.change is None else f"{m.change * 100:+.1f}%",
                    "-" if m.p_value is None else f"{m.p_value:.3g}",
                    "REGRESSION" if m.regression else "improved" if m.improvement else m.note or "same",
                ]
                for m in g.metrics
            ]
            lines += _table(["metric", "n base", "n new", "base median", "new median", "change", "p", "verdict"], rows)
        else:
            rows = [[t, b, n] for t, b, n in g.verdict_changes] or [["-", "no verdict count changed", ""]]
            lines += _table(["topic", "base", "new"], rows)
    return "\n".join(lines)


def render_fleet_comparison_html(c: FleetComparison) -> str:
    text = render_fleet_comparison_markdown(c)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>virtprobe fleet comparison</title>'
        f"</head><body><pre>{html.escape(text)}</pre></body></html>\n"
    )
