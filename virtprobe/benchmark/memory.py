"""Memory of idle containers: their cgroups, their per-container process, and the host's growth.

The readings themselves are hostmem.py's (through a Source, for any engine); this
module sequences them around N idle probe containers and decides nothing about
their meaning beyond what hostmem's figures say.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from virtprobe.benchmark import hostmem
from virtprobe.benchmark.backend import Backend, Progress
from virtprobe.benchmark.engine import EngineInfo
from virtprobe.benchmark.guest import probe_image
from virtprobe.benchmark.interrupts import held_interrupts
from virtprobe.benchmark.result import MemorySection

MEMORY_SETTLE_S = 1.0
# Idle /proc/meminfo readings taken before the containers start: their spread is the
# noise a per-container difference must exceed to mean anything.
IDLE_READINGS = 5
IDLE_INTERVAL_S = 0.2

MEMORY_METHOD = (
    "N probe containers started in pause mode and left idle. Per container: the memory charged to its "
    "cgroup (v1 memory.usage_in_bytes, v2 memory.current, found through /proc/<init pid>/cgroup) and "
    "the PSS of its per-container process (the parent of the container's init, named from its "
    "/proc/<pid>/comm: containerd-shim under Docker, conmon under Podman; /proc/<pid>/smaps_rollup). "
    "Host: the drop in /proc/meminfo MemAvailable across the N containers, after a settle, divided by N "
    "(the method of the benchmark-containerd-runtimes study, github.com/idlab-discover/"
    "benchmark-containerd-runtimes), and the growth of the kernel and anonymous counters (AnonPages, "
    "PageTables, KernelStack, Slab, VmallocUsed) per container. Either is 'not measurable' when it is "
    f"below zero or within the spread of {IDLE_READINGS} idle readings taken {IDLE_INTERVAL_S} s apart "
    "before the containers started; the raw readings are kept."
)


def _idle_readings(backend: Backend, sleep: Callable[[float], None]) -> list[dict[str, int]]:
    readings = []
    for i in range(IDLE_READINGS):
        if i:
            sleep(IDLE_INTERVAL_S)
        got = backend.meminfo()
        if got is not None:
            readings.append(got)
    return readings


def host_figures(
    idle: list[dict[str, int]], after: dict[str, int] | None, n: int
) -> tuple[hostmem.HostMemFigure | None, hostmem.HostMemFigure | None]:
    """(MemAvailable drop, kernel+anon growth) per container, from idle readings and one with n running."""
    if not idle or after is None or n < 1:
        return None, None
    before = idle[-1]
    avail = None
    if "MemAvailable" in before and "MemAvailable" in after and all("MemAvailable" in m for m in idle):
        avail = hostmem.memavailable_figure(
            before["MemAvailable"], after["MemAvailable"], n, [m["MemAvailable"] for m in idle]
        )
    return avail, hostmem.kernel_anon_figure(before, after, n, idle)


def measure_memory(
    backend: Backend,
    image: str,
    run_id: str,
    n: int,
    progress: Progress,
    sleep: Callable[[float], None] = time.sleep,
    engine: EngineInfo | None = None,
    runtime: str | None = None,
) -> MemorySection:
    """N idle probe containers: cgroup bytes, per-container process PSS, host growth per container.

    When the engine does not run on this machine (engine.on_this_machine is not
    True), nothing here would describe its containers: the section says why and
    holds no figure.
    """
    if engine is not None:
        available, why = hostmem.host_side_available(engine)
        if not available:
            return MemorySection(
                n=n,
                cgroup_bytes=(),
                process_pss_bytes=None,
                host_available_drop_bytes_per_container=None,
                host_kernel_anon_growth_bytes_per_container=None,
                method=MEMORY_METHOD,
                host_side_reason=why,
            )
    sleep(MEMORY_SETTLE_S)
    idle = _idle_readings(backend, sleep)
    ids: list[str] = []
    notes: list[str] = []
    names: Counter[str] = Counter()
    try:
        for i in range(n):
            with held_interrupts():
                cid = backend.create(image, run_id, command=[probe_image.PAUSE_ARG], role="memory", runtime=runtime)
                ids.append(cid)
                backend.start(cid)
            progress("memory", i + 1, n)
        sleep(MEMORY_SETTLE_S)
        after = backend.meminfo()
        cgroup: list[int] = []
        pss: list[int] = []
        for cid in ids:
            cg, proc_pss, name, note = backend.container_memory(cid)
            if cg is not None:
                cgroup.append(cg)
            if proc_pss is not None:
                pss.append(proc_pss)
            if name:
                names[name] += 1
            if note:
                notes.append(note)
    finally:
        for cid in ids:
            with held_interrupts():
                backend.remove(cid)
    avail, kernel_anon = host_figures(idle, after, n)
    if len(names) > 1:
        notes.append("the containers' init processes have different parents: " + ", ".join(sorted(names)))
    keep = ("MemAvailable", *hostmem.KERNEL_ANON_FIELDS)
    before = idle[-1] if idle else None
    return MemorySection(
        n=n,
        cgroup_bytes=tuple(float(x) for x in cgroup),
        process_pss_bytes=tuple(float(x) for x in pss) or None,
        host_available_drop_bytes_per_container=None if avail is None else avail.per_container_bytes,
        host_kernel_anon_growth_bytes_per_container=None if kernel_anon is None else kernel_anon.per_container_bytes,
        host_meminfo_before_bytes={k: before[k] for k in keep if k in before} if before else None,
        host_meminfo_after_bytes={k: after[k] for k in keep if k in after} if after else None,
        settle_s=MEMORY_SETTLE_S,
        method=MEMORY_METHOD,
        notes=tuple(sorted(set(notes))),
        process_name=names.most_common(1)[0][0] if names else None,
        host_available=avail,
        host_kernel_anon=kernel_anon,
    )
