"""Property tests of every reader of outside input (issue 16, item 7): hostile strings, structures and sizes.

Each reader either returns its typed value or raises the one error type it
documents, with a one-line message; nothing else escapes (no KeyError,
TypeError, RecursionError, OverflowError or MemoryError), and nothing hangs.
The readers: report load (every kind), the snapshot description and the files
under a root (through detect), archives, Docker context meta.json and
config.json, VM profile files, engine addresses and context names, the error
messages themselves, and the statistics over loaded samples.
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.conftest import FIXTURES, ROOTS
from virtprobe.benchmark import connect
from virtprobe.benchmark.vm import profiles as vm_profiles
from virtprobe.detection.run import detect
from virtprobe.errors import AddressError, InputError, ReportFormatError, VirtprobeError, one_line
from virtprobe.machine import archive as archive_mod
from virtprobe.machine.bounded import MAX_JSON_DEPTH, parse_json
from virtprobe.machine.source import SNAPSHOT_META, RootSource
from virtprobe.report.envelope import detect_document
from virtprobe.report.load import load_any
from virtprobe.stats import summarize

REPORTS = FIXTURES / "reports"
FAST = settings(
    max_examples=int(os.environ.get("VIRTPROBE_FUZZ_EXAMPLES", "60")),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Strings an attacker would try: terminal escapes, Rich markup, workflow commands, HTML,
# newlines, NUL, bidi overrides, huge and empty ones.
HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            "\x1b[31mred\x1b[0m",
            "\x1b]8;;http://evil/\x07link\x1b]8;;\x07",
            "[/]",
            "[link=http://evil]x[/link]",
            "[blink]x",
            "::error::pwned",
            "::add-mask::secret",
            "\n::error::x",
            "<script>alert(1)</script>",
            "<img src=x onerror=alert(1)>",
            "# Heading",
            "a|b",
            "\x00",
            "\u202eevil",
            "\u2028line",
            "x" * 5000,
        ]
    ),
)
HOSTILE_NUMBER = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 1e308, -1e308, 5e-324, 2**63, 2**64 - 1]),
)
HOSTILE_SCALAR = st.one_of(st.none(), st.booleans(), HOSTILE_NUMBER, HOSTILE_TEXT)
HOSTILE_JSON = st.recursive(
    HOSTILE_SCALAR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(HOSTILE_TEXT, inner, max_size=4),
    max_leaves=20,
)


def assert_one_line(err: VirtprobeError) -> None:
    message = str(err)
    assert message == err.message
    assert "\n" not in message and "\r" not in message
    assert message.isprintable(), repr(message)
    assert not message.startswith("::")
    assert len(message) <= 1000


# --- errors ----------------------------------------------------------------------


@given(st.text())
def test_every_error_message_is_one_safe_line(text: str) -> None:
    for cls in (VirtprobeError, InputError, AddressError, ReportFormatError):
        assert_one_line(cls(text))
    assert one_line(text) == one_line(one_line(text))  # idempotent


# --- reports ---------------------------------------------------------------------


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:3]):
            out += _paths(v, (*prefix, i))
    return out


_BASES = {name: json.loads((REPORTS / name).read_text()) for name in ("bench-base.json", "detect-firecracker.json")}
_FLEETS = sorted((REPORTS / "fleet").glob("*.json"))
if _FLEETS:
    _BASES[_FLEETS[0].name] = json.loads(_FLEETS[0].read_text())


def _load_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.json"
        path.write_bytes(data)
        try:
            load_any(path)
        except ReportFormatError as err:
            assert_one_line(err)


@FAST
@given(base=st.sampled_from(sorted(_BASES)), data=st.data(), value=HOSTILE_JSON)
def test_report_load_with_one_field_made_hostile(base: str, data: st.DataObject, value: Any) -> None:
    """A real report with any one field replaced by anything: a report, or one ReportFormatError line."""
    doc = copy.deepcopy(_BASES[base])
    path = data.draw(st.sampled_from(_paths(doc)[1:]))
    target = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    _load_bytes(json.dumps(doc).encode())


@FAST
@given(st.binary(max_size=300) | HOSTILE_JSON.map(lambda v: json.dumps(v).encode()))
def test_report_load_of_any_bytes(data: bytes) -> None:
    _load_bytes(data)


@FAST
@given(
    depth=st.integers(min_value=MAX_JSON_DEPTH - 2, max_value=3000),
    digits=st.integers(min_value=1, max_value=6000),
    constant=st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-1e400"]),
)
def test_json_limits_hold_for_any_depth_and_size(depth: int, digits: int, constant: str) -> None:
    deep = b"[" * depth + b"]" * depth
    try:
        assert parse_json(deep, "x") == parse_json(deep, "x")
        assert depth <= MAX_JSON_DEPTH
    except InputError as err:
        assert depth > MAX_JSON_DEPTH and "nested too deeply" in err.message
    number = b"1" * digits  # 20 ones are below 2**64, 21 are not
    try:
        assert parse_json(number, "x") == int(number)
        assert digits <= 20
    except InputError as err:
        assert digits > 20 and len(err.message) < 200
    with pytest.raises(InputError):
        parse_json(f'{{"x": {constant}}}'.encode(), "x")


# --- snapshot description and files under a root ------------------------------------


_META_KEYS = ["format", "platform", "machine", "env", "cpuid", "cpuid_reason", "commands", "kvm_probe", "msr"]


@FAST
@given(meta=st.dictionaries(st.sampled_from(_META_KEYS) | HOSTILE_TEXT, HOSTILE_JSON, max_size=6))
def test_snapshot_description_with_hostile_fields(meta: dict[str, Any]) -> None:
    """Any virtprobe-snapshot.json: detect gives a result, or the source refuses with one InputError line."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / SNAPSHOT_META).write_text(json.dumps(meta))
        try:
            src = RootSource(tmp)
        except InputError as err:
            assert_one_line(err)
            return
        detect(src, kvm_probe=True)


_KVM_KEYS = ["ok", "api_version", "exit_reason", "stage", "reason", "guest_exit", "probe_s", "errno", "output"]


@FAST
@given(probe=st.dictionaries(st.sampled_from(_KVM_KEYS) | HOSTILE_TEXT, HOSTILE_JSON, max_size=6))
def test_kvm_probe_result_in_a_snapshot_is_hostile(probe: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / SNAPSHOT_META).write_text(json.dumps({"format": 1, "kvm_probe": probe}))
        try:
            src = RootSource(tmp)
        except InputError as err:  # a number beyond the JSON limits
            assert_one_line(err)
            return
        detect(src, kvm_probe=True)


_FILES = [
    "proc/cpuinfo",
    "proc/self/cgroup",
    "proc/self/mountinfo",
    "proc/1/environ",
    "sys/class/dmi/id/sys_vendor",
    "sys/class/dmi/id/product_name",
    "etc/os-release",
    "sys/hypervisor/type",
    "proc/modules",
]


@FAST
@given(
    files=st.dictionaries(
        st.sampled_from(_FILES),
        st.one_of(
            st.binary(max_size=200),
            HOSTILE_TEXT.map(lambda s: s.encode("utf-8", "surrogatepass")),
            st.sampled_from(["fifo", "outside", "dir", "devzero", "loop"]),
        ),
        max_size=4,
    )
)
def test_files_under_a_root_of_every_kind(files: dict[str, Any]) -> None:
    """Regular files of any bytes, FIFOs, symlinks out of the root or to a device, folders, loops:
    detect finishes (no hang: a FIFO is refused by type) and reads nothing outside the root."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        secret = Path(tmp) / "secret"
        secret.write_text("flags : vmx\nmodel name : SECRET\n")
        (root / SNAPSHOT_META).write_text('{"format": 1}')
        for rel, content in files.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            if content == "fifo":
                os.mkfifo(path)
            elif content == "outside":
                path.symlink_to(secret)
            elif content == "devzero":
                path.symlink_to("/dev/zero")
            elif content == "dir":
                path.mkdir()
            elif content == "loop":
                path.symlink_to(path.name)
            else:
                path.write_bytes(content)
        result = detect(RootSource(root), kvm_probe=False)
        assert "SECRET" not in json.dumps(detect_document(result))


# --- archives --------------------------------------------------------------------


def _tar_bytes(members: list[tuple[tarfile.TarInfo, bytes | None]], fmt: int) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


_TYPES = st.sampled_from(
    [tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.FIFOTYPE, tarfile.CHRTYPE, b"Z"]
)
_NAMES = st.one_of(
    st.sampled_from([".", "./", "..", "snap", "snap/proc/cpuinfo", "/etc/x", "a/../../b", "x" * 300]),
    st.lists(st.sampled_from(["a", "..", ".", "snap", "proc"]), min_size=1, max_size=40).map("/".join),
    st.text(min_size=1, max_size=30),
)


@FAST
@given(
    members=st.lists(st.tuples(_NAMES, _TYPES, _NAMES, st.binary(max_size=64)), max_size=8),
    fmt=st.sampled_from([tarfile.GNU_FORMAT, tarfile.PAX_FORMAT]),
)
def test_archives_of_any_members(members: list[tuple[str, bytes, str, bytes]], fmt: int) -> None:
    """Any members in GNU or pax format: unpacked inside the folder, or one InputError and an empty folder."""
    entries = []
    for name, typ, link, data in members:
        info = tarfile.TarInfo(name)
        info.type = typ
        info.linkname = link
        if typ == tarfile.REGTYPE:
            info.size = len(data)
        entries.append((info, data if typ == tarfile.REGTYPE else None))
    try:
        blob = _tar_bytes(entries, fmt)
    except (ValueError, UnicodeEncodeError, tarfile.TarError):
        assume(False)
        return
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "a.tar.gz").write_bytes(blob)
        dest = base / "dest"
        dest.mkdir()
        try:
            archive_mod.unpack(base / "a.tar.gz", dest)
        except InputError as err:
            assert_one_line(err)
            assert list(dest.iterdir()) == []
        assert sorted(p.name for p in base.iterdir()) == ["a.tar.gz", "dest"]
        real = os.path.realpath(dest)
        for path in dest.rglob("*"):
            assert os.path.realpath(path) == real or os.path.realpath(path).startswith(real + os.sep)


@FAST
@given(st.binary(max_size=2000))
def test_archive_of_any_bytes(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.tar.gz"
        path.write_bytes(b"\x1f\x8b" + data if data[:1] == b"g" else data)
        dest = Path(tmp) / "d"
        dest.mkdir()
        try:
            archive_mod.unpack(path, dest)
        except InputError as err:
            assert_one_line(err)


# --- Docker contexts --------------------------------------------------------------


@FAST
@given(meta=HOSTILE_JSON, name=st.sampled_from(["box", "x.y", "a+b", "c-1"]))
def test_context_meta_json_of_any_shape(meta: Any, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "contexts" / "meta" / connect.context_id(name)
        folder.mkdir(parents=True)
        (folder / "meta.json").write_text(json.dumps(meta))
        try:
            target = connect.context_target(name, {"DOCKER_CONFIG": tmp})
        except InputError as err:
            assert_one_line(err)
            return
        connect.parse_address(target.url, "x")  # what it accepted is a checked address
        if target.tls is not None:
            assert isinstance(target.tls.verify, bool)


@FAST
@given(config=HOSTILE_JSON)
def test_docker_config_json_of_any_shape(config: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "config.json").write_text(json.dumps(config))
        try:
            name, _origin = connect.current_context({"DOCKER_CONFIG": tmp})
        except InputError as err:
            assert_one_line(err)
            return
        assert connect.check_context_name(name) == name


# --- addresses -------------------------------------------------------------------

_SCHEMES = st.sampled_from(["unix://", "tcp://", "ssh://", "npipe://", "http://", ""])
_ADDRESS_PARTS = st.one_of(
    HOSTILE_TEXT,
    st.sampled_from(["host", "-oProxyCommand=x", "u@h", "[::1]", "[zz]", ":99999", ":0", ":22", "/", "/x.sock"]),
)


@given(scheme=_SCHEMES, parts=st.lists(_ADDRESS_PARTS, max_size=4))
def test_address_parsing(scheme: str, parts: list[str]) -> None:
    url = scheme + "".join(parts)
    try:
        addr = connect.parse_address(url, "--host")
    except AddressError as err:
        assert err.exit_code == 2
        assert_one_line(err)
        return
    assert url.isprintable() and not any(c.isspace() for c in url)
    assert addr.scheme in ("unix", "tcp", "ssh")
    if addr.scheme == "unix":
        assert addr.host.startswith("/") and addr.host.strip("/")
    else:
        assert addr.host and not addr.host.startswith("-")
        assert addr.port is None or 0 < addr.port < 65536
        assert addr.user is None or not addr.user.startswith("-")


@given(st.text(max_size=40))
def test_context_names(name: str) -> None:
    try:
        assert connect.check_context_name(name) == name
    except AddressError as err:
        assert_one_line(err)
        return
    assert name.isprintable() and "/" not in name and "\n" not in name and not name.startswith("-")


# --- VM profiles -----------------------------------------------------------------


@FAST
@given(doc=HOSTILE_JSON | st.fixed_dictionaries({"format": st.just(1), "profiles": st.lists(HOSTILE_JSON, max_size=3)}))
def test_profile_files_of_any_shape(doc: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "p.json"
        path.write_text(json.dumps(doc))
        try:
            vm_profiles.load_file(path)
        except InputError as err:
            assert_one_line(err)


# --- statistics over loaded samples ----------------------------------------------


@given(
    st.lists(st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1e308, -1e308, 1.7e308]), max_size=30)
)
def test_summaries_never_overflow(xs: list[float]) -> None:
    s = summarize(xs)
    for value in (s.min, s.median, s.mad, s.mean, s.stdev, s.p95, s.p99, s.max, s.cv):
        assert value is None or math.isfinite(value)


def test_fixture_roots_still_read_the_same() -> None:
    """The bounded door changes no verdict on a real captured machine."""
    result = detect(RootSource(ROOTS / "firecracker_this_machine"), kvm_probe=True)
    assert result.kvm.module is not None


def test_a_sysfs_file_whose_size_lies_is_still_read() -> None:
    """sysfs says 4096 bytes for a file of a few: the door reads it rather than refuse it unread."""
    from virtprobe.machine.source import LiveSource

    path = "sys/devices/system/cpu/online"  # present on every Linux with sysfs
    assert os.stat("/" + path).st_size > 16
    got = LiveSource().read(path, limit=16)
    assert got.data is not None and got.data.strip(), got.reason


# Every field of the 1.0 reports, each replaced by each JSON type in turn. Their upgrades read
# the document before it is validated: Hypothesis samples one field at a time and once missed
# `"baselines": true`, which crashed the bench 1.0 upgrade with a TypeError.
_WRONG_TYPES: tuple[Any, ...] = (True, 0, "x", [], {}, None)


@pytest.mark.parametrize("name", ["bench-base.json", "detect-firecracker.json"])
def test_report_load_of_a_1_0_report_with_every_field_of_every_type(name: str) -> None:
    base = json.loads((REPORTS / name).read_text())
    for path in _paths(base)[1:]:
        for value in _WRONG_TYPES:
            doc = copy.deepcopy(base)
            target = doc
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
            _load_bytes(json.dumps(doc).encode())
