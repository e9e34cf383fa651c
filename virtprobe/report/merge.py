"""`merge`: detect, bench and fleet report files from many machines -> one fleet report."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from virtprobe.errors import InputError
from virtprobe.report.document import BenchReport, Report
from virtprobe.report.fleet import FleetMember, FleetReport, new_fleet
from virtprobe.report.load import load_any


def _member_name(report: Report, path: Path) -> str:
    # A bench report knows its host; a detect report does not (`kubectl logs POD > POD.json`
    # names the file after the pod), so its file name stands in.
    if isinstance(report, BenchReport) and report.result.environment.hostname:
        return report.result.environment.hostname
    return path.stem


def merge_files(paths: Sequence[str | os.PathLike[str]], created_utc: str | None = None) -> FleetReport:
    """One fleet from detect, bench and fleet report files (fleets are flattened into their members)."""
    if not paths:
        raise InputError("merge needs at least one report file")
    members: list[FleetMember] = []
    for raw in paths:
        path = Path(raw)
        loaded = load_any(path)
        if isinstance(loaded, FleetReport):
            members.extend(loaded.members)
        else:
            members.append(FleetMember(_member_name(loaded, path), str(path), "file", loaded))
    return new_fleet(members, created_utc)
