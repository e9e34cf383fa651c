"""Read a saved report: parse, refuse what we cannot read, upgrade, validate, recompute summaries.

Format version history (schema_version, per kind; see docs/report-format.md):

- 1.0 (2026-11-25): first version.
- detect 1.1 (2026-12-01): `cvm` (confidential VM: id, reason) and `checks`
  (detect --check: target, status, reason, fix, sources); evidence topic "cvm".
  A 1.0 detect file is upgraded with cvm {id: null} and checks [].
- detect 1.2 (2026-12-03): `platform` (what manages this VM or container: id and kind,
  detection/platform.py) and the evidence topic "platform". A 1.1 file is upgraded with
  platform {id: null, kind: null}: it never looked.
- bench 1.1 (2026-12-01): `environment.engine` (benchmark/engine.py's EngineInfo:
  product, OCI runtime and version, per-container process, rootless, cgroups,
  runtimes offered, where the engine runs) replaces `environment.docker`; each
  container section names its `runtime`, `runtime_kind`, `clock` verdict and
  `refused` reason; memory names its `process_name` (`shim_pss_bytes` becomes
  `process_pss_bytes`) and keeps `host_available` / `host_kernel_anon` figures
  with their noise, the per-container values being null when not measurable;
  `other_runtimes` (--runtime) and `function` (--function) are new. A 1.0 file is
  upgraded by _bench_1_0_to_1_1.
  Two renames went into this minor on purpose, against the rule below: 1.0 had
  named every engine "docker" and every per-container process a containerd-shim,
  which was wrong for Podman. A virtprobe that reads only 1.0 still loads a 1.1
  file (unknown keys are allowed) and shows the renamed figures as unknown; it
  never shows a wrong one. A later rename or removal is a major version.
- bench 1.2 (2026-12-03, issue 19): samples carry `timeline_ns` (the CLOCK_MONOTONIC
  edges of the cycle, what `bench --trace` draws); new sections `image_cache`
  (--image-cache), `density` (--density), `scaling` (--parallel 1,2,4...),
  `engine_cost` (--engine-cost) and `restore` (--snapshot), null when not asked for;
  options record them. A 1.1 file is upgraded with the sections null.
- fleet 1.0 (2026-12-01): a new kind (`merge`, `bench --host/--context`):
  `members`, each with its embedded detect or bench document, which is checked
  and upgraded by its own kind's rules (report/fleet.py).

How to change the format: a new optional field is a new minor version (1.1):
add a schema file for it and an upgrade function from the previous minor to
UPGRADES, which fills the new field's default, so old files keep loading
forever (tests keep one sample of each version). A renamed or removed field is
a new major version; older majors then either get an upgrade path or are
refused with the message below. A file of a newer minor than we know is read
with the newest schema of its major: minors only add fields.

Summaries are derived data. Whatever a file says about medians is ignored: the
typed result (bench/result.py) computes every summary from the raw samples.
"""

from __future__ import annotations

import itertools
import json
import os
import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from virtprobe.errors import ReportFormatError
from virtprobe.machine.bounded import MAX_REPORT_BYTES, Refused, parse_json, read_limited
from virtprobe.report.bench_upgrade import bench_1_0_to_1_1
from virtprobe.report.document import KIND_BENCH, KIND_DETECT, SCHEMA_MAJOR, Report, from_document
from virtprobe.report.envelope import KIND_FLEET
from virtprobe.report.fleet import FleetReport, fleet_from_document

KINDS = (KIND_DETECT, KIND_BENCH, KIND_FLEET)
SCHEMA_FILES: dict[tuple[str, str], str] = {
    (KIND_DETECT, "1.0"): "detect-1.0.schema.json",
    (KIND_DETECT, "1.1"): "detect-1.1.schema.json",
    (KIND_DETECT, "1.2"): "detect-1.2.schema.json",
    (KIND_BENCH, "1.0"): "bench-1.0.schema.json",
    (KIND_BENCH, "1.1"): "bench-1.1.schema.json",
    (KIND_BENCH, "1.2"): "bench-1.2.schema.json",
    (KIND_FLEET, "1.0"): "fleet-1.0.schema.json",
}
# (kind, major) -> the newest minor this virtprobe knows; kinds move on their own.
LATEST_MINOR: dict[tuple[str, int], int] = {(KIND_DETECT, 1): 2, (KIND_BENCH, 1): 2, (KIND_FLEET, 1): 0}


def _detect_1_0_to_1_1(doc: dict[str, Any]) -> dict[str, Any]:
    # 1.0 never looked for a confidential VM, so its answer is unknown, not "none".
    doc.setdefault("cvm", {"id": None, "reason": "not probed: a detect 1.0 report"})
    doc.setdefault("checks", [])
    return doc


def _detect_1_1_to_1_2(doc: dict[str, Any]) -> dict[str, Any]:
    # 1.1 never looked for what manages the machine: unknown, not "none", and the evidence says why.
    if "platform" not in doc:
        doc["platform"] = {"id": None, "kind": None}
        why = {"topic": "platform", "source": "report", "value": "", "weight": "unknown", "points_to": None,
               "note": "not probed: a detect 1.1 report"}  # fmt: skip
        if isinstance(doc.get("evidence"), list):
            doc["evidence"].append(why)
    return doc


def _bench_1_1_to_1_2(doc: dict[str, Any]) -> dict[str, Any]:
    # 1.1 never measured these: the sections are absent, not empty.
    for key in ("image_cache", "density", "scaling", "engine_cost", "restore"):
        doc.setdefault(key, None)
    return doc


# (kind, "MAJOR.MINOR") -> function turning that version into the next minor.
UPGRADES: dict[tuple[str, str], Callable[[dict[str, Any]], dict[str, Any]]] = {
    (KIND_DETECT, "1.0"): _detect_1_0_to_1_1,
    (KIND_DETECT, "1.1"): _detect_1_1_to_1_2,
    (KIND_BENCH, "1.0"): bench_1_0_to_1_1,
    (KIND_BENCH, "1.1"): _bench_1_1_to_1_2,
}

_VERSION_RE = re.compile(r"^([0-9]{1,6})\.([0-9]{1,6})$")
_MAX_DETAIL = 160
_MAX_SCHEMA_ERRORS = 50


def _one_line(text: str, limit: int = _MAX_DETAIL) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _read_bytes(path: Path) -> bytes:
    """The report's bytes through the bounded door: a regular file of at most MAX_REPORT_BYTES."""
    name = str(path)
    try:
        data = read_limited(path, MAX_REPORT_BYTES)
    except Refused as why:
        if why.reason == "not found":
            raise ReportFormatError(f"{name}: no such file") from None
        if why.reason == "is a directory":
            raise ReportFormatError(f"{name}: is a directory, not a report file") from None
        if why.reason.startswith("larger than"):
            raise ReportFormatError(f"{name}: {why.reason}; not a virtprobe report (see docs/limits.md)") from None
        raise ReportFormatError(f"{name}: cannot read it: {why.reason}") from None
    if not data.strip():
        raise ReportFormatError(f"{name}: empty file, not a virtprobe report")
    return data


def _parse(name: str, data: bytes) -> Any:
    """JSON within the bounded door's limits (depth, integer size, no NaN/Infinity, value count)."""
    return parse_json(data, name, ReportFormatError)


def _version(name: str, doc: dict[str, Any]) -> tuple[int, int]:
    raw = doc.get("schema_version")
    if raw is None:
        raise ReportFormatError(f"{name}: no schema_version; not a virtprobe report")
    if not isinstance(raw, str) or not _VERSION_RE.match(raw):
        raise ReportFormatError(f"{name}: schema_version {_one_line(repr(raw), 40)} is not of the form MAJOR.MINOR")
    major, minor = (int(x) for x in raw.split("."))
    if major != SCHEMA_MAJOR:
        tool = doc.get("tool")
        written_by = tool.get("version") if isinstance(tool, dict) else None
        by = f"virtprobe {_one_line(written_by, 40)}" if isinstance(written_by, str) else "an unknown virtprobe"
        if major > SCHEMA_MAJOR:
            raise ReportFormatError(
                f"{name}: report written by {by}, schema {raw}; this virtprobe reads {SCHEMA_MAJOR}.x. "
                "Upgrade virtprobe to read it"
            )
        raise ReportFormatError(f"{name}: report written by {by}, schema {raw}; this virtprobe reads {SCHEMA_MAJOR}.x")
    return major, minor


def _schema(kind: str, version: str) -> dict[str, Any]:
    fname = SCHEMA_FILES[(kind, version)]
    try:
        text = resources.files("virtprobe.report").joinpath("schemas", fname).read_text(encoding="utf-8")
    except OSError as err:
        # An installation problem, not a bad report; still one line, still the user's to fix.
        raise ReportFormatError(f"schema file {fname} is missing from this virtprobe installation") from err
    schema: dict[str, Any] = json.loads(text)
    return schema


def _validate(name: str, doc: dict[str, Any], kind: str, version: str) -> None:
    validator = jsonschema.Draft202012Validator(_schema(kind, version))
    # Only the first few errors are gathered: a crafted report can hold a million wrong items,
    # and an error object for each would cost gigabytes. The shallowest of them is shown.
    first_few = itertools.islice(validator.iter_errors(doc), _MAX_SCHEMA_ERRORS)
    errors = sorted(first_few, key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        first = errors[0]
        raise ReportFormatError(
            f"{name}: does not match the {kind} {version} schema at {first.json_path}: {_one_line(first.message)}"
        )


def _upgrade(doc: dict[str, Any], kind: str, major: int, minor: int) -> dict[str, Any]:
    while minor < LATEST_MINOR[(kind, major)]:
        doc = UPGRADES[(kind, f"{major}.{minor}")](doc)
        minor += 1
        doc["schema_version"] = f"{major}.{minor}"
    return doc


def check_document(doc: Any, name: str) -> dict[str, Any]:
    """Everything load_report does after parsing: version, upgrade, validate. The checked document."""
    if not isinstance(doc, dict):
        raise ReportFormatError(
            f"{name}: top level is a JSON {_json_type(doc)}, expected an object; not a virtprobe report"
        )
    kind = doc.get("kind")
    if kind not in KINDS:
        raise ReportFormatError(
            f"{name}: kind {_one_line(repr(kind), 40)} is not one of {', '.join(KINDS)}; not a virtprobe report"
        )
    major, minor = _version(name, doc)
    minor_known = min(minor, LATEST_MINOR[(kind, major)])
    doc = _upgrade(doc, kind, major, minor_known)
    _validate(name, doc, kind, f"{major}.{LATEST_MINOR[(kind, major)]}")
    return doc


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def load_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse, check and upgrade one report file to the newest known minor version."""
    p = Path(path)
    return check_document(_parse(str(p), _read_bytes(p)), str(p))


def load_report(path: str | os.PathLike[str]) -> Report:
    """Load one report file as a typed report. Every problem is a ReportFormatError naming the file."""
    doc = load_document(path)
    if doc.get("kind") == KIND_FLEET:
        raise ReportFormatError(f"{path}: a fleet report (many hosts); read it with report.load.load_any")
    try:
        return from_document(doc)
    except ReportFormatError as err:
        raise ReportFormatError(f"{path}: {err.message}") from err


def load_any(path: str | os.PathLike[str]) -> Report | FleetReport:
    """A detect, bench or fleet report file; a fleet's member reports are checked by their own kinds' rules."""
    doc = load_document(path)
    if doc.get("kind") == KIND_FLEET:
        return fleet_from_document(doc, str(path), check_document)
    try:
        return from_document(doc)
    except ReportFormatError as err:
        raise ReportFormatError(f"{path}: {err.message}") from err
