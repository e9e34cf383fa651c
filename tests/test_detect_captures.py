"""The real QEMU TCG captures (tests/fixtures/roots/qemu_<arch>_<machine>/): detect's whole verdict on each.

These roots were captured by scripts/capture-guests.py: each architecture's
real Debian kernel booted under TCG with a busybox initramfs running the shell
capture script (see each SOURCE.md). What each machine really is, is known: a
QEMU guest without KVM (so the hypervisor is QEMU itself, and QEMU is the VMM),
no container, no cloud, no usable /dev/kvm. The verdicts below are those facts,
not what detect happens to say today.

Two fields allow a second answer, and say why:
- cpu.virt_tech on aarch64, ppc64le and s390x: `none` is true (the captures
  show no EL2 / no SIE), but `null` ("cannot tell from cpuinfo here") is
  an honest answer too. Never vt-x or amd-v.
- cloud.id where the machine has no DMI: `none`, or `null` with a reason.
- cvm.id: `none`, or `null` with a reason (x86 without CPUID cannot rule SEV/TDX out).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOTS
from virtprobe.detection.run import detect
from virtprobe.detection.shell_capture import CPUID_REASON
from virtprobe.machine.source import SNAPSHOT_META, RootSource

# What each captured machine is. x86 runs QEMU's default qemu64 CPU, which has the
# AMD vendor string and `svm` (TCG emulates SVM), as in the qemu_tcg root.
_COMMON: dict[str, Any] = {
    "cpu.disabled_in_firmware": None,
    "kvm.usable": False,
    "kvm.module": None,
    "hypervisor.id": "qemu",
    "hypervisor.vmm": "qemu",
    "hypervisor.role": "guest",
    "container.id": "none",
    "container.orchestrator": "none",
    "wsl.version": 0,
    # Not a confidential VM; without CPUID (x86) or a kernel file that says so, null is honest.
    "cvm.id": ("none", None),
}
NOT_X86_VIRT = (None, "none")
NO_DMI_CLOUD = ("none", None)

TRUTH: dict[str, dict[str, Any]] = {
    "qemu_x86_64_pc": {**_COMMON, "machine": "x86_64", "cpu.virt_tech": "amd-v", "cloud.id": "none"},
    "qemu_x86_64_q35": {**_COMMON, "machine": "x86_64", "cpu.virt_tech": "amd-v", "cloud.id": "none"},
    "qemu_x86_64_microvm": {**_COMMON, "machine": "x86_64", "cpu.virt_tech": "amd-v", "cloud.id": NO_DMI_CLOUD},
    "qemu_aarch64_virt": {**_COMMON, "machine": "aarch64", "cpu.virt_tech": NOT_X86_VIRT, "cloud.id": NO_DMI_CLOUD},
    "qemu_ppc64le_pseries": {**_COMMON, "machine": "ppc64le", "cpu.virt_tech": NOT_X86_VIRT, "cloud.id": NO_DMI_CLOUD},
    "qemu_s390x_ccw": {**_COMMON, "machine": "s390x", "cpu.virt_tech": NOT_X86_VIRT, "cloud.id": NO_DMI_CLOUD},
}


def _verdict(sections: dict[str, Any]) -> dict[str, Any]:
    return {
        "machine": sections["host"]["machine"],
        "cpu.virt_tech": sections["cpu"]["virt_tech"],
        "cpu.disabled_in_firmware": sections["cpu"]["disabled_in_firmware"],
        "kvm.usable": sections["kvm"]["usable"],
        "kvm.module": sections["kvm"]["module"],
        "hypervisor.id": sections["hypervisor"]["id"],
        "hypervisor.vmm": sections["hypervisor"]["vmm"],
        "hypervisor.role": sections["hypervisor"]["role"],
        "cloud.id": sections["cloud"]["id"],
        "container.id": sections["container"]["id"],
        "container.orchestrator": sections["container"]["orchestrator"],
        "wsl.version": sections["wsl"]["version"],
        "cvm.id": sections["cvm"]["id"],
    }


def _matches(want: Any, got: Any) -> bool:
    return got in want if isinstance(want, tuple) else got == want


def test_every_capture_is_listed() -> None:
    def by_this_script(p: Path) -> bool:
        return (p / "SOURCE.md").exists() and "scripts/capture-guests.py" in (p / "SOURCE.md").read_text()

    captured = sorted(p.name for p in ROOTS.glob("qemu_*") if by_this_script(p))
    assert captured == sorted(TRUTH)


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_whole_verdict(name: str) -> None:
    sections = detect(RootSource(ROOTS / name), kvm_probe=True).sections()
    got = _verdict(sections)
    want = TRUTH[name]
    wrong = {k: (got[k], want[k]) for k in want if not _matches(want[k], got[k])}
    assert not wrong, f"{name}: (detect says, truth) {wrong}"
    if got["cloud.id"] is None:
        # "Unknown" carries its reason as evidence the probe could not read.
        why = [e for e in sections["evidence"] if e["topic"] == "cloud" and e["weight"] == "unknown" and e["note"]]
        assert why, "a null cloud verdict says why"
    if got["cvm.id"] is None:
        assert sections["cvm"]["reason"], "a null cvm verdict says why"
    # A decided hypervisor is backed by decisive evidence.
    decisive = {e["topic"] for e in sections["evidence"] if e["weight"] == "decisive"}
    assert "hypervisor" in decisive


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_capture_is_what_the_shell_script_wrote(name: str) -> None:
    root = ROOTS / name
    meta = json.loads((root / SNAPSHOT_META).read_text())
    assert meta["format"] == 1 and meta["platform"] == "linux"
    assert meta["machine"] == TRUTH[name]["machine"]
    assert meta["cpuid_reason"] == CPUID_REASON and "cpuid" not in meta
    assert "dmesg" in meta["commands"], "the guest's kernel log is part of the capture"
    source = (root / "SOURCE.md").read_text()
    for needle in (
        "Captured, not reconstructed",
        "QEMU emulator version",
        "-machine ",
        "kernel: Debian package",
        "captured: ",
        " took ",
    ):
        assert needle in source, f"{name}/SOURCE.md lacks {needle!r}"
    # Privacy rules held inside the guest too.
    assert not list(root.glob("sys/class/dmi/id/*serial*")) and not list(root.glob("sys/class/dmi/id/*uuid*"))
    environ = root / "proc/1/environ"
    if environ.exists():
        assert all(e.startswith(b"container=") for e in environ.read_bytes().split(b"\0") if e)
    for table in root.glob("sys/firmware/acpi/tables/*"):
        if table.is_file():
            assert table.stat().st_size <= 36


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_keep_files_change_nothing(name: str, tmp_path: Path) -> None:
    """git keeps no empty folders, so empty ones hold `.keep`; detect must not notice them."""
    copy = tmp_path / name
    shutil.copytree(ROOTS / name, copy, symlinks=True)
    keeps = list(copy.rglob(".keep"))
    for keep in keeps:
        keep.unlink()

    def strip(sections: dict[str, Any]) -> dict[str, Any]:
        # host.source names the folder read; everything else must be identical.
        return {k: v for k, v in sections.items() if k not in ("created_utc", "host")}

    with_keep = strip(detect(RootSource(ROOTS / name), kvm_probe=True).sections())
    without = strip(detect(RootSource(copy), kvm_probe=True).sections())
    assert with_keep == without
