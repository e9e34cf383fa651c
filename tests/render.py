"""Test helpers: a report rendered by every writer, through the same path the CLI takes."""

from __future__ import annotations

from collections.abc import Sequence

from virtprobe.benchmark.result import BenchResult
from virtprobe.report.document import Report, new_report
from virtprobe.report.formats import OutputFormat, report_page, write_pages
from virtprobe.report.page import Page
from virtprobe.report.writers import terminal

TEXT_FORMATS = (OutputFormat.markdown, OutputFormat.html, OutputFormat.csv, OutputFormat.prometheus)


def text(pages: Sequence[Page], width: int = 200) -> str:
    """The terminal writer's output as plain text."""
    return terminal.write(pages, width)


def rendered(report: Report | BenchResult, name: str = "report.json", width: int = 200) -> dict[str, str]:
    """{format: output} for the terminal (as text) and every text writer."""
    if isinstance(report, BenchResult):
        report = new_report(report)
    page = report_page(report, name)
    out = {"table": text([page], width)}
    for fmt in TEXT_FORMATS:
        got = write_pages([page], fmt)
        assert isinstance(got, str)
        out[fmt.value] = got
    return out


def for_people(report: Report | BenchResult, name: str = "report.json") -> list[str]:
    """Terminal, Markdown and HTML: the formats whose words people read."""
    got = rendered(report, name)
    return [got["table"], got["markdown"], got["html"]]


def markdown(report: Report, name: str = "report.json") -> str:
    got = write_pages([report_page(report, name)], OutputFormat.markdown)
    assert isinstance(got, str)
    return got


def html(reports: Sequence[Report], names: Sequence[str]) -> str:
    got = write_pages([report_page(r, n) for r, n in zip(reports, names, strict=True)], OutputFormat.html)
    assert isinstance(got, str)
    return got
