"""Where command output goes: stdout for "-", else a file written by report.write."""

from __future__ import annotations

import sys

from virtprobe.report.write import write_text as write_file


def write_text(text: str, dest: str, force: bool = False) -> None:
    """Write text to stdout ("-") or to the file dest; never overwrite a file without force."""
    if dest == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_file(text, dest, force=force)
