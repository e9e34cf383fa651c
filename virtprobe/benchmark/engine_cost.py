"""The engine's own cost per container: CPU time of its processes per container lifecycle, and the
PSS of the per-container process, read with psutil.

Each cycle starts one probe container in pause mode (so the per-container process
can be seen while the container runs), reads that process's PSS, stops the
container, waits for it and removes it. The CPU of a cycle is the growth of user +
system time (with the reaped children's) of the daemon and its descendants
(dockerd and containerd; Podman's service), plus the whole CPU time of the
per-container process (containerd-shim, conmon), which was born in the cycle.
Only where the engine runs on this machine; otherwise the section says why.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from virtprobe import stats
from virtprobe.benchmark import engine_procs
from virtprobe.benchmark.backend import Progress
from virtprobe.benchmark.engine import EngineInfo
from virtprobe.benchmark.guest import probe_image
from virtprobe.benchmark.interrupts import held_interrupts
from virtprobe.benchmark.result import EngineCostSection

METHOD = (
    "Per cycle: one probe container created, started (paused, so it stays up), stopped, waited for and "
    "removed. CPU: the growth of user + system time (psutil cpu_times, with the children the process has "
    "reaped) of the process listening on the engine's socket and of its descendants (dockerd and "
    "containerd; Podman's service), plus the CPU time of the per-container process (found by the "
    "container id on its command line: containerd-shim, conmon) at the last moment it was seen. PSS: "
    "the per-container process's /proc/<pid>/smaps_rollup Pss while the container runs. Work the daemon "
    "did for anyone else during the cycle (another client of the same engine) is counted too: the "
    "median is the figure to read."
)
MISSED = (
    "not counted: CPU of the per-container process after its last reading (its exit), and of short-lived "
    "processes that no watched process reaps (e.g. Podman's `container cleanup` exit command)"
)


def unavailable(reason: str) -> EngineCostSection:
    return EngineCostSection(available=False, reason=reason, method=METHOD)


def run_engine_cost(
    backend: Any,
    image: str,
    run_id: str,
    n: int,
    engine: EngineInfo,
    host: str | None,
    progress: Progress,
    runtime: str | None = None,
) -> EngineCostSection:
    """n container lifecycles with the engine's processes watched; unavailable (with why) off this machine."""
    if engine.on_this_machine is not True:
        return unavailable(f"the engine does not run on this machine: {engine.location_reason}")
    daemon = engine_procs.find_daemon(host)
    if daemon.process is None:
        return unavailable(daemon.reason or "the engine's daemon process was not found")
    cycles: list[dict[str, float]] = []
    pss: list[float] = []
    holder_names: set[str] = set()
    notes: set[str] = set()
    for i in range(n):
        cycle, holder, holder_pss = _one(backend, image, run_id, daemon.process, runtime)
        if holder is None:
            notes.add("a cycle's per-container process was not found (it had exited before it was seen)")
        else:
            holder_names.add(holder)
        if holder_pss is not None:
            pss.append(float(holder_pss))
        cycles.append(cycle)
        progress("engine cost", i + 1, n)
    pids = tuple(p.pid for p in engine_procs.engine_processes(daemon.process))
    return EngineCostSection(
        available=True,
        reason=None,
        cpu_s=tuple(sum(c.values()) for c in cycles),
        cpu_s_by_process={name: tuple(c.get(name, 0.0) for c in cycles) for name in {k for c in cycles for k in c}},
        process_name=sorted(holder_names)[0] if len(holder_names) == 1 else None,
        process_pss_bytes=tuple(pss),
        engine_pids=pids,
        method=METHOD,
        notes=(MISSED, *sorted(notes)),
    )


def _one(
    backend: Any, image: str, run_id: str, daemon: Any, runtime: str | None
) -> tuple[dict[str, float], str | None, int | None]:
    """One lifecycle: CPU seconds per process kind, the per-container process's kind, and its PSS."""
    procs = engine_procs.engine_processes(daemon)
    before = {p.pid: (p, engine_procs.cpu_s(p)) for p in procs}
    with held_interrupts():
        cid = backend.create(image, run_id, command=[probe_image.PAUSE_ARG], role="engine-cost", runtime=runtime)
    holder = None
    holder_cpu: float | None = None
    holder_pss: int | None = None
    try:
        with held_interrupts():
            backend.start(cid)
        holder = engine_procs.per_container_process(cid)
        if holder is not None:
            holder_pss = engine_procs.pss_bytes(holder)
            holder_cpu = engine_procs.cpu_s(holder)
        with held_interrupts():
            backend.stop(cid)
        backend.wait(cid)
        if holder is not None:
            holder_cpu = engine_procs.cpu_s(holder) or holder_cpu
    finally:
        with held_interrupts():
            backend.remove(cid)
    out: dict[str, float] = defaultdict(float)
    for proc in engine_procs.engine_processes(daemon):
        start = before.get(proc.pid, (proc, 0.0))[1]
        now = engine_procs.cpu_s(proc)
        if now is not None and start is not None:
            out[engine_procs.name_of(proc)] += max(0.0, now - start)
    holder_name = None if holder is None else engine_procs.name_of(holder)
    if holder_name is not None and holder_cpu is not None:
        out[holder_name] += holder_cpu
    return dict(out), holder_name, holder_pss


def median_cpu_s(section: EngineCostSection) -> float | None:
    return stats.summarize(section.cpu_s).median
