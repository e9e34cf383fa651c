"""`virtprobe bench` options end to end: VM options, gates, anonymize, and failing fast."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import live_skip
from virtprobe.report.document import BenchReport, from_document
from virtprobe.report.gates import check_gates
from virtprobe.report.load import load_document, load_report

REPO = Path(__file__).resolve().parent.parent
FIX = Path(__file__).parent / "fixtures" / "reports"


def cli(*args: str, timeout: float = 300, preexec: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*(preexec or []), sys.executable, "-m", "virtprobe", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=timeout,
        check=False,
    )


def _engine_or_skip() -> None:
    if subprocess.run(["docker", "version"], capture_output=True, check=False).returncode != 0:
        live_skip("Docker engine unreachable")


# --- pure gate logic on a constructed report (tests/fixtures/reports/README.md) ----------


def test_gates_pass_and_fail_on_known_figures() -> None:
    report = load_report(FIX / "bench-base.json")
    assert isinstance(report, BenchReport)
    doc = report.result
    assert check_gates(doc, None, None) == []
    assert check_gates(doc, 10_000, 1_000) == []
    failures = check_gates(doc, 1, 0.5)
    assert len(failures) == 2
    assert failures[0].startswith("startup median (start → first instruction)")
    assert "> --max-startup-ms 1" in failures[0]
    assert "> --max-memory-mib 0.5" in failures[1]


def test_gate_on_unmeasured_memory_fails() -> None:
    raw = load_document(FIX / "bench-base.json")
    raw["container"]["memory"] = None
    report = from_document(raw)
    assert isinstance(report, BenchReport)
    assert check_gates(report.result, None, 100) == ["--max-memory-mib 100: memory was not measured (--memory 0?)"]


# --- fail fast, before any container is started ---------------------------------------


def test_unknown_vm_kind_exit_1() -> None:
    r = cli("bench", "--vm", "vmware", timeout=60)
    assert r.returncode == 1, r.stderr
    assert r.stderr.strip().splitlines() == ["virtprobe: error: unknown --vm kind 'vmware'; known: qemu"]


def test_missing_kernel_exit_5_one_line() -> None:
    r = cli("bench", "--vm", "qemu", "--kernel", "/nonexistent/vmlinuz", timeout=60)
    assert r.returncode == 5, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "/nonexistent/vmlinuz" in lines[0] and "apt-get download" in lines[0]


def test_bad_profiles_file_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "profiles.json"
    bad.write_text('{"format": 1, "profiles": [{"name": 3}]}')
    r = cli("bench", "--profiles", str(bad), timeout=60)
    assert r.returncode == 1 and str(bad) in r.stderr and "Traceback" not in r.stderr


def test_memory_gate_without_memory_is_a_usage_error() -> None:
    r = cli("bench", "--memory", "0", "--max-memory-mib", "10", timeout=60)
    assert r.returncode == 1 and "--max-memory-mib" in r.stderr


# --- on the real engine ------------------------------------------------------------------


@pytest.mark.docker
def test_gate_exceeded_exit_3_and_report_kept(tmp_path: Path) -> None:
    _engine_or_skip()
    out = tmp_path / "out.json"
    r = cli(
        "bench",
        "-n",
        "2",
        "--warmup",
        "0",
        "--memory",
        "2",
        "--max-startup-ms",
        "0.001",
        "--max-memory-mib",
        "100000",
        "--anonymize",
        "--json",
        str(out),
    )
    assert r.returncode == 3, r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("virtprobe: error: gate exceeded: startup median")
    assert "memory per container" not in r.stderr  # the generous memory gate held
    doc = load_document(out)  # the evidence of a failing gate is kept, and valid
    assert doc["environment"]["hostname"].startswith("anon-")
    assert doc["environment"]["hostname"] != os.uname().nodename
    machine_id = doc["environment"].get("machine_id")
    assert machine_id is None or machine_id.startswith("anon-")


@pytest.mark.docker
def test_permission_denied_on_socket_exit_4() -> None:
    _engine_or_skip()
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to drop to an unprivileged user")  # a user's machine, not CI
    # The socket is root:docker 0660; uid 65534 without groups cannot connect.
    r = cli(
        "bench",
        "-n",
        "1",
        "--memory",
        "0",
        preexec=["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"],
        timeout=120,
    )
    assert r.returncode == 4, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "docker group" in lines[0], r.stderr


@pytest.mark.docker
@pytest.mark.qemu
@pytest.mark.kvm
def test_bench_with_every_vm_tier(tmp_path: Path) -> None:
    """Containers, simulated profiles, a real QEMU boot and /dev/kvm in one run, in one document."""
    _engine_or_skip()
    kernel = os.environ.get("VIRTPROBE_KERNEL")
    if not kernel or shutil.which("qemu-system-x86_64") is None or not os.path.exists("/dev/kvm"):
        live_skip("needs VIRTPROBE_KERNEL, qemu-system-x86_64 and /dev/kvm")
    out = tmp_path / "all.json"
    r = cli(
        "bench",
        "-n",
        "2",
        "--warmup",
        "0",
        "--memory",
        "2",
        "--vm",
        "qemu",
        "--hwvirt",
        "--json",
        str(out),
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    doc = load_document(out)
    kinds = [b["kind"] for b in doc["vm"]["baselines"]]
    assert "measured" in kinds and kinds.count("simulated") >= 5
    for b in doc["vm"]["baselines"]:
        if b["kind"] == "simulated":
            assert b["source"]["citation"] and "(simulated)" in b["label"]
        else:
            assert b["accel"] in ("kvm", "tcg") and len(b["boot_samples_s"]) == 2
            if b["accel"] == "tcg":
                assert any("not representative of hardware virtualization" in n for n in b["notes"])
    hw = doc["hwvirt"]
    assert hw["available"] is True, hw.get("reason")
    assert all(x > 0 for x in hw["vm_floor"]["samples_s"])
    # The table names every tier, simulated rows as simulated.
    assert "simulated" in r.stdout and "Hardware virtualization itself" in r.stdout
    assert json.loads(out.read_text())["options"]["vm"] == ["qemu"]


@pytest.mark.docker
@pytest.mark.qemu
def test_sigterm_while_a_guest_boots_kills_qemu_exit_130() -> None:
    """SIGTERM after the containers, while QEMU runs: the guest dies with the run, not after it."""
    import signal
    import time

    import psutil

    kernel = os.environ.get("VIRTPROBE_KERNEL")
    if not kernel or shutil.which("qemu-system-x86_64") is None:
        live_skip("needs qemu-system-x86_64 and a guest kernel (VIRTPROBE_KERNEL)")
    _engine_or_skip()
    args = ["bench", "-n", "20", "--warmup", "0", "--memory", "0", "--vm", "qemu", "--json", "-"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "virtprobe", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    qemu: list[psutil.Process] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and not qemu:
        qemu = [p for p in psutil.Process(proc.pid).children(recursive=True) if "qemu" in p.name()]
        time.sleep(0.05)
    assert qemu, "no QEMU process appeared"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    # stderr is a pipe here, as a CI log: progress lines, then the one error line, last.
    lines = err.strip().splitlines()
    assert out == "" and "Traceback" not in err, err
    assert [x for x in lines if "error" in x] == lines[-1:] and lines[-1].startswith("virtprobe: error: "), err
    _, alive = psutil.wait_procs(qemu, timeout=5)
    assert alive == [], f"QEMU outlived the run: {alive}"


@pytest.mark.parametrize("where", ["missing-dir", "a-directory"])
def test_unwritable_json_destination_refused_before_measuring(where: str, tmp_path: Path) -> None:
    dest = tmp_path / "nope" / "out.json" if where == "missing-dir" else tmp_path
    # No engine is contacted: DOCKER_HOST points nowhere, yet the error is about the file.
    r = subprocess.run(
        [sys.executable, "-m", "virtprobe", "bench", "-n", "1", "--json", str(dest)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "DOCKER_HOST": "unix:///nonexistent.sock"},
        timeout=60,
        check=False,
    )
    assert r.returncode == 1, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(dest) in lines[0] and "Traceback" not in r.stderr
    assert ("does not exist" if where == "missing-dir" else "is a directory") in lines[0]


def test_report_that_cannot_be_written_after_the_run_is_saved_elsewhere(tmp_path: Path) -> None:
    """The folder vanished during the run: the report is kept in the temp dir and the error says where."""
    from virtprobe.cli.bench import _write_or_salvage
    from virtprobe.errors import InputError

    gone = tmp_path / "gone"
    with pytest.raises(InputError) as info:
        _write_or_salvage('{"kind": "bench"}\n', str(gone / "out.json"), False, "vp-test")
    message = info.value.message
    assert "does not exist" in message and "the report was saved to " in message
    saved = Path(message.rsplit("saved to ", 1)[1].removesuffix(" instead"))
    try:
        assert saved.name.startswith("virtprobe-vp-test-") and saved.read_text() == '{"kind": "bench"}\n'
    finally:
        saved.unlink()
