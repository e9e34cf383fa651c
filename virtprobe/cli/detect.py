"""The `detect` command's body, shared by the Typer command (cli/app.py) and the fast path (cli/main.py)."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


def run_detect_command(
    json_out: bool,
    root: str | os.PathLike[str] | None,
    all_evidence: bool,
    kvm_probe: bool,
    host_root: Path | None = None,
    fmt: str | None = None,
    out: str | None = None,
    force: bool = False,
    expiry_s: float | None = None,
    check: list[str] | None = None,
) -> None:
    """The detect command's body, shared by the Typer command and the fast path.

    `check` is None without --check, else the targets named after it (empty: all)."""
    from virtprobe.detection.run import detect
    from virtprobe.machine.roots import open_source
    from virtprobe.machine.source import Source

    src: Source
    if host_root is not None:
        from virtprobe.machine.hostroot import HostRootSource

        src = HostRootSource(host_root)
    else:
        src = open_source(root)
    result = detect(src, kvm_probe=kvm_probe, checks=check is not None)
    if check is not None:
        from virtprobe.cli.check import show_checks

        show_checks(result, check, json_out=json_out)
        return
    if fmt in ("nfd", "prometheus"):
        import datetime as _dt

        from virtprobe.report.nfd import render_nfd
        from virtprobe.report.write import write_atomic

        if fmt == "prometheus":
            from virtprobe.report.sections.detect import build_detect_page
            from virtprobe.report.writers import prometheus

            text = prometheus.write([build_detect_page(result)])
        else:
            expires = None if expiry_s is None else _dt.datetime.now(_dt.UTC) + _dt.timedelta(seconds=expiry_s)
            text = render_nfd(result, expires_at=expires)
        if out is None or out == "-":
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            write_atomic(text, out, force=force)
        return
    if json_out and out is not None and out != "-":
        from virtprobe.report.envelope import detect_document
        from virtprobe.report.envelope import dumps as dump_doc
        from virtprobe.report.write import write_atomic

        write_atomic(dump_doc(detect_document(result)), out, force=force)
        return
    if json_out:
        from virtprobe.report.envelope import detect_document as to_document
        from virtprobe.report.envelope import dumps

        sys.stdout.write(dumps(to_document(result)))
        sys.stdout.flush()
        return
    from virtprobe.cli.console import stdout_console
    from virtprobe.report.sections.detect import build_detect_page
    from virtprobe.report.writers.terminal import renderable

    stdout_console().print(renderable([build_detect_page(result, all_evidence=all_evidence)]))
