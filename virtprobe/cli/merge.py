"""CLI command `merge`: many detect, bench and fleet reports -> one fleet document (thin)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def merge(
    files: Annotated[
        list[Path], typer.Argument(help="Detect, bench or fleet reports (JSON), from any number of machines.")
    ],
    out: Annotated[str, typer.Option("--output", "-o", help="Write the fleet document to FILE ('-': stdout).")] = "-",
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUT if it exists.")] = False,
    anonymize: Annotated[
        bool, typer.Option("--anonymize", help="Replace host names, sources and machine IDs with stable hashes.")
    ] = False,
) -> None:
    """Gather reports from many machines into one versioned fleet document (render it with `report`)."""
    from virtprobe.cli.output import write_text
    from virtprobe.report.envelope import dumps
    from virtprobe.report.fleet import anonymize_fleet, fleet_to_document
    from virtprobe.report.merge import merge_files
    from virtprobe.report.write import check_writable

    check_writable(out, force)
    fleet = merge_files(files)
    if anonymize:
        fleet = anonymize_fleet(fleet)
    write_text(dumps(fleet_to_document(fleet)), out, force=force)
    if out != "-":
        kinds = sorted({m.kind or "failed" for m in fleet.members})
        typer.echo(f"{len(fleet.members)} member(s) ({', '.join(kinds)}) merged into {out}", err=True)
