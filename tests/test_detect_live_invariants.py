"""detect on whatever machine runs the tests: invariants that hold everywhere (exact verdicts: tests/devvm/)."""

from __future__ import annotations

import os

import pytest

from virtprobe.detection.model import DECISIVE, UNKNOWN
from virtprobe.detection.run import detect
from virtprobe.machine.source import LiveSource

pytestmark = pytest.mark.live


def test_live_invariants() -> None:
    result = detect(LiveSource(), kvm_probe=True)
    sections = result.sections()
    for topic in ("hypervisor", "cloud", "container"):
        verdict = sections[topic]["id"]
        rows = [e for e in result.evidence if e.topic == topic]
        if verdict not in (None, "none"):
            # A verdict names what decided it ...
            assert any(e.weight == DECISIVE and e.points_to == verdict for e in rows), (topic, verdict)
        if verdict is None:
            # ... and "unknown" says why.
            assert any(e.weight == UNKNOWN and e.note for e in rows), topic
    assert result.wsl.version in (None, 0, 1, 2)
    assert result.container.cgroup_version in (None, 1, 2)
    # The facts the probes report agree with the machine as the test sees it.
    assert result.kvm.device_present is os.path.exists("/dev/kvm")
    if result.kvm.usable:
        assert result.kvm.device_present and result.kvm.guest_exit == "KVM_EXIT_HLT"
    if result.hypervisor.id == "none":
        assert result.cpu.hypervisor_bit is False  # "none" needs a clear hypervisor bit
