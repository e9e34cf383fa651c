"""The report document family shared by `detect` and `bench`: the envelope, and results to documents and back.

Every report is one JSON object with `schema_version` ("MAJOR.MINOR"), `kind`
("detect" or "bench"), `tool` and `created_utc`, then the kind's own sections.
The schema files live in report/schemas/; the version history is in
report/load.py, which validates and upgrades on load.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from virtprobe import __version__
from virtprobe.detect.model import DetectResult
from virtprobe.errors import ReportFormatError

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


SCHEMA_FILE = "detect-1.0.schema.json"


def detect_document(result: DetectResult, created_utc: str | None = None) -> dict[str, Any]:
    return envelope(KIND_DETECT, result.sections(), created_utc=created_utc)


def detect_from_document(doc: dict[str, Any]) -> DetectResult:
    if not isinstance(doc, dict):
        raise ReportFormatError("not a virtprobe report: expected a JSON object")
    if doc.get("kind") != KIND_DETECT:
        raise ReportFormatError(f"not a detect report (kind {doc.get('kind')!r})")
    version = str(doc.get("schema_version", ""))
    major = version.split(".", 1)[0]
    if not major.isdigit() or int(major) != SCHEMA_MAJOR:
        raise ReportFormatError(
            f"detect report schema {version!r}; this virtprobe reads {SCHEMA_MAJOR}.x. Upgrade virtprobe."
        )
    try:
        return DetectResult.from_sections(doc)
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ReportFormatError(f"malformed detect report: {err}") from err
