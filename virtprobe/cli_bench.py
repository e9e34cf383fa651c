"""CLI commands `bench` and `clean` (thin: options -> core -> render -> exit code)."""

from __future__ import annotations

import typer

from virtprobe.errors import UnrunnableError


def bench() -> None:
    """Time container startup phase by phase, and memory, against VM baselines."""
    raise UnrunnableError("bench is not implemented yet")


def clean() -> None:
    """Remove containers and images left by crashed virtprobe runs (only virtprobe's own)."""
    typer.echo("nothing to clean", err=True)
