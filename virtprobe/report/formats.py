"""The output formats, and the one place that maps each to its writer (checked exhaustively).

A report becomes pages (report/sections/), and a format's writer (report/writers/)
renders the pages; `json` is the exception, since it writes the report's document
itself. Adding an output format is a writer module, a member of OutputFormat
(report/output_format.py, which the CLI's options import without loading any writer)
and one branch here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, assert_never

from virtprobe.errors import InputError
from virtprobe.report.compare import Comparison
from virtprobe.report.document import BenchReport, Report, dumps, to_document
from virtprobe.report.fleet import FleetReport, fleet_to_document
from virtprobe.report.output_format import OutputFormat
from virtprobe.report.page import Page
from virtprobe.report.sections.bench import build_bench_page
from virtprobe.report.sections.compare import build_compare_page
from virtprobe.report.sections.detect import build_detect_page
from virtprobe.report.sections.fleet import build_fleet_compare_page, build_fleet_page
from virtprobe.report.writers import csv, html, markdown, prometheus, terminal

if TYPE_CHECKING:
    from virtprobe.report.fleet_compare import FleetComparison


def write_pages(pages: Sequence[Page], fmt: OutputFormat) -> str | terminal.Rendering:
    """Text for every format but `table`, whose width and colour depend on where the CLI prints it."""
    match fmt:
        case OutputFormat.table:
            return terminal.renderable(pages)
        case OutputFormat.markdown:
            return markdown.write(pages)
        case OutputFormat.html:
            return html.write(pages)
        case OutputFormat.prometheus:
            # Two reports would give the same series twice (same engine, runtime, phase).
            _one(pages, fmt)
            return prometheus.write(pages)
        case OutputFormat.csv:
            return csv.write(pages)
        case OutputFormat.json:
            raise ValueError("json writes documents, not pages")
        case _:
            assert_never(fmt)


def _one(items: Sequence[object], fmt: OutputFormat) -> None:
    if len(items) != 1:
        raise InputError(f"--format {fmt} writes one report at a time; got {len(items)} files")


def report_page(report: Report | FleetReport, name: str | None = None) -> Page:
    """The page of one loaded report, whatever its kind."""
    if isinstance(report, FleetReport):
        return build_fleet_page(report)
    if isinstance(report, BenchReport):
        return build_bench_page(report.result, report.header, name)
    return build_detect_page(report.result, report.header)


def render_reports(
    reports: Sequence[Report | FleetReport], names: Sequence[str], fmt: OutputFormat
) -> str | terminal.Rendering:
    """Loaded reports in the chosen format; a fleet renders on its own."""
    fleets = [r for r in reports if isinstance(r, FleetReport)]
    if fleets and len(fleets) != len(reports):
        raise InputError("a fleet report renders on its own; merge the other reports into it (virtprobe merge)")
    if fmt is OutputFormat.json:
        _one(reports, fmt)
        only = reports[0]
        return dumps(fleet_to_document(only) if isinstance(only, FleetReport) else to_document(only))
    return write_pages([report_page(r, n) for r, n in zip(reports, names, strict=True)], fmt)


def render_comparison(
    comparison: Comparison | FleetComparison,
    reports: Sequence[Report | FleetReport],
    names: Sequence[str],
    fmt: OutputFormat,
) -> str | terminal.Rendering:
    """The comparison in the chosen format; HTML shows the two reports' pages (and charts) after it."""
    if fmt is OutputFormat.json:
        return dumps(comparison.to_dict())
    if not isinstance(comparison, Comparison):
        return write_pages([build_fleet_compare_page(comparison)], fmt)
    benches = [r.result for r in reports if isinstance(r, BenchReport)]
    base, new = (benches[0], benches[1]) if len(benches) == 2 else (None, None)
    pages = [build_compare_page(comparison, base, new)]
    if fmt is OutputFormat.html:
        pages += [report_page(r, n) for r, n in zip(reports, names, strict=True) if not isinstance(r, FleetReport)]
    return write_pages(pages, fmt)
