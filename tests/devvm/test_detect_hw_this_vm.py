"""The hw probes on this development VM: the exact verdicts (collected only here; see tests/conftest.py)."""

from __future__ import annotations

import os

import pytest

from tests.conftest import live_skip
from virtprobe.detection.cloud import probe_cloud
from virtprobe.detection.cpu import probe_cpu
from virtprobe.detection.hypervisor import probe_hypervisor
from virtprobe.detection.kvm import probe_kvm
from virtprobe.detection.model import NONE
from virtprobe.machine.source import LiveSource

pytestmark = pytest.mark.live


def test_live_verdict_on_the_dev_machine() -> None:
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        live_skip("/dev/kvm is not openable by this user")
    src = LiveSource()
    cpu, _ = probe_cpu(src)
    kvm, _ = probe_kvm(src, run_guest=True)
    hv, _ = probe_hypervisor(src)
    cloud, _ = probe_cloud(src, probe_hypervisor(src)[0])
    assert cpu.virt_tech == NONE
    assert cpu.hypervisor_bit is True
    assert hv.id == "kvm"
    assert hv.vmm == "firecracker"
    assert [x.signature for x in hv.layers] == ["KVMKVMKVM"]
    assert kvm.usable is True, kvm.reason
    assert kvm.module == "kvm_pvm"
    assert kvm.reason is not None and "kvm-ok would say KVM cannot be used" in kvm.reason
    assert cloud.id is None  # Firecracker has no DMI: unknown, not "none"
