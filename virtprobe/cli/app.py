"""The Typer app: options -> one core call -> render -> exit code.

The error boundary is entry.guarded: VirtprobeError becomes one line on stderr
and its exit code. Anything else is a bug and keeps its traceback. Heavy modules
(docker, rich, jsonschema) are imported inside the commands that need them,
so `virtprobe detect --json` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from virtprobe import __version__
from virtprobe.cli import bench as cli_bench
from virtprobe.cli import report as cli_report
from virtprobe.cli.main import guarded, run_detect_command

app = typer.Typer(
    name="virtprobe",
    help="What is this machine, really, and what does isolation cost on it?",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"virtprobe {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """virtprobe inspects the machine it runs on and measures what isolation costs there."""


@app.command()
def detect(
    json_out: Annotated[bool, typer.Option("--json", help="Print the versioned JSON document on stdout.")] = False,
    root: Annotated[
        Path | None,
        typer.Option("--root", help="Read a captured snapshot folder instead of the live machine."),
    ] = None,
    evidence: Annotated[
        bool, typer.Option("--evidence", "-e", help="Show every piece of evidence, not only the deciding ones.")
    ] = False,
    no_kvm_probe: Annotated[
        bool, typer.Option("--no-kvm-probe", help="Do not run a test guest on /dev/kvm.")
    ] = False,
) -> None:
    """Report hardware virtualization, KVM, hypervisor, VMM, cloud, container and WSL, with evidence."""
    run_detect_command(json_out=json_out, root=root, all_evidence=evidence, kvm_probe=not no_kvm_probe)


@app.command()
def snapshot(
    out: Annotated[Path, typer.Argument(help="Folder to create, or a file ending in .tar.gz.")],
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists.")] = False,
    no_kvm_probe: Annotated[
        bool, typer.Option("--no-kvm-probe", help="Do not run a test guest on /dev/kvm.")
    ] = False,
) -> None:
    """Capture what detect reads from this machine, to attach to a bug report or replay with --root."""
    from virtprobe.detect.capture import capture

    written = capture(out, force=force, kvm_probe=not no_kvm_probe)
    typer.echo(f"snapshot written to {written}", err=True)


app.command("bench")(cli_bench.bench)
app.command("clean")(cli_bench.clean)
app.command("report")(cli_report.report)
app.command("compare")(cli_report.compare)


def main() -> None:
    """Run the Typer app inside the error boundary (the console script uses entry.main)."""
    guarded(app)
