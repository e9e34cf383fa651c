"""Property: any mangling of a fleet file is refused with one ReportFormatError, never another exception."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from virtprobe.errors import ReportFormatError
from virtprobe.report.envelope import dumps
from virtprobe.report.fleet import FleetReport, fleet_to_document
from virtprobe.report.load import load_any
from virtprobe.report.merge import merge_files

FIX = Path(__file__).resolve().parent / "fixtures" / "reports"
DOC = fleet_to_document(merge_files([FIX / "bench-base.json", FIX / "detect-firecracker.json"]))

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)  # fmt: skip


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


PATHS = [p for p in _paths(DOC) if p and len(p) <= 6]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(PATHS), value=JSON)
def test_a_mangled_fleet_loads_or_is_refused_cleanly(tmp_path: Path, where: tuple[Any, ...], value: Any) -> None:
    doc = copy.deepcopy(DOC)
    node = doc
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(doc))
    try:
        loaded = load_any(path)
    except ReportFormatError:
        return
    assert isinstance(loaded, FleetReport)
    dumps(fleet_to_document(loaded))  # what loads can be written again
