"""The detect result as a versioned report document, and back.

The document is report.model.envelope("detect", sections); its shape is
report/schemas/detect-1.0.schema.json. Loading rejects another major version
and other kinds with a clear message.
"""

from __future__ import annotations

from typing import Any

from virtprobe.detect.model import DetectResult
from virtprobe.errors import ReportFormatError
from virtprobe.report.model import KIND_DETECT, SCHEMA_MAJOR, envelope

SCHEMA_FILE = "detect-1.0.schema.json"


def to_document(result: DetectResult, created_utc: str | None = None) -> dict[str, Any]:
    return envelope(KIND_DETECT, result.sections(), created_utc=created_utc)


def from_document(doc: dict[str, Any]) -> DetectResult:
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
