"""The output formats, and the one place that maps each to its renderer (checked exhaustively)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, assert_never

from virtprobe.report.compare import Comparison
from virtprobe.report.document import BenchReport, Report, dumps, to_document

if TYPE_CHECKING:
    from virtprobe.report.fleet import FleetReport
    from virtprobe.report.fleet_compare import FleetComparison


class OutputFormat(enum.StrEnum):
    table = "table"
    markdown = "markdown"
    html = "html"
    json = "json"


def render_reports(
    reports: Sequence[Report | FleetReport], names: Sequence[str], fmt: OutputFormat
) -> str | list[Any]:
    """Text for `markdown`, `html` and `json`; Rich renderables for `table` (the CLI prints them)."""
    from virtprobe.report.fleet import FleetReport

    if any(isinstance(r, FleetReport) for r in reports):
        fleets = [r for r in reports if isinstance(r, FleetReport)]
        if len(fleets) != len(reports):
            from virtprobe.errors import InputError

            raise InputError("a fleet report renders on its own; merge the other reports into it (virtprobe merge)")
        return render_fleets(fleets, fmt)
    singles = [r for r in reports if not isinstance(r, FleetReport)]
    return _render_singles(singles, names, fmt)


def render_fleets(fleets: Sequence[FleetReport], fmt: OutputFormat) -> str | list[Any]:
    """Fleet reports in the chosen format (report/fleet_table.py, report/fleet_markdown.py)."""
    if fmt is OutputFormat.table:
        from virtprobe.report.fleet_table import render_fleet

        return [render_fleet(f) for f in fleets]
    if fmt is OutputFormat.markdown:
        from virtprobe.report.fleet_markdown import render_fleet_markdown

        return "\n".join(render_fleet_markdown(f) for f in fleets)
    if fmt is OutputFormat.html:
        from virtprobe.report.fleet_markdown import render_fleet_html

        return "\n".join(render_fleet_html(f) for f in fleets)
    if fmt is OutputFormat.json:
        from virtprobe.report.fleet import fleet_to_document

        if len(fleets) != 1:
            from virtprobe.errors import InputError

            raise InputError(f"--format json writes one report at a time; got {len(fleets)} files")
        return dumps(fleet_to_document(fleets[0]))
    assert_never(fmt)


def _render_singles(reports: Sequence[Report], names: Sequence[str], fmt: OutputFormat) -> str | list[Any]:
    if fmt is OutputFormat.table:
        from virtprobe.report.bench_table import render_bench
        from virtprobe.report.detect_table import render_detect

        return [render_bench(r.result) if isinstance(r, BenchReport) else render_detect(r.result) for r in reports]
    if fmt is OutputFormat.markdown:
        from virtprobe.report.markdown import render_markdown

        return "\n".join(render_markdown(r) for r in reports)
    if fmt is OutputFormat.html:
        from virtprobe.report.html import render_html

        return render_html(reports, names)
    if fmt is OutputFormat.json:
        if len(reports) != 1:
            from virtprobe.errors import InputError

            raise InputError(f"--format json writes one report at a time; got {len(reports)} files")
        return dumps(to_document(reports[0]))
    assert_never(fmt)


def render_comparison(
    comparison: Comparison | FleetComparison,
    reports: Sequence[Report | FleetReport],
    names: Sequence[str],
    fmt: OutputFormat,
) -> str | list[Any]:
    """The comparison in the chosen format; HTML shows the two reports' charts beside it."""
    if not isinstance(comparison, Comparison):
        return render_fleet_comparison(comparison, fmt)
    singles = [r for r in reports if isinstance(r, Report)]
    if fmt is OutputFormat.table:
        from virtprobe.report.compare_render import render_comparison_table

        return [render_comparison_table(comparison)]
    if fmt is OutputFormat.markdown:
        from virtprobe.report.compare_render import render_comparison_markdown

        return render_comparison_markdown(comparison)
    if fmt is OutputFormat.html:
        from virtprobe.report.html import render_html

        return render_html(singles, names, comparison=comparison)
    if fmt is OutputFormat.json:
        return dumps(comparison.to_dict())
    assert_never(fmt)


def render_fleet_comparison(comparison: FleetComparison, fmt: OutputFormat) -> str | list[Any]:
    """Two fleets compared group by group, in the chosen format."""
    if fmt is OutputFormat.table:
        from virtprobe.report.fleet_table import render_fleet_comparison as table

        return [table(comparison)]
    if fmt is OutputFormat.markdown:
        from virtprobe.report.fleet_markdown import render_fleet_comparison_markdown

        return render_fleet_comparison_markdown(comparison)
    if fmt is OutputFormat.html:
        from virtprobe.report.fleet_markdown import render_fleet_comparison_html

        return render_fleet_comparison_html(comparison)
    if fmt is OutputFormat.json:
        return dumps(comparison.to_dict())
    assert_never(fmt)
