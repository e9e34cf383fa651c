"""Where the CLI prints: pages to stdout (plain text, SGR styles on a colour terminal); Rich on stderr for bench.

stdout takes what the terminal writer (report/writers/terminal.py) lays out, without Rich:
`detect` and `detect --check` print through here and must start within 1.5x of virt-what
(Rich's import alone is about 26 ms). bench's progress bars on stderr stay Rich's.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping

from virtprobe.lean_typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Protocol, TextIO

    from rich.console import Console
    from rich.progress import Progress

    # What the text console prints besides a string (a type only: `typing` is off detect's path).
    class Printable(Protocol):
        def text(self, width: int, colour: bool = False) -> str: ...


# What bench's progress calls each task, on a terminal bar and in a log line alike.
TASK_LABELS = {
    "cycles": "container cycles",
    "memory": "idle containers for memory",
    "parallel": "parallel cycles",
    "floor": "floor ladder",
}


PIPED_WIDTH = 80  # stdout is not a terminal and COLUMNS is unset: the width Rich assumed too


def colour_on(stream: TextIO, env: Mapping[str, str] = os.environ) -> bool:
    """Styles only for a person at a terminal: NO_COLOR (set, not empty) refuses, FORCE_COLOR forces, else a tty.

    NO_COLOR wins over FORCE_COLOR: it is the reader's own refusal (no-color.org), where
    FORCE_COLOR is usually a CI runner's blanket setting. TERM=dumb takes no styles.
    """
    if env.get("NO_COLOR"):
        return False
    if env.get("FORCE_COLOR"):
        return True
    return stream.isatty() and env.get("TERM") != "dumb"


def columns(env: Mapping[str, str] = os.environ) -> int | None:
    """COLUMNS, when set to a width (as every tool honours it)."""
    value = env.get("COLUMNS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def terminal_width(stream: TextIO, env: Mapping[str, str] = os.environ, piped: int = PIPED_WIDTH) -> int:
    """COLUMNS when set; else the terminal's width; else (not a terminal) `piped`."""
    if (width := columns(env)) is not None:
        return width
    if stream.isatty():
        try:
            return os.get_terminal_size(stream.fileno()).columns or PIPED_WIDTH
        except (OSError, ValueError):
            return PIPED_WIDTH
    return piped


class TextConsole:
    """stdout for pages: each printed at the width and with the colour of where stdout goes."""

    def __init__(self, width: int | None = None, stream: TextIO | None = None) -> None:
        self.width, self.stream = width, stream

    def print(self, item: Printable | str) -> None:
        out = self.stream or sys.stdout
        if isinstance(item, str):
            out.write(item + "\n")
        else:
            out.write(item.text(self.width or terminal_width(out), colour=colour_on(out)))
        out.flush()


def stdout_console(width: int | None = None) -> TextConsole:
    return TextConsole(width)


def stderr_console() -> Console:
    from rich.console import Console

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
