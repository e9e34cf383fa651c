"""The one bounded door for files from outside: regular files only, sizes capped, JSON with limits.

Everything virtprobe reads that someone else may have made goes through here:
reports, snapshot folders and their virtprobe-snapshot.json, archives, Docker
context meta.json and config.json, VM profile files, and every file read under
`--root` (and, as the same code, the live machine's /proc and /sys). The limits
are listed in docs/limits.md; change them there too.

- A file must be a regular file. A FIFO, socket or device is refused from its
  `stat` before it is opened, and again from `fstat` after (opened with
  O_NONBLOCK and O_NOCTTY, so not even the open can block or grab a terminal).
  A regular file's read never waits on a writer, so refusing the others by type
  is what bounds the time a read can take.
- Under a root, the path is resolved first and must stay inside the root; the
  resolved path is then opened with O_NOFOLLOW.
- The size is capped before reading (st_size, where blocks back it) and while
  reading (procfs and sysfs report 0 or 4096 whatever they hold).
- JSON: UTF-8 only; at most MAX_JSON_DEPTH levels of nesting; integers of at
  most 20 digits and below 2**64 in size; finite floats of at most 64
  characters; NaN and Infinity refused (they are not JSON); and at most
  MAX_JSON_VALUES values, counted from the separators before anything is built,
  so that no file within the size cap can grow into hundreds of MiB of objects.

Nothing here imports more than os, stat and errno at module level: the live
`detect --json` path reads through it.
"""

from __future__ import annotations

import errno
import os
import stat

from virtprobe.errors import InputError
from virtprobe.lean_typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

KIB = 1024
MIB = 1024 * KIB

# One file under --root, or of the live machine: system files are small.
MAX_FILE_BYTES = 4 * MIB
# virtprobe-snapshot.json: CPUID leaves, base64 command outputs (dmesg), the KVM probe.
MAX_SNAPSHOT_META_BYTES = 8 * MIB
# A report: a bench run is about 1 KiB per cycle per runtime (75 KiB for 20 cycles of
# 3 runtimes with everything on); 16 MiB holds a fleet of several engines at -n 1000.
MAX_REPORT_BYTES = 16 * MIB
# Docker's config.json and a context's meta.json: a few hundred bytes each.
MAX_DOCKER_CONFIG_BYTES = 1 * MIB
# A VM profiles file (--profiles): a few KiB.
MAX_PROFILE_BYTES = 1 * MIB

MAX_JSON_DEPTH = 64  # a fleet report nests about 12 deep
MAX_JSON_INT_DIGITS = 20  # 2**64 has 20 digits
MAX_JSON_INT = 2**64  # nothing virtprobe writes needs more than 64 bits
MAX_JSON_FLOAT_CHARS = 64  # repr() of a float is at most 24 characters
MAX_JSON_VALUES = 1_000_000  # separators and brackets counted before parsing

_CHUNK = 64 * KIB  # procfs sysctl files answer ENOMEM to one multi-megabyte read()


class Refused(Exception):
    """A file that the bounded door will not read, and why (a short phrase)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def os_reason(err: OSError) -> str:
    """A short phrase for an OSError, for a FileRead reason or an error line."""
    if err.errno == errno.ENOENT:
        return "not found"
    if err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied (try as root)"
    if err.errno == errno.EISDIR:
        return "is a directory"
    if err.errno == errno.ENOTDIR:
        return "not found (a parent is not a directory)"
    if err.errno == errno.ELOOP:
        return "a symlink where none may be"
    return err.strerror or type(err).__name__


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "is a directory"
    if stat.S_ISFIFO(mode):
        return "not a regular file (a FIFO)"
    if stat.S_ISSOCK(mode):
        return "not a regular file (a socket)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "not a regular file (a device)"
    return "not a regular file"


def inside(path: str, real_root: str) -> bool:
    """Is the resolved path real_root itself or below it?"""
    return path == real_root or path.startswith(real_root.rstrip(os.sep) + os.sep)


def open_regular(path: str, real_root: str | None = None) -> int:
    """An fd on path, which is a regular file (inside real_root, resolved, when given); else Refused."""
    target = path
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
    if real_root is not None:
        target = os.path.realpath(path)
        if not inside(target, real_root):
            raise Refused("points outside the snapshot root")
        flags |= os.O_NOFOLLOW
    try:
        before = os.stat(target)
        if not stat.S_ISREG(before.st_mode):
            raise Refused(_kind(before.st_mode))
        fd = os.open(target, flags)
    except OSError as err:
        raise Refused(os_reason(err)) from err
    try:
        after = os.fstat(fd)
        # The same file that was checked: not swapped for a FIFO between stat and open.
        if not stat.S_ISREG(after.st_mode) or (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
            raise Refused(_kind(after.st_mode) if not stat.S_ISREG(after.st_mode) else "changed while opened")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read_fd(fd: int, limit: int) -> bytes:
    st = os.fstat(fd)
    # Refused unread only when the size is real: sysfs says 4096 for a 2-byte file, and
    # a sparse file holds no blocks. Those are read, and refused past the limit as they go.
    if st.st_size > limit and st.st_blocks * 512 >= limit:
        raise Refused(f"larger than {limit} bytes ({st.st_size} bytes)")
    chunks: list[bytes] = []
    total = 0
    while total <= limit:
        chunk = os.read(fd, min(_CHUNK, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > limit:
        raise Refused(f"larger than {limit} bytes")
    return b"".join(chunks)


def read_limited(path: str | os.PathLike[str], limit: int, real_root: str | None = None) -> bytes:
    """The bytes of a regular file of at most limit bytes; Refused (with a reason) otherwise.

    With real_root (a resolved folder), the file must resolve to a path inside it.
    """
    fd = open_regular(os.fspath(path), real_root)
    try:
        try:
            return _read_fd(fd, limit)
        except OSError as err:
            raise Refused(os_reason(err)) from err
    finally:
        os.close(fd)


def read_file(
    path: str | os.PathLike[str],
    limit: int,
    what: str,
    real_root: str | None = None,
    error: type[InputError] = InputError,
) -> bytes:
    """read_limited, with a refusal turned into `error` naming the file: `{what} {path}: {reason}`."""
    try:
        return read_limited(path, limit, real_root)
    except Refused as why:
        raise error(f"{what} {os.fspath(path)}: {why.reason}") from None


# ---------------------------------------------------------------------------
# JSON


def _reject_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity, which are not JSON.
    raise ValueError(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_JSON_INT_DIGITS:
        raise ValueError(f"an integer of {digits} digits (at most {MAX_JSON_INT_DIGITS})")
    value = int(text)
    if abs(value) >= MAX_JSON_INT:
        raise ValueError(f"integer {text} is out of range (at most 2**64)")
    return value


def _finite_float(text: str) -> float:
    if len(text) > MAX_JSON_FLOAT_CHARS:
        raise ValueError(f"a number of {len(text)} characters (at most {MAX_JSON_FLOAT_CHARS})")
    value = float(text)
    if value != value or value in (float("inf"), float("-inf")):  # 1e400 parses to inf
        raise ValueError(f"number {text} is out of range")
    return value


def json_depth(value: Any) -> int:
    """The nesting depth of a parsed JSON value (a scalar is 0), walked without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children if isinstance(child, (dict, list)))
    return deepest


def _upper_bound_values(data: bytes) -> int:
    # Every value after the first in a container follows a ',' and every container opens
    # with '[' or '{'; counted in C over the bytes (strings may only add to the count).
    return data.count(b",") + data.count(b"[") + data.count(b"{") + 1


def parse_json(data: bytes, name: str, error: type[InputError] = InputError, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse JSON bytes within the limits above; any problem is one `error` line naming `name`."""
    # lazy: the drop-in modes (`detect --vm`, <= 1.0x virt-what) read through this module but parse no JSON.
    import json

    values = _upper_bound_values(data)
    if values > MAX_JSON_VALUES:
        raise error(f"{name}: more than {MAX_JSON_VALUES} JSON values; not a file virtprobe wrote")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(f"{name}: not UTF-8 text (byte 0x{data[err.start]:02x} at offset {err.start})") from None
    try:
        doc = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_bounded_int)
    except json.JSONDecodeError as err:
        # A string left open, or an error at the very end, means the text stopped early.
        if err.pos >= len(text.rstrip()) or err.msg.startswith("Unterminated string"):
            raise error(
                f"{name}: truncated JSON (it ends at line {err.lineno} column {err.colno}); was the file cut short?"
            ) from None
        raise error(f"{name}: not JSON ({err.msg}: line {err.lineno} column {err.colno})") from None
    except RecursionError:
        raise error(f"{name}: JSON nested too deeply (more than {max_depth} levels)") from None
    except ValueError as err:  # NaN/Infinity, or a number out of range
        raise error(f"{name}: not valid JSON ({err})") from None
    if json_depth(doc) > max_depth:
        raise error(f"{name}: JSON nested too deeply (more than {max_depth} levels)")
    return doc


def load_json_file(
    path: str | os.PathLike[str],
    limit: int,
    what: str,
    real_root: str | None = None,
    error: type[InputError] = InputError,
) -> Any:
    """A JSON file through the door: read_file, then parse_json, errors naming `{what} {path}`."""
    data = read_file(path, limit, what, real_root, error)
    return parse_json(data, f"{what} {os.fspath(path)}", error)
