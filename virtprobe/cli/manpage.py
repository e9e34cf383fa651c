"""`virtprobe man`: the man page, generated from the CLI itself, so it cannot drift from the options.

docs/virtprobe.1 is this command's output; tests/test_cli.py fails when it is not current
(regenerate: `virtprobe man > docs/virtprobe.1`). Read it with `man ./docs/virtprobe.1`.
"""

from __future__ import annotations

from typing import Any

from virtprobe import __version__


def _roff(text: str) -> str:
    """Escape text for roff: backslashes, and a leading dot or quote that roff would read as a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join(("\\&" + line) if line.startswith((".", "'")) else line for line in text.splitlines())


def _option(param: Any) -> list[str]:
    names = ", ".join(f"\\fB{_roff(n)}\\fR" for n in [*param.opts, *param.secondary_opts])
    takes_value = not getattr(param, "is_flag", False) and not getattr(param, "_flag_needs_value", False)
    if takes_value:
        names += f" \\fI{_roff(param.metavar or param.name.upper())}\\fR"
    return [".TP", names, _roff(param.help or "")]


def _command(name: str, cmd: Any, ctx: Any) -> list[str]:
    usage = " ".join(cmd.collect_usage_pieces(ctx))
    out = [f".SS {_roff(name)}", f"\\fBvirtprobe {_roff(name)}\\fR {_roff(usage)}", ".PP", _roff(cmd.help or "")]
    for param in cmd.params:
        if param.param_type_name == "option" and not param.hidden and param.name not in ("help",):
            out += _option(param)
        elif param.param_type_name == "argument" and getattr(param, "help", None):
            out += [".TP", f"\\fI{_roff(param.metavar or param.name.upper())}\\fR", _roff(param.help)]
    if cmd.epilog:
        out += [".PP", _roff(cmd.epilog)]
    return out


def render_man() -> str:
    """The whole man page, in roff: every visible command with every visible option."""
    import typer

    from virtprobe.cli.app import COMMANDS, app, load_command
    from virtprobe.cli.commands import ROOT_HELP

    group = typer.main.get_command(app)
    ctx = group.make_context("virtprobe", ["--version"], resilient_parsing=True)
    lines = [
        f'.TH VIRTPROBE 1 "" "virtprobe {__version__}" "User Commands"',
        ".SH NAME",
        "virtprobe \\- " + _roff(group.help or ""),
        ".SH SYNOPSIS",
        "\\fBvirtprobe\\fR [\\fB\\-\\-version\\fR] [\\fB\\-h\\fR] \\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fIARGS\\fR]",
        ".SH DESCRIPTION",
        _roff(ROOT_HELP),
        ".SH COMMANDS",
    ]
    for name, entry in COMMANDS.items():
        if entry.hidden:
            continue
        cmd = load_command(name)
        lines += _command(name, cmd, cmd.make_context(name, [], parent=ctx, resilient_parsing=True))
    lines += [".SH EXIT STATUS", _roff(group.epilog or "")]
    lines += [".SH SEE ALSO", "systemd\\-detect\\-virt(1), virt\\-what(1)"]
    return "\n".join(line for line in lines if line) + "\n"


def man() -> None:
    """Print virtprobe's man page (roff), generated from this CLI."""
    import sys

    sys.stdout.write(render_man())
