"""Live test of the hw probes on whatever machine runs the tests: invariants only (exact verdicts: tests/devvm/)."""

from __future__ import annotations

import os
import sys

import pytest

from tests.conftest import live_skip
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
    cloud, cloud_ev = probe_cloud(src, probe_hypervisor(src)[0])
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
    if cloud.id is None:  # unknown says why
        assert any(e.weight == "unknown" and e.note for e in cloud_ev)
    elif cloud.id == NONE:  # "none" needs DMI that was read and named no cloud
        assert any(e.weight == "decisive" and e.points_to == NONE for e in cloud_ev)
