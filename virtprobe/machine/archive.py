"""Snapshot archives: unpack a .tar.gz given to `--root` into a private temporary folder, safely.

An archive comes from someone else's machine (a bug report), so it is treated
as hostile: only regular files, directories and symlinks are unpacked, a
member whose name or link target leaves the root is refused, devices, FIFOs
and hard links are refused, and the unpacked size and member count are
bounded. Members are written by hand rather than with TarFile.extractall, so
the rules hold on every Python version (tarfile's extraction filters arrived
only in 3.11.4 and 3.12).
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tarfile
import tempfile
import weakref
import zlib
from pathlib import Path

from virtprobe.errors import InputError
from virtprobe.machine.source import MAX_READ_BYTES, SNAPSHOT_META, RootSource

# A capture is a few hundred small files (under 1 MiB here); these bounds leave
# room for big machines and stop a decompression bomb early.
MAX_MEMBERS = 50_000
MAX_TOTAL_BYTES = 64 * 1024 * 1024
MAX_MEMBER_BYTES = MAX_READ_BYTES  # detect refuses larger files anyway

_ARCHIVE_ERRORS = (tarfile.TarError, OSError, EOFError, zlib.error)


def is_archive(path: str | os.PathLike[str]) -> bool:
    """Is path a regular file that tarfile can open (gzip, bzip2, xz or plain tar)?"""
    if not os.path.isfile(path):
        return False
    try:
        return tarfile.is_tarfile(os.fspath(path))
    except _ARCHIVE_ERRORS:
        return False


def _member_name(name: str) -> str:
    """The member's path relative to the unpack folder, or raise when it would leave it."""
    norm = posixpath.normpath(name.lstrip("/"))
    if name.startswith("/") or norm == ".." or norm.startswith("../") or "\0" in name:
        raise ValueError("its path leaves the snapshot root")
    return "" if norm == "." else norm


def _inside(path: str, real_dest: str) -> bool:
    return path == real_dest or path.startswith(real_dest + os.sep)


def _link_ok(real_parent: str, target: str, real_dest: str) -> bool:
    """Does a symlink in real_parent pointing to target stay inside the root?

    Resolved on disk, not by the names alone: a link unpacked earlier may
    already redirect part of the path."""
    if target.startswith("/") or "\0" in target:
        return False
    return _inside(os.path.realpath(os.path.join(real_parent, target)), real_dest)


def unpack(archive: str | os.PathLike[str], dest: Path) -> None:
    """Unpack archive into the existing empty folder dest, or raise InputError saying why not."""
    shown = os.fspath(archive)
    total = 0
    count = 0
    real_dest = os.path.realpath(dest)
    try:
        with tarfile.open(shown, "r:*") as tar:
            for member in tar:
                count += 1
                if count > MAX_MEMBERS:
                    raise InputError(f"{shown}: more than {MAX_MEMBERS} members; not a virtprobe snapshot")
                try:
                    rel = _member_name(member.name)
                except ValueError as err:
                    raise InputError(f"{shown}: refusing member {member.name!r}: {err}") from None
                if not rel:
                    continue
                host = os.path.join(real_dest, rel)
                # A symlink unpacked earlier must not redirect a later member outside.
                parent = os.path.realpath(os.path.dirname(host))
                if not _inside(parent, real_dest):
                    raise InputError(f"{shown}: refusing member {member.name!r}: its path goes through a symlink")
                if member.isdir():
                    os.makedirs(host, mode=0o700, exist_ok=True)
                elif member.issym():
                    if not _link_ok(parent, member.linkname, real_dest):
                        raise InputError(
                            f"{shown}: refusing symlink {member.name!r} -> {member.linkname!r}: it points outside"
                        )
                    os.makedirs(os.path.dirname(host), mode=0o700, exist_ok=True)
                    if os.path.lexists(host):
                        raise InputError(f"{shown}: member {member.name!r} appears twice")
                    os.symlink(member.linkname, host)
                elif member.isreg():
                    if member.size > MAX_MEMBER_BYTES:
                        raise InputError(f"{shown}: member {member.name!r} is larger than {MAX_MEMBER_BYTES} bytes")
                    total += member.size
                    if total > MAX_TOTAL_BYTES:
                        raise InputError(f"{shown}: unpacks to more than {MAX_TOTAL_BYTES} bytes")
                    os.makedirs(os.path.dirname(host), mode=0o700, exist_ok=True)
                    if os.path.lexists(host):
                        raise InputError(f"{shown}: member {member.name!r} appears twice")
                    src = tar.extractfile(member)
                    if src is None:  # pragma: no cover - isreg() members always have data
                        continue
                    with src, open(host, "xb") as fh:
                        shutil.copyfileobj(src, fh)
                else:
                    kind = "hard link" if member.islnk() else "device or FIFO"
                    raise InputError(f"{shown}: refusing member {member.name!r}: a {kind}")
    except InputError:
        raise
    except _ARCHIVE_ERRORS as err:
        raise InputError(f"{shown}: not a readable snapshot archive ({err})") from err
    # A later link can change where an earlier one leads ("a" -> "b/..", then "b" -> ".."),
    # so check every link again once all are in place.
    for folder, dirs, files in os.walk(real_dest):
        for name in dirs + files:
            path = os.path.join(folder, name)
            if os.path.islink(path) and not _inside(os.path.realpath(path), real_dest):
                rel = os.path.relpath(path, real_dest)
                raise InputError(f"{shown}: refusing symlink {rel!r} -> {os.readlink(path)!r}: it points outside")


def snapshot_top(folder: Path) -> Path:
    """The snapshot root inside an unpacked archive: the folder itself, or its one top folder."""
    if (folder / SNAPSHOT_META).exists():
        return folder
    entries = list(folder.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return folder


class ArchiveSource(RootSource):
    """A RootSource over a snapshot archive unpacked to a temporary folder (removed with the source)."""

    def __init__(self, archive: str | os.PathLike[str]) -> None:
        self.archive = Path(archive)
        tmp = tempfile.mkdtemp(prefix="virtprobe-root-")
        # Removed when the source is garbage-collected or at interpreter exit.
        self._cleanup = weakref.finalize(self, shutil.rmtree, tmp, True)
        try:
            unpack(self.archive, Path(tmp))
            super().__init__(snapshot_top(Path(tmp)))
        except BaseException:
            self._cleanup()
            raise

    def describe(self) -> str:
        return f"snapshot {self.archive}"
