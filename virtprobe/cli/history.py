"""CLI command `history`: many bench reports -> a trend per metric; exit 3 when the newest regresses."""

from __future__ import annotations

from typing import Annotated

import typer

from virtprobe.errors import GateFailed


def history(
    reports: Annotated[
        list[str],
        typer.Argument(
            help="Bench report files, or folders of them (their *.json files), in any order.", show_default=False
        ),
    ],
    json_out: Annotated[
        str | None, typer.Option("--json", help="Write the history as JSON to FILE ('-' for stdout only).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the --json file if it exists.")] = False,
    min_effect: Annotated[
        float,
        typer.Option(
            "--threshold", min=0.0, help="Smallest relative change of the newest median that can be a regression."
        ),
    ] = 0.10,
) -> None:
    """Trend per metric over many bench reports (CI runs), change points, and a gate on the newest report."""
    from virtprobe.report.history import history as compute
    from virtprobe.report.history import load_history
    from virtprobe.report.sections.history import build_history_page

    result = compute(load_history(reports), min_effect=min_effect)
    if json_out is not None:
        from virtprobe.cli.output import write_text
        from virtprobe.report.envelope import dumps

        write_text(dumps(result.to_dict()), json_out, force=force)
    page = build_history_page(result)
    if json_out != "-":
        _print(page)
    if result.regressions:
        raise GateFailed("history: the newest report regresses: " + (page.headline or ""))


def _print(page: object) -> None:
    """Interim terminal output of the page's tables, until report/writers/terminal.py renders any Page."""
    from rich.table import Table as RichTable
    from rich.text import Text

    from virtprobe.cli.console import stdout_console
    from virtprobe.report.page import Note, Page, Table

    assert isinstance(page, Page)
    console = stdout_console()
    console.print(Text(page.headline or "", style="bold"))
    for section in page.sections:
        for block in section.blocks:
            if isinstance(block, Table):
                out = RichTable(*(c.title for c in block.columns), title=block.title)
                for row in block.rows:
                    out.add_row(*(Text(c.text if c.text is not None else str(c.value)) for c in row))
                console.print(out)
            elif isinstance(block, Note) and block.text != page.headline:
                console.print(Text(block.text))
