"""The output formats, and the one place that maps each to its renderer (checked exhaustively)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any, assert_never

from virtprobe.report.compare import Comparison
from virtprobe.report.document import BenchReport, Report, dumps, to_document


class OutputFormat(enum.StrEnum):
    table = "table"
    markdown = "markdown"
    html = "html"
    json = "json"


def render_reports(reports: Sequence[Report], names: Sequence[str], fmt: OutputFormat) -> str | list[Any]:
    """Text for `markdown`, `html` and `json`; Rich renderables for `table` (the CLI prints them)."""
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
    comparison: Comparison, reports: Sequence[Report], names: Sequence[str], fmt: OutputFormat
) -> str | list[Any]:
    """The comparison in the chosen format; HTML shows the two reports' charts beside it."""
    if fmt is OutputFormat.table:
        from virtprobe.report.compare_render import render_comparison_table

        return [render_comparison_table(comparison)]
    if fmt is OutputFormat.markdown:
        from virtprobe.report.compare_render import render_comparison_markdown

        return render_comparison_markdown(comparison)
    if fmt is OutputFormat.html:
        from virtprobe.report.html import render_html

        return render_html(reports, names, comparison=comparison)
    if fmt is OutputFormat.json:
        return dumps(comparison.to_dict())
    assert_never(fmt)
