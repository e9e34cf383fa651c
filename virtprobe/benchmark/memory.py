"""Memory of idle containers: their cgroups, their per-container process, and the host's growth."""

from __future__ import annotations

import time
from collections.abc import Callable

from virtprobe.benchmark.backend import Backend, Progress
from virtprobe.benchmark.guest import probe_image
from virtprobe.benchmark.interrupts import held_interrupts
from virtprobe.benchmark.result import MemorySection

MEMORY_SETTLE_S = 1.0

MEMORY_METHOD = (
    "N probe containers started in pause mode and left idle. Per container: the memory charged to its "
    "cgroup (v1 memory.usage_in_bytes, v2 memory.current, found through /proc/<init pid>/cgroup) and "
    "the PSS of its containerd-shim (the parent of the container's init, psutil memory_full_info). "
    "Host: the drop in /proc/meminfo MemAvailable across the N containers, after a settle, divided by N "
    "(method of the benchmark-containerd-runtimes study). MemAvailable moves with everything else on the "
    "host (page cache, other processes), so the growth of the kernel and anonymous counters "
    "(AnonPages, PageTables, KernelStack, Slab, VmallocUsed) per container is kept too, with the raw "
    "before/after values."
)

# The meminfo counters that grow with each idle container (MEASURED.md); their sum
# is steadier than MemAvailable on a busy host.
KERNEL_ANON_FIELDS = ("AnonPages", "PageTables", "KernelStack", "Slab", "VmallocUsed")


def _per_container_drop(
    before: dict[str, int] | None, after: dict[str, int] | None, n: int
) -> tuple[float | None, float | None]:
    """(MemAvailable drop / n, growth of KERNEL_ANON_FIELDS / n); None where a field is missing."""
    if before is None or after is None or n <= 0:
        return None, None
    avail = None
    if "MemAvailable" in before and "MemAvailable" in after:
        avail = (before["MemAvailable"] - after["MemAvailable"]) / n
    kernel = None
    if all(k in before and k in after for k in KERNEL_ANON_FIELDS):
        kernel = sum(after[k] - before[k] for k in KERNEL_ANON_FIELDS) / n
    return avail, kernel


def measure_memory(
    backend: Backend,
    image: str,
    run_id: str,
    n: int,
    progress: Progress,
    sleep: Callable[[float], None] = time.sleep,
) -> MemorySection:
    """N idle probe containers: cgroup bytes, shim PSS, and the host MemAvailable drop per container."""
    sleep(MEMORY_SETTLE_S)
    before = backend.meminfo()
    ids: list[str] = []
    notes: list[str] = []
    try:
        for i in range(n):
            with held_interrupts():
                cid = backend.create(image, run_id, command=[probe_image.PAUSE_ARG], role="memory")
                ids.append(cid)
                backend.start(cid)
            progress("memory", i + 1, n)
        sleep(MEMORY_SETTLE_S)
        after = backend.meminfo()
        cgroup: list[int] = []
        pss: list[int] = []
        for cid in ids:
            cg, shim, note = backend.container_memory(cid)
            if cg is not None:
                cgroup.append(cg)
            if shim is not None:
                pss.append(shim)
            if note:
                notes.append(note)
    finally:
        for cid in ids:
            with held_interrupts():
                backend.remove(cid)
    drop, kernel_anon = _per_container_drop(before, after, n)
    keep = ("MemAvailable", *KERNEL_ANON_FIELDS)
    return MemorySection(
        n=n,
        cgroup_bytes=tuple(float(x) for x in cgroup),
        shim_pss_bytes=tuple(float(x) for x in pss) or None,
        host_available_drop_bytes_per_container=drop,
        host_kernel_anon_growth_bytes_per_container=kernel_anon,
        host_meminfo_before_bytes={k: before[k] for k in keep if k in before} if before else None,
        host_meminfo_after_bytes={k: after[k] for k in keep if k in after} if after else None,
        settle_s=MEMORY_SETTLE_S,
        method=MEMORY_METHOD,
        notes=tuple(sorted(set(notes))),
    )


