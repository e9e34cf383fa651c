"""Tests of the KVM ioctl layer: struct layouts, ioctl numbers, exit decoding, and a live guest."""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

import pytest

from tests.conftest import live_skip
from virtprobe.machine import kvmapi


def test_struct_sizes_match_the_kernel_uapi() -> None:
    # Sizes from include/uapi/linux/kvm.h and arch/x86/include/uapi/asm/kvm.h on x86_64.
    assert ctypes.sizeof(kvmapi.KvmUserspaceMemoryRegion) == 32
    assert ctypes.sizeof(kvmapi.KvmRegs) == 144
    assert ctypes.sizeof(kvmapi.KvmSegment) == 24
    assert ctypes.sizeof(kvmapi.KvmDtable) == 16
    assert ctypes.sizeof(kvmapi.KvmSregs) == 312
    assert kvmapi.KvmRun.exit_reason.offset == 8
    assert kvmapi.KvmRun.exit.offset == 32
    assert kvmapi.KvmSregs.cr0.offset == 224


def test_ioctl_numbers_match_linux_headers() -> None:
    # Values as printed by a C program including <linux/kvm.h>.
    assert kvmapi.KVM_GET_API_VERSION == 0xAE00
    assert kvmapi.KVM_CREATE_VM == 0xAE01
    assert kvmapi.KVM_GET_VCPU_MMAP_SIZE == 0xAE04
    assert kvmapi.KVM_CREATE_VCPU == 0xAE41
    assert kvmapi.KVM_SET_USER_MEMORY_REGION == 0x4020AE46
    assert kvmapi.KVM_RUN == 0xAE80
    assert kvmapi.KVM_GET_REGS == 0x8090AE81
    assert kvmapi.KVM_SET_REGS == 0x4090AE82
    assert kvmapi.KVM_GET_SREGS == 0x8138AE83
    assert kvmapi.KVM_SET_SREGS == 0x4138AE84


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (2, "KVM_EXIT_IO"),
        (5, "KVM_EXIT_HLT"),
        (6, "KVM_EXIT_MMIO"),
        (8, "KVM_EXIT_SHUTDOWN"),
        (9, "KVM_EXIT_FAIL_ENTRY"),
        (17, "KVM_EXIT_INTERNAL_ERROR"),
        (999, "KVM_EXIT_999"),
    ],
)
def test_exit_reason_names(code: int, name: str) -> None:
    assert kvmapi.exit_reason_name(code) == name


def _run_page() -> tuple[bytearray, kvmapi.KvmRun]:
    page = bytearray(4096)
    return page, kvmapi.KvmRun.from_buffer(page)


def test_decode_io_exit_reads_the_data_at_its_offset() -> None:
    page, run = _run_page()
    run.exit_reason = 2
    run.exit.io.direction = 1
    run.exit.io.size = 1
    run.exit.io.port = 0x3F8
    run.exit.io.count = 1
    run.exit.io.data_offset = 0x200
    page[0x200] = ord("K")
    ex = kvmapi.decode_exit(run, bytes(page))
    assert ex.reason == "KVM_EXIT_IO"
    assert ex.io_port == 0x3F8
    assert ex.io_out is True
    assert ex.io_data == b"K"
    assert ex.to_dict()["io_data"] == "4b"


def test_decode_internal_error_names_the_suberror() -> None:
    _, run = _run_page()
    run.exit_reason = 17
    run.exit.internal.suberror = 1
    ex = kvmapi.decode_exit(run)
    assert ex.reason == "KVM_EXIT_INTERNAL_ERROR"
    assert ex.detail == "suberror 1 (emulation failure)"


def test_decode_fail_entry_and_mmio() -> None:
    _, run = _run_page()
    run.exit_reason = 9
    run.exit.fail_entry.hardware_entry_failure_reason = 0x80000021
    assert kvmapi.decode_exit(run).detail == "hardware_entry_failure_reason 0x80000021"
    run.exit_reason = 6
    run.exit.mmio.phys_addr = 0xFEE00000
    run.exit.mmio.len = 4
    run.exit.mmio.is_write = 1
    assert kvmapi.decode_exit(run).detail == "mmio write at 0xfee00000 len 4"


def test_probe_code_is_mov_out_hlt() -> None:
    assert kvmapi.PROBE_CODE == b"\xb0K\xba\xf8\x03\xee\xf4"


def test_missing_device_is_reported_not_raised(tmp_path: Path) -> None:
    look = kvmapi.probe_guest(str(tmp_path / "no-kvm"))
    v = look.value
    assert v["ok"] is False
    if sys.platform.startswith("linux"):
        assert v["stage"] == "open"
        assert "No such file" in v["error"]
    assert look.reason == v["error"]
    assert set(v) == {"ok", "stage", "api_version", "exit_reason", "elapsed_s", "guest_output", "error", "capabilities"}


def test_non_device_file_fails_at_api_version(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("Linux only")
    f = tmp_path / "plain"
    f.write_bytes(b"")
    v = kvmapi.probe_guest(str(f)).value
    assert v["ok"] is False
    assert v["stage"] == "api_version"
    assert v["error"]


def test_eacces_is_reported_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    def deny(*a: object, **k: object) -> int:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(kvmapi.os, "open", deny)
    monkeypatch.setattr(kvmapi.sys, "platform", "linux")
    v = kvmapi.probe_guest().value
    assert v["stage"] == "open"
    assert "kvm' group" in v["error"]


def test_non_linux_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kvmapi.sys, "platform", "darwin")
    v = kvmapi.probe_guest().value
    assert v == {**v, "ok": False, "stage": "open"}
    assert "darwin" in v["error"]


@pytest.mark.kvm
def test_live_guest_writes_K_and_halts() -> None:
    if not os.path.exists(kvmapi.KVM_DEVICE):
        live_skip("/dev/kvm not present")
    if not os.access(kvmapi.KVM_DEVICE, os.R_OK | os.W_OK):
        live_skip("/dev/kvm not accessible to this user")
    fds_before = len(os.listdir("/proc/self/fd"))
    v = kvmapi.probe_guest().value
    assert v["ok"] is True, v
    assert v["stage"] == "done"
    assert v["api_version"] == 12
    assert v["exit_reason"] == "KVM_EXIT_HLT"
    assert v["guest_output"] == "K"
    assert v["elapsed_s"] > 0
    assert len(os.listdir("/proc/self/fd")) == fds_before
