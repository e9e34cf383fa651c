"""detect on this development VM: the exact verdict (collected only here; see tests/conftest.py)."""

from __future__ import annotations

import os

import pytest

from virtprobe.detection.model import OVERRULED
from virtprobe.detection.run import detect
from virtprobe.machine.source import LiveSource

pytestmark = pytest.mark.live


def test_this_firecracker_vm() -> None:
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
