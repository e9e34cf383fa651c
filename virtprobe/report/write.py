"""Writing report files: never overwrite without force, never follow a planted name, never leave half a file.

The write itself is machine/atomic.py's (an O_EXCL temporary file in the target
folder, fsync, rename, fsync of the folder; issue 16, item 3). This module adds
the checks a command makes before it measures anything.

Writing to stdout is the CLI's business (cli/output.py); this module only writes files.
"""

from __future__ import annotations

import os

from virtprobe.errors import InputError
from virtprobe.machine.atomic import write_bytes


def check_writable(dest: str, force: bool = False) -> None:
    """InputError now if dest could not be written later (bench checks before a minute of measuring)."""
    if dest == "-":
        return
    if os.path.isdir(dest):
        raise InputError(f"{dest} is a directory; give a file name")
    if os.path.lexists(dest) and not force:
        raise InputError(f"{dest} already exists; pass --force to overwrite it")
    parent = os.path.dirname(os.path.abspath(dest))
    if not os.path.isdir(parent):
        raise InputError(f"cannot write {dest}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {dest}: directory {parent} is not writable")


def write_text(text: str, dest: str, force: bool = False) -> None:
    """Write text (UTF-8) to the file dest atomically and durably; never overwrite without force."""
    check_writable(dest, force)
    write_bytes(text.encode("utf-8"), dest, force)


def write_atomic(text: str, dest: str, force: bool = False) -> None:
    """Write dest so that a reader sees the old file or the new one, never a part (write_text does)."""
    write_text(text, dest, force)
