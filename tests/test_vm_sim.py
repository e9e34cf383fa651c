"""Tests of the simulated VM baseline: deterministic for a seed, faithful to published median and p99."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from virtprobe import stats
from virtprobe.benchmark.vm import profiles as vm_profiles
from virtprobe.benchmark.vm import sim as vm_sim


def test_fit_recovers_median_and_p99_exactly() -> None:
    d = vm_sim.LogNormal.fit(0.161, 0.172)
    assert math.exp(d.mu) == pytest.approx(0.161)
    assert math.exp(d.mu + vm_sim.Z99 * d.sigma) == pytest.approx(0.172)


def test_fit_without_p99_has_no_spread() -> None:
    d = vm_sim.LogNormal.fit(0.5, None)
    assert d.sigma == 0.0
    assert d.sample(random.Random(1), 3) == [pytest.approx(0.5)] * 3


def test_fit_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        vm_sim.LogNormal.fit(0.0, 1.0)
    with pytest.raises(ValueError):
        vm_sim.LogNormal.fit(0.2, 0.1)


def test_deterministic_for_a_seed_and_different_across_seeds() -> None:
    ps = vm_profiles.select_profiles()
    a = vm_sim.simulate(ps, 50, seed=7)
    b = vm_sim.simulate(ps, 50, seed=7)
    c = vm_sim.simulate(ps, 50, seed=8)
    assert a == b
    assert a[0].boot_samples_s != c[0].boot_samples_s
    assert all(x.seed == 7 for x in a)


def test_a_profile_does_not_depend_on_the_others() -> None:
    ps = vm_profiles.select_profiles()
    alone = vm_sim.simulate(ps[-3:], 30, seed=3)
    together = vm_sim.simulate(ps, 30, seed=3)
    assert alone == together[-3:]


# Tolerances: with n = 20000 the sample median of a log-normal with these sigmas
# is within about 0.1% and the p99 within about 1% (standard error of order
# quantiles); 3% and 8% leave ample room while still catching a wrong fit.
N = 20000
MEDIAN_TOL = 0.03
P99_TOL = 0.08


@pytest.mark.parametrize("profile", vm_profiles.select_profiles(), ids=lambda p: p.name)
def test_sample_quantiles_match_published_figures(profile: vm_profiles.VmProfile) -> None:
    b = vm_sim.simulate_profile(profile, N, seed=1)
    s = stats.summarize(b.boot_samples_s)
    assert profile.boot_median_s is not None
    assert s.median == pytest.approx(profile.boot_median_s, rel=MEDIAN_TOL)
    target_p99 = profile.boot_p99_s if profile.boot_p99_s is not None else profile.boot_median_s
    assert s.p99 == pytest.approx(target_p99, rel=P99_TOL)


def test_baseline_dict_matches_the_report_format() -> None:
    ps = {p.name: p for p in vm_profiles.select_profiles()}
    b = vm_sim.simulate_profile(ps["firecracker"], 5, seed=1).to_dict()
    assert set(b) == {"name", "label", "kind", "boot_samples_s", "memory", "source", "accel", "notes", "seed"}
    assert b["kind"] == "simulated"
    assert b["label"] == "Firecracker (simulated)"
    assert b["accel"] is None
    assert len(b["boot_samples_s"]) == 5
    m = b["memory"]
    assert m["committed_bytes"] == m["guest_ram_bytes"] + m["overhead_bytes"]
    assert m["overhead_bytes"] == 3_000_000
    assert set(b["source"]) == {"citation", "url", "host", "method"}
    assert any(n.startswith("simulated:") for n in b["notes"])


def test_every_simulated_row_names_its_source() -> None:
    for b in vm_sim.simulate(vm_profiles.select_profiles(), 3, seed=1):
        assert b.label.endswith("(simulated)")
        assert b.source and b.source.citation and b.source.url


def test_unverified_profiles_are_not_simulated() -> None:
    ps = vm_profiles.select_profiles(include_unverified=True)
    names = {b.name for b in vm_sim.simulate(ps, 3, seed=1)}
    assert "full-vm-distro" not in names
    unverified = next(p for p in ps if p.unverified)
    with pytest.raises(ValueError):
        vm_sim.simulate_profile(unverified, 3, seed=1)


def test_vm_section_simulated_only_and_with_a_user_file(tmp_path: Path) -> None:
    import json

    from virtprobe.benchmark.vm import baselines as vm

    plan = vm.vm_preflight([], kernel=None, profiles_file=None)
    assert plan.qemu is None
    sec = vm.vm_section(plan, runs=4, seed=1)
    assert sec and [b.kind for b in sec] == ["simulated"] * len(sec)
    assert sec == vm.vm_section(vm.vm_preflight([], kernel=None, profiles_file=None), runs=4, seed=1)
    f = tmp_path / "p.json"
    doc = {"format": 1, "profiles": [{"name": "x", "unverified": "yes"}]}
    f.write_text(json.dumps(doc), encoding="utf-8")
    from virtprobe.errors import InputError

    with pytest.raises(InputError, match="'unverified' must be true or false"):
        vm.vm_preflight([], kernel=None, profiles_file=str(f))
    with pytest.raises(InputError, match="unknown --vm kind 'vbox'"):
        vm.vm_preflight(["vbox"], kernel=None, profiles_file=None)


def test_vm_section_appends_the_measured_qemu_row(monkeypatch: pytest.MonkeyPatch) -> None:
    from virtprobe.benchmark.vm import baselines as vm
    from virtprobe.benchmark.vm import qemu as vm_qemu

    boots = [
        vm_qemu.BootResult(True, 1.5, 1.6, 200 << 20, 190 << 20, 180 << 20, 0, False, None),
        vm_qemu.BootResult(True, 1.7, 1.8, 201 << 20, 191 << 20, 181 << 20, 0, False, None),
    ]
    fake = vm_qemu.QemuRun("tcg", "microvm", "KVM boot failed: x", tuple(boots), ("qemu",), "/k/vmlinuz-6.1")
    monkeypatch.setattr(vm_qemu, "measure", lambda runs, kpath, exe, kvm=None, progress=None: fake)
    plan = vm.VmPlan(tuple(vm_profiles.select_profiles()), vm.QemuFound("qemu", Path("/k/vmlinuz-6.1")))
    sec = vm.vm_section(plan, runs=2, seed=1)
    last = sec[-1].to_dict()
    assert last["kind"] == "measured" and last["accel"] == "tcg"
    assert last["boot_samples_s"] == [1.5, 1.7]
    assert last["memory"]["peak_rss_bytes"] == ((200 << 20) + (201 << 20)) // 2
    assert "kernel: vmlinuz-6.1" in last["notes"]
    assert vm_qemu.TCG_NOTE in last["notes"]
