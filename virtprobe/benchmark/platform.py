"""The sections that answer what decides a platform (issue 19), sequenced after the runtimes' cycles.

Each one is asked for by its own option and measured by its own module: image_cache.py
(--image-cache), density.py (--density), scaling.py (--parallel with two or more
levels), engine_cost.py (--engine-cost), vm/restore.py, vm/restore_sources.py and
criu.py (--snapshot). They all run inside the run's cleanup guard and use the
reference runtime and its clock judge, so their cycles are read on the same clock
as the main ones.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from virtprobe.benchmark.backend import Clock, Progress
from virtprobe.benchmark.criu import run_criu
from virtprobe.benchmark.cycles import ClockJudge
from virtprobe.benchmark.density import run_density
from virtprobe.benchmark.engine import EngineInfo
from virtprobe.benchmark.engine_cost import run_engine_cost
from virtprobe.benchmark.image_cache import run_image_cache
from virtprobe.benchmark.options import BenchOptions
from virtprobe.benchmark.result import (
    REFUSED,
    DensitySection,
    EngineCostSection,
    ImageCacheSection,
    RestoreRow,
    RestoreSection,
    ScalingSection,
)
from virtprobe.benchmark.scaling import run_scaling
from virtprobe.benchmark.vm import restore as vm_restore
from virtprobe.benchmark.vm import restore_sources
from virtprobe.detection.model import KvmResult
from virtprobe.machine import kvmapi


@dataclass(frozen=True)
class PlatformSections:
    image_cache: ImageCacheSection | None = None
    density: DensitySection | None = None
    scaling: ScalingSection | None = None
    engine_cost: EngineCostSection | None = None
    restore: RestoreSection | None = None


def run_platform(
    backend: Any,
    clock: Clock,
    options: BenchOptions,
    progress: Progress,
    *,
    run_id: str,
    image: str,
    probe: bool,
    probe_tag: str,
    engine: EngineInfo,
    runtime: str | None,
    judge: ClockJudge | None,
    kvm: KvmResult | None,
    sleep: Callable[[float], None] = time.sleep,
    realtime: Clock = time.time_ns,
) -> PlatformSections:
    image_cache = density = scaling = engine_cost = restore = None
    if options.image_cache:
        image_cache = run_image_cache(
            backend, clock, options, progress, run_id=run_id, engine=engine, judge=judge, realtime=realtime
        )
    if options.density:
        density = run_density(
            backend, clock, options, progress, image=image, probe=probe, run_id=run_id, engine=engine,
            judge=judge, runtime=runtime, sleep=sleep, realtime=realtime,
        )  # fmt: skip
    if len(options.parallel_levels) >= 2:
        scaling = run_scaling(
            backend, clock, image, run_id, options.parallel_levels, options.runs, probe, progress, runtime, judge
        )
    if options.engine_cost:
        host = getattr(backend, "host", None)
        engine_cost = run_engine_cost(backend, probe_tag, run_id, options.runs, engine, host, progress, runtime)
    if options.snapshot:
        restore = _restore(backend, options, run_id, probe_tag, engine, kvm, progress)
    return PlatformSections(image_cache, density, scaling, engine_cost, restore)


def _restore(
    backend: Any,
    options: BenchOptions,
    run_id: str,
    probe_tag: str,
    engine: EngineInfo,
    kvm: KvmResult | None,
    progress: Progress,
) -> RestoreSection:
    rows: list[RestoreRow] = []
    progress("snapshot restore", 0, 1)
    if kvm is not None and not kvm.usable:
        why = f"/dev/kvm unusable: {kvm.reason or 'detect could not run a guest'}"
        rows += [
            RestoreRow(name, label, REFUSED, (), None, refused=why)
            for name, label in (("kvm-snapshot", "KVM snapshot restore"), ("kvm-boot", "The same guest, booted"))
        ]
    else:
        try:
            rows += vm_restore.measure(options.runs)
        except kvmapi.KvmError as err:
            why = f"KVM failed at stage {err.stage}: {err}"
            rows.append(RestoreRow("kvm-snapshot", "KVM snapshot restore", REFUSED, (), None, refused=why))
        except OSError as err:
            why = f"the snapshot could not be written or mapped: {err}"
            rows.append(RestoreRow("kvm-snapshot", "KVM snapshot restore", REFUSED, (), None, refused=why))
    rows += [restore_sources.cited_row(src) for src in restore_sources.SOURCES]
    rows.append(run_criu(backend, probe_tag, run_id, engine, min(options.runs, 5)))
    progress("snapshot restore", 1, 1)
    return RestoreSection(rows=tuple(rows))
