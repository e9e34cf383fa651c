"""`--parallel 1,2,4,8,16`: the scaling curve, full cycles on P threads at once for each level P.

Each level runs max(runs, 2P) cycles, so every thread does at least two; every
sample is kept (ScalingLevel), and throughput and p99 are derived from them.
"""

from __future__ import annotations

from virtprobe.benchmark.backend import Backend, Clock, Progress
from virtprobe.benchmark.cycles import ClockJudge, parallel_cycles
from virtprobe.benchmark.result import ScalingLevel, ScalingSection


def cycles_for(level: int, runs: int) -> int:
    return max(runs, 2 * level)


def run_scaling(
    backend: Backend,
    clock: Clock,
    image: str,
    run_id: str,
    levels: tuple[int, ...],
    runs: int,
    probe: bool,
    progress: Progress,
    runtime: str | None = None,
    judge: ClockJudge | None = None,
) -> ScalingSection:
    out = []
    for level in levels:
        n = cycles_for(level, runs)
        samples, wall_ns = parallel_cycles(
            backend, clock, image, run_id, level, n, probe, progress, runtime, judge, task=f"parallel {level}"
        )
        out.append(ScalingLevel(parallel=level, wall_s=wall_ns / 1e9, samples=tuple(samples)))
    return ScalingSection(levels=tuple(out))
