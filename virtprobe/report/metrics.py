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


FLOOR_LADDER = (
    ("fork_exec_s", "fork + exec"),
    ("unshare_s", "unshare into new pid, mount, net, uts, ipc namespaces"),
    ("crun_s", "crun run (the runtime alone)"),
    ("runc_s", "runc run (the runtime alone)"),
)


def floor_rows(container: dict[str, Any]) -> list[tuple[str, float | None, int]]:
    """Where Docker's time goes: (what started the probe, median seconds, n), cheapest first."""
    floor = container.get("floor") or {}
    if not floor:
        return []
    rows = [(label, *_median_n(floor.get(key) or [])) for key, label in FLOOR_LADDER]
    samples = container.get("samples") or []
    for key, label in (("start_s", "Docker start (API call)"), ("cycle_s", "Docker whole cycle")):
        rows.append((label, *_median_n(measured(samples, key))))
    return rows


def _median_n(xs: list[float]) -> tuple[float | None, int]:
    s = stats.summarize(xs)
    return s.median, s.n


def hwvirt_rows(hw: dict[str, Any]) -> list[tuple[str, str, str]]:
    """/dev/kvm driven directly: (measure, median as text, what it shows)."""
    if not hw.get("available"):
        return []
    rows: list[tuple[str, str, str]] = []
    floor = hw.get("vm_floor") or {}
    if floor.get("samples_s"):
        med = stats.summarize(floor["samples_s"]).median
        rows.append(("VM floor: KVM_CREATE_VM to first guest output", _fmt(med, 1e3, "ms"), floor.get("meaning", "")))
    ex = hw.get("exit_round_trip") or {}
    if ex.get("raw_per_exit_s"):
        raw = stats.summarize(ex["raw_per_exit_s"]).median
        net = stats.summarize(ex.get("net_per_exit_s") or []).median
        rows.append(
            (
                "VM exit round trip (64-bit guest user mode), raw / net of a null ioctl",
                f"{_fmt(raw, 1e6, 'µs')} / {_fmt(net, 1e6, 'µs')}",
                ex.get("meaning", ""),
            )
        )
    nn = hw.get("near_native") or {}
    for key, label in (("ratio_user", "guest user mode"), ("ratio_kernel", "guest kernel mode")):
        if nn.get(key) is not None:
            rows.append((f"Same compute loop, {label} / native", f"{nn[key]:.2f}×", nn.get("verdict", "")))
    return rows


def _fmt(x: float | None, scale: float, unit: str) -> str:
    return "–" if x is None else f"{x * scale:.2f} {unit}"


def source_text(baseline: dict[str, Any]) -> str | None:
    """Where a simulated baseline's figures come from, in one line (None when unsourced)."""
    source = baseline.get("source") or {}
    parts = [source.get("citation"), source.get("host") and f"host {source['host']}", source.get("url")]
    text = "; ".join(str(p) for p in parts if p)
    return text or None
