"""Rich rendering of a bench document (pure: a document in, a renderable out).

Summaries are recomputed from the raw samples, never read from the file, so a
report renders the same whatever produced it. Warmup samples are excluded.
"""

from __future__ import annotations

from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from virtprobe import stats
from virtprobe.bench.model import measured
from virtprobe.report.metrics import (
    container_memory_per_instance,
    container_startup_phase,
    source_text,
    vm_memory,
)

PHASE_ROWS = (
    ("create_s", "create"),
    ("start_s", "start (API call)"),
    ("first_instruction_s", "first instruction"),
    ("first_output_s", "first output"),
    ("run_to_exit_s", "running to exit"),
    ("remove_s", "remove"),
    ("cycle_s", "whole cycle"),
)

FLOOR_ROWS = (
    ("fork_exec_s", "fork + exec"),
    ("unshare_s", "unshare (pid, mount, net, uts, ipc)"),
    ("crun_s", "crun run"),
    ("runc_s", "runc run"),
)


def ms(x: float | None) -> str:
    return "-" if x is None else f"{x * 1000:.2f}"


def ms1(x: float | None) -> str:
    return "-" if x is None else f"{x * 1000:.1f}"


def mib(x: float | None) -> str:
    return "-" if x is None else f"{x / (1024 * 1024):.2f}"


def phase_table(container: dict[str, Any]) -> Table:
    samples = container.get("samples") or []
    image = container.get("image") or {}
    title = "Container start, phase by phase (ms)"
    # Compact (no vertical rules, one decimal) so that it fits 80 columns.
    table = Table(
        title=title,
        title_justify="left",
        caption=f"image {image.get('name') or '?'}, {container.get('timing_basis') or '?'} basis",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    table.add_column("phase", no_wrap=True)
    for name in ("median", "MAD", "p95", "p99", "min", "max", "CV%", "n"):
        table.add_column(name, justify="right", no_wrap=True)
    for key, label in PHASE_ROWS:
        s = stats.summarize(measured(samples, key))
        if s.n == 0:
            continue
        cv = "-" if s.cv is None else f"{s.cv * 100:.0f}" + ("!" if s.noisy else "")
        table.add_row(
            label, ms1(s.median), ms1(s.mad), ms1(s.p95), ms1(s.p99), ms1(s.min), ms1(s.max), cv, str(s.n)
        )
    return table


def memory_table(memory: dict[str, Any]) -> Table:
    table = Table(
        title=f"Memory of one idle container ({memory.get('n')} running, MiB)", title_justify="left"
    )
    table.add_column("measure")
    for name in ("median", "min", "max", "n"):
        table.add_column(name, justify="right")
    for key, label in (("cgroup_bytes", "cgroup memory usage"), ("shim_pss_bytes", "containerd-shim PSS")):
        s = stats.summarize(memory.get(key) or [])
        if s.n:
            table.add_row(label, mib(s.median), mib(s.min), mib(s.max), str(s.n))
    for key, label in (
        ("host_available_drop_bytes_per_container", "host MemAvailable drop / container"),
        ("host_kernel_anon_growth_bytes_per_container", "host kernel+anon growth / container"),
    ):
        if memory.get(key) is not None:
            table.add_row(label, mib(memory[key]), "", "", "")
    return table


def parallel_table(par: dict[str, Any], serial_cycle_median_s: float | None) -> Table:
    table = Table(title=f"Density: {par.get('parallel')} starts at a time", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rate = par.get("containers_per_s")
    table.add_row("containers/s", "-" if rate is None else f"{rate:.2f}")
    if serial_cycle_median_s:
        table.add_row("containers/s serially (1 / cycle median)", f"{1 / serial_cycle_median_s:.2f}")
    s = stats.summarize(par.get("cycle_s") or [])
    table.add_row("cycle under load, median ms", ms(s.median))
    table.add_row("cycle under load, p95 ms", ms(s.p95))
    table.add_row("containers", str(par.get("n")))
    return table


def floor_table(floor: dict[str, Any], docker_start_s: float | None, docker_cycle_s: float | None) -> Table:
    table = Table(title="Where Docker's time goes (median ms)", title_justify="left")
    table.add_column("what starts the probe")
    table.add_column("median", justify="right")
    table.add_column("n", justify="right")
    for key, label in FLOOR_ROWS:
        s = stats.summarize(floor.get(key) or [])
        table.add_row(label, ms(s.median) if s.n else "not measured", str(s.n))
    if docker_start_s is not None:
        table.add_row("Docker start (API call)", ms(docker_start_s), "")
    if docker_cycle_s is not None:
        table.add_row("Docker whole cycle", ms(docker_cycle_s), "")
    return table


def _ratio(a: float | None, b: float | None) -> str:
    if a is None or not b:
        return "-"
    r = a / b
    return f"{r:.0f}x" if r >= 100 else f"{r:.1f}x" if r >= 10 else f"{r:.2f}x"


def _kind(b: dict[str, Any]) -> str:
    if b.get("kind") == "simulated":
        return "simulated"
    accel = b.get("accel") or "?"
    return f"measured here ({accel})"


def vm_table(container: dict[str, Any] | None, baselines: list[dict[str, Any]]) -> tuple[Table, list[str]]:
    """Containers against each VM baseline, with ratios; the sources as numbered notes."""
    table = Table(
        title="Containers vs VMs (startup ms; memory MiB per instance; ratio = VM / container)",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        collapse_padding=True,
    )
    for name, justify in (
        ("instance", "left"),
        ("kind", "left"),
        ("median", "right"),
        ("p99", "right"),
        ("x start", "right"),
        ("memory", "right"),
        ("x mem", "right"),
        ("src", "right"),
    ):
        table.add_column(name, justify=justify, no_wrap=name != "instance")  # type: ignore[arg-type]
    cont_start: float | None = None
    cont_mem: float | None = None
    if container:
        phase = container_startup_phase(container)
        s = stats.summarize(measured(container.get("samples") or [], phase))
        cont_start = s.median
        cont_mem, _basis = container_memory_per_instance(container)
        table.add_row(
            f"container ({phase.removesuffix('_s').replace('_', ' ')})",
            "measured here",
            ms1(s.median),
            ms1(s.p99),
            "1x",
            mib(cont_mem),
            "1x",
            "",
        )
    notes: list[str] = []
    refs: dict[str, int] = {}  # one numbered note per distinct source or caveat

    def ref_for(text: str) -> str:
        if text not in refs:
            refs[text] = len(refs) + 1
            notes.append(f"[{refs[text]}] {text}")
        return f"[{refs[text]}]"

    for b in baselines:
        s = stats.summarize(b.get("boot_samples_s") or [])
        mem, _what = vm_memory(b)
        if b.get("kind") == "simulated":
            ref = ref_for("simulated from: " + (source_text(b) or "no source given"))
        else:
            ref = ref_for(f"{b.get('label') or b.get('name')}: " + " | ".join(b.get("notes") or ["measured here"]))
        table.add_row(
            str(b.get("label") or b.get("name")),
            _kind(b),
            ms1(s.median),
            ms1(s.p99),
            _ratio(s.median, cont_start),
            mib(mem),
            _ratio(mem, cont_mem),
            ref,
        )
    return table, notes


def _us(x: float | None) -> str:
    return "-" if x is None else f"{x * 1e6:.2f}"


def hwvirt_table(hw: dict[str, Any]) -> list[RenderableType]:
    """/dev/kvm driven directly: the floor, the exit cost, near-native speed, each with its meaning."""
    if not hw.get("available"):
        return [Text(f"hardware virtualization (--hwvirt): not available: {hw.get('reason') or 'unknown reason'}")]
    table = Table(
        title=f"Hardware virtualization itself (/dev/kvm via {hw.get('kvm_module') or '?'}, no VMM)",
        title_justify="left",
    )
    table.add_column("measure")
    table.add_column("median", justify="right")
    table.add_column("p99", justify="right")
    table.add_column("n", justify="right")
    meanings: list[RenderableType] = []
    floor = hw.get("vm_floor") or {}
    if floor:
        s = stats.summarize(floor.get("samples_s") or [])
        table.add_row("VM floor: KVM_CREATE_VM to first guest output (ms)", ms(s.median), ms(s.p99), str(s.n))
        meanings.append(Text(f"VM floor: {floor.get('meaning', '')}"))
    for key, label in (("exit_round_trip", "64-bit user mode"), ("exit_round_trip_real_mode", "real mode")):
        ex = hw.get(key) or {}
        if not ex:
            continue
        raw = stats.summarize(ex.get("raw_per_exit_s") or [])
        null = stats.summarize(ex.get("null_ioctl_per_call_s") or [])
        net = stats.summarize(ex.get("net_per_exit_s") or [])
        table.add_row(f"VM exit round trip, {label}, raw (us)", _us(raw.median), _us(raw.p99), str(raw.n))
        table.add_row("  Python null ioctl (us)", _us(null.median), _us(null.p99), str(null.n))
        table.add_row("  net per exit (us)", _us(net.median), _us(net.p99), str(net.n))
        if key == "exit_round_trip":
            meanings.append(Text(f"VM exit: {ex.get('meaning', '')}"))
    nn = hw.get("near_native") or {}
    if nn:
        for key, label in (("ratio_user", "guest user mode / native"), ("ratio_kernel", "guest kernel mode / native")):
            if nn.get(key) is not None:
                table.add_row(f"Same compute loop, {label}", f"{nn[key]:.2f}x", "", "")
        meanings.append(Text(f"Near-native: {nn.get('meaning', '')}"))
        if nn.get("verdict"):
            meanings.append(Text(f"Verdict: {nn['verdict']}"))
    notes = [Text(f"note: {n}") for n in hw.get("notes") or []]
    return [table, *meanings, *notes]


def render_bench(doc: dict[str, Any]) -> RenderableType:
    """The bench report: phases, memory, density, floor ladder, then warnings and notes."""
    parts: list[RenderableType] = []
    container = doc.get("container")
    if container:
        samples = container.get("samples") or []
        parts.append(phase_table(container))
        basis = container.get("timing_basis")
        if basis == "first_output":
            parts.append(Text("Timing basis: first byte of output (not the probe image)."))
        cycle = stats.summarize(measured(samples, "cycle_s")).median
        start = stats.summarize(measured(samples, "start_s")).median
        if container.get("memory"):
            parts.append(memory_table(container["memory"]))
        if container.get("parallel"):
            parts.append(parallel_table(container["parallel"], cycle))
        floor = container.get("floor")
        if floor:
            parts.append(floor_table(floor, start, cycle))
            for note in floor.get("notes") or []:
                parts.append(Text(f"floor note: {note}"))
    baselines = (doc.get("vm") or {}).get("baselines") or []
    if baselines:
        table, notes = vm_table(container, baselines)
        parts.append(table)
        parts.extend(Text(n) for n in notes)
    if doc.get("hwvirt"):
        parts.extend(hwvirt_table(doc["hwvirt"]))
    for warning in doc.get("warnings") or []:
        parts.append(Text(f"warning: {warning}"))
    if not parts:
        parts.append(Text("no container measurements in this report"))
    return Group(*parts)
