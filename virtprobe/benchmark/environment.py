"""The machine a bench ran on: hardware and OS facts, the engine, the detect verdict, and its load.

Only facts about the machine go in: no environment variables, tokens or user names.
The hostname and machine id are recorded; `--anonymize` hashes them.
"""

from __future__ import annotations

import os
import platform
import socket

from virtprobe.benchmark.result import DetectSummary, EngineInfo, Environment
from virtprobe.detection.model import DetectResult


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError:
        return None


def parse_cpu_model(text: str) -> str | None:
    """Pure: the first "model name" (x86) or "Model" (arm) line of /proc/cpuinfo."""
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("model name", "Model", "Hardware") and value.strip():
            return value.strip()
    return None


def parse_mem_total(text: str) -> int | None:
    """Pure: MemTotal of /proc/meminfo in bytes."""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit():
                return int(fields[1]) * 1024
    return None


def detect_summary(result: DetectResult) -> DetectSummary:
    return DetectSummary(
        hypervisor=result.hypervisor.id,
        vmm=result.hypervisor.vmm,
        container=result.container.id,
        wsl=result.wsl.id,
        cloud=result.cloud.id,
        kvm_usable=result.kvm.usable,
        kvm_module=result.kvm.module,
    )


def load_average() -> tuple[float, ...] | None:
    """1, 5 and 15 minute load averages: other work on the host distorts every figure."""
    try:
        return tuple(round(x, 2) for x in os.getloadavg())
    except OSError:
        return None


def busy_warning(start: tuple[float, ...] | None, cpus: int | None) -> str | None:
    """A warning when the host was already busy before the run began.

    Only the load average at the start counts: a serial container benchmark
    itself keeps about one CPU busy (dockerd, containerd, runc), so the load at
    the end would flag every run.
    """
    if not cpus or not start:
        return None
    if start[0] < cpus / 2:
        return None
    return (
        f"host busy: 1-minute load average {start[0]:.2f} on {cpus} CPUs before the run began; "
        "timings include contention with other work"
    )


def environment(
    engine: EngineInfo | None,
    detected: DetectResult,
    load_start: tuple[float, ...] | None = None,
    load_end: tuple[float, ...] | None = None,
) -> Environment:
    """Facts about the machine; the kernel and OS come from the detect run the bench already made."""
    machine_id = _read("/etc/machine-id")
    cpuinfo = _read("/proc/cpuinfo")
    meminfo = _read("/proc/meminfo")
    return Environment(
        hostname=socket.gethostname() or None,
        machine_id=(machine_id.strip() or None) if machine_id else None,
        kernel=detected.host.kernel,
        os_name=detected.host.os_name,
        # Not detect's cpu.model_name: that reads only the first processor block,
        # and arm boards name themselves in trailing "Model"/"Hardware" lines.
        cpu_model=parse_cpu_model(cpuinfo) if cpuinfo else None,
        cpu_count=os.cpu_count(),
        mem_total_bytes=parse_mem_total(meminfo) if meminfo else None,
        python=platform.python_version(),
        engine=engine,
        detect=detect_summary(detected),
        load_average_start=load_start,
        load_average_end=load_end,
    )
