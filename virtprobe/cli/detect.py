"""The `detect` command: options (cli/detect_options.py) -> checks of their combination -> one detect -> one writer.

Exit codes: 0 done; in the drop-in modes (--virt, --vm, --container, --cvm, --chroot,
--private-users) 0 when virtualized and 1 when not, as systemd-detect-virt(1);
1 bad input (a missing --root); 2 usage; 3 when a --check shown FAILs, or a named
TARGET is not confirmed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from virtprobe.errors import EXIT_USAGE, VirtprobeError
from virtprobe.lean_typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

    from virtprobe.detection.model import DetectResult
    from virtprobe.machine.source import Source

_MODES = {
    "virt": "virt",
    "vm": "vm",
    "container": "container",
    "cvm": "cvm",
    "chroot": "chroot",
    "private_users": "private-users",
}
_LISTS = ("list_ids", "list_cvm")


class UsageError(VirtprobeError):
    """Options that do not go together: exit 2, like every usage error."""

    exit_code = EXIT_USAGE


def _flag(name: str) -> str:
    return "--" + name.replace("_ids", "").replace("_", "-")


def validate(a: dict[str, Any]) -> tuple[str | None, str]:
    """(drop-in mode or None, output format), or UsageError naming what does not go together."""
    modes = [m for m in (*_MODES, *_LISTS) if a.get(m)]
    if len(modes) > 1:
        raise UsageError(f"{_flag(modes[0])} and {_flag(modes[1])} are two questions; ask one")
    fmt = a.get("fmt") or ("json" if a.get("json_out") else "table")
    from virtprobe.cli.detect_options import FORMATS

    if fmt not in FORMATS:
        raise UsageError(f"unknown --format {fmt!r}; choose {', '.join(FORMATS)}")
    if a.get("json_out") and fmt != "json":
        raise UsageError(f"--json and --format {fmt} disagree")
    if a.get("root") is not None and a.get("host_root") is not None:
        raise UsageError("give --root (a snapshot) or --host-root (a mounted live host), not both")
    mode = modes[0] if modes else None
    if mode is not None:
        _validate_dropin(a, mode, fmt)
        return _MODES.get(mode, mode), fmt
    targets = a.get("targets") or []
    if targets and not a.get("check"):
        raise UsageError(f"{targets[0]!r}: targets are given after --check")
    if a.get("check"):
        from virtprobe.detection.checks import TARGETS, resolve_targets

        _, unknown = resolve_targets(targets)
        if unknown:
            raise UsageError(f"unknown --check target {unknown[0]!r}; choose from {', '.join(TARGETS)}, or all")
        if fmt not in ("table", "json") or a.get("output") is not None:
            raise UsageError("--check prints a table or --json on stdout")
    elif a.get("quiet"):
        raise UsageError("-q applies to --check and to the drop-in modes (--vm, --container, ...)")
    if a.get("output") is not None and fmt == "table":
        raise UsageError("--output writes json, nfd, lines or env; add --format")
    if a.get("expiry_s") is not None and (fmt != "nfd" or a["expiry_s"] < 1):
        raise UsageError("--expiry-s takes 1 or more seconds, with --format nfd")
    return None, fmt


def _validate_dropin(a: dict[str, Any], mode: str, fmt: str) -> None:
    others = [o for o in ("check", "evidence", "output", "expiry_s", "targets") if a.get(o)]
    if others or fmt != "table":
        what = ("TARGET" if others[0] == "targets" else _flag(others[0])) if others else f"--format {fmt}"
        raise UsageError(f"{_flag(mode)} answers like systemd-detect-virt; it takes no {what}")
    if mode in ("chroot", "private_users", *_LISTS) and (a.get("root") or a.get("host_root")):
        raise UsageError(f"{_flag(mode)} asks about this process, not a snapshot")


def open_source(a: dict[str, Any]) -> Source:
    from virtprobe.machine.roots import open_source as open_root

    if a.get("host_root") is not None:
        from virtprobe.machine.hostroot import HostRootSource

        return HostRootSource(a["host_root"])
    return open_root(a.get("root"))


def run(a: dict[str, Any]) -> int:
    """Run one detect call from its parsed options; returns the exit code."""
    mode, fmt = validate(a)
    if mode is not None:
        return _dropin(a, mode)
    from virtprobe.detection.run import detect

    check = a.get("check", False)
    result = detect(open_source(a), kvm_probe=not a.get("no_kvm_probe"), checks=check)
    if check:
        from virtprobe.cli.check import show_checks

        show_checks(result, a.get("targets") or [], json_out=fmt == "json", quiet=bool(a.get("quiet")))
        return 0
    _write(result, fmt, a)
    return 0


def _write(result: DetectResult, fmt: str, a: dict[str, Any]) -> None:
    if fmt == "table":
        from virtprobe.cli.console import stdout_console
        from virtprobe.report.sections.detect import build_detect_page
        from virtprobe.report.writers.terminal import renderable

        stdout_console().print(renderable([build_detect_page(result, all_evidence=bool(a.get("evidence")))]))
        return
    _emit(_text(result, fmt, a), a.get("output"), bool(a.get("force")))


def _json(result: DetectResult, a: dict[str, Any]) -> str:
    return result.to_json()


def _nfd(result: DetectResult, a: dict[str, Any]) -> str:
    import datetime as dt

    from virtprobe.report.nfd import render_nfd

    expiry = a.get("expiry_s")
    expires = None if expiry is None else dt.datetime.now(dt.UTC) + dt.timedelta(seconds=expiry)
    return render_nfd(result, expires_at=expires)


def _prometheus(result: DetectResult, a: dict[str, Any]) -> str:
    from virtprobe.report.sections.detect import build_detect_page
    from virtprobe.report.writers import prometheus

    return prometheus.write([build_detect_page(result)])


def _lines(result: DetectResult, a: dict[str, Any]) -> str:
    from virtprobe.report.detect_lines import render_lines

    return render_lines(result)


def _env(result: DetectResult, a: dict[str, Any]) -> str:
    from virtprobe.report.detect_lines import render_env

    return render_env(result)


# The text formats, one row each (detect_options.FORMATS lists them for --help; "table" is Rich's).
TEXT_WRITERS: dict[str, Callable[[DetectResult, dict[str, Any]], str]] = {
    "json": _json,
    "nfd": _nfd,
    "prometheus": _prometheus,
    "lines": _lines,
    "env": _env,
}


def _text(result: DetectResult, fmt: str, a: dict[str, Any]) -> str:
    return TEXT_WRITERS[fmt](result, a)


def _emit(text: str, output: str | None, force: bool) -> None:
    if output is None or output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from virtprobe.report.write import write_text

    write_text(text, output, force=force)


def _dropin(a: dict[str, Any], mode: str) -> int:
    """systemd-detect-virt's modes: one identifier (unless -q) and its exit code."""
    from virtprobe.detection import dropin

    if mode in _LISTS:
        sys.stdout.write("".join(f"{i}\n" for i in (dropin.VIRT_IDS if mode == "list_ids" else dropin.CVM_IDS)))
        return 0
    if mode == "chroot":
        ans = dropin.chroot_answer()
    elif mode == "private-users":
        from virtprobe.machine.source import LiveSource

        ans = dropin.private_users_answer(LiveSource())
    else:
        from virtprobe.detection.run import detect

        # No KVM probe: no drop-in answer depends on whether a guest can run here.
        ans = dropin.answer(mode, detect(open_source(a), kvm_probe=False))
    if ans.yes is None:
        # systemd-detect-virt fails the same way ("Failed to check for ...: Permission denied", exit 1).
        print(f"virtprobe: cannot tell ({mode}): {ans.reason}", file=sys.stderr)
        return 1
    if ans.id is not None and not a.get("quiet"):
        sys.stdout.write(ans.id + "\n")
        sys.stdout.flush()
    return ans.exit_code
