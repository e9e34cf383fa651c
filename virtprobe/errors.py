"""The error types of virtprobe and the exit codes they map to.

The one error boundary is in cli/main.py: it catches VirtprobeError, prints its
message as one line on stderr, and exits with the class's exit code. Anything
else is a bug and keeps its traceback.

A message often quotes what a user or a file gave (a host name, a member of an
archive, a context name), so VirtprobeError makes every message one safe line
itself, and no caller can get it wrong: control and format characters are
dropped (an ANSI or OSC escape cannot reach a terminal), line breaks and other
whitespace are folded into single spaces, a leading `::` is broken up (a GitHub
Actions runner would read a line beginning `::error::` as a workflow command),
and the length is capped.
"""

from __future__ import annotations

# Exit codes, documented in the README and docs/cli.md. Keep them stable: CI scripts key on them.
EXIT_OK = 0
EXIT_ERROR = 1  # bad input: a missing file or root, a corrupt report, an invalid profile file
EXIT_USAGE = 2  # bad options (Typer/Click's own code for usage errors)
EXIT_REGRESSION = 3  # compare found a regression, or a --max-* gate was exceeded
EXIT_ENGINE = 4  # the Docker engine is absent, unreachable, forbidden, or died mid-run
EXIT_UNRUNNABLE = 5  # the thing to measure cannot run: image cannot be built, no command, no kernel
EXIT_MISSING_EXTRA = 6  # the command needs an optional dependency that is not installed: pip install 'virtprobe[X]'
EXIT_INTERRUPTED = 130  # Ctrl-C or SIGTERM; everything virtprobe started has been removed


MAX_MESSAGE_CHARS = 1000


def one_line(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """text as one safe line: no control or format characters, whitespace folded, no leading `::`, capped."""
    if not text.isprintable():  # isprintable: no Cc, Cf, Cs, Co, Cn, nor any separator but the space
        text = "".join(c if c.isprintable() else " " if c.isspace() else "" for c in text)
    text = " ".join(text.split())
    if text.startswith("::"):
        text = ": :" + text[2:]
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def shown(value: object, limit: int = 80) -> str:
    """repr() of an untrusted value for a message, cut to limit characters (a 256 MiB name stays short)."""
    if isinstance(value, str) and len(value) > limit:
        value = value[:limit]
        return repr(value)[:-1] + "…" + repr(value)[-1]
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class VirtprobeError(Exception):
    """Base of every error a user can act on. The message says what to do, on one line."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str) -> None:
        message = one_line(str(message))
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InputError(VirtprobeError):
    """A file or directory given by the user is missing, unreadable or malformed."""

    exit_code = EXIT_ERROR


class ReportFormatError(InputError):
    """A report file is not a valid virtprobe report (or is of an unknown major version)."""


class AddressError(InputError):
    """An engine address or context name that cannot be right (-H unix://, port 99999, an ssh option)."""

    exit_code = EXIT_USAGE


class GateFailed(VirtprobeError):
    """A regression gate was exceeded. Not a malfunction: the exit code tells CI."""

    exit_code = EXIT_REGRESSION


class EngineError(VirtprobeError):
    """The Docker engine cannot be used: absent, stopped, forbidden, or it died mid-run.

    `partial` holds what a run had measured before its only engine died (a BenchResult,
    built by the runner), so that the CLI writes that report before it exits 4.
    """

    exit_code = EXIT_ENGINE

    def __init__(self, message: str, partial: object | None = None) -> None:
        super().__init__(message)
        self.partial = partial


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
