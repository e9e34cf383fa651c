"""The `vm` and `hwvirt` bench sections: simulated profiles always, real QEMU and /dev/kvm on request.

The VM options are checked once, before any container is measured (`vm_preflight`), and
what that check found (the profiles, QEMU and the guest kernel) is what the run then uses:
`vm_section` takes the `VmPlan`, and neither reloads the profiles nor looks for the kernel again.
A fleet makes one plan for all its engines.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from virtprobe.benchmark.result import HwvirtSection, VmBaseline
from virtprobe.benchmark.vm import hwvirt
from virtprobe.benchmark.vm import profiles as vm_profiles
from virtprobe.benchmark.vm import qemu as vm_qemu
from virtprobe.benchmark.vm import sim as vm_sim
from virtprobe.benchmark.vm.profiles import VmProfile
from virtprobe.detection.model import KvmResult
from virtprobe.errors import InputError

VM_KINDS = ("qemu",)


@dataclass(frozen=True)
class QemuFound:
    """The QEMU binary and the guest kernel `--vm qemu` boots, found by the preflight."""

    qemu: str
    kernel: Path


@dataclass(frozen=True)
class VmPlan:
    """What the VM preflight found: the simulated profiles to run, and QEMU when --vm qemu asked for it."""

    profiles: tuple[VmProfile, ...]
    qemu: QemuFound | None = None


def vm_preflight(kinds: list[str], kernel: str | None, profiles_file: str | None) -> VmPlan:
    """Fail before minutes of container measurement, not after: a bad --vm kind, a bad
    profile file, or no QEMU / guest kernel for --vm qemu. Returns what the run will use."""
    unknown = [k for k in kinds if k not in VM_KINDS]
    if unknown:
        raise InputError(f"unknown --vm kind {unknown[0]!r}; known: {', '.join(VM_KINDS)}")
    profiles = tuple(vm_profiles.select_profiles(profiles_file))
    found = None
    if "qemu" in kinds:
        found = QemuFound(vm_qemu.find_qemu(), vm_qemu.find_kernel(kernel, os.environ))
    return VmPlan(profiles, found)


def vm_section(
    plan: VmPlan,
    runs: int,
    seed: int,
    kvm: KvmResult | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[VmBaseline, ...]:
    """Every verified profile of the plan simulated with `seed`, then a measured QEMU row if it has QEMU.

    Raises UnrunnableError when the QEMU boot fails.
    """
    baselines = vm_sim.simulate(plan.profiles, runs, seed)
    if plan.qemu is not None:
        run = vm_qemu.measure(runs, plan.qemu.kernel, plan.qemu.qemu, kvm=kvm, progress=progress)
        baselines.append(vm_qemu.baseline(run))
    return tuple(baselines)


def hwvirt_section(
    runs: int, kvm: KvmResult | None = None, progress: Callable[[str], None] | None = None
) -> HwvirtSection:
    """The `hwvirt` section: VM floor, exit round trip, near-native ratio, each with its meaning."""
    return hwvirt.hwvirt(runs, kvm=kvm, progress=progress)
