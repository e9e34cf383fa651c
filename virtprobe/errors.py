"""The error types of virtprobe and the exit codes they map to.

The one error boundary is in cli.py: it catches VirtprobeError, prints its
message as one line on stderr, and exits with the class's exit code. Anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

# Exit codes, documented in the README. Keep them stable: CI scripts key on them.
EXIT_OK = 0
EXIT_ERROR = 1  # bad input: a missing file or root, a corrupt report, an invalid profile file
EXIT_USAGE = 2  # bad options (Typer/Click's own code for usage errors)
EXIT_REGRESSION = 3  # compare found a regression, or a --max-* gate was exceeded
EXIT_ENGINE = 4  # the Docker engine is absent, unreachable, forbidden, or died mid-run
EXIT_UNRUNNABLE = 5  # the thing to measure cannot run: image cannot be built, no command, no kernel
EXIT_MISSING_EXTRA = 6  # the command needs an optional dependency that is not installed: pip install 'virtprobe[X]'
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM; everything virtprobe started has been removed


class VirtprobeError(Exception):
    """Base of every error a user can act on. The message says what to do."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(VirtprobeError):
    """A file or directory given by the user is missing, unreadable or malformed."""

    exit_code = EXIT_ERROR


class ReportFormatError(InputError):
    """A report file is not a valid virtprobe report (or is of an unknown major version)."""


class GateFailed(VirtprobeError):
    """A regression gate was exceeded. Not a malfunction: the exit code tells CI."""

    exit_code = EXIT_REGRESSION


class EngineError(VirtprobeError):
    """The Docker engine cannot be used: absent, stopped, forbidden, or it died mid-run."""

    exit_code = EXIT_ENGINE


class UnrunnableError(VirtprobeError):
    """The workload cannot be run: no image, no usable command, no guest kernel, no QEMU."""

    exit_code = EXIT_UNRUNNABLE


class MissingExtra(VirtprobeError):
    """An optional dependency is not installed; the message names the extra that brings it."""

    exit_code = EXIT_MISSING_EXTRA

    def __init__(self, extra: str, module: str, what: str) -> None:
        super().__init__(f"{what} needs {module}, which is not installed: pip install 'virtprobe[{extra}]'")
        self.extra = extra


# Optional dependency (top-level module) -> the extra that installs it (pyproject.toml).
EXTRAS = {
    "docker": ("bench", "benchmarking an engine"),
    "psutil": ("bench", "measuring the engine's own processes"),
    "paramiko": ("ssh", "an ssh:// engine"),
    "lz4": ("vm", "reading an LZ4-compressed guest kernel"),
    "pygal": ("html", "the HTML report's charts"),
    "jsonschema": ("report", "reading a saved report"),
}


def missing_extra(err: ImportError) -> MissingExtra | None:
    """The MissingExtra an ImportError of an optional dependency means, or None (then it is a bug)."""
    top = (err.name or "").split(".")[0]
    if top not in EXTRAS:
        return None
    extra, what = EXTRAS[top]
    return MissingExtra(extra, top, what)


class Interrupted(VirtprobeError):
    """The run was interrupted by a signal; cleanup has already happened."""

    exit_code = EXIT_INTERRUPTED
