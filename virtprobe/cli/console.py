"""Shared Rich consoles: data to stdout, messages for people to stderr."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from rich.progress import Progress

# What bench's progress calls each task, on a terminal bar and in a log line alike.
TASK_LABELS = {
    "cycles": "container cycles",
    "memory": "idle containers for memory",
    "parallel": "parallel cycles",
    "floor": "floor ladder",
}


def stdout_console(width: int | None = None) -> Console:
    return Console(width=width, soft_wrap=False)


def stderr_console() -> Console:
    return Console(stderr=True)


def progress_bar(console: Console) -> Progress:
    """The one look of bench's progress bars: what, a bar, done of total, time; gone when done."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    return Progress(*columns, console=console, transient=True)


def progress_lines(labels: dict[str, str], prefix: str = "") -> Callable[[str, int, int], None]:
    """progress(task, done, total) that prints plain lines on stderr, for CI logs and pipes.

    One line when a task starts, then one at each quarter of it and when it is done:
    enough to see a run moving, few enough to keep a log short.
    """
    said: dict[str, int] = {}

    def progress(task: str, done: int, total: int) -> None:
        quarter = 4 * done // total if total > 0 else 0
        if said.get(task) == quarter:
            return
        said[task] = quarter
        label = labels.get(task, task)
        count = f" {done}/{total}" if total > 0 else ""
        print(f"virtprobe: {prefix}{label}{count}", file=sys.stderr, flush=True)

    return progress
