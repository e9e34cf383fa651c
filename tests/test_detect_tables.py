"""Issue 18 item 3: the CPUID signature table, the DMI table and the cloud rules exist once,
and the Linux, Windows and macOS probes consult them, under the same per-topic names."""

from __future__ import annotations

import importlib

import pytest

from virtprobe.detection import hv_readers, macos, windows
from virtprobe.detection.tables import cpuid as TC
from virtprobe.detection.tables import dmi as TD
from virtprobe.machine.facts import CpuidRegs, Lookup
from virtprobe.machine.source import Source


def test_no_platform_keeps_its_own_copy() -> None:
    for mod in (windows, macos):
        for name in ("SIGNATURES", "_VM_MODELS", "RULES", "DMI_VENDORS"):
            assert not hasattr(mod, name), f"{mod.__name__}.{name}: use detection/tables/"
    assert hv_readers.CPUID_SIGNATURES is TC.SIGNATURES
    assert hv_readers.DMI_VENDORS is TD.VENDORS


@pytest.mark.parametrize("platform", ["virtprobe.detection.windows", "virtprobe.detection.macos"])
def test_per_topic_probes_have_linux_names(platform: str) -> None:
    mod = importlib.import_module(platform)
    for name in ("probe_cpu", "probe_hypervisor", "probe_kvm", "probe_cloud"):
        assert callable(getattr(mod, name)), f"{platform}.{name}"


class _WinSource(Source):
    platform, machine, env, is_live = "win32", "AMD64", {}, False

    def __init__(self, sig: bytes, manufacturer: str, model: str) -> None:
        self.sig = sig
        self.si = f"System Manufacturer:       {manufacturer}\r\nSystem Model:              {model}\r\n".encode()

    def cpuid(self, leaf: int, subleaf: int = 0) -> Lookup:
        if leaf == 1:
            return Lookup(CpuidRegs(0, 0, 1 << 31, 0))
        if leaf == 0x40000000:
            b, c, d = (int.from_bytes(self.sig[i : i + 4], "little") for i in (0, 4, 8))
            return Lookup(CpuidRegs(0x40000001, b, c, d))
        return Lookup(None, "not here")

    def command(self, name: str) -> Lookup:
        return Lookup(self.si) if name == "systeminfo" else Lookup(None, "not here")

    def describe(self) -> str:
        return "test"


def test_a_signature_added_to_the_table_reaches_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(TC.SIGNATURES, "NewHvNewHvNe", "newhv")
    hv, _ = windows.probe_hypervisor(_WinSource(b"NewHvNewHvNe", "Acme", "Box"))
    assert hv.id == "newhv"


def test_windows_clouds_come_from_the_shared_rules() -> None:
    src = _WinSource(b"KVMKVMKVM\0\0\0", "Alibaba Cloud", "Alibaba Cloud ECS")
    hv, _ = windows.probe_hypervisor(src)
    cloud, _ = windows.probe_cloud(src, hv)
    assert (hv.id, cloud.id) == ("kvm", "alibaba")
    chromebookish = _WinSource(b"\0" * 12, "Hetzner", "X470D4U")
    chromebookish.cpuid = lambda leaf, subleaf=0: (  # type: ignore[method-assign]
        Lookup(CpuidRegs(0, 0, 0, 0)) if leaf == 1 else Lookup(None, "no")
    )
    hv, _ = windows.probe_hypervisor(chromebookish)
    cloud, _ = windows.probe_cloud(chromebookish, hv)
    assert cloud.id != "hetzner"


def test_every_id_in_a_table_has_a_display_name() -> None:
    """names.py is the one label table per topic: every cloud and platform id the tables can answer."""
    from virtprobe.detection.names import CLOUD_NAMES, PLATFORM_NAMES
    from virtprobe.detection.tables import clouds, platforms

    assert {r.cloud for r in clouds.RULES} <= set(CLOUD_NAMES)
    assert {r.platform for r in platforms.RULES} | {"wsl"} <= set(PLATFORM_NAMES)
    from virtprobe.detection.names import HYPERVISOR_NAMES

    assert {hv for _, hv in TD.VENDORS} | set(TC.SIGNATURES.values()) <= set(HYPERVISOR_NAMES)


def test_kvm_fix_per_ci_provider() -> None:
    from virtprobe.detection.checks import ci_kvm_fix

    x64 = ci_kvm_fix("github-hosted", "x86_64", True)
    assert x64 and "udev" in x64 and "99-kvm4all.rules" in x64
    arm = ci_kvm_fix("github-hosted", "aarch64", False)
    assert arm and "arm64" in arm and "no /dev/kvm" in arm
    assert "devices" in (ci_kvm_fix("gitlab-saas", "x86_64", False) or "")
    assert ci_kvm_fix(None, "x86_64", False) is None


def test_check_kvm_on_a_github_hosted_runner() -> None:
    from tests.conftest import ROOTS
    from virtprobe.detection.run import detect
    from virtprobe.machine.source import RootSource

    result = detect(RootSource(ROOTS / "github_hosted_runner"), checks=True)
    assert result.platform.id == "github-hosted"
    kvm = next(c for c in result.checks if c.target == "kvm")
    assert kvm.status == "fail" and kvm.fix and "udev" in kvm.fix
