"""Writing report files: never overwrite without force, and never leave half a file.

Writing to stdout is the CLI's business (cli/output.py); this module only writes files.
"""

from __future__ import annotations

import contextlib
import os

from virtprobe.errors import InputError


def check_writable(dest: str, force: bool = False) -> None:
    """InputError now if dest could not be written later (bench checks before a minute of measuring)."""
    if dest == "-":
        return
    if os.path.isdir(dest):
        raise InputError(f"{dest} is a directory; give a file name")
    if os.path.exists(dest) and not force:
        raise InputError(f"{dest} already exists; pass --force to overwrite it")
    parent = os.path.dirname(os.path.abspath(dest))
    if not os.path.isdir(parent):
        raise InputError(f"cannot write {dest}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {dest}: directory {parent} is not writable")


def write_text(text: str, dest: str, force: bool = False) -> None:
    """Write text to the file dest through a temporary file and a rename. Never overwrite without force."""
    check_writable(dest, force)
    tmp = f"{dest}.tmp-{os.getpid()}"
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, dest)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise InputError(f"cannot write {dest}: {err.strerror or err}") from err


def write_atomic(text: str, dest: str, force: bool = False) -> None:
    """Write dest so that a reader sees the old file or the new one, never a part (fsync, then rename).

    The temporary file is hidden (".name.tmp-PID") and in dest's own directory: a
    rename is atomic only within one filesystem, and node-feature-discovery's
    nfd-worker, which reads every file in features.d, skips names starting with ".".
    """
    check_writable(dest, force)
    parent = os.path.dirname(os.path.abspath(dest))
    tmp = os.path.join(parent, f".{os.path.basename(dest)}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
        # The rename itself is durable only once the directory is synced.
        dir_fd = os.open(parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise InputError(f"cannot write {dest}: {err.strerror or err}") from err
