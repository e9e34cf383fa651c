"""Which containers are virtprobe's: the run label, and the owner label that tells a live run from a crashed one.

Every container virtprobe makes carries io.virtprobe.run=<run id>; listing and removal
always filter on it, so a container without it is never touched. io.virtprobe.owner is
"<boot id>:<pid>:<process start time in clock ticks>" of the process that made it:
`virtprobe clean` keeps the containers of a run whose process still lives (same boot,
same pid, same start time, so a reused pid does not count).
"""

from __future__ import annotations

import datetime as _dt
import os
import secrets

RUN_LABEL = "io.virtprobe.run"
ROLE_LABEL = "io.virtprobe.role"
OWNER_LABEL = "io.virtprobe.owner"


def new_run_id(now: _dt.datetime | None = None) -> str:
    """vp-YYYYMMDD-HHMMSS-xxxxxx: sortable by time, unique across concurrent runs."""
    t = now or _dt.datetime.now(_dt.UTC)
    return f"vp-{t:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def parse_stat_starttime(text: str) -> int | None:
    """Pure: field 22 of /proc/<pid>/stat (start time in clock ticks after boot), or None.

    The command name (field 2) may hold spaces and parentheses, so fields are
    counted from the last ')'.
    """
    _, sep, rest = text.rpartition(")")
    fields = rest.split()
    if not sep or len(fields) < 20 or not fields[19].isdigit():
        return None
    return int(fields[19])


def boot_id(root: str = "/") -> str | None:
    text = _read(os.path.join(root, "proc/sys/kernel/random/boot_id"))
    return text.strip() if text and text.strip() else None


def _starttime(pid: int, root: str = "/") -> int | None:
    text = _read(os.path.join(root, f"proc/{pid}/stat"))
    return None if text is None else parse_stat_starttime(text)


def owner_label(pid: int | None = None, root: str = "/") -> str:
    """This process's OWNER_LABEL value ("" parts where /proc cannot tell)."""
    pid = os.getpid() if pid is None else pid
    start = _starttime(pid, root)
    return f"{boot_id(root) or ''}:{pid}:{'' if start is None else start}"


def owner_alive(value: str | None, root: str = "/") -> bool:
    """Does the process named by an OWNER_LABEL value still run on this machine?

    False when the label is missing or malformed, comes from another boot or
    machine, or names a pid that is gone or now belongs to a later process.
    """
    parts = (value or "").split(":")
    if len(parts) != 3 or not all(parts) or not parts[1].isdigit() or not parts[2].isdigit():
        return False
    boot, pid, start = parts[0], int(parts[1]), int(parts[2])
    return boot == boot_id(root) and _starttime(pid, root) == start
