"""The Typer app: a command group that imports a command's module only when that command runs.

`virtprobe --help` lists every command from COMMANDS without importing any of them, and
`virtprobe bench ...` imports cli/bench.py and nothing of report/compare; so each command
pays only for its own imports. `detect` is built from its option table
(cli/detect_options.py); cli/main.py parses it without Typer, this Click command is what
its help, completion and the man page read. The error boundary is cli/main.py's guarded().
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from virtprobe import __version__
from virtprobe.cli.commands import APP_EPILOG, APP_HELP, COMMANDS, MAX_WIDTH, VERSION_HELP

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": MAX_WIDTH}


def detect_command() -> TyperCommand:
    """The Click command of `detect`, from the same option table argparse reads."""
    from virtprobe.cli import detect_options as spec

    params: list[Any] = [
        TyperOption(
            param_decls=[*o.flags, o.dest],
            is_flag=o.takes is None,
            type=o.takes or bool,
            default=False if o.takes is None else None,
            metavar=o.metavar,
            help=o.help,
            hidden=o.hidden,
            rich_help_panel=o.panel,
        )
        for o in spec.OPTIONS
    ]
    params.append(TyperArgument(param_decls=["targets"], nargs=-1, required=False, metavar="[TARGET]...",
                                help=spec.TARGETS_HELP))  # fmt: skip

    def callback(**options: Any) -> None:
        from virtprobe.cli.detect import run

        code = run({**options, "targets": list(options.get("targets") or ())})
        if code:
            raise typer.Exit(code)

    return TyperCommand(
        name="detect", params=params, callback=callback, help=spec.HELP, epilog=spec.EPILOG,
        context_settings=CONTEXT, rich_markup_mode=None,
    )  # fmt: skip


def load_command(name: str) -> Any:
    """The Click command `name`, importing its module now."""
    if name == "detect":
        return detect_command()
    entry = COMMANDS[name]
    one = typer.Typer(rich_markup_mode=None, context_settings=CONTEXT, pretty_exceptions_enable=False)
    one.command(name, hidden=entry.hidden)(getattr(importlib.import_module(entry.module), entry.function))
    return typer.main.get_command(one)


class LazyGroup(TyperGroup):
    """A group whose commands are imported on first use (Click's documented lazy-loading pattern)."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in COMMANDS:
            return None
        if cmd_name not in self.commands:
            self.commands[cmd_name] = load_command(cmd_name)
        return self.commands[cmd_name]

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = [(name, e.summary) for name, e in COMMANDS.items() if not e.hidden]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


app = typer.Typer(
    name="virtprobe",
    cls=LazyGroup,
    help=APP_HELP,
    no_args_is_help=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings=CONTEXT,
    epilog=APP_EPILOG,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"virtprobe {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help=VERSION_HELP)
    ] = False,
) -> None:
    """The root's options; its description is cli/commands.py ROOT_HELP."""
