"""Live test of the hw probes: exact verdicts on the Firecracker/PVM dev machine, invariants elsewhere."""

from __future__ import annotations

import os
import sys

import pytest

from tests.conftest import live_skip, on_dev_vm
from virtprobe.detection.cloud import probe_cloud
from virtprobe.detection.cpu import probe_cpu
from virtprobe.detection.hypervisor import probe_hypervisor
from virtprobe.detection.kvm import probe_kvm
from virtprobe.detection.model import NONE, WEIGHTS
from virtprobe.machine.source import LiveSource

pytestmark = pytest.mark.live


def test_live_hw_invariants() -> None:
    if sys.platform != "linux":
        live_skip("the hw probes read Linux files")
    src = LiveSource()
    cpu, cpu_ev = probe_cpu(src)
    kvm, kvm_ev = probe_kvm(src, run_guest=True)
    hv, hv_ev = probe_hypervisor(src)
    cloud, cloud_ev = probe_cloud(src)
    assert cpu.virt_tech in ("vt-x", "amd-v", NONE, None)
    assert kvm.device_present is os.path.exists("/dev/kvm")
    if not kvm.device_present:
        assert kvm.usable is False
    if kvm.usable:
        assert kvm.guest_exit == "KVM_EXIT_HLT" and kvm.api_version == 12
    if hv.id == NONE:
        assert cpu.hypervisor_bit is not True  # "none" needs a clear hypervisor bit
    if hv.id not in (None, NONE):
        assert hv.role in ("guest", "host")
    for e in (*cpu_ev, *kvm_ev, *hv_ev, *cloud_ev):
        assert e.weight in WEIGHTS
    assert cloud.id is None or isinstance(cloud.id, str)


def test_live_verdict_on_the_dev_machine() -> None:
    if not on_dev_vm():
        pytest.skip("not the Firecracker/PVM dev machine; only invariants apply here")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        live_skip("/dev/kvm is not openable by this user")
    src = LiveSource()
    cpu, _ = probe_cpu(src)
    kvm, _ = probe_kvm(src, run_guest=True)
    hv, _ = probe_hypervisor(src)
    cloud, _ = probe_cloud(src)
    assert cpu.virt_tech == NONE
    assert cpu.hypervisor_bit is True
    assert hv.id == "kvm"
    assert hv.vmm == "firecracker"
    assert [x.signature for x in hv.layers] == ["KVMKVMKVM"]
    assert kvm.usable is True, kvm.reason
    assert kvm.module == "kvm_pvm"
    assert kvm.reason is not None and "kvm-ok would say KVM cannot be used" in kvm.reason
    assert cloud.id is None  # Firecracker has no DMI: unknown, not "none"
