"""Headline metrics derived from a bench result, shared by every renderer and the gates.

One definition of "container startup" and "memory per instance" keeps the table,
Markdown, HTML and the CI gates (--max-startup-ms, --max-memory-mib) saying the same
thing about the same report.
"""

from __future__ import annotations

from virtprobe import stats
from virtprobe.benchmark.result import ContainerSection, HwvirtSection, VmBaseline
from virtprobe.report.labels import ENGINE_CYCLE_LABEL, ENGINE_START_LABEL, FLOOR_LABELS, FLOOR_ORDER, PHASE_LABELS


def container_startup_phase(container: ContainerSection) -> str:
    """The phase that stands for "the container started", to set against a VM's boot time.

    The start request to the probe's first instruction (first output for user
    images) is the nearest analogue of a VM's boot to init: both exclude the
    create/configure step, as Firecracker's "pre-configured" boot figure does.
    """
    basis = container.timing_basis
    for phase in (f"{basis}_s" if basis else None, "first_instruction_s", "first_output_s", "start_s"):
        if phase and container.measured(phase):
            return phase
    return "start_s"


def container_startup_median_s(container: ContainerSection) -> float | None:
    return container.summary(container_startup_phase(container)).median


def container_memory_per_instance(container: ContainerSection | None) -> tuple[float | None, str]:
    """Host memory one idle container costs, and what that figure is.

    Preferred: the growth of the host's kernel and anonymous memory (AnonPages,
    PageTables, KernelStack, Slab, VmallocUsed) across N idle containers, over N.
    MemAvailable's drop is the benchmark-containerd-runtimes method, but on a
    shared host page-cache churn swamps it (seen here: -4 to +8.5 MiB per
    container), so it is used only when the growth figure is absent. Last: the
    container's cgroup usage plus its shim's PSS.
    """
    memory = container.memory if container is not None else None
    if memory is None:
        return None, "not measured"
    growth = memory.host_kernel_anon_growth_bytes_per_container
    if growth is not None and growth > 0:
        return growth, "host kernel+anon growth per container"
    drop = memory.host_available_drop_bytes_per_container
    if drop is not None and drop > 0:
        return drop, "host MemAvailable drop per container"
    cg = stats.summarize(memory.cgroup_bytes).median
    shim = stats.summarize(memory.shim_pss_bytes or ()).median
    if cg is None:
        return None, "not measured"
    if shim is None:
        return cg, "cgroup usage"
    return cg + shim, "cgroup usage + shim PSS"


def vm_memory(baseline: VmBaseline) -> tuple[float | None, str]:
    if baseline.memory is None:
        return None, "unknown"
    return baseline.memory.per_instance()


def floor_rows(container: ContainerSection | None) -> list[tuple[str, float | None, int]]:
    """Where the engine's time goes: (what started the probe, median seconds, n), cheapest first."""
    if container is None or container.floor is None:
        return []
    floor = container.floor
    rows = [(FLOOR_LABELS[key], *_median_n(floor.samples(key))) for key in FLOOR_ORDER]
    for key, label in (("start_s", ENGINE_START_LABEL), ("cycle_s", ENGINE_CYCLE_LABEL)):
        rows.append((label, *_median_n(container.measured(key))))
    return rows


def _median_n(xs: list[float] | tuple[float, ...]) -> tuple[float | None, int]:
    s = stats.summarize(xs)
    return s.median, s.n


def hwvirt_rows(hw: HwvirtSection) -> list[tuple[str, str, str]]:
    """/dev/kvm driven directly: (measure, median as text, what it shows)."""
    if not hw.available:
        return []
    rows: list[tuple[str, str, str]] = []
    if hw.vm_floor is not None and hw.vm_floor.samples_s:
        med = stats.summarize(hw.vm_floor.samples_s).median
        rows.append(("VM floor: KVM_CREATE_VM to first guest output", _fmt(med, 1e3, "ms"), hw.vm_floor.meaning))
    ex = hw.exit_round_trip
    if ex is not None and ex.raw_per_exit_s:
        raw = stats.summarize(ex.raw_per_exit_s).median
        net = stats.summarize(ex.net_per_exit_s).median
        rows.append(
            (
                "VM exit round trip (64-bit guest user mode), raw / net of a null ioctl",
                f"{_fmt(raw, 1e6, 'µs')} / {_fmt(net, 1e6, 'µs')}",
                ex.meaning,
            )
        )
    nn = hw.near_native
    if nn is not None:
        for value, label in ((nn.ratio_user, "guest user mode"), (nn.ratio_kernel, "guest kernel mode")):
            if value is not None:
                rows.append((f"Same compute loop, {label} / native", f"{value:.2f}×", nn.verdict))
    return rows


def _fmt(x: float | None, scale: float, unit: str) -> str:
    return "–" if x is None else f"{x * scale:.2f} {unit}"


def source_text(baseline: VmBaseline) -> str | None:
    """Where a simulated baseline's figures come from, in one line (None when unsourced)."""
    if baseline.source is None:
        return None
    return baseline.source.text() or None


def outlier_lines(container: ContainerSection | None) -> list[str]:
    """hyperfine-style: how many samples of which phase are outliers (modified Z-score > 3.5)."""
    if container is None:
        return []
    lines = []
    for phase, label in PHASE_LABELS.items():
        s = container.summary(phase)
        if s.outliers:
            lines.append(
                f"{len(s.outliers)} of {s.n} '{label}' samples are statistical outliers "
                f"(modified Z-score > {stats.OUTLIER_Z:g}); other work on the host may have disturbed them"
            )
    return lines
