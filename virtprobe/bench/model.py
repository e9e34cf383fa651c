"""The bench document: options, environment metadata, noise warnings, and the envelope.

Only facts about the machine go into the environment: no environment
variables, tokens or user names. The hostname and machine id are recorded as
the report format says; `--anonymize` (added by the coordinator) hashes them.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import secrets
import socket
from dataclasses import dataclass
from typing import Any

from virtprobe import stats
from virtprobe.detect.model import DetectResult
from virtprobe.report.document import KIND_BENCH, envelope

PHASES = (
    "create_s",
    "start_s",
    "first_instruction_s",
    "first_output_s",
    "run_to_exit_s",
    "remove_s",
    "cycle_s",
)


@dataclass(frozen=True)
class BenchOptions:
    runs: int = 20
    warmup: int = 2
    parallel: int = 1
    image: str | None = None
    memory_containers: int = 10
    floor: bool = False
    seed: int | None = 1
    vm: tuple[str, ...] = ()  # measured VM kinds to add to the simulated baselines: "qemu"
    kernel: str | None = None  # guest kernel for --vm qemu
    profiles: str | None = None  # a user file of VM profiles, added to the built-in ones
    hwvirt: bool = False  # drive /dev/kvm directly: VM floor, exit cost, near-native ratio

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "warmup": self.warmup,
            "parallel": self.parallel,
            "image": self.image,
            "floor": self.floor,
            "memory_containers": self.memory_containers,
            "vm": list(self.vm),
            "hwvirt": self.hwvirt,
            "seed": self.seed,
        }


def new_run_id(now: _dt.datetime | None = None) -> str:
    """vp-YYYYMMDD-HHMMSS-xxxxxx: sortable by time, unique across concurrent runs."""
    t = now or _dt.datetime.now(_dt.UTC)
    return f"vp-{t:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


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


def _mem_total_bytes() -> int | None:
    text = _read("/proc/meminfo")
    if text is None:
        return None
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit():
                return int(fields[1]) * 1024
    return None


def detect_summary(result: DetectResult) -> dict[str, Any]:
    """The `detect` verdict in short, as the bench environment records it."""
    return {
        "hypervisor": result.hypervisor.id,
        "vmm": result.hypervisor.vmm,
        "container": result.container.id,
        "wsl": result.wsl.id,
        "cloud": result.cloud.id,
        "kvm_usable": result.kvm.usable,
        "kvm_module": result.kvm.module,
    }


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages: other work on the host distorts every figure."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def busy_warning(start: list[float] | None, cpus: int | None) -> str | None:
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


def environment(docker_info: dict[str, Any] | None, detected: DetectResult) -> dict[str, Any]:
    """Facts about the machine; the kernel and OS come from the detect run the bench already made."""
    machine_id = _read("/etc/machine-id")
    cpuinfo = _read("/proc/cpuinfo")
    return {
        "hostname": socket.gethostname() or None,
        "machine_id": machine_id.strip() or None if machine_id else None,
        "kernel": detected.host.kernel,
        "os_name": detected.host.os_name,
        # Not detect's cpu.model_name: that reads only the first processor block,
        # and arm boards name themselves in trailing "Model"/"Hardware" lines.
        "cpu_model": parse_cpu_model(cpuinfo) if cpuinfo else None,
        "cpu_count": os.cpu_count(),
        "mem_total_bytes": _mem_total_bytes(),
        "python": platform.python_version(),
        "docker": docker_info,
        "detect": detect_summary(detected),
    }


def measured(samples: list[dict[str, Any]], key: str) -> list[float]:
    """The non-warmup values of one phase, in run order."""
    return [s[key] for s in samples if not s.get("warmup") and s.get(key) is not None]


def noise_warnings(container: dict[str, Any] | None) -> list[str]:
    """pyperf-style: warn when a phase's standard deviation is at least 10% of its mean."""
    if not container:
        return []
    out = []
    for key in PHASES:
        summary = stats.summarize(measured(container.get("samples", []), key))
        if summary.noisy and summary.cv is not None:
            out.append(
                f"{key.removesuffix('_s').replace('_', ' ')} CV {summary.cv * 100:.0f}% >= "
                f"{stats.NOISY_CV * 100:.0f}%: noisy; close other work or raise --runs"
            )
    par = container.get("parallel")
    if par:
        summary = stats.summarize(par.get("cycle_s", []))
        if summary.noisy and summary.cv is not None:
            out.append(f"parallel cycle CV {summary.cv * 100:.0f}% >= 10%: noisy (expected under load)")
    return out


def bench_document(
    run_id: str,
    options: BenchOptions,
    env: dict[str, Any],
    container: dict[str, Any] | None,
    warnings: list[str],
    vm: dict[str, Any] | None = None,
    hwvirt: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return envelope(
        KIND_BENCH,
        {
            "run_id": run_id,
            "options": options.to_dict(),
            "environment": env,
            "container": container,
            "vm": vm,
            "hwvirt": hwvirt,
            "warnings": [*warnings, *noise_warnings(container)],
        },
    )
