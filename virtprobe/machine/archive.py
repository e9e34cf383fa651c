"""Snapshot archives: unpack a .tar.gz given to `--root` into a private temporary folder, within limits.

An archive comes from someone else's machine (a bug report), so it is treated
as hostile (issue 16), and every limit below is listed in docs/limits.md:

- The archive is a regular file of at most MAX_ARCHIVE_BYTES, opened through
  machine/bounded.py. It is decompressed as a stream (gzip, bzip2, xz or plain
  tar, by its magic bytes) and the decompressed stream is counted: past
  MAX_STREAM_BYTES the unpack stops, whatever the headers claim (a 4 MB archive
  once expanded to 4 GiB while skipping the data of members it did not keep).
- Members are read one at a time, iteratively, with tarfile's stream mode, and
  its list of headers seen is dropped as it goes. GNU long-name/long-link
  headers and pax headers are capped at MAX_HEADER_BYTES before tarfile reads
  them (it would otherwise read a 256 MiB header into memory), and a chain of
  such headers is capped at MAX_HEADER_CHAIN. Sparse members are refused.
- Every member counts towards MAX_MEMBERS, `./` and directories included. Its
  name is at most MAX_PATH_CHARS long and MAX_PATH_DEPTH folders deep (deep
  trees made os.makedirs and os.walk recurse until RecursionError).
- Only regular files, directories and symlinks are unpacked. A member whose name
  or link target leaves the root is refused; devices, FIFOs and hard links are
  refused. A regular member is at most MAX_MEMBER_BYTES, and all of them
  together at most MAX_TOTAL_BYTES.
- On any refusal the partly unpacked folder is emptied; the folder itself is a
  scratch folder (machine/scratch.py), removed on errors, Ctrl-C, SIGTERM and
  at exit.

Members are written by hand rather than with TarFile.extractall, so the rules
hold on every Python version (tarfile's extraction filters arrived only in
3.11.4 and 3.12) and the limits apply before anything is written.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import posixpath
import shutil
import tarfile
import weakref
import zlib
from pathlib import Path
from typing import IO, Any

from virtprobe.errors import InputError, shown
from virtprobe.machine.bounded import KIB, MAX_FILE_BYTES, MIB, Refused, inside, open_regular
from virtprobe.machine.scratch import make_folder, remove_folder
from virtprobe.machine.source import SNAPSHOT_META, RootSource

# A capture is a few hundred small files (under 1 MiB here); these bounds leave
# room for big machines and stop a decompression bomb early.
MAX_ARCHIVE_BYTES = 64 * MIB  # the archive file itself (a capture is about 100 KiB)
MAX_MEMBERS = 50_000
MAX_TOTAL_BYTES = 64 * MIB  # the regular members' bytes, together
MAX_MEMBER_BYTES = MAX_FILE_BYTES  # detect refuses larger files anyway
MAX_HEADER_BYTES = 64 * KIB  # one GNU long name/link, or one pax header's records
MAX_HEADER_CHAIN = 8  # extended headers in front of one member
MAX_PATH_CHARS = 1024
MAX_PATH_DEPTH = 32  # sys/bus/pci/devices/0000:00:01.0/subsystem_vendor is 6
# The decompressed tar stream: the members' bytes plus a header (and padding) for each.
MAX_STREAM_BYTES = MAX_TOTAL_BYTES + MAX_MEMBERS * 3 * 512

_ARCHIVE_ERRORS = (tarfile.TarError, OSError, EOFError, zlib.error, ValueError)
# Headers whose data is more header (a long name, pax records), read whole by tarfile.
_EXTENDED = (
    tarfile.GNUTYPE_LONGNAME,
    tarfile.GNUTYPE_LONGLINK,
    tarfile.XHDTYPE,
    tarfile.XGLTYPE,
    tarfile.SOLARIS_XHDTYPE,
)

_GZIP = b"\x1f\x8b"
_BZIP2 = b"BZh"
_XZ = b"\xfd7zXZ\x00"


def _magic_kind(head: bytes) -> str | None:
    """ "gz", "bz2", "xz" or "tar" from an archive's first 512 bytes; None when it is none of them."""
    if head.startswith(_GZIP):
        return "gz"
    if head.startswith(_BZIP2):
        return "bz2"
    if head.startswith(_XZ):
        return "xz"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return None


def is_archive(path: str | os.PathLike[str]) -> bool:
    """Is path a regular file that starts like a (gzip, bzip2, xz or plain) tar archive?"""
    if not os.path.isfile(path):
        return False
    try:
        fd = open_regular(os.fspath(path))
    except Refused:
        return False
    try:
        return _magic_kind(os.read(fd, 512)) is not None
    except OSError:
        return False
    finally:
        os.close(fd)


class _TooMuch(Exception):
    """A limit was passed inside tarfile's own reading; the reason, without the archive's name."""


class _CountedStream:
    """A read-only stream that refuses to give more than `cap` bytes in total."""

    def __init__(self, inner: IO[bytes], cap: int) -> None:
        self._inner = inner
        self._cap = cap
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self._cap + 1 - self.count
        data = self._inner.read(min(size, self._cap + 1 - self.count))
        self.count += len(data)
        if self.count > self._cap:
            raise _TooMuch(f"expands to more than {self._cap} bytes; not a virtprobe snapshot")
        return data


class _BoundedTarInfo(tarfile.TarInfo):
    """TarInfo that refuses oversized or endlessly chained extended headers before tarfile reads them."""

    def _proc_member(self, tar: Any) -> Any:
        if self.type in _EXTENDED:
            chain = getattr(tar, "_vp_chain", 0) + 1
            tar._vp_chain = chain
            if self.size > MAX_HEADER_BYTES:
                raise _TooMuch(f"an extended header of {self.size} bytes (at most {MAX_HEADER_BYTES})")
            if chain > MAX_HEADER_CHAIN:
                raise _TooMuch(f"more than {MAX_HEADER_CHAIN} extended headers in a row")
        elif self.type == tarfile.GNUTYPE_SPARSE:
            raise _TooMuch("refusing a sparse member; not a virtprobe snapshot")
        return super()._proc_member(tar)  # type: ignore[misc]


def _decompressed(raw: IO[bytes], kind: str) -> IO[bytes]:
    if kind == "gz":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    # lazy: bz2 and lzma are optional in a Python build (no _bz2 or _lzma without their libraries);
    # only an archive compressed with them needs them.
    if kind == "bz2":
        import bz2

        return bz2.BZ2File(raw, mode="rb")
    if kind == "xz":
        import lzma

        return lzma.LZMAFile(raw, mode="rb")
    return raw


def _member_name(name: str) -> str:
    """The member's path relative to the unpack folder, or raise ValueError saying why it is refused."""
    if len(name) > MAX_PATH_CHARS:
        raise ValueError(f"its name is longer than {MAX_PATH_CHARS} characters")
    norm = posixpath.normpath(name.lstrip("/"))
    if name.startswith("/") or norm == ".." or norm.startswith("../") or "\0" in name:
        raise ValueError("its path leaves the snapshot root")
    if norm.count("/") >= MAX_PATH_DEPTH:
        raise ValueError(f"its path is more than {MAX_PATH_DEPTH} folders deep")
    return "" if norm == "." else norm


def _link_ok(real_parent: str, target: str, real_dest: str) -> bool:
    """Does a symlink in real_parent pointing to target stay inside the root?

    Resolved on disk, not by the names alone: a link unpacked earlier may
    already redirect part of the path."""
    if target.startswith("/") or "\0" in target or len(target) > MAX_PATH_CHARS:
        return False
    return inside(os.path.realpath(os.path.join(real_parent, target)), real_dest)


class _Unpack:
    """The state of one unpack: where, and what has been counted so far."""

    def __init__(self, tar: tarfile.TarFile, shown_name: str, real_dest: str) -> None:
        self.tar = tar
        self.shown = shown_name
        self.real_dest = real_dest
        self.count = 0
        self.total = 0

    def refuse(self, member: tarfile.TarInfo, why: str) -> InputError:
        return InputError(f"{self.shown}: refusing member {shown(member.name)}: {why}")

    def one(self, member: tarfile.TarInfo) -> None:
        self.count += 1
        if self.count > MAX_MEMBERS:
            raise InputError(f"{self.shown}: more than {MAX_MEMBERS} members; not a virtprobe snapshot")
        if member.sparse is not None:
            raise self.refuse(member, "a sparse file")
        try:
            rel = _member_name(member.name)
        except ValueError as err:
            raise self.refuse(member, str(err)) from None
        if not rel:
            if not member.isdir():  # a "./" file's data would be skipped uncounted
                raise self.refuse(member, "the root itself, as something other than a folder")
            return  # "./": counted above, nothing to write
        host = os.path.join(self.real_dest, rel)
        # A symlink unpacked earlier must not redirect a later member outside.
        parent = os.path.realpath(os.path.dirname(host))
        if not inside(parent, self.real_dest):
            raise self.refuse(member, "its path goes through a symlink")
        if member.isdir():
            os.makedirs(host, mode=0o700, exist_ok=True)
        elif member.issym():
            if not _link_ok(parent, member.linkname, self.real_dest):
                raise self.refuse(member, f"a symlink to {shown(member.linkname)} points outside")
            self._new_entry(member, host)
            os.symlink(member.linkname, host)
        elif member.isreg():
            self._regular(member, host)
        else:
            raise self.refuse(member, _kind(member))

    def _new_entry(self, member: tarfile.TarInfo, host: str) -> None:
        os.makedirs(os.path.dirname(host), mode=0o700, exist_ok=True)
        if os.path.lexists(host):
            raise InputError(f"{self.shown}: member {shown(member.name)} appears twice")

    def _regular(self, member: tarfile.TarInfo, host: str) -> None:
        if member.size > MAX_MEMBER_BYTES:
            raise InputError(f"{self.shown}: member {shown(member.name)} is larger than {MAX_MEMBER_BYTES} bytes")
        self.total += member.size
        if self.total > MAX_TOTAL_BYTES:
            raise InputError(f"{self.shown}: unpacks to more than {MAX_TOTAL_BYTES} bytes")
        self._new_entry(member, host)
        src = self.tar.extractfile(member)
        if src is None:  # pragma: no cover - isreg() members always have data
            return
        # "xb": O_EXCL, so a symlink planted at this name is never followed.
        with src, open(host, "xb") as fh:
            shutil.copyfileobj(src, fh, 64 * KIB)


def _kind(member: tarfile.TarInfo) -> str:
    if member.islnk():
        return "a hard link"
    if member.ischr() or member.isblk():
        return "a device"
    if member.isfifo():
        return "a FIFO"
    return f"a member of type {shown(member.type)}"


def _empty(folder: str) -> None:
    try:
        names = os.listdir(folder)
    except FileNotFoundError:  # SIGTERM's handler (machine/scratch.py) removed it already
        return
    for name in names:
        path = os.path.join(folder, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def _check_links(shown_name: str, real_dest: str) -> None:
    # A later link can change where an earlier one leads ("a" -> "b/..", then "b" -> ".."),
    # so check every link again once all are in place. The tree is at most MAX_PATH_DEPTH deep.
    for folder, dirs, files in os.walk(real_dest):
        for name in dirs + files:
            path = os.path.join(folder, name)
            if os.path.islink(path) and not inside(os.path.realpath(path), real_dest):
                rel = os.path.relpath(path, real_dest)
                raise InputError(
                    f"{shown_name}: refusing symlink {shown(rel)} -> {shown(os.readlink(path))}: it points outside"
                )


def unpack(archive: str | os.PathLike[str], dest: Path) -> None:
    """Unpack archive into the existing empty folder dest, or raise InputError saying why not (dest left empty)."""
    shown_name = os.fspath(archive)
    real_dest = os.path.realpath(dest)
    try:
        fd = open_regular(shown_name)
    except Refused as why:
        raise InputError(f"{shown_name}: {why.reason}") from None
    try:
        _unpack_fd(fd, shown_name, real_dest)
        _check_links(shown_name, real_dest)
    except BaseException:
        _empty(real_dest)
        raise


def _unpack_fd(fd: int, shown_name: str, real_dest: str) -> None:
    with os.fdopen(fd, "rb") as raw:
        size = os.fstat(raw.fileno()).st_size
        if size > MAX_ARCHIVE_BYTES:
            raise InputError(f"{shown_name}: larger than {MAX_ARCHIVE_BYTES} bytes; not a virtprobe snapshot")
        kind = _magic_kind(raw.read(512))
        raw.seek(0)
        if kind is None:
            raise InputError(f"{shown_name}: not a readable snapshot archive (not a tar, .tar.gz, .tar.bz2 or .tar.xz)")
        errors: tuple[type[BaseException], ...] = _ARCHIVE_ERRORS + (_xz_errors() if kind == "xz" else ())
        try:
            with _decompressed(raw, kind) as stream:
                counted = _CountedStream(stream, MAX_STREAM_BYTES)
                with tarfile.open(fileobj=counted, mode="r|", tarinfo=_BoundedTarInfo) as tar:  # type: ignore[call-overload]
                    state = _Unpack(tar, shown_name, real_dest)
                    while True:
                        tar._vp_chain = 0
                        member = tar.next()
                        if member is None:
                            break
                        tar.members.clear()  # stream mode would keep every header seen
                        state.one(member)
        except InputError:
            raise
        except _TooMuch as err:
            raise InputError(f"{shown_name}: {err}") from None
        except errors as err:
            raise InputError(f"{shown_name}: not a readable snapshot archive ({err})") from err


def is_snapshot_archive(path: str | os.PathLike[str]) -> bool:
    """Does the archive hold a virtprobe-snapshot.json at its top or in its one top folder? Reads headers only."""
    try:
        fd = open_regular(os.fspath(path))
    except Refused:
        return False
    try:
        with os.fdopen(fd, "rb") as raw:
            kind = _magic_kind(raw.read(512))
            raw.seek(0)
            if kind is None or os.fstat(raw.fileno()).st_size > MAX_ARCHIVE_BYTES:
                return False
            with _decompressed(raw, kind) as stream:
                counted = _CountedStream(stream, MAX_STREAM_BYTES)
                with tarfile.open(fileobj=counted, mode="r|", tarinfo=_BoundedTarInfo) as tar:  # type: ignore[call-overload]
                    for _ in range(MAX_MEMBERS):
                        tar._vp_chain = 0
                        member = tar.next()
                        if member is None:
                            return False
                        tar.members.clear()
                        name = posixpath.normpath(member.name.lstrip("/"))
                        if member.isreg() and (name == SNAPSHOT_META or name.endswith("/" + SNAPSHOT_META)):
                            return name.count("/") <= 1
    except (_TooMuch, *_ARCHIVE_ERRORS, *_xz_errors()):  # type: ignore[misc]  # unreadable: not one of ours
        return False
    return False


def _xz_errors() -> tuple[type[Exception], ...]:
    # lazy: lzma is optional in a Python build (see _decompressed).
    import lzma

    return (lzma.LZMAError,)


def snapshot_top(folder: Path) -> Path:
    """The snapshot root inside an unpacked archive: the folder itself, or its one top folder."""
    if (folder / SNAPSHOT_META).exists():
        return folder
    entries = list(folder.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        return entries[0]
    return folder


class ArchiveSource(RootSource):
    """A RootSource over a snapshot archive unpacked to a scratch folder (removed with the source)."""

    def __init__(self, archive: str | os.PathLike[str]) -> None:
        self.archive = Path(archive)
        tmp = make_folder("virtprobe-root-")
        # Removed when the source is closed or garbage-collected, at interpreter exit, or on SIGTERM.
        self._cleanup = weakref.finalize(self, remove_folder, tmp)
        try:
            unpack(self.archive, Path(tmp))
            super().__init__(snapshot_top(Path(tmp)))
        except BaseException:
            self._cleanup()
            raise

    def describe(self) -> str:
        return f"snapshot {self.archive}"

    def close(self) -> None:
        self._cleanup()
