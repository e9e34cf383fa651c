"""The probe child (machine/prefetch.py): CPUID first, then the KVM guest, and every way it can end.

Each test forks the real child on this machine. Faults and hangs are made by replacing the
child's functions before the fork, so only the child runs them.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import pytest

from virtprobe.machine import kvmapi, prefetch
from virtprobe.machine.cpuid import WANTED_LEAVES, _fork_cpuid, machine_name
from virtprobe.machine.facts import Lookup
from virtprobe.machine.source import LiveSource

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or machine_name() not in ("x86_64", "amd64") or not hasattr(os, "fork"),
    reason="the probe child runs on Linux x86-64 only (machine/source.py LiveSource.prefetch)",
)

PARENT = os.getpid()


def _only_in_child(action: str) -> object:
    """A stand-in that hangs or faults in the child, and records a call in this process."""
    calls: list[str] = []

    def run(*_args: object) -> object:
        if os.getpid() == PARENT:
            calls.append("parent")
            return Lookup(None, "stand-in called in the parent")
        if action == "hang":
            time.sleep(60)
        os.kill(os.getpid(), signal.SIGSEGV)
        return None

    run.calls = calls  # type: ignore[attr-defined]
    return run


def test_the_child_answers_as_the_in_process_probes_do() -> None:
    child = prefetch.Prefetch(WANTED_LEAVES, kvm=True)
    regs, why = child.cpuid()
    kvm = child.kvm()
    alone, _ = _fork_cpuid([(leaf, 0) for leaf in WANTED_LEAVES])
    assert regs is not None and why == "" and alone is not None
    # Vendor and hypervisor signatures: the same on every CPU (leaf 1 carries the APIC id, which is not).
    for leaf in (0x0, 0x40000000, 0x80000000):
        assert regs[(leaf, 0)] == alone[(leaf, 0)]
    assert kvm is not None and isinstance(kvm.value, dict)
    assert kvm.value["ok"] == kvmapi.probe_guest().value["ok"]


def test_cpuid_arrives_while_the_kvm_guest_still_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The parent's first probes need CPUID: it must not wait behind the KVM guest."""
    monkeypatch.setattr(kvmapi, "probe_guest", _only_in_child("hang"))
    monkeypatch.setattr(prefetch, "CHILD_TIMEOUT_S", 1.0)
    child = prefetch.Prefetch(WANTED_LEAVES, kvm=True)
    regs, why = child.cpuid()
    assert regs is not None, why
    kvm = child.kvm()
    assert kvm is not None and kvm.value is None
    assert kvm.reason == "the probe child did not answer within 1 s"
    with pytest.raises(ChildProcessError):
        os.waitpid(child._pid, os.WNOHANG)  # killed and reaped: no zombie left


def test_a_child_dead_in_the_kvm_probe_makes_kvm_unknown_and_is_not_rerun(monkeypatch: pytest.MonkeyPatch) -> None:
    stand_in = _only_in_child("fault")
    monkeypatch.setattr(kvmapi, "probe_guest", stand_in)
    src = LiveSource()
    src.prefetch(kvm=True)
    try:
        assert src.cpuid(0).value is not None
        got = src.kvm_probe()
    finally:
        src.close()
    assert got.value is None
    assert got.reason == f"the probe child died running the KVM probe guest (killed by signal {signal.SIGSEGV})"
    assert stand_in.calls == []  # type: ignore[attr-defined]


def test_a_cpuid_fault_leaves_the_kvm_probe_to_detects_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prefetch, "execute_cpuid", _only_in_child("fault"))
    child = prefetch.Prefetch(WANTED_LEAVES, kvm=True)
    regs, why = child.cpuid()
    assert regs is None
    segv = int(signal.SIGSEGV)
    assert why == f"executing CPUID from Python failed (killed by signal {segv}; executable memory may be refused)"
    assert child.kvm() is None  # the caller runs the KVM probe itself: a CPUID fault cannot touch it


def test_without_the_kvm_probe_the_child_ends_after_cpuid() -> None:
    child = prefetch.Prefetch(WANTED_LEAVES, kvm=False)
    regs, _ = child.cpuid()
    assert regs is not None
    assert child._rfd == -1  # reaped on its last word, without waiting for a KVM answer
    assert child.kvm() is None
