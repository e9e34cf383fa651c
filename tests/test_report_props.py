"""Property tests: random bytes and mutated reports never make load_report raise anything but InputError."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.render import rendered
from virtprobe.errors import InputError
from virtprobe.report.document import dumps, to_document
from virtprobe.report.load import load_report

FIX = Path(__file__).parent / "fixtures" / "reports"
BASES = {
    name: json.loads((FIX / name).read_text()) for name in ("bench-base.json", "detect-firecracker.json")
}

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


PATHS = {name: [p for p in _paths(doc) if p] for name, doc in BASES.items()}


def _load_text(tmp_path: Path, data: bytes) -> None:
    f = tmp_path / "report.json"
    f.write_bytes(data)
    try:
        doc = load_report(f)
    except InputError as err:
        assert "\n" not in str(err)
        assert str(f) in str(err)
        return
    # Whatever loads must render, in every writer, and serialize: writers trust the schema.
    rendered(doc)
    dumps(to_document(doc))


@SETTINGS
@given(data=st.binary(max_size=400))
def test_random_bytes(tmp_path: Path, data: bytes) -> None:
    _load_text(tmp_path, data)


@SETTINGS
@given(
    name=st.sampled_from(sorted(BASES)),
    pick=st.integers(min_value=0),
    op=st.sampled_from(["drop", "replace", "null"]),
    value=json_values,
)
def test_mutated_reports(tmp_path: Path, name: str, pick: int, op: str, value: Any) -> None:
    doc = copy.deepcopy(BASES[name])
    path = PATHS[name][pick % len(PATHS[name])]
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if op == "drop":
        del parent[last]
    elif op == "null":
        parent[last] = None
    else:
        parent[last] = value
    _load_text(tmp_path, json.dumps(doc).encode())


@SETTINGS
@given(name=st.sampled_from(sorted(BASES)), cut=st.integers(min_value=0))
def test_truncated_reports(tmp_path: Path, name: str, cut: int) -> None:
    data = dumps(BASES[name]).encode()
    _load_text(tmp_path, data[: cut % len(data)])


@SETTINGS
@given(name=st.sampled_from(sorted(BASES)), pos=st.integers(min_value=0), byte=st.integers(0, 255))
def test_flipped_byte(tmp_path: Path, name: str, pos: int, byte: int) -> None:
    data = bytearray(dumps(BASES[name]).encode())
    data[pos % len(data)] = byte
    _load_text(tmp_path, bytes(data))
