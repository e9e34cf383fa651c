"""The KVM probe: module and nested parameter, the guest run, and what a missing /dev/kvm means."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import ROOTS
from virtprobe.detection.kvm import dev_fstype, parse_bool_param, probe_kvm
from virtprobe.machine.source import RootSource


@pytest.mark.parametrize(("text", "want"), [("Y\n", True), ("1", True), ("N", False), ("0\n", False), ("x", None)])
def test_parse_bool_param(text: str, want: bool | None) -> None:
    assert parse_bool_param(text) is want


def test_pvm_verdict_says_what_kvm_ok_gets_wrong() -> None:
    kvm, _ = probe_kvm(RootSource(ROOTS / "firecracker_this_machine"), run_guest=True)
    assert kvm.usable is True and kvm.module == "kvm_pvm" and kvm.guest_exit == "KVM_EXIT_HLT"
    assert kvm.api_version == 12 and kvm.openable is True
    assert kvm.reason is not None
    said = "no vmx/svm flag in /proc/cpuinfo, yet /dev/kvm ran a guest to KVM_EXIT_HLT via kvm_pvm"
    assert said in kvm.reason
    assert "kvm-ok would say KVM cannot be used" in kvm.reason


def test_kvm_without_guest_run_is_unproven() -> None:
    kvm, _ = probe_kvm(RootSource(ROOTS / "firecracker_this_machine"), run_guest=False)
    assert kvm.usable is None and kvm.device_present is True
    assert kvm.reason and "not requested" in kvm.reason


def test_kvm_device_without_probe_result_is_unknown(tmp_path: Path) -> None:
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev/kvm").write_bytes(b"")
    kvm, _ = probe_kvm(RootSource(tmp_path), run_guest=True)
    assert kvm.device_present is True and kvm.usable is None
    assert kvm.reason and "unknown" in kvm.reason


def test_partial_snapshot_cannot_tell() -> None:
    kvm, ev = probe_kvm(RootSource(ROOTS / "partial_snapshot"), run_guest=True)
    assert kvm.device_present is None and kvm.usable is None and kvm.openable is None
    assert kvm.reason == "cannot tell: /dev is not in this snapshot"
    assert any(e.weight == "unknown" and e.note == kvm.reason for e in ev)


def test_container_without_dev_kvm_says_pass_the_device() -> None:
    # Captured in Docker on the dev VM: /dev is Docker's tmpfs, kvm_pvm is loaded on the host.
    kvm, ev = probe_kvm(RootSource(ROOTS / "firecracker_docker_container"), run_guest=True)
    assert kvm.device_present is False and kvm.usable is False
    said = "/dev/kvm is not present in this container; the host has kvm_pvm loaded; pass --device /dev/kvm"
    assert kvm.reason == said
    assert any(e.weight == "decisive" and e.note == said for e in ev)
    assert "not loaded" not in kvm.reason


def test_dev_fstype() -> None:
    info = (
        "22 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
        "23 22 0:5 / /dev rw,nosuid - devtmpfs devtmpfs rw,size=4k\n"
        "99 22 0:50 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755\n"
    )
    assert dev_fstype(info) == "tmpfs"  # the last mount on /dev is the one seen
    assert dev_fstype(info.splitlines()[1]) == "devtmpfs"
    assert dev_fstype("garbage\n") is None
