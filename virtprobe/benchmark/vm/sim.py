"""Simulated VM boot samples from published figures, shaped like the measured container rows.

Each profile's boot time is modelled as log-normal, fitted to the published
median and p99: for a log-normal, median = exp(mu) and
p99 = exp(mu + z99 * sigma) with z99 = 2.3263 (the standard normal's 99th
percentile), so mu = ln(median) and sigma = (ln(p99) - mu) / z99. Boot-time
distributions are right-skewed and positive, which a log-normal respects and
a normal does not.

The generator is `random.Random` seeded with "<seed>/<profile name>", so each
profile's samples depend only on the recorded seed and its own name: adding a
user profile does not shift the built-in ones.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from virtprobe.benchmark.result import SIMULATED, Source, VmBaseline, VmMemory
from virtprobe.benchmark.vm.profiles import VmProfile

Z99 = 2.3263  # Phi^-1(0.99)


@dataclass(frozen=True)
class LogNormal:
    mu: float
    sigma: float

    @classmethod
    def fit(cls, median_s: float, p99_s: float | None) -> LogNormal:
        """Fit to a median and p99; no p99 (or p99 == median) gives sigma 0, i.e. no spread."""
        if median_s <= 0:
            raise ValueError(f"median must be positive, got {median_s}")
        mu = math.log(median_s)
        if p99_s is None:
            return cls(mu, 0.0)
        if p99_s < median_s:
            raise ValueError(f"p99 {p99_s} below median {median_s}")
        return cls(mu, (math.log(p99_s) - mu) / Z99)

    def sample(self, rng: random.Random, n: int) -> list[float]:
        if self.sigma == 0.0:
            return [math.exp(self.mu)] * n
        return [rng.lognormvariate(self.mu, self.sigma) for _ in range(n)]


def rng_for(seed: int, name: str) -> random.Random:
    # A str seed is hashed with SHA-512 by random.Random (version 2), so this is
    # stable across processes, unlike hash(), which PYTHONHASHSEED randomises.
    return random.Random(f"{seed}/{name}")


def simulate_profile(profile: VmProfile, runs: int, seed: int) -> VmBaseline:
    """One `vm.baselines[]` entry (docs/report-format.md) with kind "simulated"."""
    if profile.unverified or profile.boot_median_s is None:
        raise ValueError(f"profile {profile.name!r} is unverified and has no figures to simulate")
    if runs < 1:
        raise ValueError("runs must be at least 1")
    dist = LogNormal.fit(profile.boot_median_s, profile.boot_p99_s)
    samples = dist.sample(rng_for(seed, profile.name), runs)
    ram = profile.guest_ram_bytes or 0
    overhead = profile.overhead_bytes or 0
    notes = [
        f"simulated: {runs} log-normal samples fitted to the published median "
        f"{profile.boot_median_s * 1000:.0f} ms"
        + (f" and p99 {profile.boot_p99_s * 1000:.0f} ms" if profile.boot_p99_s is not None else "")
        + f" (seed {seed})",
    ]
    if profile.boot_p99_s is None:
        notes.append("no published p99: every sample is the published median")
    if profile.memory_source is not None:
        ms = profile.memory_source
        notes.append(f"memory: {ms.citation}; {ms.method}" + (f"; host {ms.host}" if ms.host else ""))
    if profile.overhead_range_bytes is not None:
        lo, hi = profile.overhead_range_bytes
        notes.append(f"published overhead range {lo / 1e6:.1f}-{hi / 1e6:.1f} MB")
    notes.extend(profile.notes)
    source = profile.boot_source
    return VmBaseline(
        name=profile.name,
        label=f"{profile.label} (simulated)",
        kind=SIMULATED,
        boot_samples_s=tuple(samples),
        memory=VmMemory(guest_ram_bytes=ram, overhead_bytes=overhead, committed_bytes=ram + overhead),
        source=None if source is None else Source(source.citation, source.url, source.host, source.method),
        accel=None,
        notes=tuple(notes),
        seed=seed,
    )


def simulate(profiles: Sequence[VmProfile], runs: int, seed: int) -> list[VmBaseline]:
    """Baselines for every verified profile, in order; unverified ones are skipped."""
    return [simulate_profile(p, runs, seed) for p in profiles if not p.unverified]
