"""CLI command `history`: many bench reports -> a trend per metric; exit 3 when the newest regresses."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from virtprobe.cli.report import EnvMismatch, Json, OldOut, Output, _destination, _format, emit
from virtprobe.errors import GateFailed, InputError
from virtprobe.report.output_format import OutputFormat


def history(
    reports: Annotated[
        list[str],
        typer.Argument(
            help="Bench report files, or folders of them (their *.json files), in any order.", show_default=False
        ),
    ],
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.table,
    out: Output = "-",
    force: Annotated[bool, typer.Option("--force", help="Overwrite the --output file if it exists.")] = False,
    json_out: Json = False,
    old_out: OldOut = None,
    threshold_pct: Annotated[
        float,
        typer.Option(
            "--threshold-pct",
            min=0.0,
            help="Smallest change of the newest median, in percent, that can be a regression (10 is 10%).",
        ),
    ] = 10.0,
    env_mismatch: Annotated[
        EnvMismatch,
        typer.Option(
            "--env-mismatch",
            help="Reports from different environments (CPU, kernel, hypervisor, engine, runtimes): warn on "
            "stderr and in the report, or refuse (exit 1). Warn by default: a CI runner's kernel changes "
            "with its image.",
        ),
    ] = EnvMismatch.warn,
) -> None:
    """Trend per metric over many bench reports (CI runs), change points, and a gate on the newest report."""
    out, fmt = _destination(out, old_out), _format(fmt, json_out)
    from virtprobe.report.envelope import dumps
    from virtprobe.report.formats import write_pages
    from virtprobe.report.history import environment_changes, load_history
    from virtprobe.report.history import history as compute
    from virtprobe.report.sections.history import build_history_page

    series = load_history(reports)
    # Refused before the change points are searched (the costly part); warned of from the result's notes.
    if env_mismatch is EnvMismatch.refuse and (changes := environment_changes(series)):
        raise InputError(f"{changes[0]}; their figures are not one series. Pass --env-mismatch warn to read them")
    result = compute(series, min_effect=threshold_pct / 100)
    for change in result.notes:
        print(f"virtprobe: warning: {change}", file=sys.stderr)
    page = build_history_page(result)
    emit(dumps(result.to_dict()) if fmt is OutputFormat.json else write_pages([page], fmt), out, force)
    if result.regressions:
        raise GateFailed("history: the newest report regresses: " + (page.headline or ""))
