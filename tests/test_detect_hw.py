"""Unit tests of the CPU, CPUID, KVM, hypervisor and cloud probes: parsers, and probes on fixture roots."""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOTS
from virtprobe.detect.cloud import AZURE_ASSET_TAG, match_cloud, probe_cloud
from virtprobe.detect.cpu import firmware_disable_line, parse_cpuinfo, parse_flags, probe_cpu
from virtprobe.detect.hv_readers import (
    acpi_vmm,
    decode_signature,
    device_tree_strings,
    dmi_id,
    parse_acpi_header,
    parse_xen_features,
    signature_id,
)
from virtprobe.detect.hypervisor import probe_hypervisor
from virtprobe.detect.kvm import parse_bool_param, probe_kvm
from virtprobe.detect.model import DECISIVE, NONE, OVERRULED, WEIGHTS
from virtprobe.machine import cpuid as cpuid_mod
from virtprobe.machine.source import Lookup, RootSource


def regs(sig: bytes) -> tuple[int, int, int]:
    sig = sig.ljust(12, b"\0")
    return tuple(int.from_bytes(sig[i : i + 4], "little") for i in (0, 4, 8))  # type: ignore[return-value]


# --- parsers -------------------------------------------------------------------


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


@pytest.mark.parametrize(
    ("sig", "text", "hv"),
    [
        (b"KVMKVMKVM\0\0\0", "KVMKVMKVM", "kvm"),
        (b"Microsoft Hv", "Microsoft Hv", "microsoft"),
        (b"VMwareVMware", "VMwareVMware", "vmware"),
        (b"XenVMMXenVMM", "XenVMMXenVMM", "xen"),
        (b"TCGTCGTCGTCG", "TCGTCGTCGTCG", "qemu"),
        (b"bhyve bhyve ", "bhyve bhyve", "bhyve"),
        (b" lrpepyh  vr", "lrpepyh  vr", "parallels"),
        (b"Linux KVM Hv", "Linux KVM Hv", "kvm"),
        (b"ACRNACRNACRN", "ACRNACRNACRN", "acrn"),
        (b"VBoxVBoxVBox", "VBoxVBoxVBox", "oracle"),
        (b"SomethingNew", "SomethingNew", "vm-other"),
    ],
)
def test_signatures(sig: bytes, text: str, hv: str) -> None:
    decoded = decode_signature(*regs(sig))
    assert decoded == text
    assert signature_id(decoded) == hv


def test_signature_rejects_non_text_registers() -> None:
    # An Intel CPU echoes its highest basic leaf for out-of-range leaves: numbers, not text.
    assert decode_signature(0x00000E10, 0x00000064, 0) is None
    assert decode_signature(0, 0, 0) is None


def test_acpi_header() -> None:
    data = b"FACP" + b"\x14\x01\x00\x00" + b"\x06\x66" + b"FIRECK" + b"FCVMFADT" + bytes(12)
    assert parse_acpi_header(data) == ("FIRECK", "FCVMFADT")
    assert acpi_vmm("FIRECK", "FCVMFADT") == ("firecracker", "kvm")
    assert acpi_vmm("BOCHS ", "BXPCFACP") == ("qemu", None)
    assert acpi_vmm("DELL  ", "PE_SC3  ") is None
    assert parse_acpi_header(b"FACP") is None


def test_dmi_prefixes_follow_systemd() -> None:
    assert dmi_id("VMware, Inc.") == "vmware"
    assert dmi_id("innotek GmbH") == "oracle"
    assert dmi_id("Microsoft Corporation") is None  # Surface laptops say it too
    assert dmi_id("Amazon EC2") == "amazon"


def test_xen_features_and_device_tree() -> None:
    assert parse_xen_features("000008f1\n") == 0x8F1
    assert parse_xen_features("zz") is None
    assert device_tree_strings(b"linux,dummy-virt\0qemu,virt\0") == ["linux,dummy-virt", "qemu,virt"]


@pytest.mark.parametrize(("text", "want"), [("Y\n", True), ("1", True), ("N", False), ("0\n", False), ("x", None)])
def test_parse_bool_param(text: str, want: bool | None) -> None:
    assert parse_bool_param(text) is want


def test_cloud_azure_needs_the_asset_tag() -> None:
    hyperv = {"sys_vendor": "Microsoft Corporation", "product_name": "Virtual Machine"}
    assert match_cloud(hyperv) == []
    hits = match_cloud({**hyperv, "chassis_asset_tag": AZURE_ASSET_TAG})
    assert [h[2] for h in hits] == ["azure"]


def test_cloud_rules() -> None:
    assert match_cloud({"bios_version": "4.11.amazon"})[0][2] == "amazon"
    assert match_cloud({"product_name": "Google Compute Engine"})[0][2] == "google"
    assert match_cloud({"chassis_asset_tag": "OracleCloud.com"})[0][2] == "oracle"
    assert match_cloud({"product_name": "Alibaba Cloud ECS"})[0][2] == "alibaba"
    assert match_cloud({"sys_vendor": "Dell Inc."}) == []


# --- probes on fixture roots ------------------------------------------------------

HW = {
    # scenario: (cpu, kvm, hypervisor, cloud) fields beyond the whole-verdict test
    "bare_metal_intel": {"features": {"ept", "vpid", "unrestricted_guest"}, "hv_bit": False, "nested": True},
    "bare_metal_amd": {"features": {"npt", "vgif", "nrip_save"}, "hv_bit": False, "nested": True},
    "kvm_qemu": {"layers": ["kvm"], "role": "guest", "hv_bit": True},
    "hyperv_enlightened_kvm": {"layers": ["microsoft", "kvm"], "role": "guest"},
    "virtualbox": {"layers": ["kvm", "oracle"], "overruled": ["cpuid 0x40000000"]},
    "surface_laptop": {"layers": [], "overruled": ["/sys/class/dmi/id/sys_vendor"]},
    "xen_dom0": {"role": "host"},
    "xen_pv": {"layers": ["xen"], "role": "guest"},
    "aws_nitro": {"instance_type": "m5.large", "bare_metal": False},
    "aws_metal": {"instance_type": "m5d.metal", "bare_metal": True},
    "azure": {"bare_metal": False},
    "firecracker_this_machine": {"layers": ["kvm"], "hv_bit": True, "nested": None},
}


def load(scenario: str) -> tuple[RootSource, dict[str, object]]:
    root = ROOTS / scenario
    return RootSource(root), json.loads((root / "expected.json").read_text())


HW_SCENARIOS = sorted(
    p.name for p in ROOTS.iterdir() if (p / "expected.json").exists() and (p / "proc/cpuinfo").exists()
)


@pytest.mark.parametrize("scenario", HW_SCENARIOS)
def test_probes_on_root(scenario: str) -> None:
    src, want = load(scenario)
    cpu, cpu_ev = probe_cpu(src)
    kvm, kvm_ev = probe_kvm(src, run_guest=True)
    hv, hv_ev = probe_hypervisor(src)
    cloud, cloud_ev = probe_cloud(src)
    assert cpu.virt_tech == want["cpu.virt_tech"]
    assert cpu.disabled_in_firmware == want["cpu.disabled_in_firmware"]
    assert kvm.usable == want["kvm.usable"]
    assert kvm.module == want["kvm.module"]
    assert hv.id == want["hypervisor.id"]
    assert hv.vmm == want["hypervisor.vmm"]
    assert cloud.id == want["cloud.id"]
    for topic, rows in (("cpu", cpu_ev), ("kvm", kvm_ev), ("hypervisor", hv_ev), ("cloud", cloud_ev)):
        assert rows, f"{topic} gave no evidence"
        for e in rows:
            assert e.topic == topic
            assert e.weight in WEIGHTS
            assert e.source.startswith(("/", "cpuid 0x", "command: ", "KVM ioctl probe", "verdict: ")), e.source
    if hv.id not in (None, NONE):
        assert any(e.weight == DECISIVE for e in hv_ev)
    extra = HW.get(scenario, {})
    if "features" in extra:
        assert extra["features"] <= set(cpu.virt_features)
    if "hv_bit" in extra:
        assert cpu.hypervisor_bit is extra["hv_bit"]
    if "nested" in extra:
        assert kvm.nested is extra["nested"]
    if "layers" in extra:
        assert [x.id for x in hv.layers] == extra["layers"]
    if "role" in extra:
        assert hv.role == extra["role"]
    if "overruled" in extra:
        assert {e.source for e in hv_ev if e.weight == OVERRULED} >= set(extra["overruled"])
    if "instance_type" in extra:
        assert cloud.instance_type == extra["instance_type"]
    if "bare_metal" in extra:
        assert cloud.bare_metal is extra["bare_metal"]


def test_enough_hw_scenarios() -> None:
    mine = {
        "bare_metal_intel", "bare_metal_amd", "intel_vtx_disabled_firmware", "kvm_qemu", "qemu_tcg",
        "vmware", "virtualbox", "hyperv", "azure", "aws_nitro", "aws_metal", "aws_xen", "gcp", "xen_pv",
        "xen_hvm", "xen_dom0", "parallels", "bhyve", "apple_vz", "firecracker_this_machine",
        "hyperv_enlightened_kvm", "surface_laptop",
    }  # fmt: skip
    assert mine <= set(HW_SCENARIOS)


def test_pvm_verdict_says_what_kvm_ok_gets_wrong() -> None:
    kvm, _ = probe_kvm(RootSource(ROOTS / "firecracker_this_machine"), run_guest=True)
    assert kvm.usable is True and kvm.module == "kvm_pvm" and kvm.guest_exit == "KVM_EXIT_HLT"
    assert kvm.api_version == 12 and kvm.openable is True
    assert kvm.reason is not None
    said = "no vmx/svm flag in /proc/cpuinfo, yet /dev/kvm ran a guest to KVM_EXIT_HLT via kvm_pvm"
    assert said in kvm.reason
    assert "kvm-ok would say KVM cannot be used" in kvm.reason


def test_kvm_without_guest_run_is_unproven() -> None:
    kvm, _ = probe_kvm(RootSource(ROOTS / "firecracker_this_machine"), run_guest=False)
    assert kvm.usable is None and kvm.device_present is True
    assert kvm.reason and "not requested" in kvm.reason


def test_firmware_disable_without_dmesg_still_decided_by_raw_cpuid(tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "r"
    shutil.copytree(ROOTS / "intel_vtx_disabled_firmware", root, symlinks=True)
    meta = json.loads((root / "virtprobe-snapshot.json").read_text())
    meta["commands"] = {}
    (root / "virtprobe-snapshot.json").write_text(json.dumps(meta))
    cpu, ev = probe_cpu(RootSource(root))
    assert cpu.disabled_in_firmware is True
    assert any(e.source == "cpuid 0x00000001" and e.weight == DECISIVE for e in ev)


def test_empty_root_is_unknown_everywhere(tmp_path: Path) -> None:
    src = RootSource(tmp_path)
    cpu, _ = probe_cpu(src)
    kvm, _ = probe_kvm(src, run_guest=True)
    hv, _ = probe_hypervisor(src)
    cloud, _ = probe_cloud(src)
    assert cpu.virt_tech is None and cpu.hypervisor_bit is None
    # No /dev and no /sys in the root: a partial copy, so /dev/kvm's absence proves nothing.
    assert kvm.usable is None and kvm.device_present is None
    assert kvm.reason == "cannot tell: /dev is not in this snapshot"
    assert hv.id is None and cloud.id is None


# --- CPUID ---------------------------------------------------------------------------

x86_linux = pytest.mark.skipif(
    sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"),
    reason="the CPUID machine code is x86-64 System V",
)


def test_cpuid_not_x86(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpuid_mod.platform, "machine", lambda: "aarch64")
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


def test_kvm_device_without_probe_result_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/kvm").write_bytes(b"")
    kvm, _ = probe_kvm(RootSource(tmp_path), run_guest=True)
    assert kvm.device_present is True and kvm.usable is None
    assert kvm.reason and "unknown" in kvm.reason
