"""The envelope every report file has, and JSON text.

`schema_version` ("MAJOR.MINOR"), `kind`, `tool` and `created_utc`, then the kind's
own sections. report/document.py turns typed results into documents and back;
report/load.py keeps the version history, validates and upgrades.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from virtprobe import __version__
from virtprobe.detection.model import SCHEMA_VERSION as DETECT_SCHEMA_VERSION

if TYPE_CHECKING:
    from virtprobe.detection.model import DetectResult

SCHEMA_MAJOR = 1
KIND_DETECT = "detect"
KIND_BENCH = "bench"
KIND_FLEET = "fleet"  # many detect/bench reports in one (report/fleet.py)
# The version each kind is written with; report/load.py keeps the history.
SCHEMA_VERSIONS: dict[str, str] = {KIND_DETECT: DETECT_SCHEMA_VERSION, KIND_BENCH: "1.2", KIND_FLEET: "1.0"}


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass(frozen=True)
class Header:
    """The envelope's common fields: which format, which kind, which tool wrote it, and when."""

    schema_version: str
    kind: str
    tool_name: str
    tool_version: str
    created_utc: str

    @classmethod
    def new(cls, kind: str, created_utc: str | None = None) -> Header:
        return cls(SCHEMA_VERSIONS[kind], kind, "virtprobe", __version__, created_utc or utc_now())

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "kind": self.kind,
            "tool": {"name": self.tool_name, "version": self.tool_version},
            "created_utc": self.created_utc,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Header:
        raw = doc.get("tool")
        tool: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        return cls(
            schema_version=str(doc.get("schema_version") or ""),
            kind=str(doc.get("kind") or ""),
            tool_name=str(tool.get("name") or "virtprobe"),
            tool_version=str(tool.get("version") or "unknown"),
            created_utc=str(doc.get("created_utc") or ""),
        )


def envelope(kind: str, sections: dict[str, Any], created_utc: str | None = None) -> dict[str, Any]:
    """A complete report document: the common header, then the kind's sections."""
    return {**Header.new(kind, created_utc).to_dict(), **sections}


def dumps(doc: Mapping[str, Any]) -> str:
    """Sorted keys and a trailing newline, so files diff cleanly."""
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def detect_document(result: DetectResult, created_utc: str | None = None) -> dict[str, Any]:
    """The JSON document of a detect result made now: DetectResult.to_dict(), the one builder of it."""
    return result.to_dict(created_utc)
