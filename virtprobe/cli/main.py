"""Process entry point: the one error boundary, and a fast path for `detect`.

`virtprobe detect --json` is called by scripts and prompts where every
millisecond shows, and building the Typer app costs about 45 ms of imports
(more than detect's own probes). So plain `detect` invocations that use only
its simple flags are parsed here and run the very same command body; anything
else (help, bad options, other commands) goes through Typer in cli/app.py.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any

from virtprobe.errors import EXIT_INTERRUPTED, VirtprobeError

_DETECT_FLAGS = {
    "--json": ("json_out", True),
    "--evidence": ("all_evidence", True),
    "-e": ("all_evidence", True),
    "--no-kvm-probe": ("kvm_probe", False),
}


def detect_fast_args(argv: Sequence[str]) -> dict[str, Any] | None:
    """The detect options when argv is a simple detect call, else None (let Typer parse it)."""
    if not argv or argv[0] != "detect":
        return None
    args: dict[str, Any] = {"json_out": False, "root": None, "all_evidence": False, "kvm_probe": True}
    rest = list(argv[1:])
    while rest:
        arg = rest.pop(0)
        if arg in _DETECT_FLAGS:
            key, value = _DETECT_FLAGS[arg]
            args[key] = value
        elif arg == "--root" and rest and not rest[0].startswith("-") and args["root"] is None:
            args["root"] = rest.pop(0)
        elif arg.startswith("--root=") and len(arg) > len("--root=") and args["root"] is None:
            args["root"] = arg[len("--root=") :]
        else:
            return None
    return args


def guarded(fn: Callable[[], Any]) -> None:
    """Run fn; turn VirtprobeError into one line on stderr and its exit code."""
    try:
        fn()
    except VirtprobeError as err:
        print(f"virtprobe: error: {err.message}", file=sys.stderr)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        print("virtprobe: interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        # `virtprobe detect --json | head -1`: the reader left early; not our error.
        sys.stderr.close()
        sys.exit(0)


def main() -> None:
    fast = detect_fast_args(sys.argv[1:])
    if fast is not None:
        from virtprobe.cli.detect import run_detect_command

        guarded(lambda: run_detect_command(**fast))
        return
    from virtprobe.cli.app import app

    # Click's standalone mode handles usage errors (exit 2) and --help itself;
    # our own errors pass through it to the boundary.
    guarded(app)
