"""Tests of the QEMU microVM boot: a real boot, and the failure paths with fake QEMUs that hang."""

from __future__ import annotations

import os
import shutil
import stat
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import live_skip
from virtprobe.benchmark.vm import qemu as vm_qemu
from virtprobe.errors import UnrunnableError

REPO = Path(__file__).resolve().parent.parent

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu MHz\t\t: 2596.142
flags\t\t: fpu tsc constant_tsc nonstop_tsc tsc_known_freq

processor\t: 1
cpu MHz\t\t: 1800.000
"""


def test_parse_tsc_khz() -> None:
    assert vm_qemu.parse_tsc_khz(CPUINFO) == 2596142
    assert vm_qemu.parse_tsc_khz(CPUINFO.replace("constant_tsc", "")) is None
    assert vm_qemu.parse_tsc_khz("cpu MHz : fast\nflags : constant_tsc") is None
    assert vm_qemu.parse_tsc_khz("") is None


@given(st.text())
def test_parse_tsc_khz_never_raises(text: str) -> None:
    got = vm_qemu.parse_tsc_khz(text)
    assert got is None or got > 0


def test_build_command_has_no_network_and_no_reboot(tmp_path: Path) -> None:
    cmd = vm_qemu.build_command("qemu", tmp_path / "k", tmp_path / "i", "kvm", tsc_khz=2600000)
    assert cmd[cmd.index("-nic") + 1] == "none"
    assert "-no-reboot" in cmd
    assert cmd[cmd.index("-accel") + 1] == "kvm"
    assert "tsc_early_khz=2600000" in cmd[cmd.index("-append") + 1]
    assert "panic=-1" in cmd[cmd.index("-append") + 1]


def test_find_kernel_order_and_errors(tmp_path: Path) -> None:
    k1 = tmp_path / "k1"
    k1.write_bytes(b"x")
    k2 = tmp_path / "k2"
    k2.write_bytes(b"x")
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / "vmlinuz-6.1.0").write_bytes(b"x")
    assert vm_qemu.find_kernel(str(k1), {"VIRTPROBE_KERNEL": str(k2)}, boot) == k1
    assert vm_qemu.find_kernel(None, {"VIRTPROBE_KERNEL": str(k2)}, boot) == k2
    assert vm_qemu.find_kernel(None, {}, boot) == boot / "vmlinuz-6.1.0"
    with pytest.raises(UnrunnableError, match="apt-get download linux-image-cloud-amd64"):
        vm_qemu.find_kernel(None, {}, tmp_path / "empty")
    with pytest.raises(UnrunnableError, match=r"--kernel .*not a file"):
        vm_qemu.find_kernel(str(tmp_path / "nope"), {}, boot)


def test_missing_qemu_says_how_to_install(tmp_path: Path) -> None:
    with pytest.raises(UnrunnableError, match="apt-get install --no-install-recommends qemu-system-x86"):
        vm_qemu.find_qemu(str(tmp_path / "no-qemu"))


def _fake_qemu(tmp_path: Path, body: str) -> Path:
    """A shell script standing in for qemu-system-x86_64; it records its own and its child's pid."""
    p = tmp_path / "fake-qemu"
    p.write_text("#!/bin/sh\n" + body, encoding="utf-8")
    p.chmod(p.stat().st_mode | stat.S_IXUSR)
    return p


HANG_ON_KVM = """
echo $$ > "$(dirname "$0")/pid"
case "$*" in
  *"-accel kvm"*)
    echo "KVM internal error. Suberror: 1" >&2
    echo "emulation failure" >&2
    sleep 1000 &
    echo $! > "$(dirname "$0")/child"
    wait
    ;;
  *)
    printf 'booting\\r\\nVIRTPROBE-READY\\r\\n'
    exit 0
    ;;
esac
"""

NEVER_READY = """
echo $$ > "$(dirname "$0")/pid"
echo "booting"
sleep 1000 &
echo $! > "$(dirname "$0")/child"
wait
"""


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    return state in ("Z", "X")  # a zombie waiting for init to reap it is not running


def _wait_gone(pid: int, within_s: float = 2.0) -> bool:
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        if _gone(pid):
            return True
        time.sleep(0.02)
    return _gone(pid)


@pytest.mark.qemu
def test_kvm_internal_error_is_killed_and_falls_back_to_tcg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if os.name != "posix":
        pytest.skip("POSIX process groups")
    fake = _fake_qemu(tmp_path, HANG_ON_KVM)
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"not really a kernel")
    monkeypatch.setattr(vm_qemu, "kvm_usable", lambda dev="/dev/kvm": None)
    t0 = time.monotonic()
    run = vm_qemu.measure(2, kernel, str(fake), kvm_timeout_s=20, boot_timeout_s=20)
    took = time.monotonic() - t0
    # The stderr line, not the 20 s timeout, must have ended the KVM attempt.
    assert took < 10, took
    assert run.accel == "tcg"
    assert run.kvm_fallback_reason is not None
    assert "KVM internal error" in run.kvm_fallback_reason
    assert "killed" in run.kvm_fallback_reason
    assert len(run.boots) == 2 and all(b.ok for b in run.boots)
    b = vm_qemu.baseline(run).to_dict()
    assert b["accel"] == "tcg"
    assert b["kind"] == "measured"
    assert vm_qemu.TCG_NOTE in b["notes"]
    assert "TCG" in b["label"]
    child = int((tmp_path / "child").read_text())
    assert _wait_gone(child), "the hanging QEMU's child survived"


@pytest.mark.qemu
def test_never_ready_times_out_is_killed_with_a_clear_error(tmp_path: Path) -> None:
    fake = _fake_qemu(tmp_path, NEVER_READY)
    t0 = time.monotonic()
    r = vm_qemu.boot_once([str(fake)], timeout_s=1.0)
    took = time.monotonic() - t0
    assert took < 5, took
    assert not r.ok
    assert r.killed
    assert r.error == "timed out after 1 s without the ready marker"
    assert _wait_gone(int((tmp_path / "pid").read_text()))
    assert _wait_gone(int((tmp_path / "child").read_text()))


@pytest.mark.qemu
def test_measure_reports_a_boot_that_never_gets_ready(tmp_path: Path) -> None:
    fake = _fake_qemu(tmp_path, NEVER_READY)
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"x")
    with pytest.raises(UnrunnableError, match="failed under TCG: timed out after 1 s"):
        vm_qemu.measure(1, kernel, str(fake), boot_timeout_s=1.0, try_kvm=False)


def test_qemu_that_exits_without_marker(tmp_path: Path) -> None:
    fake = _fake_qemu(tmp_path, "echo 'no kernel' >&2; exit 1\n")
    r = vm_qemu.boot_once([str(fake)], timeout_s=5.0)
    assert not r.ok and not r.killed
    assert r.error == "QEMU exited with code 1 without the ready marker"
    assert "no kernel" in r.stderr_tail


def _real_kernel() -> str | None:
    env = os.environ.get("VIRTPROBE_KERNEL")
    if env and os.access(env, os.R_OK):
        return env
    cached = sorted((REPO / ".cache/kernel/boot").glob("vmlinuz-*"))
    if cached:
        return str(cached[0])
    try:
        return str(vm_qemu.find_kernel(None, {}))
    except UnrunnableError:
        return None


@pytest.mark.qemu
def test_real_boot_two_runs() -> None:
    if shutil.which(vm_qemu.QEMU_BINARY) is None:
        live_skip(f"{vm_qemu.QEMU_BINARY} not installed")
    kernel = _real_kernel()
    if kernel is None:
        live_skip("no guest kernel (set VIRTPROBE_KERNEL)")
    run = vm_qemu.measure(2, Path(kernel), vm_qemu.find_qemu())
    assert len(run.boots) == 2
    b = vm_qemu.baseline(run, kernel_name=Path(str(kernel)).name).to_dict()
    assert b["kind"] == "measured"
    assert b["accel"] in ("kvm", "tcg")
    for s_ready, s_exit in zip(b["boot_samples_s"], b["exit_samples_s"], strict=True):
        assert 0 < s_ready <= s_exit
    m = b["memory"]
    assert m["peak_rss_bytes"] and m["peak_rss_bytes"] > 16 * 1024 * 1024
    assert m["pss_bytes"] is None or m["pss_bytes"] > 0
    if b["accel"] == "tcg":
        assert vm_qemu.TCG_NOTE in b["notes"]
    if os.path.exists("/sys/module/kvm_pvm"):
        # This machine: kvm_pvm cannot run a stock kernel, so TCG with the reason recorded.
        assert b["accel"] == "tcg"
        assert any(n.startswith("KVM not used: KVM boot failed") for n in b["notes"])


@pytest.mark.qemu
def test_ctrl_c_kills_the_qemu_process_group(tmp_path: Path) -> None:
    import signal
    import threading

    fake = _fake_qemu(tmp_path, NEVER_READY)
    # A real SIGINT, as a terminal's Ctrl-C sends, so the blocking select() is interrupted.
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    t0 = time.monotonic()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            vm_qemu.boot_once([str(fake)], timeout_s=30.0)
    finally:
        timer.cancel()
    assert time.monotonic() - t0 < 10
    assert _wait_gone(int((tmp_path / "pid").read_text()))
    assert _wait_gone(int((tmp_path / "child").read_text()))
