"""CLI commands `report` and `compare` (thin: options -> core -> render -> exit code)."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from virtprobe.errors import GateFailed
from virtprobe.report.formats import OutputFormat


def _columns() -> int | None:
    """The width COLUMNS asks for, as `ls` and Rich read it (None: not set, or not a number)."""
    value = os.environ.get("COLUMNS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def _rich_text(renderables: list[Any], width: int) -> str:
    """Rich renderables as plain text, for -o FILE (no colour codes in files)."""
    from rich.console import Console

    buf = io.StringIO()
    console = Console(file=buf, width=width, color_system=None, force_terminal=False, soft_wrap=False)
    for r in renderables:
        console.print(r)
    return buf.getvalue()


def emit(text_or_renderables: str | list[Any], out: str, force: bool) -> None:
    """Write text, or print Rich renderables, to stdout ("-") or to a file (atomically).

    Width: COLUMNS when set, else the terminal's; piped or written to a file without
    COLUMNS, 120 (Rich would assume 80 in a CI log and cut metric names).
    """
    if out == "-" and isinstance(text_or_renderables, str):
        sys.stdout.write(text_or_renderables)
        sys.stdout.flush()
        return
    if out == "-":
        from virtprobe.cli.console import stdout_console

        console = stdout_console(width=_columns() or (None if sys.stdout.isatty() else 120))
        for r in text_or_renderables:
            console.print(r)
        return
    from virtprobe.report.write import write_atomic

    text = text_or_renderables
    write_atomic(text if isinstance(text, str) else _rich_text(text, _columns() or 120), out, force=force)


def report(
    files: Annotated[list[Path], typer.Argument(help="Saved reports (virtprobe detect/bench --json).")],
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.table,
    out: Annotated[str, typer.Option("--out", "-o", help="Write to FILE instead of stdout ('-').")] = "-",
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUT if it exists.")] = False,
    anonymize: Annotated[
        bool, typer.Option("--anonymize", help="Replace the hostname and machine IDs with stable hashes.")
    ] = False,
) -> None:
    """Render saved reports again as a table, Markdown, HTML, JSON, Prometheus text or CSV."""
    from virtprobe.report.fleet import FleetReport, anonymize_fleet
    from virtprobe.report.formats import render_reports
    from virtprobe.report.load import load_any

    reports = [load_any(f) for f in files]
    if anonymize:
        from virtprobe.report.anonymize import anonymize as anon
        from virtprobe.report.document import BenchReport

        reports = [
            anonymize_fleet(r) if isinstance(r, FleetReport) else anon(r) if isinstance(r, BenchReport) else r
            for r in reports
        ]
    emit(render_reports(reports, [str(f) for f in files], fmt), out, force)


def compare(
    base: Annotated[Path, typer.Argument(help="The reference report (e.g. a stored baseline).")],
    new: Annotated[Path, typer.Argument(help="The report to judge against BASE.")],
    threshold: Annotated[
        float,
        typer.Option("--threshold", min=0.0, help="Percent change that counts as a regression when significant."),
    ] = 10.0,
    force: Annotated[
        bool,
        typer.Option("--force", help="Compare even if the environments differ (still listed), and overwrite OUT."),
    ] = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.table,
    out: Annotated[str, typer.Option("--out", "-o", help="Write to FILE instead of stdout ('-').")] = "-",
) -> None:
    """Compare two reports; exit 3 on a significant regression larger than --threshold."""
    from virtprobe.report.fleet_compare import FleetComparison
    from virtprobe.report.fleet_compare import compare_any as compare_reports
    from virtprobe.report.formats import render_comparison
    from virtprobe.report.load import load_any
    from virtprobe.report.sections.compare import summary_line

    base_report, new_report = load_any(base), load_any(new)
    result = compare_reports(
        base_report, new_report, threshold=threshold / 100.0, force=force, base_name=str(base), new_name=str(new)
    )
    emit(render_comparison(result, [base_report, new_report], [str(base), str(new)], fmt), out, force)
    # After the result is out: CI reads the table, then keys on the exit code.
    if result.regressions:
        raise GateFailed(result.summary_line() if isinstance(result, FleetComparison) else summary_line(result))
