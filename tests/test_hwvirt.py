"""Tests of --hwvirt: the machine code and its checksums, section shape, and a live run on /dev/kvm."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

import pytest

from tests.conftest import live_skip
from virtprobe.benchmark.vm import baselines as vm
from virtprobe.benchmark.vm import hwvirt
from virtprobe.machine import kvmapi


@pytest.mark.parametrize("n", [1, 2, 7, 1000, 65537])
def test_closed_form_checksum_matches_the_loop(n: int) -> None:
    assert hwvirt.expected_checksum_fast(n) == hwvirt.expected_checksum(n)


def test_compute_code_shares_the_loop_bytes() -> None:
    native = hwvirt.compute_code(10, hwvirt.NATIVE_EPILOGUE)
    guest = hwvirt.compute_code(10, hwvirt.GUEST_EPILOGUE)
    common = len(hwvirt.LOOP_PROLOGUE) + 5 + len(hwvirt.LOOP_BODY)
    assert native[:common] == guest[:common]
    assert native[common:] == b"\xc3"
    assert guest[common:] == b"\x66\xba\xf9\x03\xee"
    # jnz -8 lands on `add eax, ecx`, the first byte of the body.
    assert hwvirt.LOOP_BODY[-2:] == b"\x75\xf8" and len(hwvirt.LOOP_BODY) == 8
    with pytest.raises(ValueError):
        hwvirt.compute_code(0, b"")


def test_exit_loop_code_jumps_back_to_out() -> None:
    code = hwvirt.exit_loop_code(3)
    out_at = code.index(b"\xee")
    jnz_end = code.index(b"\x75\xfb") + 2
    assert jnz_end - 5 == out_at
    assert code.endswith(hwvirt.GUEST_EPILOGUE)


def test_real_mode_exit_loop_jumps_back_to_out() -> None:
    code = hwvirt.exit_loop_code_real_mode(3)
    assert code.index(b"\x75\xfc") + 2 - 4 == code.index(b"\xee")
    with pytest.raises(ValueError):
        hwvirt.exit_loop_code_real_mode(70000)


def test_kvm_module_reads_sys_module(tmp_path: Path) -> None:
    assert hwvirt.kvm_module(tmp_path) is None
    (tmp_path / "sys/module/kvm_amd").mkdir(parents=True)
    assert hwvirt.kvm_module(tmp_path) == "kvm_amd"
    (tmp_path / "sys/module/kvm_pvm").mkdir(parents=True)
    assert hwvirt.kvm_module(tmp_path) == "kvm_pvm"


def test_verdict_words() -> None:
    v = hwvirt._near_native_verdict(1.02, 6000.0)
    assert "1.02x native: near-native" in v
    assert "not near-native" in v


def test_missing_kvm_degrades_with_a_reason(tmp_path: Path) -> None:
    out = hwvirt.hwvirt(2, device=str(tmp_path / "no-kvm")).to_dict()
    assert out["available"] is False
    assert "stage open" in out["reason"]
    assert out["vm_floor"] is None and out["near_native"] is None


@pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() == "x86_64"), reason="x86_64 machine code"
)
def test_native_loop_returns_the_checksum() -> None:
    t, r = hwvirt.time_native(12345)
    assert r == hwvirt.expected_checksum_fast(12345)
    assert t >= 0


@pytest.mark.kvm
def test_live_hwvirt_section() -> None:
    if not os.path.exists(kvmapi.KVM_DEVICE) or not os.access(kvmapi.KVM_DEVICE, os.R_OK | os.W_OK):
        live_skip("/dev/kvm not present or not accessible")
    out = vm.hwvirt_section(3).to_dict()
    assert out["available"] is True, out["reason"]
    floor = out["vm_floor"]
    assert len(floor["samples_s"]) == 3 and all(s > 0 for s in floor["samples_s"])
    assert floor["meaning"]
    ex = out["exit_round_trip"]
    assert all(r > 0 for r in ex["raw_per_exit_s"])
    assert all(n > 0 for n in ex["null_ioctl_per_call_s"])
    pairs = zip(ex["raw_per_exit_s"], ex["null_ioctl_per_call_s"], strict=True)
    assert ex["net_per_exit_s"] == [r - n for r, n in pairs]
    rm = out["exit_round_trip_real_mode"]
    assert all(r > 0 for r in rm["raw_per_exit_s"])
    nn = out["near_native"]
    assert nn["same_result"] is True
    assert nn["ratio_user"] > 0 and nn["ratio_kernel"] > 0
    assert nn["meaning"] and nn["verdict"]
    if os.path.exists("/sys/module/kvm_pvm"):
        # This machine (kvm_pvm): guest kernel mode is emulated, orders of magnitude slower than user mode.
        assert out["kvm_module"] == "kvm_pvm"
        assert nn["ratio_kernel"] > 20 * nn["ratio_user"]
        assert any("kvm_pvm" in n for n in out["notes"])
