"""`--format prometheus` for detect and bench reports: what it says, that parsers read it, and node_exporter too.

The output is for node_exporter's textfile collector, so the live test runs the
real node_exporter (Debian's prometheus-node-exporter, unpacked by scripts/setup.sh,
never installed as a service) on 127.0.0.1 with only that collector, and scrapes it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_classic

from tests.conftest import ROOTS, live_skip
from virtprobe.detection.run import detect
from virtprobe.machine.source import RootSource
from virtprobe.report.document import BenchReport
from virtprobe.report.formats import OutputFormat, render_reports
from virtprobe.report.load import load_report
from virtprobe.report.sections.detect import build_detect_page
from virtprobe.report.writers import prometheus

REPO = Path(__file__).resolve().parent.parent
REPORTS = REPO / "reports"
FIX = Path(__file__).parent / "fixtures" / "reports"


def _families(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """{family: [(labels, value)]}, read by the OpenMetrics parser, after the classic one also read it."""
    assert {f.name for f in parse_classic(text)}
    return {f.name: [(s.labels, s.value) for s in f.samples] for f in parse_openmetrics(text)}


def _detect(root: str, kvm_probe: bool = True) -> dict[str, list[tuple[dict[str, str], float]]]:
    return _families(prometheus.write([build_detect_page(detect(RootSource(ROOTS / root), kvm_probe=kvm_probe))]))


def test_detect_gives_the_verdicts_as_info_labels_and_gauges() -> None:
    fam = _detect("firecracker_this_machine")
    ((labels, value),) = fam["virtprobe_detect"] if "virtprobe_detect" in fam else fam["virtprobe_detect_info"]
    assert value == 1
    assert labels["hypervisor"] == "kvm" and labels["vmm"] == "firecracker"
    assert labels["container"] == "none" and labels["wsl"] == "none"
    assert "cloud" not in labels  # unknown: left out, never guessed
    assert fam["virtprobe_kvm_usable"] == [({}, 1.0)]
    assert fam["virtprobe_cgroup_version"] == [({}, 1.0)]


def test_an_unknown_gauge_is_absent_not_zero() -> None:
    """Without the KVM probe, a machine with /dev/kvm cannot say whether a guest runs: no sample, not 0."""
    unknown = _detect("firecracker_this_machine", kvm_probe=False)
    assert "virtprobe_kvm_usable" not in unknown and unknown["virtprobe_kvm_device_present"] == [({}, 1.0)]
    assert "virtprobe_kvm_nested" not in unknown
    # Known to be unusable (no /dev/kvm in this container) is a 0, and is there.
    assert _detect("docker_in_vm", kvm_probe=False)["virtprobe_kvm_usable"] == [({}, 0.0)]


def test_bench_gives_medians_and_p99_per_phase_engine_and_runtime_in_seconds() -> None:
    report = load_report(REPORTS / "bench-firecracker.json")
    text = render_reports([report], ["bench-firecracker.json"], OutputFormat.prometheus)
    assert isinstance(text, str) and text.endswith("# EOF\n")
    fam = _families(text)
    medians = {(s["runtime"], s["phase"]): v for s, v in fam["virtprobe_bench_phase_median_seconds"]}
    assert isinstance(report, BenchReport)
    runc = report.result.container
    assert runc is not None
    assert medians[("runc", "cycle")] == pytest.approx(runc.summary("cycle_s").median)
    assert ("runsc", "cycle") in medians and ("runsc", "first_instruction") not in medians  # its own clock
    assert all(s["engine"] == "docker-engine" for s, _ in fam["virtprobe_bench_phase_p99_seconds"])
    per_container = {s["runtime"]: v for s, v in fam["virtprobe_bench_memory_per_container_bytes"]}
    assert 1_000_000 < per_container["runc"] < 10_000_000  # bytes, not MiB
    kinds = {s["instance"]: s["kind"] for s, _ in fam["virtprobe_bench_instance_startup_median_seconds"]}
    assert kinds["firecracker"] == "simulated" and kinds["container"] == "measured"


def test_two_reports_in_one_prometheus_file_are_refused() -> None:
    from virtprobe.errors import InputError

    reports = [load_report(FIX / "bench-base.json"), load_report(FIX / "bench-new-same.json")]
    with pytest.raises(InputError, match="one report at a time"):
        render_reports(reports, ["a", "b"], OutputFormat.prometheus)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "virtprobe", *args], capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip


def test_cli_writes_the_file_atomically_and_never_overwrites_without_force(tmp_path: Path) -> None:
    out = tmp_path / "bench.prom"
    src = str(REPORTS / "bench-podman.json")
    assert _cli("report", src, "--format", "prometheus", "-o", str(out)).returncode == 0
    _families(out.read_text())
    assert _cli("report", src, "--format", "prometheus", "-o", str(out)).returncode != 0
    assert _cli("report", src, "--format", "prometheus", "-o", str(out), "--force").returncode == 0
    assert [p.name for p in tmp_path.iterdir()] == ["bench.prom"]  # no temporary file left
    det = tmp_path / "detect.prom"
    proc = _cli("detect", "--root", str(ROOTS / "aws_nitro"), "--no-kvm-probe", "--format", "prometheus",
                "-o", str(det))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "virtprobe_detect_info" in det.read_text()


# --- the real consumer -----------------------------------------------------------------------


def _node_exporter() -> str:
    candidates = [os.environ.get("VIRTPROBE_NODE_EXPORTER"), shutil.which("prometheus-node-exporter"),
                  str(REPO / ".cache" / "node-exporter" / "usr" / "bin" / "prometheus-node-exporter")]  # fmt: skip
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    live_skip("node_exporter not found (scripts/setup.sh unpacks Debian's prometheus-node-exporter)")
    raise AssertionError("unreachable")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _scrape(url: str, deadline: float) -> str:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:  # a loopback URL built here
                return str(resp.read().decode())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_node_exporters_textfile_collector_reads_both_files(tmp_path: Path) -> None:
    binary = _node_exporter()
    folder = tmp_path / "textfile"
    folder.mkdir()
    assert _cli("report", str(REPORTS / "bench-firecracker.json"), "--format", "prometheus",
                "-o", str(folder / "bench.prom")).returncode == 0  # fmt: skip
    live = _cli("detect", "--format", "prometheus", "-o", str(folder / "detect.prom"))
    assert live.returncode == 0, live.stderr
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--collector.disable-defaults", "--collector.textfile",
         f"--collector.textfile.directory={folder}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        text = _scrape(f"http://127.0.0.1:{port}/metrics", time.monotonic() + 30)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert "node_textfile_scrape_error 0" in text, err[-2000:]
    fam = {f.name: f for f in parse_classic(text)}
    assert fam["virtprobe_detect_info"].samples[0].value == 1
    cycle = [s for s in fam["virtprobe_bench_phase_median_seconds"].samples if s.labels["phase"] == "cycle"]
    assert {s.labels["runtime"] for s in cycle} == {"runc", "runsc"}
