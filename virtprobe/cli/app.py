"""The Typer app: options -> one core call -> render -> exit code.

The error boundary is cli/main.py's guarded(): VirtprobeError becomes one line on stderr
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
from virtprobe.cli import history as cli_history
from virtprobe.cli import merge as cli_merge
from virtprobe.cli import report as cli_report
from virtprobe.cli.detect import run_detect_command

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
    host_root: Annotated[
        Path | None,
        typer.Option(
            "--host-root",
            help="Read a live host mounted here (its /proc and /sys, as a DaemonSet mounts them); "
            "CPUID and the KVM probe stay live.",
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option("--format", help="table, json, or nfd (a node-feature-discovery feature file)."),
    ] = None,
    out: Annotated[
        str | None, typer.Option("--output", "-o", help="Write the json or nfd output to this file (atomically).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace the --output file if it exists.")] = False,
    expiry_s: Annotated[
        float | None,
        typer.Option("--expiry-s", min=1, help="nfd: labels expire this many seconds from now (+expiry-time)."),
    ] = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Can this host run X? PASS/WARN/FAIL per TARGET (all when none is named); "
            "exit 3 when a named TARGET fails or cannot be confirmed.",
        ),
    ] = False,
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            help="With --check: kvm (qemu, libvirt), firecracker, cloud-hypervisor, kata, gvisor, nested, "
            "passthrough, vhost-net, vhost-vsock, tun, ksm, hugepages, cvm-host, or all.",
            metavar="[TARGET]...",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Report hardware virtualization, KVM, hypervisor, VMM, cloud, container, WSL and confidential VMs."""
    if targets and not check:
        raise typer.BadParameter(f"{targets[0]!r}: targets are given after --check", param_hint="TARGET")
    if check:
        from virtprobe.detection.checks import TARGETS, resolve_targets

        _, unknown = resolve_targets(targets or [])
        if unknown:
            raise typer.BadParameter(
                f"unknown target {unknown[0]!r}; choose from {', '.join(TARGETS)}, or all", param_hint="TARGET"
            )
        if fmt not in (None, "table", "json") or out is not None:
            raise typer.BadParameter("--check prints a table or --json on stdout", param_hint="--check")
    if fmt not in (None, "table", "json", "nfd"):
        raise typer.BadParameter(f"unknown format {fmt!r}; choose table, json or nfd", param_hint="--format")
    if root is not None and host_root is not None:
        raise typer.BadParameter("give --root (a snapshot) or --host-root (a mounted live host), not both")
    if json_out and fmt not in (None, "json"):
        raise typer.BadParameter(f"--json and --format {fmt} disagree", param_hint="--format")
    json_out = json_out or fmt == "json"
    if out is not None and not (json_out or fmt == "nfd"):
        raise typer.BadParameter("--output needs --json or --format nfd", param_hint="--output")
    if expiry_s is not None and fmt != "nfd":
        raise typer.BadParameter("--expiry-s applies to --format nfd", param_hint="--expiry-s")
    run_detect_command(
        json_out=json_out,
        root=root,
        all_evidence=evidence,
        kvm_probe=not no_kvm_probe,
        host_root=host_root,
        fmt=fmt,
        out=out,
        force=force,
        expiry_s=expiry_s,
        check=(targets or []) if check else None,
    )


@app.command()
def snapshot(
    out: Annotated[Path | None, typer.Argument(help="Folder to create, or a file ending in .tar.gz.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace OUT if it exists.")] = False,
    no_kvm_probe: Annotated[
        bool, typer.Option("--no-kvm-probe", help="Do not run a test guest on /dev/kvm.")
    ] = False,
    script: Annotated[
        bool,
        typer.Option(
            "--script",
            help="Print a POSIX sh script that does the same capture without virtprobe (run: sh it OUT.tar.gz).",
        ),
    ] = False,
) -> None:
    """Capture what detect reads from this machine, to attach to a bug report or replay with --root."""
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


app.command("bench")(cli_bench.bench)
app.command("clean")(cli_bench.clean)
app.command("report")(cli_report.report)
app.command("compare")(cli_report.compare)
app.command("merge")(cli_merge.merge)
app.command("history")(cli_history.history)
