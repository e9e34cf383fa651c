"""The VM preflight runs once: a bench run, or a whole fleet, loads the profiles and finds QEMU and the kernel once.

Counting fakes stand in for the profile loader, find_qemu, find_kernel and the QEMU boot; the
run itself is the real runner against the scripted engine (tests/scripted.py).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOTS
from tests.scripted import FakeClock, ScriptedBackend
from virtprobe.benchmark.connect import EngineTarget
from virtprobe.benchmark.fleet import run_fleet
from virtprobe.benchmark.options import BenchOptions
from virtprobe.benchmark.runner import run_bench
from virtprobe.benchmark.vm import baselines
from virtprobe.benchmark.vm import profiles as vm_profiles
from virtprobe.benchmark.vm import qemu as vm_qemu
from virtprobe.detection.run import detect
from virtprobe.errors import InputError
from virtprobe.machine.source import RootSource

DETECTED = detect(RootSource(ROOTS / "firecracker_this_machine"), kvm_probe=True)
KERNEL = Path("/found/by/the/preflight/vmlinuz-6.1")
QEMU = "/found/by/the/preflight/qemu-system-x86_64"


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Count the preflight's lookups; the fake QEMU boot records which kernel and binary it was given."""
    counted: Counter[str] = Counter()
    load_builtin = vm_profiles.load_builtin

    def builtin() -> list[vm_profiles.VmProfile]:
        counted["load_builtin"] += 1
        return load_builtin()

    def find_kernel(kernel: str | None, env: Any, boot_dir: Path = Path("/boot")) -> Path:
        counted["find_kernel"] += 1
        return KERNEL

    def find_qemu(qemu: str | None = None) -> str:
        counted["find_qemu"] += 1
        return QEMU

    boot = vm_qemu.BootResult(True, 1.5, 1.6, 200 << 20, 190 << 20, 180 << 20, 0, False, None)

    def measure(runs: int, kpath: Path, exe: str, **kw: Any) -> vm_qemu.QemuRun:
        counted[f"measure {exe} {kpath}"] += 1
        return vm_qemu.QemuRun("tcg", "microvm", "KVM not tried", (boot,) * runs, ("qemu",), str(kpath))

    monkeypatch.setattr(vm_profiles, "load_builtin", builtin)
    monkeypatch.setattr(vm_qemu, "find_kernel", find_kernel)
    monkeypatch.setattr(vm_qemu, "find_qemu", find_qemu)
    monkeypatch.setattr(vm_qemu, "measure", measure)
    return counted


OPTIONS = BenchOptions(runs=2, warmup=0, memory_containers=0, vm=("qemu",))


def test_a_run_checks_the_vm_options_once_and_boots_what_the_check_found(calls: Counter[str]) -> None:
    clock = FakeClock()
    result = run_bench(OPTIONS, ScriptedBackend(clock), DETECTED, clock=clock, sleep=lambda s: None)
    assert calls == {"load_builtin": 1, "find_qemu": 1, "find_kernel": 1, f"measure {QEMU} {KERNEL}": 1}
    assert [b.kind for b in result.baselines][-1] == "measured"
    assert sum(b.kind == "simulated" for b in result.baselines) == len(vm_profiles.select_profiles())


def test_a_run_given_a_plan_looks_for_nothing_again(calls: Counter[str]) -> None:
    plan = baselines.vm_preflight(list(OPTIONS.vm), OPTIONS.kernel, OPTIONS.profiles)
    calls.clear()
    clock = FakeClock()
    run_bench(OPTIONS, ScriptedBackend(clock), DETECTED, clock=clock, sleep=lambda s: None, vm_plan=plan)
    assert calls == {f"measure {QEMU} {KERNEL}": 1}


def test_a_fleet_checks_the_vm_options_once_for_all_its_engines(calls: Counter[str]) -> None:
    names = ("a", "b", "c")
    clock = FakeClock()
    outcomes = run_fleet(
        [EngineTarget(n, f"unix:///run/{n}.sock", "--host") for n in names],
        OPTIONS,
        DETECTED,
        make_backend=lambda target: ScriptedBackend(clock),
        progress_for=lambda target: lambda task, done, total: None,
        clock=clock,
        sleep=lambda s: None,
    )
    assert all(o.ok for o in outcomes), [o.error for o in outcomes]
    assert calls == {"load_builtin": 1, "find_qemu": 1, "find_kernel": 1, f"measure {QEMU} {KERNEL}": len(names)}


def test_a_bad_vm_option_fails_before_any_container(calls: Counter[str]) -> None:
    clock = FakeClock()
    backend = ScriptedBackend(clock)
    with pytest.raises(InputError, match="unknown --vm kind 'vbox'"):
        run_bench(BenchOptions(runs=2, warmup=0, memory_containers=0, vm=("vbox",)), backend, DETECTED, clock=clock)
    assert backend.calls == [] and not calls
