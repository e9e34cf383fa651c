"""Confidential VMs: the reconstructed CVM roots, each reader, and the decision rules.

The roots (tests/fixtures/roots/{gcp_sev_snp,gcp_sev_no_root,azure_sev_snp,gcp_tdx})
and the tmp roots below are reconstructed from systemd's src/basic/confidential-virt.c
and the kernel sources named in their SOURCE.md: no CVM can run on this machine.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import ROOTS
from tests.rootmaker import make_root
from virtprobe.detection.cvm import (
    IDS,
    SEV_NEEDS_ROOT,
    cvm_from_sev_status,
    decide_x86,
    parse_mem_encrypt,
    probe_cvm,
)
from virtprobe.detection.model import DECISIVE, NONE, OVERRULED, CvmResult, DetectResult
from virtprobe.detection.run import detect
from virtprobe.machine.source import RootSource

CVM_ROOTS = sorted(
    p.name for p in ROOTS.iterdir() if (p / "expected.json").exists() and "_cvm.id" in (p / "expected.json").read_text()
)


def s4(text: str) -> int:
    return int.from_bytes(text.encode(), "little")


AMD = {"ebx": s4("Auth"), "edx": s4("enti"), "ecx": s4("cAMD")}
INTEL = {"ebx": s4("Genu"), "edx": s4("ineI"), "ecx": s4("ntel")}
HV_BIT = {"eax": 0x00A00F11, "ebx": 0, "ecx": 1 << 31, "edx": 0}


def test_the_cvm_roots_are_there() -> None:
    assert set(CVM_ROOTS) >= {"gcp_sev_snp", "gcp_sev_no_root", "azure_sev_snp", "gcp_tdx"}


@pytest.mark.parametrize("scenario", CVM_ROOTS)
def test_cvm_root_verdict(scenario: str) -> None:
    root = ROOTS / scenario
    assert "Reconstructed" in (root / "SOURCE.md").read_text()
    want = json.loads((root / "expected.json").read_text())["_cvm.id"]
    result = detect(RootSource(root), kvm_probe=True)
    assert result.cvm.id == want
    rows = [e for e in result.evidence if e.topic == "cvm"]
    if want is None:
        assert result.cvm.reason and not any(e.weight == DECISIVE for e in rows)
    else:
        assert [e.points_to for e in rows if e.weight == DECISIVE] == [want]


def test_sev_without_root_is_null_never_none() -> None:
    result = detect(RootSource(ROOTS / "gcp_sev_no_root"))
    assert result.cvm.id is None
    assert result.cvm.reason is not None and result.cvm.reason.startswith(SEV_NEEDS_ROOT)


def test_azure_hidden_sev_leaf_is_overruled_by_hyperv_isolation() -> None:
    result = detect(RootSource(ROOTS / "azure_sev_snp"))
    rows = {e.source: e for e in result.evidence if e.topic == "cvm"}
    assert rows["cpuid 0x8000001f"].weight == OVERRULED
    assert rows["cpuid 0x4000000c"].weight == DECISIVE


def _amd_guest(
    tmp_path: Path, leaf_1f_eax: int, files: dict[str, str | bytes] | None = None, **extra: object
) -> RootSource:
    """An AMD KVM guest: the hypervisor bit, and CPUID 0x8000001F EAX as given (bit 1 = SEV offered)."""
    files = {
        "proc/cpuinfo": "processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu hypervisor\n\n",
        **(files or {}),
    }
    cpuid = {
        "0x00000000": {"eax": 0x10, **AMD},
        "0x00000001": HV_BIT,
        "0x80000000": {"eax": 0x80000021, **AMD},
        "0x8000001f": {"eax": leaf_1f_eax, "ebx": 0x33, "ecx": 0, "edx": 0},
    }
    return make_root(tmp_path, files, meta={"cpuid": cpuid, **extra})


@pytest.mark.parametrize(("msr", "want"), [(0x0, NONE), (0x1, "sev"), (0x3, "sev-es"), (0x7, "sev-snp")])
def test_the_sev_status_msr_decides(tmp_path: Path, msr: int, want: str) -> None:
    result, ev = probe_cvm(_amd_guest(tmp_path, 0x1A, msr={"0xc0010131": msr}))
    assert result.id == want
    assert [e.source for e in ev if e.weight == DECISIVE] == ["msr 0xc0010131 (SEV_STATUS)"]


def test_dmesg_line_answers_without_root(tmp_path: Path) -> None:
    line = b"[    0.31] Memory Encryption Features active: AMD SEV SEV-ES\n"
    src = _amd_guest(tmp_path, 0xA, commands={"dmesg": base64.b64encode(line).decode()})
    result, ev = probe_cvm(src)
    assert result == CvmResult("sev-es")
    assert [e.source for e in ev if e.weight == DECISIVE] == ["command: dmesg"]


def test_sev_guest_device_answers_without_root(tmp_path: Path) -> None:
    result, _ = probe_cvm(_amd_guest(tmp_path, 0x1A, files={"dev/sev-guest": ""}))
    assert result.id == "sev-snp"


def test_amd_guest_without_the_sev_bit_is_none(tmp_path: Path) -> None:
    assert probe_cvm(_amd_guest(tmp_path, 0x0))[0] == CvmResult(NONE)


def test_bare_metal_is_none(tmp_path: Path) -> None:
    cpuid = {"0x00000000": {"eax": 0x10, **AMD}, "0x00000001": {"eax": 0, "ebx": 0, "ecx": 0, "edx": 0}}
    src = make_root(
        tmp_path, {"proc/cpuinfo": "vendor_id\t: AuthenticAMD\nflags\t\t: fpu svm sev\n"}, meta={"cpuid": cpuid}
    )
    assert probe_cvm(src)[0] == CvmResult(NONE)


def test_intel_guest_without_tdx_leaf_is_none(tmp_path: Path) -> None:
    cpuid = {"0x00000000": {"eax": 0x1B, **INTEL}, "0x00000001": HV_BIT}
    src = make_root(
        tmp_path, {"proc/cpuinfo": "vendor_id\t: GenuineIntel\nflags\t\t: fpu hypervisor\n"}, meta={"cpuid": cpuid}
    )
    assert probe_cvm(src)[0] == CvmResult(NONE)


def test_no_cpuid_and_no_flags_is_null(tmp_path: Path) -> None:
    result, _ = probe_cvm(make_root(tmp_path, {"proc/version": "Linux"}))
    assert result.id is None and result.reason


@pytest.mark.parametrize(("value", "want"), [("1\n", "protvirt"), ("0\n", NONE)])
def test_s390x_secure_execution(tmp_path: Path, value: str, want: str) -> None:
    # arch/s390/kernel/uv.c: /sys/firmware/uv/prot_virt_guest reads 1 in a Secure Execution guest.
    src = make_root(tmp_path, {"sys/firmware/uv/prot_virt_guest": value}, meta={"machine": "s390x"})
    assert probe_cvm(src)[0] == CvmResult(want)


def test_s390x_without_the_file_is_null(tmp_path: Path) -> None:
    src = make_root(tmp_path, {"proc/sysinfo": "Type: 8561\n"}, meta={"machine": "s390x"})
    result, _ = probe_cvm(src)
    assert result.id is None and "prot_virt_guest" in (result.reason or "")


def test_arm64_cca_realm(tmp_path: Path) -> None:
    # arch/arm64/kernel/rsi.c registers the "arm-cca-dev" platform device in a realm.
    files: dict[str, str | bytes] = {
        "sys/devices/platform/arm-cca-dev/uevent": "",
        "sys/devices/platform/serial8250/uevent": "",
    }
    assert probe_cvm(make_root(tmp_path, files, meta={"machine": "aarch64"}))[0] == CvmResult("cca")


def test_arm64_without_realm_device_is_none_but_masked_sysfs_is_null(tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {"sys/devices/platform/serial8250/uevent": ""}
    assert probe_cvm(make_root(tmp_path / "a", files, meta={"machine": "aarch64"}))[0] == CvmResult(NONE)
    assert probe_cvm(make_root(tmp_path / "b", {"proc/version": ""}, meta={"machine": "aarch64"}))[0].id is None


def test_unknown_architecture_is_null(tmp_path: Path) -> None:
    result, _ = probe_cvm(make_root(tmp_path, {}, meta={"machine": "riscv64"}))
    assert result.id is None and "riscv64" in (result.reason or "")


@pytest.mark.parametrize(
    ("line", "want"),
    [
        ("Memory Encryption Features active: AMD SEV SEV-ES SEV-SNP", "sev-snp"),
        ("Memory Encryption Features active: AMD SEV", "sev"),
        ("AMD Memory Encryption Features active: SEV SEV-ES", "sev-es"),
        ("Memory Encryption Features active: Intel TDX", "tdx"),
        ("Memory Encryption Features active: AMD SME", NONE),
    ],
)
def test_parse_mem_encrypt(line: str, want: str) -> None:
    got = parse_mem_encrypt(f"[    0.0] x\n[    0.3] {line}\n")
    assert got is not None and got[1] == want


@given(st.text())
def test_parse_mem_encrypt_never_raises(text: str) -> None:
    got = parse_mem_encrypt(text)
    assert got is None or got[1] in IDS


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_sev_status_order(value: int) -> None:
    got = cvm_from_sev_status(value)
    assert got == ("sev-snp" if value & 4 else "sev-es" if value & 2 else "sev" if value & 1 else NONE)


def test_decide_without_any_source_is_null() -> None:
    result, ev = decide_x86(None, [], "why", [])
    assert result == CvmResult(None, "why") and ev == []


def test_1_0_document_upgrades_with_unknown_cvm() -> None:
    from virtprobe.report.load import load_report

    report = load_report(Path(__file__).parent / "fixtures" / "reports" / "detect-firecracker.json")
    result = report.result
    assert isinstance(result, DetectResult)
    assert report.header.schema_version == "1.2"
    assert result.cvm.id is None and result.checks == ()
