"""Headline metrics derived from a bench document, shared by every renderer and the gates.

One definition of "container startup" and "memory per instance" keeps the
table, Markdown, HTML and the CI gates (--max-startup-ms, --max-memory-mib)
saying the same thing about the same report.
"""

from __future__ import annotations

from typing import Any

from virtprobe import stats
from virtprobe.bench.model import measured


def container_startup_phase(container: dict[str, Any]) -> str:
    """The phase that stands for "the container started", to set against a VM's boot time.

    The start request to the probe's first instruction (first output for user
    images) is the nearest analogue of a VM's boot to init: both exclude the
    create/configure step, as Firecracker's "pre-configured" boot figure does.
    """
    basis = container.get("timing_basis")
    samples = container.get("samples") or []
    for phase in (f"{basis}_s" if basis else None, "first_instruction_s", "first_output_s", "start_s"):
        if phase and measured(samples, phase):
            return phase
    return "start_s"


def container_startup_median_s(container: dict[str, Any]) -> float | None:
    return stats.summarize(measured(container.get("samples") or [], container_startup_phase(container))).median


def container_memory_per_instance(container: dict[str, Any]) -> tuple[float | None, str]:
    """Host memory one idle container costs, and what that figure is.

    Preferred: the growth of the host's kernel and anonymous memory (AnonPages,
    PageTables, KernelStack, Slab, VmallocUsed) across N idle containers, over N.
    MemAvailable's drop is the benchmark-containerd-runtimes method, but on a
    shared host page-cache churn swamps it (seen here: -4 to +8.5 MiB per
    container), so it is used only when the growth figure is absent. Last: the
    container's cgroup usage plus its shim's PSS.
    """
    memory = container.get("memory") or {}
    growth = memory.get("host_kernel_anon_growth_bytes_per_container")
    if isinstance(growth, int | float) and growth > 0:
        return float(growth), "host kernel+anon growth per container"
    drop = memory.get("host_available_drop_bytes_per_container")
    if isinstance(drop, int | float) and drop > 0:
        return float(drop), "host MemAvailable drop per container"
    cg = stats.summarize(memory.get("cgroup_bytes") or []).median
    shim = stats.summarize(memory.get("shim_pss_bytes") or []).median
    if cg is None:
        return None, "not measured"
    if shim is None:
        return float(cg), "cgroup usage"
    return float(cg + shim), "cgroup usage + shim PSS"


def vm_memory(baseline: dict[str, Any]) -> tuple[float | None, str]:
    mem = baseline.get("memory") or {}
    for key, label in (
        ("pss_bytes", "PSS"),
        ("peak_rss_bytes", "peak RSS"),
        ("committed_bytes", "committed"),
    ):
        value = mem.get(key)
        if isinstance(value, int | float) and value > 0:
            return float(value), label
    return None, "unknown"
