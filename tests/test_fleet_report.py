"""Fleet documents built from real reports (reports/) and the constructed fixtures (tests/fixtures/reports/).

merge, load, groups by environment fingerprint, verdict counts, one row per host with
fleet p50/p99 and outliers, compare group by group, anonymizing, and the CLI around them.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from virtprobe import stats
from virtprobe.errors import ReportFormatError
from virtprobe.report.document import BenchReport
from virtprobe.report.envelope import dumps
from virtprobe.report.fleet import (
    FleetMember,
    FleetReport,
    MemberError,
    anonymize_fleet,
    bench_summary,
    fleet_to_document,
    groups,
    host_medians,
    new_fleet,
    verdict_counts,
)
from virtprobe.report.fleet_compare import compare_fleets
from virtprobe.report.load import load_any
from virtprobe.report.merge import merge_files

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "tests" / "fixtures" / "reports"
REAL = ROOT / "reports"
VIRTPROBE = [sys.executable, "-m", "virtprobe"]
SECRET_HOST = "build-runner-42.corp.example"


def _bench(path: Path) -> BenchReport:
    r = load_any(path)
    assert isinstance(r, BenchReport)
    return r


def _renamed(report: BenchReport, hostname: str, scale: float = 1.0) -> BenchReport:
    """The same real report on another host name, its cycle timings scaled (a slower host)."""
    result = report.result
    container = result.container
    assert container is not None

    def scaled(v: float | None) -> float | None:
        return None if v is None else v * scale

    samples = tuple(
        dataclasses.replace(s, start_s=scaled(s.start_s), cycle_s=scaled(s.cycle_s)) for s in container.samples
    )
    env = dataclasses.replace(result.environment, hostname=hostname)
    new = dataclasses.replace(result, environment=env, container=dataclasses.replace(container, samples=samples))
    return dataclasses.replace(report, result=new)


def _write(tmp: Path, fleet: FleetReport, name: str = "fleet.json") -> Path:
    path = tmp / name
    path.write_text(dumps(fleet_to_document(fleet)))
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VIRTPROBE, *args], capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_merge_gathers_detect_and_bench_reports_and_survives_a_round_trip(tmp_path: Path) -> None:
    files = [REAL / "detect-firecracker.json", REAL / "bench-firecracker.json", FIX / "detect-docker-on-metal.json",
             FIX / "bench-base.json", FIX / "bench-other-machine.json"]  # fmt: skip
    fleet = merge_files(files)
    assert [m.kind for m in fleet.members] == ["detect", "bench", "detect", "bench", "bench"]
    names = [m.name for m in fleet.members]
    assert names[0] == "detect-firecracker"  # a detect report has no host name: the file's stem
    assert len(set(names)) == len(names)  # two reports of host "vm" get distinct names
    again = load_any(_write(tmp_path, fleet))
    assert isinstance(again, FleetReport)
    assert [m.name for m in again.members] == names
    assert fleet_to_document(again)["members"] == fleet_to_document(fleet)["members"]
    # A fleet merged again is flattened, not nested.
    assert len(merge_files([_write(tmp_path, fleet, "f2.json"), FIX / "bench-new-same.json"]).members) == 6


def test_fleet_members_are_checked_by_their_own_schema(tmp_path: Path) -> None:
    doc = fleet_to_document(merge_files([FIX / "bench-base.json"]))
    doc["members"][0]["report"]["container"] = "not an object"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(ReportFormatError, match=r"member 0 .*bench"):
        load_any(bad)
    doc = fleet_to_document(merge_files([FIX / "bench-base.json"]))
    doc["members"][0]["report"] = None  # status "ok" without a report
    bad.write_text(json.dumps(doc))
    with pytest.raises(ReportFormatError, match=r"fleet 1\.0 schema"):
        load_any(bad)


def test_hosts_group_by_environment_fingerprint() -> None:
    fleet = merge_files([FIX / "bench-base.json", FIX / "bench-new-slower.json", FIX / "bench-other-machine.json"])
    gs = groups(fleet)
    # bench-other-machine has another kernel and engine (fixtures README).
    assert sorted(len(g.members) for g in gs) == [1, 2]
    big = next(g for g in gs if len(g.members) == 2)
    assert "kernel=" in big.text and "engine=" in big.text
    # The id is a function of the fingerprint alone: the same in another fleet.
    assert big.id in {g.id for g in groups(merge_files([FIX / "bench-base.json"]))}


def test_detect_verdicts_are_counted_per_host() -> None:
    fleet = merge_files(
        [FIX / "detect-firecracker.json", REAL / "detect-firecracker.json", FIX / "detect-docker-on-metal.json"]
    )
    lines = {vc.line for vc in verdict_counts(fleet.members)}
    assert "3 of 3 hosts: /dev/kvm usable, kvm_pvm" in lines
    assert "2 of 3 hosts: hypervisor kvm, VMM firecracker" in lines
    assert "1 of 3 hosts: no hypervisor (bare metal)" in lines
    counts = [vc for vc in verdict_counts(fleet.members) if vc.topic == "hypervisor"]
    assert sum(vc.count for vc in counts) == 3


def test_one_row_per_host_fleet_percentiles_over_host_medians_and_the_outlier_host() -> None:
    base = _bench(FIX / "bench-base.json")
    hosts = [_renamed(base, f"host-{i}", scale) for i, scale in enumerate((1.0, 1.02, 0.98, 1.01, 3.0))]
    fleet = new_fleet([FleetMember(r.result.environment.hostname or "", "x", "file", r) for r in hosts])
    summary = bench_summary(fleet)
    assert [row.name for row in summary.rows] == [f"host-{i}" for i in range(5)]
    cycle = next(s for s in summary.stats if s.metric == "cycle_s")
    medians = sorted(m for r in hosts if (m := host_medians(r.result)["cycle_s"]) is not None)
    assert cycle.p50 == pytest.approx(stats.percentile(medians, 50))
    assert cycle.p99 == pytest.approx(stats.percentile(medians, 99))
    assert cycle.outliers == ("host-4",)
    assert "cycle_s" in summary.rows[4].outlier_metrics and not summary.rows[0].outlier_metrics
    # create_s was not scaled: no outlier there.
    assert next(s for s in summary.stats if s.metric == "create_s").outliers == ()


def test_compare_goes_group_by_group() -> None:
    base = merge_files([FIX / "bench-base.json", FIX / "bench-other-machine.json", FIX / "detect-firecracker.json"])
    slower = merge_files([FIX / "bench-new-slower.json", FIX / "detect-docker-on-metal.json"])
    same = merge_files([FIX / "bench-new-same.json", FIX / "detect-firecracker.json"])
    c = compare_fleets(base, slower, 0.10)
    both = [g for g in c.groups if g.only is None]
    assert len(both) == 1 and both[0].kind == "bench"
    assert any(m.name == "container cycle_s" for m in c.regressions)
    assert {g.only for g in c.groups if g.only} == {"base", "new"}  # the other machine, and the two detect hosts
    assert compare_fleets(base, same, 0.10).regressions == ()
    detect_group = next(g for g in compare_fleets(base, same).groups if g.kind == "detect")
    assert detect_group.only is None and detect_group.verdict_changes == ()


def _secret_fleet() -> FleetReport:
    base = _renamed(_bench(FIX / "bench-base.json"), SECRET_HOST)
    return new_fleet([
        FleetMember(SECRET_HOST, f"tcp://{SECRET_HOST}:2376", "--host", base),
        FleetMember(f"{SECRET_HOST}-2", f"ssh://{SECRET_HOST}:22", "--host", None,
                    MemberError("EngineError", f"engine {SECRET_HOST}-2 (ssh://{SECRET_HOST}:22) not reachable", 4)),
    ])  # fmt: skip


def test_anonymized_fleets_leak_no_host_name(tmp_path: Path) -> None:
    fleet = _secret_fleet()
    assert SECRET_HOST in dumps(fleet_to_document(fleet))
    anon = anonymize_fleet(fleet)
    text = dumps(fleet_to_document(anon))
    assert SECRET_HOST not in text
    assert anonymize_fleet(anon) == anon  # idempotent
    # Still loadable, and the CLI's --anonymize of the raw fleet hides it in every format.
    path = _write(tmp_path, fleet)
    for fmt in ("table", "markdown", "html", "json"):
        r = _run("report", "--anonymize", "-f", fmt, str(path))
        assert r.returncode == 0, r.stderr
        assert SECRET_HOST not in r.stdout
    r = _run("merge", "--anonymize", str(path))
    assert r.returncode == 0 and SECRET_HOST not in r.stdout


def test_cli_merge_report_and_compare(tmp_path: Path) -> None:
    base, new = tmp_path / "base.json", tmp_path / "new.json"
    r = _run("merge", str(FIX / "bench-base.json"), str(FIX / "detect-firecracker.json"), "-o", str(base))
    assert r.returncode == 0, r.stderr
    assert _run("merge", str(FIX / "bench-new-slower.json"), "-o", str(new)).returncode == 0
    # Never overwrites silently.
    r = _run("merge", str(FIX / "bench-base.json"), "-o", str(base))
    assert r.returncode == 1 and "--force" in r.stderr
    for fmt in ("table", "markdown", "html", "json"):
        r = _run("report", "-f", fmt, str(base))
        assert r.returncode == 0, r.stderr
        assert "1 of 1 host: /dev/kvm usable, kvm_pvm" in r.stdout or fmt == "json"
    r = _run("compare", str(base), str(new))
    assert r.returncode == 3, r.stderr
    assert "regression" in r.stderr and "container cycle_s" in r.stdout
    for fmt in ("markdown", "html", "json"):
        assert _run("compare", "-f", fmt, str(base), str(new)).returncode == 3


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["merge", "/nonexistent.json"], "no such file"),
        (["compare", "FLEET", str(FIX / "bench-base.json")], "cannot compare a fleet with a single report"),
        (["report", "FLEET", str(FIX / "bench-base.json")], "renders on its own"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(tmp_path: Path, args: list[str], message: str) -> None:
    fleet = _write(tmp_path, merge_files([FIX / "bench-base.json"]))
    r = _run(*[str(fleet) if a == "FLEET" else a for a in args])
    assert r.returncode == 1
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_the_fleet_1_0_sample_stays_loadable() -> None:
    fleet = load_any(FIX / "fleet" / "fleet-1.0.json")
    assert isinstance(fleet, FleetReport) and fleet.header.schema_version == "1.0"
    assert [m.kind for m in fleet.members] == ["bench", "bench", "detect", "detect"]
    assert len(groups(fleet)) == 4 and not fleet.failed
