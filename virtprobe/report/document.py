"""The report document family shared by `detect` and `bench`: the envelope, and typed reports to documents and back.

Every report is one JSON object with `schema_version` ("MAJOR.MINOR"), `kind`
("detect" or "bench"), `tool` and `created_utc`, then the kind's own sections.
The schema files live in report/schemas/; the version history is in
report/load.py, which validates and upgrades on load. This module is the only
place that builds or reads the envelope: detect and bench produce typed results
and know nothing of the file format around them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from virtprobe.benchmark.result import BenchResult
from virtprobe.detection.model import DetectResult
from virtprobe.errors import ReportFormatError
from virtprobe.report.envelope import (
    KIND_BENCH,
    KIND_DETECT,
    SCHEMA_MAJOR,
    SCHEMA_VERSIONS,
    Header,
    detect_document,
    dumps,
    envelope,
    utc_now,
)

__all__ = [
    "KIND_BENCH",
    "KIND_DETECT",
    "SCHEMA_MAJOR",
    "SCHEMA_VERSIONS",
    "BenchReport",
    "DetectReport",
    "Header",
    "Report",
    "detect_document",
    "detect_from_document",
    "dumps",
    "envelope",
    "from_document",
    "new_report",
    "to_document",
    "utc_now",
]

SCHEMA_FILE = "detect-1.2.schema.json"


@dataclass(frozen=True)
class DetectReport:
    header: Header
    result: DetectResult


@dataclass(frozen=True)
class BenchReport:
    header: Header
    result: BenchResult


Report = DetectReport | BenchReport


def new_report(result: BenchResult, created_utc: str | None = None) -> BenchReport:
    """The report of a bench result made now (the envelope's time is the time it is written)."""
    return BenchReport(Header.new(KIND_BENCH, created_utc), result)


def to_document(report: Report) -> dict[str, Any]:
    """The JSON document of a report."""
    sections = report.result.sections() if isinstance(report, DetectReport) else report.result.to_dict()
    return {**report.header.to_dict(), **sections}


def from_document(doc: Mapping[str, Any]) -> Report:
    """A typed report from a document that report/load.py has already checked and upgraded."""
    header = Header.from_dict(doc)
    try:
        if header.kind == KIND_DETECT:
            return DetectReport(header, DetectResult.from_sections(dict(doc)))
        if header.kind == KIND_BENCH:
            return BenchReport(header, BenchResult.from_dict(doc))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ReportFormatError(f"malformed {header.kind} report: {err}") from err
    raise ReportFormatError(f"not a virtprobe report kind: {header.kind!r}")


def detect_from_document(doc: Mapping[str, Any]) -> DetectResult:
    """The detect result of a detect document; another kind or major version is refused."""
    if not isinstance(doc, Mapping):
        raise ReportFormatError("not a virtprobe report: expected a JSON object")
    if doc.get("kind") != KIND_DETECT:
        raise ReportFormatError(f"not a detect report (kind {doc.get('kind')!r})")
    version = str(doc.get("schema_version", ""))
    major = version.split(".", 1)[0]
    if not major.isdigit() or int(major) != SCHEMA_MAJOR:
        raise ReportFormatError(
            f"detect report schema {version!r}; this virtprobe reads {SCHEMA_MAJOR}.x. Upgrade virtprobe."
        )
    report = from_document(doc)
    assert isinstance(report, DetectReport)
    return report.result
