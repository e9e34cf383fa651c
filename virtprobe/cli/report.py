"""CLI commands `report` and `compare` (thin: options -> core -> render -> exit code)."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from virtprobe.errors import GateFailed
from virtprobe.report.output_format import OutputFormat

if TYPE_CHECKING:
    from virtprobe.report.writers.terminal import Rendering


class EnvMismatch(enum.StrEnum):
    refuse = "refuse"
    warn = "warn"


# Piped, or written to a file, without COLUMNS: 80 columns would cut metric names in a CI log.
REPORT_WIDTH = 120


def emit(text_or_pages: str | Rendering, out: str, force: bool) -> None:
    """Write text, or print the terminal writer's pages, to stdout ("-") or to a file (atomically).

    Width: COLUMNS when set, else the terminal's; piped or written to a file without
    COLUMNS, 120 (80 would cut metric names in a CI log). Colour only on a terminal.
    """
    from virtprobe.cli.console import columns, stdout_console, terminal_width
    from virtprobe.cli.output import write_text

    if isinstance(text_or_pages, str):
        write_text(text_or_pages, out, force=force)
        return
    if out == "-":
        stdout_console(width=terminal_width(sys.stdout, piped=REPORT_WIDTH)).print(text_or_pages)
        return
    write_text(text_or_pages.text(columns() or REPORT_WIDTH, colour=False), out, force=force)


# The same names as every command: -o/--output FILE, --json, -f/--format; `--out` is the old spelling.
Output = Annotated[str, typer.Option("--output", "-o", metavar="FILE", help="Write to FILE instead of stdout ('-').")]
OldOut = Annotated[str | None, typer.Option("--out", hidden=True)]
Json = Annotated[bool, typer.Option("--json", help="Print JSON (same as --format json).")]


def _destination(output: str, old_out: str | None) -> str:
    return old_out if old_out is not None and output == "-" else output


def _format(fmt: OutputFormat, json_out: bool) -> OutputFormat:
    if json_out and fmt not in (OutputFormat.table, OutputFormat.json):
        raise typer.BadParameter(f"--json and --format {fmt.value} disagree", param_hint="--format")
    return OutputFormat.json if json_out else fmt


def report(
    files: Annotated[list[Path], typer.Argument(help="Saved reports (virtprobe detect/bench --json).")],
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.table,
    out: Output = "-",
    force: Annotated[bool, typer.Option("--force", help="Overwrite the --output file if it exists.")] = False,
    json_out: Json = False,
    old_out: OldOut = None,
    anonymize: Annotated[
        bool, typer.Option("--anonymize", help="Replace the hostname and machine IDs with stable hashes.")
    ] = False,
) -> None:
    """Render saved reports again as a table, Markdown, HTML, JSON, Prometheus text or CSV."""
    out, fmt = _destination(out, old_out), _format(fmt, json_out)
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
    threshold_pct: Annotated[
        float,
        typer.Option(
            "--threshold-pct", min=0.0, help="Percent change that counts as a regression when significant (10 is 10%)."
        ),
    ] = 10.0,
    old_threshold: Annotated[float | None, typer.Option("--threshold", min=0.0, hidden=True)] = None,
    env_mismatch: Annotated[
        EnvMismatch,
        typer.Option(
            "--env-mismatch",
            help="Reports from different environments (CPU, kernel, hypervisor): refuse (exit 1), or warn on "
            "stderr and compare anyway (a hosted CI runner's kernel changes with its image).",
        ),
    ] = EnvMismatch.refuse,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Overwrite the --output file; also compares other environments, as --env-mismatch warn."
        ),
    ] = False,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.table,
    out: Output = "-",
    json_out: Json = False,
    old_out: OldOut = None,
) -> None:
    """Compare two reports; exit 3 on a significant regression larger than --threshold-pct."""
    threshold = old_threshold if old_threshold is not None else threshold_pct
    out, fmt = _destination(out, old_out), _format(fmt, json_out)
    warn = force or env_mismatch is EnvMismatch.warn
    from virtprobe.report.fleet_compare import FleetComparison
    from virtprobe.report.fleet_compare import compare_any as compare_reports
    from virtprobe.report.formats import render_comparison
    from virtprobe.report.load import load_any
    from virtprobe.report.sections.compare import summary_line

    base_report, new_report = load_any(base), load_any(new)
    result = compare_reports(
        base_report, new_report, threshold=threshold / 100.0, force=warn, base_name=str(base), new_name=str(new)
    )
    differences = getattr(result, "env_differences", ())
    if differences:
        print(f"virtprobe: warning: the environments differ ({'; '.join(differences)})", file=sys.stderr)
    emit(render_comparison(result, [base_report, new_report], [str(base), str(new)], fmt), out, force)
    # After the result is out: CI reads the table, then keys on the exit code.
    if result.regressions:
        raise GateFailed(result.summary_line() if isinstance(result, FleetComparison) else summary_line(result))
