"""`detect --check` on THIS development VM: each answer, and that the answer is true here.

Only collected on the development machine (tests/conftest.py: a Firecracker microVM
whose /dev/kvm comes from kvm_pvm). Each test checks the verdict against the
machine itself, through a route that does not go through virtprobe's reading of it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import live_skip
from virtprobe.detection.checks import FIRECRACKER_CAPS
from virtprobe.detection.model import FAIL, PASS, WARN, CheckResult
from virtprobe.detection.run import detect
from virtprobe.machine import kvmapi
from virtprobe.machine.source import LiveSource

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.live, pytest.mark.kvm]


@pytest.fixture(scope="module")
def checks() -> dict[str, CheckResult]:
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        live_skip("/dev/kvm is not read-write for this user")
    return {c.target: c for c in detect(LiveSource(), kvm_probe=True, checks=True).checks}


def test_firecracker_fails_for_the_stock_kernel_not_for_kvm(checks: dict[str, CheckResult]) -> None:
    got = checks["firecracker"]
    assert got.status == FAIL
    assert "kvm_pvm" in got.reason and "stock" in got.reason
    # True here: the capabilities are all there (asked directly), so the PVM guest
    # kernel rule is what fails it (shared/MEASURED.md: emulation failure with Debian's kernel).
    assert "capabilities Firecracker requires" in got.reason
    with kvmapi.open_kvm() as fd:
        for name in FIRECRACKER_CAPS:
            assert fcntl.ioctl(fd, kvmapi.KVM_CHECK_EXTENSION, kvmapi.KVM_CAPS[name]) > 0, name
    assert os.path.isdir("/sys/module/kvm_pvm")
    assert checks["kvm"].status == FAIL and checks["cloud-hypervisor"].status == FAIL


def test_gvisor_passes_with_network_none(checks: dict[str, CheckResult]) -> None:
    got = checks["gvisor"]
    assert got.status == PASS and "--network=none" in got.reason
    runsc = shutil.which("runsc")
    if runsc is None:
        live_skip("runsc not installed")
        return
    # True here: a sandbox runs with --network=none, and refuses to without it.
    ok = subprocess.run([runsc, "--network=none", "do", "/bin/true"], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([runsc, "do", "/bin/true"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "root network namespace" in bad.stderr


def test_devices(checks: dict[str, CheckResult]) -> None:
    assert checks["tun"].status == PASS
    fd = os.open("/dev/net/tun", os.O_RDWR)  # opening creates nothing; only TUNSETIFF would
    os.close(fd)
    for target, dev in (("vhost-net", "/dev/vhost-net"), ("vhost-vsock", "/dev/vhost-vsock")):
        assert checks[target].status == FAIL and not os.path.exists(dev)
    assert "no module tree" in (checks["vhost-net"].fix or "")
    assert not os.path.exists(f"/lib/modules/{os.uname().release}")


def test_no_passthrough_no_nested_no_cvm_host(checks: dict[str, CheckResult]) -> None:
    assert checks["passthrough"].status == FAIL and os.listdir("/sys/kernel/iommu_groups") == []
    assert checks["nested"].status == FAIL and "kvm_pvm" in checks["nested"].reason
    assert checks["cvm-host"].status == FAIL
    assert not os.path.exists("/sys/module/kvm_intel") and not os.path.exists("/sys/module/kvm_amd")


def test_ksm_and_hugepages_match_the_kernel(checks: dict[str, CheckResult]) -> None:
    ksm_on = Path("/sys/kernel/mm/ksm/run").read_text().strip() == "1"
    assert checks["ksm"].status == (PASS if ksm_on else WARN)
    total = next(
        int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("HugePages_Total")
    )
    assert checks["hugepages"].status == (PASS if total > 0 else WARN)


def _cpuinfo_field(name: str) -> str:
    """A field of /proc/cpuinfo's first CPU, read without virtprobe."""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.split(":", 1)[0].strip() == name:
            return line.split(":", 1)[1].strip()
    return ""


def _expected_cvm_leaf() -> str:
    """The CPUID leaf that must decide `none` on this CPU. Machines of this kind come with
    an Intel or an AMD EPYC CPU, and each vendor has its own leaf: AMD's SEV leaf
    0x8000001f, Intel's TDX leaf 0x21 (or leaf 0, where the maximum basic leaf, which the
    kernel prints as "cpuid level", is below 0x21)."""
    vendor = _cpuinfo_field("vendor_id")
    if vendor == "AuthenticAMD":
        return "cpuid 0x8000001f"
    if vendor == "GenuineIntel":
        return "cpuid 0x00000021" if int(_cpuinfo_field("cpuid level") or "0") >= 0x21 else "cpuid 0x00000000"
    pytest.fail(f"a development VM whose CPU is of neither known vendor: {vendor!r}")


def test_this_vm_is_not_a_confidential_vm() -> None:
    expected = _expected_cvm_leaf()
    result = detect(LiveSource(), kvm_probe=False)
    assert result.cvm.id == "none"
    decisive = {e.source for e in result.evidence if e.topic == "cvm" and e.weight == "decisive"}
    assert decisive == {expected}, decisive


def test_cli_exit_codes() -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "virtprobe", "detect", "--check", *args]
        return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=120)

    fc = run("firecracker")
    assert fc.returncode == 3 and "firecracker (FAIL)" in fc.stderr
    assert run("gvisor", "tun").returncode == 0
