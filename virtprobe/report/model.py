"""The report document family shared by `detect` and `bench`: envelope and writing.

Every report is one JSON object with `schema_version` ("MAJOR.MINOR"), `kind`
("detect" or "bench"), `tool` and `created_utc`, then the kind's own sections.
The schema files live in report/schemas/; the version history is in
report/load.py, which validates and upgrades on load.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sys
from typing import Any

from virtprobe import __version__
from virtprobe.errors import InputError

SCHEMA_VERSION = "1.0"
SCHEMA_MAJOR = 1

KIND_DETECT = "detect"
KIND_BENCH = "bench"


def utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(kind: str, sections: dict[str, Any], created_utc: str | None = None) -> dict[str, Any]:
    """A complete report document: the common header, then the kind's sections."""
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "tool": {"name": "virtprobe", "version": __version__},
        "created_utc": created_utc or utc_now(),
    }
    doc.update(sections)
    return doc


def dumps(doc: dict[str, Any]) -> str:
    """Sorted keys and a trailing newline, so files diff cleanly."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


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
    """Write to a file, or to stdout for "-". Never overwrite without force."""
    if dest == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
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
