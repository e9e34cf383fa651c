"""`virtprobe --help` and `virtprobe --version`, answered from the command table without importing Typer.

The root of the lazy command group has nothing to load: its help lists cli/commands.py's
table and its version is one line. Typer costs 30-45 ms to import, about what virt-what
takes to answer, so the root prints them itself, laid out as Click lays out help (a
usage line, the description, the options and the commands as definition lists, the
epilog). tests/test_cli.py renders the same help through Click at several widths and
requires the two to be equal, so the two cannot drift.
"""

from __future__ import annotations

import os
import sys

from virtprobe.cli.commands import APP_EPILOG, APP_HELP, COMMANDS, MAX_WIDTH, VERSION_HELP

# The root's options as Typer declares them (cli/app.py, and Typer's completion options).
ROOT_OPTIONS = (
    ("--version", VERSION_HELP),
    ("--install-completion", "Install completion for the current shell."),
    ("--show-completion", "Show completion for the current shell, to copy it or customize the installation."),
    ("-h, --help", "Show this message and exit."),
)


def terminal_columns() -> int:
    """shutil.get_terminal_size().columns, without importing shutil: COLUMNS, the terminal, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns > 0:
        return columns
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 80
    except (AttributeError, ValueError, OSError):
        return 80


def _wrap(text: str, width: int, indent: str) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width, initial_indent=indent, subsequent_indent=indent, replace_whitespace=False)


def _dl(rows: list[tuple[str, str]], width: int, indent: int = 2, col_max: int = 30, spacing: int = 2) -> list[str]:
    """Click's HelpFormatter.write_dl: a term column, then its text wrapped beside it."""
    first_col = min(max(len(term) for term, _ in rows), col_max) + spacing
    text_width = max(width - first_col - 2, 10)
    out = []
    for term, text in rows:
        lines = _wrap(text, text_width, "")
        head = " " * indent + term
        if len(term) <= first_col - spacing:
            out.append(head + " " * (first_col - len(term)) + lines[0])
        else:
            out += [head, " " * (first_col + indent) + lines[0]]
        out += [" " * (first_col + indent) + line for line in lines[1:]]
    return out


def render_help(columns: int | None = None) -> str:
    width = max(min(columns or terminal_columns(), MAX_WIDTH) - 2, 50)
    commands = [(name, e.summary) for name, e in COMMANDS.items() if not e.hidden]
    lines = ["Usage: virtprobe [OPTIONS] COMMAND [ARGS]...", "", *_wrap(APP_HELP, width, "  "), ""]
    lines += ["Options:", *_dl(list(ROOT_OPTIONS), width), "", "Commands:", *_dl(commands, width)]
    lines += ["", *_wrap(APP_EPILOG, width, "  ")]
    return "\n".join(lines) + "\n"


def answer(argv: list[str]) -> str | None:
    """The root's own output for `--version`, `-h` or `--help` alone; None for anything else."""
    if argv == ["--version"]:
        from virtprobe import __version__

        return f"virtprobe {__version__}\n"
    if argv in (["-h"], ["--help"]):
        return render_help()
    return None
