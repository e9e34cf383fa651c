"""Shared Rich consoles: data to stdout, messages for people to stderr."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from rich.progress import Progress


def stdout_console(width: int | None = None) -> Console:
    return Console(width=width, soft_wrap=False)


def stderr_console() -> Console:
    return Console(stderr=True)


def progress_bar(console: Console) -> Progress:
    """The one look of bench's progress bars: what, a bar, done of total, time; gone when done."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, console=console, transient=True)
