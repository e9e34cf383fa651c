"""The hypervisor and VMM probes: every reader's parser, the decision on every fixture root, layers and nulls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOTS
from virtprobe.detection import hv_readers as R
from virtprobe.detection.cloud import probe_cloud
from virtprobe.detection.cpu import probe_cpu
from virtprobe.detection.hv_readers import (
    acpi_vmm,
    decode_signature,
    device_tree_strings,
    dmi_id,
    parse_acpi_header,
    parse_xen_features,
    signature_id,
)
from virtprobe.detection.hypervisor import probe_hypervisor
from virtprobe.detection.kvm import probe_kvm
from virtprobe.detection.model import DECISIVE, NONE, OVERRULED, UNKNOWN, WEIGHTS
from virtprobe.detection.run import detect
from virtprobe.detection.vmm import MASKED_NOTE
from virtprobe.machine.source import RootSource


def regs(sig: bytes) -> tuple[int, int, int]:
    sig = sig.ljust(12, b"\0")
    return tuple(int.from_bytes(sig[i : i + 4], "little") for i in (0, 4, 8))  # type: ignore[return-value]


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
        (b"___ NVMM ___", "___ NVMM ___", "nvmm"),
        (b"LKVMLKVMLKVM", "LKVMLKVMLKVM", "kvm"),
        (b"OpenBSDVMM58", "OpenBSDVMM58", "openbsd-vmm"),
        (b"EVMMEVMMEVMM", "EVMMEVMMEVMM", "intel-kgt"),
        (b"prl hyperv  ", "prl hyperv", "parallels"),
        (b"NVMMNVMMNVMM", "NVMMNVMMNVMM", "vm-other"),  # not NVMM's real signature
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


HW: dict[str, dict[str, Any]] = {
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
    cloud, cloud_ev = probe_cloud(src, probe_hypervisor(src)[0])
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


def test_empty_root_is_unknown_everywhere(tmp_path: Path) -> None:
    src = RootSource(tmp_path)
    cpu, _ = probe_cpu(src)
    kvm, _ = probe_kvm(src, run_guest=True)
    hv, _ = probe_hypervisor(src)
    cloud, _ = probe_cloud(src, probe_hypervisor(src)[0])
    assert cpu.virt_tech is None and cpu.hypervisor_bit is None
    # No /dev and no /sys in the root: a partial copy, so /dev/kvm's absence proves nothing.
    assert kvm.usable is None and kvm.device_present is None
    assert kvm.reason == "cannot tell: /dev is not in this snapshot"
    assert hv.id is None and cloud.id is None


# --- new sources: pure parsers -----------------------------------------------------------

SYSINFO_KVM_IN_ZVM = (
    "Manufacturer:         IBM\nLPAR Name:            LP17\n"
    "VM00 Name:            KVMguest\nVM00 Control Program: KVM/Linux\n"
    "VM01 Name:            LINUX01\nVM01 Control Program: z/VM    7.3.0\n"
)


def test_parse_sysinfo_levels_innermost_first() -> None:
    info = R.parse_sysinfo(SYSINFO_KVM_IN_ZVM)
    assert info.manufacturer == "IBM" and info.lpar_name == "LP17"
    assert [(lv.level, lv.control_program) for lv in info.levels] == [(0, "KVM/Linux"), (1, "z/VM 7.3.0")]
    assert [R.sysinfo_id(lv.control_program) for lv in info.levels] == ["kvm", "zvm"]
    assert R.parse_sysinfo("").levels == ()


def test_parse_lparcfg_and_pci_proc() -> None:
    assert R.parse_lparcfg("lparcfg 1.9\npartition_id=5\nsystem_type=IBM,9009-42A\n")["partition_id"] == "5"
    rows = R.parse_pci_proc("0000\t80860d57\t0\n0008\t1af41045\t0\nbad line\n0010\tzzzzzzzz\n")
    assert rows == [("0000", 0x8086, 0x0D57), ("0008", 0x1AF4, 0x1045)]


@pytest.mark.parametrize(
    ("vendor", "device", "hv", "vmm"),
    [
        (0x80EE, 0xBEEF, "oracle", "virtualbox"),
        (0x80EE, 0xCAFE, "oracle", "virtualbox"),
        (0x5853, 0x0001, "xen", None),
        (0x15AD, 0x0405, "vmware", "vmware"),
        (0x1234, 0x1111, None, "qemu"),
        (0x1B36, 0x000C, None, "qemu"),
        (0x1AF4, 0x1041, R.SOME_VM, None),
    ],
)
def test_pci_ids(vendor: int, device: int, hv: str | None, vmm: str | None) -> None:
    got = R.pci_match(vendor, device)
    assert got is not None and got[:2] == (hv, vmm)


def test_pci_ids_that_name_nothing() -> None:
    assert R.pci_match(0x8086, 0x1237) is None  # the i440FX host bridge is real Intel silicon too
    assert R.pci_match(0x5853, 0x0002) is None


def test_smbios_vm_bit() -> None:
    raw = bytearray(24)
    raw[0], raw[1] = 0, 24  # type 0, length 24
    assert R.smbios_vm_bit(bytes(raw)) is False
    raw[19] = 1 << 4
    assert R.smbios_vm_bit(bytes(raw)) is True
    assert R.smbios_vm_bit(bytes(raw[:19])) is None  # too short for the extension byte
    raw[0] = 1
    assert R.smbios_vm_bit(bytes(raw)) is None  # not a type 0 structure


def test_dmesg_and_brand() -> None:
    log = "[    0.000000] Linux version 6.1\n[    0.000000] Hypervisor detected: Microsoft Hyper-V\n"
    assert R.dmesg_hypervisor(log) == "Microsoft Hyper-V"
    assert R.DMESG_NAMES[R.dmesg_hypervisor(log) or ""] == "microsoft"
    assert R.dmesg_hypervisor("nothing here\n") is None
    assert R.brand_hint("QEMU Virtual CPU version 2.5+") == ("qemu", "QEMU's qemu64/qemu32 CPU model")
    assert R.brand_hint("Common KVM processor") is not None
    assert R.brand_hint("Intel(R) Xeon(R) Processor") is None


# --- the new roots: the whole hypervisor / VMM / cloud / KVM verdict ------------------------

# scenario: (hypervisor id, vmm, layer ids innermost first, role, cloud id, kvm usable, kvm reason contains)
NEW_ROOTS: dict[str, tuple[Any, ...]] = {
    "hyperv_old_kernel": ("microsoft", "hyper-v", ["microsoft"], "guest", NONE, False, "no /dev/kvm"),
    "bochs_dmi_qemu": ("qemu", "qemu", ["qemu"], "guest", NONE, False, "/dev/kvm is absent"),
    "partial_snapshot": (NONE, None, [], None, None, None, "cannot tell: /dev is not in this snapshot"),
    "s390x_zvm": ("zvm", None, ["zvm"], "guest", None, False, "no /dev/kvm"),
    "s390x_kvm_in_zvm": ("kvm", None, ["kvm", "zvm"], "guest", None, False, "no /dev/kvm"),
    "s390x_lpar": (NONE, None, [], None, None, False, "no /dev/kvm"),
    "ppc64le_powervm": ("powervm", None, ["powervm"], "guest", None, False, "no /dev/kvm"),
    "ppc64le_kvm": ("kvm", "qemu", ["kvm"], "guest", None, False, "no /dev/kvm"),
    "firecracker_docker_container": ("kvm", None, ["kvm"], "guest", None, False, "pass --device /dev/kvm"),
}


@pytest.mark.parametrize("scenario", sorted(NEW_ROOTS))
def test_new_root_whole_verdict(scenario: str) -> None:
    hv_id, vmm, layers, role, cloud, usable, reason = NEW_ROOTS[scenario]
    result = detect(RootSource(ROOTS / scenario), kvm_probe=True)
    assert result.hypervisor.id == hv_id
    assert result.hypervisor.vmm == vmm
    assert [x.id for x in result.hypervisor.layers] == layers
    assert result.hypervisor.role == role
    assert result.cloud.id == cloud
    assert result.kvm.usable is usable
    assert result.kvm.reason is not None and reason in result.kvm.reason


def test_every_null_has_a_reason_row() -> None:
    for scenario in sorted(NEW_ROOTS):
        result = detect(RootSource(ROOTS / scenario), kvm_probe=True)
        rows = [e for e in result.evidence if e.topic == "hypervisor"]
        if result.hypervisor.id is None:
            assert any(e.source == "verdict: hypervisor" and e.weight == UNKNOWN and e.note for e in rows)
        if result.hypervisor.vmm is None:
            assert any(("VMM" in e.source or e.note.startswith(MASKED_NOTE)) and e.note for e in rows), scenario


def test_old_hyperv_is_not_bare_metal_and_its_dmi_supports() -> None:
    hv, ev = probe_hypervisor(RootSource(ROOTS / "hyperv_old_kernel"))
    assert hv.id == "microsoft"
    dmi = [e for e in ev if e.source == "/sys/class/dmi/id/sys_vendor"]
    assert dmi and all(e.weight != OVERRULED for e in dmi)


def test_surface_trap_still_holds() -> None:
    hv, ev = probe_hypervisor(RootSource(ROOTS / "surface_laptop"))
    assert hv.id == NONE
    assert any(e.source == "/sys/class/dmi/id/sys_vendor" and e.weight == OVERRULED for e in ev)


def test_bochs_dmi_with_qemu_cpu_is_qemu() -> None:
    hv, ev = probe_hypervisor(RootSource(ROOTS / "bochs_dmi_qemu"))
    assert hv.id == "qemu"
    decisive = [e for e in ev if e.weight == DECISIVE]
    assert [e.source for e in decisive] == ["/proc/cpuinfo: model name"]
    assert any(e.points_to == "bochs" and e.weight == OVERRULED for e in ev)


def test_lpar_is_named_in_the_evidence() -> None:
    for scenario in ("s390x_lpar", "s390x_zvm", "s390x_kvm_in_zvm"):
        _, ev = probe_hypervisor(RootSource(ROOTS / scenario))
        assert any(e.source == "/proc/sysinfo: LPAR Name" and e.value == "LP17" for e in ev), scenario


def test_masked_firmware_in_a_container_says_why() -> None:
    hv, ev = probe_hypervisor(RootSource(ROOTS / "firecracker_docker_container"))
    assert hv.id == "kvm" and hv.vmm is None
    row = next(e for e in ev if e.note.startswith(MASKED_NOTE))
    assert row.weight == UNKNOWN and "ACPI0013" in row.note


def test_kvmtool_signature_names_the_vmm(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "proc").mkdir(parents=True)
    (root / "dev").mkdir()
    (root / "proc/cpuinfo").write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu hypervisor\n\n")
    ebx, ecx, edx = regs(b"LKVMLKVMLKVM")
    meta = {
        "format": 1,
        "platform": "linux",
        "machine": "x86_64",
        "cpuid": {
            "0x00000001/0": {"eax": 0, "ebx": 0, "ecx": 1 << 31, "edx": 0},
            "0x40000000/0": {"eax": 0x40000001, "ebx": ebx, "ecx": ecx, "edx": edx},
        },
    }
    (root / "virtprobe-snapshot.json").write_text(json.dumps(meta))
    hv, _ = probe_hypervisor(RootSource(root))
    assert (hv.id, hv.vmm) == ("kvm", "kvmtool")


def test_user_mode_linux(tmp_path: Path) -> None:
    # arch/um/kernel/um_arch.c prints this vendor line; systemd's detect_vm_uml() keys on it.
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cpuinfo").write_text(
        "processor\t: 0\nvendor_id\t: User Mode Linux\nmodel name\t: UML\nmode\t\t: skas\n\n"
    )
    hv, ev = probe_hypervisor(RootSource(tmp_path))
    assert (hv.id, hv.vmm) == ("uml", "uml")
    assert [e.source for e in ev if e.weight == DECISIVE] == ["/proc/cpuinfo: vendor_id"]
