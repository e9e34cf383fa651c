"""Shared Rich consoles: data to stdout, messages for people to stderr."""

from __future__ import annotations

from rich.console import Console


def stdout_console(width: int | None = None) -> Console:
    return Console(width=width, soft_wrap=False)


def stderr_console() -> Console:
    return Console(stderr=True)
