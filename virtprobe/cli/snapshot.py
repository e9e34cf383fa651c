"""The `snapshot` command: capture what detect reads, or print the POSIX sh script that does the same."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def snapshot(
    out: Annotated[Path | None, typer.Argument(help="Folder to create, or a file ending in .tar.gz.")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", metavar="OUT", help="The same as OUT, named as in every command.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists.")] = False,
    no_kvm_probe: Annotated[bool, typer.Option("--no-kvm-probe", help="Do not run a test guest on /dev/kvm.")] = False,
    script: Annotated[
        bool,
        typer.Option(
            "--script",
            help="Print a POSIX sh script that does the same capture without virtprobe (run: sh it OUT.tar.gz).",
        ),
    ] = False,
) -> None:
    """Capture what detect reads from this machine, to attach to a bug report or replay with --root."""
    from virtprobe import __version__

    if output is not None and out is not None and output != out:
        raise typer.BadParameter("give OUT or -o OUT, not two places", param_hint="OUT")
    out = out or output
    if script:
        if out is not None:
            raise typer.BadParameter("--script prints the script on stdout and takes no OUT", param_hint="OUT")
        from virtprobe.detection.shell_capture import render_script

        typer.echo(render_script(__version__), nl=False)
        return
    if out is None:
        raise typer.BadParameter("give the folder or .tar.gz file to write (or --script)", param_hint="OUT")
    from virtprobe.detection.capture import capture

    written = capture(out, force=force, kvm_probe=not no_kvm_probe)
    typer.echo(f"snapshot written to {written}", err=True)
