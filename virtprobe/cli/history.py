"""CLI command `history`: many bench reports -> a trend per metric; exit 3 when the newest regresses."""

from __future__ import annotations

from typing import Annotated

import typer

from virtprobe.cli.report import Json, OldOut, Output, _destination, _format, emit
from virtprobe.errors import GateFailed
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
) -> None:
    """Trend per metric over many bench reports (CI runs), change points, and a gate on the newest report."""
    out, fmt = _destination(out, old_out), _format(fmt, json_out)
    from virtprobe.report.envelope import dumps
    from virtprobe.report.formats import write_pages
    from virtprobe.report.history import history as compute
    from virtprobe.report.history import load_history
    from virtprobe.report.sections.history import build_history_page

    result = compute(load_history(reports), min_effect=threshold_pct / 100)
    page = build_history_page(result)
    emit(dumps(result.to_dict()) if fmt is OutputFormat.json else write_pages([page], fmt), out, force)
    if result.regressions:
        raise GateFailed("history: the newest report regresses: " + (page.headline or ""))
