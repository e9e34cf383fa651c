"""Upgrading bench 1.0 reports to 1.1: the engine named, no negative figure, no issue as a source."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.render import markdown, rendered
from virtprobe.report.load import load_report

MIB = 1024 * 1024
REPORTS = Path(__file__).resolve().parent.parent / "reports"
FIX = Path(__file__).resolve().parent / "fixtures" / "reports"
# The real bench 1.0 report of this machine that reports/ held until it was regenerated as 1.1
# (git show 0c13fa0:reports/bench-firecracker.json): kept so 1.0 files stay loadable forever.
REAL_1_0 = FIX / "bench-firecracker-1.0.json"


def test_the_real_bench_1_0_report_upgrades_to_name_its_engine() -> None:
    assert json.loads(REAL_1_0.read_text())["schema_version"] == "1.0"
    report = load_report(REAL_1_0)
    engine = report.result.environment.engine  # type: ignore[union-attr]
    assert report.header.schema_version == "1.2"
    assert engine is not None and engine.product == "docker-engine" and engine.container_process == "containerd-shim"
    assert engine.runtime_kind == "runc" and engine.location_reason == "not recorded: a bench 1.0 report"
    memory = report.result.container.memory  # type: ignore[union-attr]
    assert memory is not None and memory.process_name == "containerd-shim"
    for value in (memory.host_available_drop_bytes_per_container, memory.host_kernel_anon_growth_bytes_per_container):
        assert value is None or value >= 0


def test_a_1_0_report_from_podman_keeps_its_product_unknown(tmp_path: Path) -> None:
    doc = json.loads(REAL_1_0.read_text())
    doc["environment"]["docker"] = {
        "engine_version": "4.3.1",
        "api_version": "1.41",
        "containerd_version": None,
        "runc_version": None,
        "default_runtime": "runc",
        "storage_driver": "overlay",
        "cgroup_version": 1,
        "cgroup_driver": "cgroupfs",
    }
    doc["container"]["memory"]["host_available_drop_bytes_per_container"] = -2.1 * MIB
    path = tmp_path / "podman-1.0.json"
    path.write_text(json.dumps(doc))
    report = load_report(path)
    engine = report.result.environment.engine  # type: ignore[union-attr]
    assert engine is not None and engine.product is None and engine.container_process is None
    memory = report.result.container.memory  # type: ignore[union-attr]
    assert memory is not None and memory.process_name is None
    assert memory.host_available_drop_bytes_per_container is None
    assert any("below zero: -2.10 MiB" in n for n in memory.notes)


def test_no_output_of_an_old_report_names_an_issue_as_a_source() -> None:
    for path in (REPORTS / "bench-firecracker.json", *sorted(FIX.glob("bench-*.json"))):
        if "future" in path.name:
            continue
        report = load_report(path)
        for text in rendered(report, path.name).values():
            assert "virtprobe issue" not in text and "issue #" not in text, path.name


def _as_1_2(doc: dict[str, Any]) -> dict[str, Any]:
    out = {**doc, "schema_version": "1.2"}
    out.update(dict.fromkeys(("image_cache", "density", "scaling", "engine_cost", "restore")))
    out["options"] = {**doc["options"], "image_cache": None, "density": [], "parallel_levels": [],
                      "engine_cost": False, "snapshot": False}  # fmt: skip

    def sections(d: Any) -> None:
        if isinstance(d, dict):
            for s in d.get("samples") or ():
                s.setdefault("timeline_ns", None)

    sections(out.get("container"))
    for other in out.get("other_runtimes") or ():
        sections(other)
    return out


def test_a_real_1_1_report_loads_round_trips_and_renders_in_every_format() -> None:
    from virtprobe.report.document import to_document

    path = FIX / "bench-1.1-runtimes-function.json"
    doc = json.loads(path.read_text())
    report = load_report(path)
    assert report.header.schema_version == "1.2"
    # Derived data is dropped on load (summaries are recomputed), everything else survives;
    # the upgrade to 1.2 adds its sections (absent) and the samples' timelines (unknown).
    assert to_document(report) == _as_1_2(doc)
    result = report.result
    assert [s.runtime for s in result.runtime_sections] == ["runc", "crun", "runsc"]  # type: ignore[union-attr]
    got = rendered(report, path.name)
    assert "cgroups in hybrid mode not supported" in got["markdown"] and "The serverless cycle" in got["markdown"]
    assert "<h2>The serverless cycle" in got["html"]
    assert 'virtprobe_bench_phase_median_seconds{engine="docker-engine",runtime="runsc",phase="cycle"}' in (
        got["prometheus"]
    )
    assert markdown(report, path.name) == got["markdown"]
