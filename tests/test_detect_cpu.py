"""The CPU probe: cpuinfo parsing, the hypervisor bit (raw CPUID first), firmware locks, and live CPUID."""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOTS
from virtprobe.detection.cpu import (
    firmware_disable_line,
    kernel_version,
    parse_cpuinfo,
    parse_flags,
    probe_cpu,
    read_hypervisor_bit,
)
from virtprobe.detection.model import DECISIVE, OVERRULED
from virtprobe.machine import cpuid as cpuid_mod
from virtprobe.machine.source import Lookup, RootSource


def test_parse_cpuinfo_reads_the_first_block_only() -> None:
    text = "processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu vmx\n\nprocessor\t: 1\nflags\t\t: fpu\n"
    fields = parse_cpuinfo(text)
    assert fields["vendor_id"] == "GenuineIntel"
    assert parse_flags(fields["flags"]) == {"fpu", "vmx"}


def test_parse_cpuinfo_keeps_vmx_flags_line_apart_from_flags() -> None:
    fields = parse_cpuinfo("flags\t\t: vmx\nvmx flags\t: ept vpid unrestricted_guest\n")
    assert parse_flags(fields["vmx flags"]) == {"ept", "vpid", "unrestricted_guest"}
    assert parse_flags(fields["flags"]) == {"vmx"}


def test_parse_cpuinfo_tolerates_leading_blank_lines_and_junk() -> None:
    assert parse_cpuinfo("\n\nno colon here\nmodel name : X : Y\n") == {"model name": "X : Y"}
    assert parse_flags(None) == frozenset()


@pytest.mark.parametrize(
    "line",
    [
        "[    0.012345] x86/cpu: VMX (outside TXT) disabled by BIOS",
        "[    1.0] kvm: disabled by bios",
        "[    2.0] kvm_amd: SVM disabled (by BIOS) in MSR_VM_CR on CPU 0",
    ],
)
def test_firmware_disable_line(line: str) -> None:
    assert firmware_disable_line("boot\n" + line + "\nmore\n") == line.strip()


def test_firmware_disable_line_absent() -> None:
    assert firmware_disable_line("x86/cpu: SGX disabled by BIOS.\n") is None


def test_firmware_disable_without_dmesg_still_decided_by_raw_cpuid(tmp_path: Path) -> None:
    root = tmp_path / "r"
    shutil.copytree(ROOTS / "intel_vtx_disabled_firmware", root, symlinks=True)
    meta = json.loads((root / "virtprobe-snapshot.json").read_text())
    meta["commands"] = {}
    (root / "virtprobe-snapshot.json").write_text(json.dumps(meta))
    cpu, ev = probe_cpu(RootSource(root))
    assert cpu.disabled_in_firmware is True
    assert any(e.source == "cpuid 0x00000001" and e.weight == DECISIVE for e in ev)


def test_raw_cpuid_beats_an_old_kernels_missing_flag() -> None:
    # 2.6.18 predates the `hypervisor` flag; the snapshot's raw leaf 1 has ECX[31] set.
    src = RootSource(ROOTS / "hyperv_old_kernel")
    bit = read_hypervisor_bit(src)
    assert bit.on is True and bit.source == "cpuid 0x00000001"
    assert bit.overruled is not None and bit.overruled[1] == "no hypervisor flag"
    cpu, ev = probe_cpu(src)
    assert cpu.hypervisor_bit is True
    assert any(e.weight == OVERRULED and e.source == "/proc/cpuinfo: flags" for e in ev)


def test_xen_pv_flag_beats_raw_cpuid_with_the_bit_clear() -> None:
    # A PV kernel executes CPUID natively (the bit clear) and sets the flag itself.
    bit = read_hypervisor_bit(RootSource(ROOTS / "xen_pv"))
    assert bit.on is True and bit.source == "/proc/cpuinfo: flags"


def test_old_kernel_without_raw_cpuid_is_unknown(tmp_path: Path) -> None:
    root = tmp_path / "r"
    shutil.copytree(ROOTS / "hyperv_old_kernel", root, symlinks=True)
    meta = json.loads((root / "virtprobe-snapshot.json").read_text())
    del meta["cpuid"]
    (root / "virtprobe-snapshot.json").write_text(json.dumps(meta))
    bit = read_hypervisor_bit(RootSource(root))
    assert bit.on is None and "predates the `hypervisor` flag" in bit.note


@pytest.mark.parametrize(
    ("text", "want"),
    [("2.6.18-419.el5\n", (2, 6, 18)), ("6.1.0-27-amd64", (6, 1, 0)), ("4.19", (4, 19, 0)), ("x", None), (None, None)],
)
def test_kernel_version(text: str | None, want: tuple[int, int, int] | None) -> None:
    assert kernel_version(text) == want


# --- CPUID ---------------------------------------------------------------------------

x86_linux = pytest.mark.skipif(
    sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"),
    reason="the CPUID machine code is x86-64 System V",
)


def test_cpuid_not_x86(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpuid_mod, "machine_name", lambda: "aarch64")
    got = cpuid_mod.live_cpuid_many([0, 1])
    assert all(v.value is None and v.reason == "CPUID exists only on x86" for v in got.values())


@x86_linux
def test_cpuid_fork_reads_a_vendor_string() -> None:
    regs_by_leaf, why = cpuid_mod._fork_cpuid([(0, 0), (1, 0)])
    assert regs_by_leaf is not None, why
    r = regs_by_leaf[(0, 0)]
    vendor = b"".join(x.to_bytes(4, "little") for x in (r.ebx, r.edx, r.ecx)).decode("ascii", "replace")
    assert vendor.isprintable() and len(vendor) == 12


@x86_linux
def test_cpuid_child_crash_is_a_reason_not_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpuid_mod, "_CPUID_CODE", bytes.fromhex("0f0b"))  # ud2: SIGILL in the child
    regs_by_leaf, why = cpuid_mod._fork_cpuid([(0, 0)])
    assert regs_by_leaf is None
    assert "signal" in why


def test_live_cpuid_batches_into_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, ...]] = []

    def fake_many(leaves: tuple[int, ...] | list[int], subleaf: int = 0) -> dict[tuple[int, int], Lookup]:
        calls.append(tuple(leaves))
        return {(leaf, subleaf): Lookup(None, "fake") for leaf in leaves}

    monkeypatch.setattr(cpuid_mod, "live_cpuid_many", fake_many)
    monkeypatch.setattr(cpuid_mod, "_batch_done", False)
    monkeypatch.setattr(cpuid_mod, "_cache", {})
    cpuid_mod.live_cpuid(0x40000000)
    cpuid_mod.live_cpuid(0x1)
    cpuid_mod.live_cpuid(0x40000300)
    assert len(calls) == 1 and 0x40000300 in calls[0]
    cpuid_mod.live_cpuid(0x7)  # not in the batch: one more read
    assert len(calls) == 2


@x86_linux
def test_cpuid_falls_back_to_dev_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpuid_mod, "_fork_cpuid", lambda leaves: (None, "fork refused"))
    got = cpuid_mod.live_cpuid_many([0])[(0, 0)]
    if Path("/dev/cpu/0/cpuid").exists() and os.access("/dev/cpu/0/cpuid", os.R_OK):
        assert got.ok
        monkeypatch.undo()
        assert cpuid_mod._fork_cpuid([(0, 0)])[0] == {(0, 0): got.value}
    else:
        assert got.value is None and got.reason
        assert got.reason.startswith("fork refused; and /dev/cpu/0/cpuid")
