"""load_report: valid reports load; every kind of bad input is one clear line naming the file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from virtprobe.errors import InputError, ReportFormatError
from virtprobe.report import load as load_mod
from virtprobe.report.document import BenchReport
from virtprobe.report.load import load_document, load_report
from virtprobe.stats import summarize

FIX = Path(__file__).parent / "fixtures" / "reports"
REPORTS = Path(__file__).parent.parent / "reports"
VALID = sorted(p for p in FIX.glob("*.json") if "future" not in p.name)


def _bench() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((FIX / "bench-base.json").read_text())
    return doc


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.name)
def test_fixtures_load(path: Path) -> None:
    raw = json.loads(path.read_text())
    report = load_report(path)
    assert report.header.kind == raw["kind"] in ("detect", "bench")
    # One sample of each version, kept loadable forever: 1.0 constructed; bench 1.1, bench 1.2 and detect 1.1 captured.
    version = next((v for v in ("1.1", "1.2") if path.name.startswith(f"bench-{v}-")), None)
    captured_detect_1_1 = path.name.endswith("-1.1.json") and not path.name.startswith("bench-")
    assert raw["schema_version"] == (version or ("1.1" if captured_detect_1_1 else "1.0"))


def test_real_reports_still_load() -> None:
    # reports/ holds real reports of this machine, made by the documented commands.
    # One test over all of them, so an empty folder is not a skip (CI fails skips).
    for path in sorted(REPORTS.glob("*.json")):
        assert load_report(path).header.kind in ("detect", "bench"), path


def test_summaries_are_recomputed_not_trusted(tmp_path: Path) -> None:
    doc = _bench()
    doc["container"]["summary"] = {"cycle_s": {"median": 999.0}}
    doc["vm"]["baselines"][0]["boot_summary"] = {"median": -1}
    f = tmp_path / "tampered.json"
    f.write_text(json.dumps(doc))
    loaded = load_report(f)
    assert isinstance(loaded, BenchReport) and loaded.result.container is not None
    cycles = [s["cycle_s"] for s in doc["container"]["samples"] if not s["warmup"]]
    assert loaded.result.container.summary("cycle_s").median == summarize(cycles).median != 999.0
    assert loaded.result.container.summary("cycle_s").n == 20  # warmup excluded
    boot = doc["vm"]["baselines"][0]["boot_samples_s"]
    assert loaded.result.baselines[0].boot_summary().median == summarize(boot).median


def test_newer_minor_of_known_major_loads(tmp_path: Path) -> None:
    doc = _bench()
    doc["schema_version"] = "1.7"
    doc["a_field_from_1_7"] = {"x": 1}
    f = tmp_path / "newer-minor.json"
    f.write_text(json.dumps(doc))
    assert load_report(f).header.kind == "bench"


def test_older_minor_is_upgraded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Pretend the current version is 1.1, which added a field with a default.
    def up(doc: dict[str, Any]) -> dict[str, Any]:
        doc["added_in_1_1"] = "default"
        return doc

    monkeypatch.setitem(load_mod.LATEST_MINOR, ("bench", 1), 1)
    monkeypatch.setitem(load_mod.UPGRADES, ("bench", "1.0"), up)
    monkeypatch.setitem(load_mod.SCHEMA_FILES, ("bench", "1.1"), "bench-1.0.schema.json")
    loaded = load_document(FIX / "bench-base.json")
    assert loaded["schema_version"] == "1.1"
    assert loaded["added_in_1_1"] == "default"


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    f = tmp_path / name
    f.write_bytes(data)
    return f


def _schema_broken(tmp_path: Path) -> Path:
    doc = _bench()
    doc["container"]["samples"][3]["start_s"] = "fast"
    return _write(tmp_path, "schema.json", json.dumps(doc).encode())


BAD: dict[str, tuple[Any, str]] = {
    "truncated": (
        lambda t: _write(t, "cut.json", (FIX / "bench-base.json").read_bytes()[:3000]),
        "truncated JSON",
    ),
    "not_json": (lambda t: _write(t, "notjson.json", b"hello, world\n"), "not JSON"),
    "schema": (_schema_broken, "$.container.samples[3].start_s"),
    "future_major": (
        lambda t: FIX / "bench-future-major.json",
        "report written by virtprobe 3.1, schema 2.0; this virtprobe reads 1.x",
    ),
    "empty": (lambda t: _write(t, "empty.json", b""), "empty file"),
    "blank": (lambda t: _write(t, "blank.json", b"  \n\n"), "empty file"),
    "directory": (lambda t: t, "is a directory"),
    "missing": (lambda t: t / "nope.json", "no such file"),
    "not_utf8": (lambda t: _write(t, "latin1.json", b'{"kind": "b\xe9nch"}'), "not UTF-8"),
    "nan": (lambda t: _write(t, "nan.json", b'{"schema_version": "1.0", "x": NaN}'), "NaN"),
    "huge_number": (
        lambda t: _write(t, "inf.json", b'{"schema_version": "1.0", "x": 1e999}'),
        "out of range",
    ),
    "top_list": (lambda t: _write(t, "list.json", b"[1, 2]"), "top level is a JSON array"),
    "other_json": (lambda t: _write(t, "pkg.json", b'{"name": "left-pad"}'), "not a virtprobe report"),
    "no_version": (lambda t: _write(t, "nov.json", b'{"kind": "bench"}'), "no schema_version"),
    "bad_version": (
        lambda t: _write(t, "badv.json", b'{"kind": "bench", "schema_version": 1}'),
        "MAJOR.MINOR",
    ),
    "deep": (lambda t: _write(t, "deep.json", b"[" * 100000 + b"]" * 100000), "nested too deeply"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_naming_the_file(case: str, tmp_path: Path) -> None:
    make, expected = BAD[case]
    path = make(tmp_path)
    with pytest.raises(ReportFormatError) as info:
        load_report(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path)), message
    assert expected in message, message
    assert isinstance(info.value, InputError)


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Root reads mode-000 files anyway, so the permission error is injected.
    f = _write(tmp_path, "secret.json", b"{}")

    real_open = os.open

    def deny(path: Any, flags: int, *args: Any) -> int:
        if str(path).endswith("secret.json"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", deny)
    with pytest.raises(ReportFormatError, match=r"secret\.json: cannot read it: permission denied"):
        load_report(f)


def test_schema_error_names_missing_key(tmp_path: Path) -> None:
    doc = _bench()
    del doc["environment"]["kernel"]
    f = _write(tmp_path, "nokernel.json", json.dumps(doc).encode())
    with pytest.raises(ReportFormatError, match=r"at \$\.environment: 'kernel' is a required property"):
        load_report(f)


@pytest.mark.parametrize(
    "case", ["truncated", "not_json", "schema", "future_major", "empty", "directory", "missing"]
)
def test_cli_bad_input_exit_1_one_line(case: str, tmp_path: Path) -> None:
    make, expected = BAD[case]
    path = make(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "virtprobe", "report", str(path)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(path) in lines[0] and expected in lines[0]
    assert proc.stdout == ""


def test_simulated_baselines_from_the_vm_module_validate(tmp_path: Path) -> None:
    # The bench schema must accept what bench/vm_sim.py really writes, not only the fixtures.
    from virtprobe.benchmark.vm.profiles import load_builtin
    from virtprobe.benchmark.vm.sim import simulate

    doc = _bench()
    doc["vm"]["baselines"] = [b.to_dict() for b in simulate(load_builtin(), 10, 1)]
    f = tmp_path / "sim.json"
    f.write_text(json.dumps(doc))
    loaded = load_report(f)
    assert isinstance(loaded, BenchReport)
    assert loaded.result.baselines and all(b.boot_summary().n == 10 for b in loaded.result.baselines)


def test_detect_1_1_upgrades_with_unknown_platform() -> None:
    """A real detect 1.1 document (tests/fixtures/reports/README.md) loads, upgraded to 1.2: the
    platform it never looked for is unknown, not "none"."""
    from pathlib import Path

    from virtprobe.detection.model import DetectResult
    from virtprobe.report.load import load_document, load_report

    path = Path(__file__).parent / "fixtures" / "reports" / "detect-firecracker-1.1.json"
    assert '"schema_version": "1.1"' in path.read_text()
    doc = load_document(path)
    assert doc["schema_version"] == "1.2" and doc["platform"] == {"id": None, "kind": None}
    result = load_report(path).result
    assert isinstance(result, DetectResult)
    assert result.platform.id is None and result.hypervisor.id == "kvm"
