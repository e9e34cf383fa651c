"""Writing report files: never overwrite without force, never follow a planted name, never leave half a file.

Every file goes the same way (issue 16, item 3): a temporary file made with
O_EXCL by tempfile.mkstemp in the target's own folder (a rename is atomic only
within one filesystem, and a name nobody can guess or plant a symlink at), the
bytes written and fsynced, then renamed over the target with os.replace, and
the folder fsynced so the rename itself is durable. Without force the rename is
a hard link instead, which fails if the target appeared meanwhile, so a file
made between the check and the write is never overwritten. On any error
(a full disk included) the temporary file is removed and the target is as it
was. The temporary name starts with "." because node-feature-discovery's
nfd-worker, which reads every file in features.d, skips hidden names.

Writing to stdout is the CLI's business (cli/output.py); this module only writes files.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile

from virtprobe.errors import InputError


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


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def fsync_folder(folder: str) -> None:
    """Make a rename in folder durable (a no-op where folders cannot be opened for fsync)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):  # some filesystems refuse fsync on a folder
            os.fsync(fd)
    finally:
        os.close(fd)


def _put_in_place(tmp: str, dest: str, force: bool) -> None:
    if force:
        os.replace(tmp, dest)
        return
    try:
        os.link(tmp, dest)  # fails with EEXIST rather than replace a file made meanwhile
    except OSError as err:
        if err.errno == errno.EEXIST:
            raise InputError(f"{dest} already exists; pass --force to overwrite it") from None
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        # A filesystem without hard links (vfat, some FUSE): the check above, then a rename.
        if os.path.lexists(dest):
            raise InputError(f"{dest} already exists; pass --force to overwrite it") from None
        os.replace(tmp, dest)
        return
    os.unlink(tmp)


def write_bytes(data: bytes, dest: str, force: bool = False) -> None:
    """Write data to the file dest atomically and durably; never overwrite without force."""
    check_writable(dest, force)
    parent = os.path.dirname(os.path.abspath(dest))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(dest)}.", suffix=".tmp", dir=parent)
    except OSError as err:
        raise InputError(f"cannot write {dest}: {err.strerror or err}") from err
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
            # mkstemp makes the file 0600; a report gets the mode any new file would get.
            os.fchmod(fh.fileno(), 0o666 & ~_umask())
        _put_in_place(tmp, dest, force)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise InputError(f"cannot write {dest}: {err.strerror or err}") from err
        raise
    fsync_folder(parent)


def write_text(text: str, dest: str, force: bool = False) -> None:
    """Write text (UTF-8) to the file dest atomically and durably; never overwrite without force."""
    write_bytes(text.encode("utf-8"), dest, force)


def write_atomic(text: str, dest: str, force: bool = False) -> None:
    """Write dest so that a reader sees the old file or the new one, never a part (write_text does)."""
    write_text(text, dest, force)
