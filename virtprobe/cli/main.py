"""Process entry point: the one error boundary, and the choice of parser for the command given.

Typer and Click cost more to import than virt-what takes to answer, so the root's own
`--help` and `--version` come from the command table (cli/root.py) and `detect` is parsed
by a loop over its option table (cli/detect_options.py); every other command, and
`detect -h` or a usage error, goes through the Typer app (cli/app.py), whose command group
imports only the module of the command that runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from virtprobe.errors import EXIT_INTERRUPTED, VirtprobeError, missing_extra
from virtprobe.lean_typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any


def guarded(fn: Callable[[], Any]) -> int:
    """Run fn; turn VirtprobeError into one line on stderr and its exit code."""
    try:
        code = fn()
    except VirtprobeError as err:
        print(f"virtprobe: error: {err.message}", file=sys.stderr)
        return err.exit_code
    except ModuleNotFoundError as err:
        # An optional dependency that was not installed: say which extra brings it (exit 6).
        extra = missing_extra(err)
        if extra is None:
            raise
        print(f"virtprobe: error: {extra.message}", file=sys.stderr)
        return extra.exit_code
    except KeyboardInterrupt:
        print("virtprobe: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `virtprobe detect --json | head -1`: the reader left early; not our error.
        sys.stderr.close()
        return 0
    return code if isinstance(code, int) else 0


def dispatch(argv: Sequence[str]) -> int:
    if len(argv) == 1 and argv[0] in ("--version", "-h", "--help"):
        from virtprobe.cli.root import answer

        text = answer(list(argv))
        if text is not None:
            sys.stdout.write(text)
            return 0
    if argv and argv[0] == "detect":
        from virtprobe.cli.detect_options import parse

        options = parse(argv[1:])
        if options is not None:
            from virtprobe.cli.detect import run

            return run(options)
    from virtprobe.cli.aliases import rewrite
    from virtprobe.cli.app import app

    # Click's standalone mode handles usage errors (exit 2) and --help itself, and exits;
    # our own errors pass through it to the boundary.
    app(args=rewrite(argv), prog_name="virtprobe")
    return 0


def main() -> None:
    argv = sys.argv[1:]
    code = guarded(lambda: dispatch(argv))
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = code or 0
    sys.exit(code)
