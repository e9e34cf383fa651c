"""`--density 0,50,200`: container startup while N idle containers already run, and memory per extra one.

Levels run in increasing order: idle probe containers (pause mode, labelled
io.virtprobe.role=density, so `virtprobe clean` and the run's cleanup guard remove
them on every path) are added up to N, the host settles, /proc/meminfo is read, and
then the usual cycles are timed. Memory per extra container is the least-squares
slope of the kernel + anonymous counters (and of MemAvailable's drop) across the
levels (DensitySection.slope_bytes_per_container). A level that would exceed the
host's or the engine's limits is refused with the reason, before any container of it
starts (`refusal`, pure, on `Limits` read once per level).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from virtprobe.benchmark import engine_procs, hostmem
from virtprobe.benchmark.backend import Clock, Progress
from virtprobe.benchmark.cycles import ClockJudge, one_cycle
from virtprobe.benchmark.engine import EngineInfo
from virtprobe.benchmark.guest import probe_image
from virtprobe.benchmark.interrupts import held_interrupts
from virtprobe.benchmark.options import BenchOptions
from virtprobe.benchmark.result import CycleSample, DensityLevel, DensitySection
from virtprobe.machine.source import LiveSource, Source

MIB = 1024 * 1024
SETTLE_S = 1.0
# What one more idle container may cost at most, for the refusal only (MEASURED.md: a
# shim of 13 MiB RSS alone, about 3.3 MiB host-wide per container with ten running; a
# conmon is smaller). The budget is half of MemAvailable, so the cycles keep room.
BUDGET_BYTES_PER_CONTAINER = 16 * MIB
MEMORY_SHARE = 0.5
# Tasks per idle container: the shim's threads (about 10 under Docker) and the probe.
TASKS_PER_CONTAINER = 12
TASKS_SHARE = 0.8
# File descriptors the daemon holds per running container (its streams, the shim's
# socket, the cgroup and event watches): a generous bound, for the refusal only.
FDS_PER_CONTAINER = 8

METHOD = (
    "Levels in increasing order: idle probe containers (pause mode) added up to N, a settle of "
    f"{SETTLE_S:.0f} s, one /proc/meminfo reading, then the cycles. Memory per extra container: the "
    "least-squares slope across levels of the kernel + anonymous counters (AnonPages, PageTables, "
    "KernelStack, Slab, VmallocUsed) and of the drop of MemAvailable. A level is refused before it "
    f"starts when N x {BUDGET_BYTES_PER_CONTAINER // MIB} MiB exceeds half of MemAvailable, when "
    f"N x {TASKS_PER_CONTAINER} tasks would pass 80% of the kernel's pid_max/threads-max, or when "
    f"N x {FDS_PER_CONTAINER} more open files would pass the daemon's RLIMIT_NOFILE."
)


@dataclass(frozen=True)
class Limits:
    """What bounds the number of idle containers on this host, each None where it could not be read."""

    mem_available_bytes: int | None
    tasks_now: int | None  # threads on the whole host (/proc/loadavg's 4th field, after the slash)
    tasks_max: int | None  # min(kernel.pid_max, kernel.threads-max)
    daemon_fds_now: int | None
    daemon_nofile: int | None  # the daemon's soft RLIMIT_NOFILE


def refusal(more: int, limits: Limits) -> str | None:
    """Pure: why `more` extra idle containers must not start, or None."""
    if more <= 0:
        return None
    if limits.mem_available_bytes is not None:
        need = more * BUDGET_BYTES_PER_CONTAINER
        room = int(limits.mem_available_bytes * MEMORY_SHARE)
        if need > room:
            return (
                f"memory: {more} more idle containers may need {need // MIB} MiB "
                f"({BUDGET_BYTES_PER_CONTAINER // MIB} MiB each), more than half of MemAvailable "
                f"({limits.mem_available_bytes // MIB} MiB)"
            )
    if limits.tasks_now is not None and limits.tasks_max is not None:
        after = limits.tasks_now + more * TASKS_PER_CONTAINER
        if after > limits.tasks_max * TASKS_SHARE:
            return (
                f"pids: {more} more idle containers bring the host to about {after} tasks, past 80% of "
                f"the kernel's limit of {limits.tasks_max} (kernel.pid_max / kernel.threads-max)"
            )
    if limits.daemon_fds_now is not None and limits.daemon_nofile is not None:
        after = limits.daemon_fds_now + more * FDS_PER_CONTAINER
        if after > limits.daemon_nofile:
            return (
                f"engine: {more} more containers may bring the engine's daemon to about {after} open files, "
                f"past its RLIMIT_NOFILE of {limits.daemon_nofile}"
            )
    return None


def parse_tasks(loadavg: str) -> int | None:
    """Pure: the number of tasks on the host from /proc/loadavg ("0.1 0.2 0.3 2/345 678")."""
    fields = loadavg.split()
    if len(fields) < 4 or "/" not in fields[3]:
        return None
    total = fields[3].split("/", 1)[1]
    return int(total) if total.isdigit() else None


def read_limits(src: Source, host: str | None, on_this_machine: bool | None) -> Limits:
    """The limits of this host (through `src`) and of the engine's daemon (psutil), where readable."""
    meminfo = hostmem.read_meminfo(src) or {}

    def num(rel: str) -> int | None:
        text = src.read(rel).text
        return int(text.strip()) if text is not None and text.strip().isdigit() else None

    maxes = [v for v in (num("proc/sys/kernel/pid_max"), num("proc/sys/kernel/threads-max")) if v is not None]
    loadavg = src.read("proc/loadavg").text
    fds = nofile = None
    if on_this_machine is True:
        daemon = engine_procs.find_daemon(host).process
        if daemon is not None:
            try:
                fds = daemon.num_fds()
                nofile = int(daemon.rlimit(engine_procs.psutil.RLIMIT_NOFILE)[0])
            except (engine_procs.psutil.Error, AttributeError, OSError):
                fds = nofile = None
            if nofile is not None and nofile < 0:  # RLIM_INFINITY
                nofile = None
    return Limits(
        mem_available_bytes=meminfo.get("MemAvailable") if on_this_machine is True else None,
        tasks_now=parse_tasks(loadavg) if loadavg and on_this_machine is True else None,
        tasks_max=min(maxes) if maxes and on_this_machine is True else None,
        daemon_fds_now=fds,
        daemon_nofile=nofile,
    )


def run_density(
    backend: Any,
    clock: Clock,
    options: BenchOptions,
    progress: Progress,
    *,
    image: str,
    probe: bool,
    run_id: str,
    engine: EngineInfo,
    judge: ClockJudge | None,
    runtime: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    realtime: Clock = time.time_ns,
    limits: Callable[[], Limits] | None = None,
) -> DensitySection:
    """Every level of options.density in increasing order; the idle containers are removed at the end."""
    host = getattr(backend, "host", None)
    local = engine.on_this_machine is True
    read = limits or (lambda: read_limits(LiveSource(), host, engine.on_this_machine))
    idle: list[str] = []
    levels: list[DensityLevel] = []
    total = options.warmup + options.runs
    try:
        for n in sorted(set(options.density)):
            why = refusal(n - len(idle), read())
            if why is not None:
                levels.append(DensityLevel(idle=n, samples=(), refused=why))
                continue
            while len(idle) < n:
                with held_interrupts():
                    cid = backend.create(
                        image if probe else _probe(backend, engine), run_id,
                        command=[probe_image.PAUSE_ARG], role="density", runtime=runtime,
                    )  # fmt: skip
                    idle.append(cid)
                    backend.start(cid)
                progress(f"density {n}: idle containers", len(idle), n)
            sleep(SETTLE_S)
            meminfo = backend.meminfo() if local else None
            samples: list[CycleSample] = []
            for i in range(total):
                warmup = i < options.warmup
                samples.append(one_cycle(backend, clock, image, run_id, i, warmup, probe, runtime, judge, realtime))
                progress(f"density {n}: cycles", i + 1, total)
            levels.append(
                DensityLevel(
                    idle=n,
                    samples=tuple(samples),
                    kernel_anon_bytes=hostmem.kernel_anon_bytes(meminfo) if meminfo else None,
                    mem_available_bytes=meminfo.get("MemAvailable") if meminfo else None,
                )
            )
    finally:
        for cid in idle:
            with held_interrupts():
                backend.remove(cid)
    reason = None if local else f"host memory not read: {engine.location_reason}"
    return DensitySection(levels=tuple(levels), method=METHOD, host_side_reason=reason)


def _probe(backend: Any, engine: EngineInfo) -> str:
    """The probe image's tag (idle containers are always the probe's pause mode, even with --image)."""
    tag, _ = backend.ensure_probe_image(engine.arch)
    return str(tag)
