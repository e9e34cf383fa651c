"""The `vm` and `hwvirt` bench sections: simulated profiles always, real QEMU and /dev/kvm on request."""

from __future__ import annotations

from collections.abc import Callable

from virtprobe.benchmark.result import HwvirtSection, VmBaseline
from virtprobe.benchmark.vm import hwvirt
from virtprobe.benchmark.vm import profiles as vm_profiles
from virtprobe.benchmark.vm import qemu as vm_qemu
from virtprobe.benchmark.vm import sim as vm_sim
from virtprobe.detection.model import KvmResult
from virtprobe.errors import InputError

VM_KINDS = ("qemu",)


def vm_preflight(kinds: list[str], kernel: str | None, profiles_file: str | None) -> None:
    """Fail before minutes of container measurement, not after: a bad --vm kind, a bad
    profile file, or no QEMU / guest kernel for --vm qemu."""
    import os

    unknown = [k for k in kinds if k not in VM_KINDS]
    if unknown:
        raise InputError(f"unknown --vm kind {unknown[0]!r}; known: {', '.join(VM_KINDS)}")
    vm_profiles.select_profiles(profiles_file)
    if "qemu" in kinds:
        vm_qemu.find_qemu()
        vm_qemu.find_kernel(kernel, os.environ)


def vm_section(
    kinds: list[str],
    runs: int,
    seed: int,
    kernel: str | None,
    profiles_file: str | None,
    kvm: KvmResult | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[VmBaseline, ...]:
    """Every verified profile simulated with `seed`, then a measured QEMU row if asked.

    Raises InputError for a bad profile file or an unknown kind, and
    UnrunnableError when QEMU or a guest kernel is missing or the boot fails.
    """
    unknown = [k for k in kinds if k not in VM_KINDS]
    if unknown:
        raise InputError(f"unknown --vm kind {unknown[0]!r}; known: {', '.join(VM_KINDS)}")
    profiles = vm_profiles.select_profiles(profiles_file)
    baselines = vm_sim.simulate(profiles, runs, seed)
    if "qemu" in kinds:
        run = vm_qemu.measure(runs, kernel, kvm=kvm, progress=progress)
        baselines.append(vm_qemu.baseline(run))
    return tuple(baselines)


def hwvirt_section(
    runs: int, kvm: KvmResult | None = None, progress: Callable[[str], None] | None = None
) -> HwvirtSection:
    """The `hwvirt` section: VM floor, exit round trip, near-native ratio, each with its meaning."""
    return hwvirt.hwvirt(runs, kvm=kvm, progress=progress)
