"""Safe writes: a file appears whole or not at all, a folder is swapped in whole, nothing planted is followed.

A file (issue 16, item 3): a temporary file made with O_EXCL by tempfile.mkstemp
in the target's own folder (a rename is atomic only within one filesystem, and a
random name cannot have a symlink planted at it), written, fsynced, given the
mode a new file would get, then renamed over the target with os.replace (force)
or hard-linked to it (no force: the link fails if the target appeared since it
was checked, so nothing is overwritten without force), and the folder fsynced
so the rename itself is durable. On any error (ENOSPC included) the temporary
file is removed and the target is as it was. Temporary names start with "."
because node-feature-discovery's nfd-worker skips hidden names in features.d.

A folder: built beside its target, then exchanged with it in one step
(renameat2 RENAME_EXCHANGE) or renamed into place without replacing anything
(RENAME_NOREPLACE). Where the kernel or filesystem lacks renameat2, two renames
do it: the old folder aside first, then the new one in.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from virtprobe.errors import InputError

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
# Refused by the kernel or the filesystem rather than by the paths: fall back to rename().
_NO_RENAMEAT2 = (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The mode open() would give a new file here (0666 less the umask)."""
    return 0o666 & ~_umask()


def new_folder_mode() -> int:
    """The mode mkdir() would give a new folder here (0777 less the umask)."""
    return 0o777 & ~_umask()


def fsync_folder(folder: str) -> None:
    """Make renames in folder durable (a no-op where a folder cannot be fsynced)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _exists_error(dest: str) -> InputError:
    return InputError(f"{dest} already exists; pass --force to replace it")


def _put_in_place(tmp: str, dest: str, force: bool) -> None:
    if force:
        os.replace(tmp, dest)
        return
    try:
        os.link(tmp, dest)  # EEXIST rather than replace a file made meanwhile
    except OSError as err:
        if err.errno == errno.EEXIST:
            raise _exists_error(dest) from None
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        # A filesystem without hard links (vfat, some FUSE): a check, then a rename.
        if os.path.lexists(dest):
            raise _exists_error(dest) from None
        os.replace(tmp, dest)
        return
    os.unlink(tmp)


@contextmanager
def atomic_file(dest: str, force: bool = False) -> Iterator[IO[bytes]]:
    """A binary file to write; on leaving the block it replaces dest whole (InputError on any failure)."""
    parent = os.path.dirname(os.path.abspath(dest))
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(dest)}.", suffix=".tmp", dir=parent)
    except OSError as err:
        raise InputError(f"cannot write {dest}: {err.strerror or err}") from err
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
            os.fchmod(fh.fileno(), new_file_mode())  # mkstemp made it 0600
        _put_in_place(tmp, dest, force)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise InputError(f"cannot write {dest}: {err.strerror or err}") from err
        raise
    fsync_folder(parent)


def write_bytes(data: bytes, dest: str, force: bool = False) -> None:
    """Write data to the file dest atomically and durably; never overwrite without force."""
    with atomic_file(dest, force) as fh:
        fh.write(data)


def _renameat2(src: str, dst: str, flags: int) -> None:
    """renameat2(2) through libc; OSError(ENOSYS) where libc has none."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        fn = libc.renameat2
    except (OSError, AttributeError):
        raise OSError(errno.ENOSYS, "renameat2 is not available") from None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), src)


def rename_noreplace(src: str, dst: str) -> None:
    """Rename src to dst, failing with FileExistsError rather than replace anything at dst."""
    try:
        _renameat2(src, dst, _RENAME_NOREPLACE)
        return
    except OSError as err:
        if err.errno not in _NO_RENAMEAT2:
            raise
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), dst)
    os.rename(src, dst)


def exchange(new: str, old: str) -> None:
    """Put the folder new at old's path and old's content at new's path, in one step where possible."""
    try:
        _renameat2(new, old, _RENAME_EXCHANGE)
        return
    except OSError as err:
        if err.errno not in _NO_RENAMEAT2:
            raise
    # Two steps: old aside (onto an empty folder made for it, which rename may replace),
    # then new in. Between them old's path is empty, never half written.
    aside = tempfile.mkdtemp(prefix=f".{os.path.basename(old)}.old-", dir=os.path.dirname(os.path.abspath(old)))
    os.rename(old, aside)
    os.rename(new, old)
    os.rename(aside, new)  # new was renamed away, so its name is free again
