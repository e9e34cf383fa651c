"""detect on the live machine: exact verdicts on this project's Firecracker VM, invariants elsewhere."""

from __future__ import annotations

import os

import pytest

from tests.conftest import on_dev_vm
from virtprobe.detect.model import DECISIVE, OVERRULED
from virtprobe.detect.run import detect
from virtprobe.machine.source import LiveSource

pytestmark = pytest.mark.live


def test_live_invariants() -> None:
    result = detect(LiveSource(), kvm_probe=True)
    sections = result.sections()
    for topic in ("hypervisor", "cloud", "container"):
        if sections[topic]["id"] not in (None, "none"):
            assert any(e.topic == topic and e.weight == DECISIVE for e in result.evidence), topic
    assert result.wsl.version in (None, 0, 1, 2)
    assert result.container.cgroup_version in (None, 1, 2)
    if result.kvm.usable:
        assert result.kvm.device_present is True


def test_this_firecracker_vm() -> None:
    if not on_dev_vm():
        pytest.skip("not the Firecracker/kvm_pvm development VM (no FIRECK ACPI OEM ID or no kvm_pvm)")
    result = detect(LiveSource(), kvm_probe=True)
    assert result.container.id == "none"
    stale = [e for e in result.evidence if e.topic == "container" and e.source == "/.dockerenv"]
    if os.path.lexists("/.dockerenv"):
        assert [e.weight for e in stale] == [OVERRULED]
        assert "stale" in stale[0].note
    assert result.hypervisor.id == "kvm"
    assert result.hypervisor.vmm == "firecracker"
    assert result.kvm.usable is True
    assert result.kvm.module == "kvm_pvm"
    assert result.cpu.virt_tech == "none"
    assert result.wsl.version == 0
