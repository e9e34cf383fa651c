"""Markdown rendering of detect and bench reports, short enough for $GITHUB_STEP_SUMMARY.

Pure: a typed report in, a string out. Every simulated figure says so and names its
source, and every measured VM row names its accelerator, because a TCG boot time
next to a container start time would otherwise read as a hardware-virtualization cost.
"""

from __future__ import annotations

from virtprobe import stats
from virtprobe.benchmark.environment import detect_summary
from virtprobe.benchmark.hostmem import HostMemFigure
from virtprobe.benchmark.result import PHASES, BenchResult, VmBaseline
from virtprobe.detection.model import show_value
from virtprobe.report.document import BenchReport, DetectReport, Header, Report
from virtprobe.report.labels import TCG_CAVEAT, phase_label
from virtprobe.report.metrics import (
    BILLING_RULE,
    BILLING_SOURCE,
    clock_line,
    container_memory_per_instance,
    container_startup_phase,
    engine_line,
    floor_rows,
    function_clock_note,
    function_row_label,
    function_rows,
    hwvirt_rows,
    outlier_lines,
    process_label,
    runtime_rows,
    source_text,
    vm_memory,
)
from virtprobe.report.text import cell, format_value, verdict_line


def _footer(header: Header, extra: str) -> str:
    tool = f"{cell(header.tool_name)} {cell(header.tool_version)}"
    return f"<sub>{tool}, schema {cell(header.schema_version)}, {extra}</sub>"


def render_detect_markdown(report: DetectReport) -> str:
    r = report.result
    host, cpu, kvm, container = r.host, r.cpu, r.kvm, r.container
    lines = [
        "### virtprobe detect",
        "",
        f"**{verdict_line(detect_summary(r))}**",
        "",
        "| | |",
        "|---|---|",
        f"| host | {cell(host.platform)} {cell(host.machine)}, kernel {cell(host.kernel)}, {cell(host.os_name)} |",
        f"| cpu | {cell(cpu.model_name)}; hardware virtualization: {cell(show_value(cpu.virt_tech))} |",
        f"| /dev/kvm | present: {show_value(kvm.device_present)}, usable: {show_value(kvm.usable)}"
        + (f" ({cell(kvm.reason)})" if kvm.reason else "")
        + " |",
        f"| container | {cell(show_value(container.id))}, "
        f"orchestrator {cell(show_value(container.orchestrator))}, "
        f"cgroup v{cell(show_value(container.cgroup_version))} |",
        f"| confidential VM | {cell(show_value(r.cvm.id))}"
        + (f" ({cell(r.cvm.reason)})" if r.cvm.reason else "")
        + " |",
        "",
    ]
    if r.checks:
        # detect --check: one row per target, as virt-host-validate lists them.
        lines += ["| check | status | reason | fix |", "|---|---|---|---|"]
        lines += [f"| {cell(c.target)} | **{c.status.upper()}** | {cell(c.reason)} | {cell(c.fix)} |" for c in r.checks]
        lines.append("")
    lines += [_footer(report.header, cell(report.header.created_utc)), ""]
    return "\n".join(lines)


def baseline_label(baseline: VmBaseline) -> str:
    """ "simulated (source: …)" or "measured, accel tcg ⚠ …": never a bare number."""
    if baseline.simulated:
        text = source_text(baseline)
        return "**simulated**" + (f" — source: {text}" if text else " — no source given")
    text = f"measured, accel {baseline.accel or 'unknown'}"
    if baseline.accel == "tcg":
        text += f" ⚠ {TCG_CAVEAT}"
    return text


def _ratio(vm: float | None, container: float | None) -> str:
    if vm is None or not container:
        return "–"
    return f"{vm / container:.1f}×" if vm / container >= 10 else f"{vm / container:.2f}×"


def _header_lines(report: BenchReport) -> list[str]:
    r = report.result
    env = r.environment
    opts = r.options
    return [
        f"### virtprobe bench — {cell(env.hostname)}, {cell(report.header.created_utc)}",
        "",
        f"**{verdict_line(env.detect)}**",
        "",
        f"Kernel {cell(env.kernel)} · {cell(env.cpu_model)} × {cell(env.cpu_count)} · "
        f"{cell(opts.runs)} runs after {cell(opts.warmup)} warmup",
        "",
        f"Engine: {cell(engine_line(env.engine))}",
    ]


def _startup_lines(r: BenchResult) -> list[str]:
    container = r.container
    runtime = f" (runtime {cell(container.runtime)})" if container is not None and container.runtime else ""
    lines = ["", f"#### Container startup{runtime}", "", "| phase | median | p99 | n |", "|---|---:|---:|---:|"]
    if container is None:
        return lines
    if container.refused:
        lines.append(f"| refused | {cell(container.refused)} | | 0 |")
    for phase in PHASES:
        s = container.summary(phase)
        if s.n:
            noisy = " (noisy)" if s.noisy else ""
            lines.append(
                f"| {phase_label(phase)}{noisy} | {format_value(s.median, 's')} | {format_value(s.p99, 's')} | {s.n} |"
            )
    lines += ["", f"- {cell(clock_line(container))}"]
    outliers = outlier_lines(container)
    if outliers:
        lines += ["", *(f"- Outliers: {cell(line)}" for line in outliers)]
    par = container.parallel
    if par is not None and par.containers_per_s is not None:
        lines += [
            "",
            f"Parallel: {par.containers_per_s:.2f} containers/s with {cell(par.parallel)} "
            f"at once ({cell(par.n)} containers).",
        ]
    return lines


def _runtime_lines(r: BenchResult) -> list[str]:
    """--runtime: the runtimes side by side (nothing when one runtime was benched)."""
    if not r.other_runtimes:
        return []
    lines = [
        "",
        "#### Runtimes side by side (ratio = whole cycle / the first runtime's)",
        "",
        "| runtime | start (API call) | first instruction | whole cycle | ratio | n | clock |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for row in runtime_rows(r):
        if row.refused:
            lines.append(f"| {cell(row.runtime)} | – | – | – | – | 0 | refused: {cell(row.refused)} |")
            continue
        fi = format_value(row.first_instruction.median, "s") if row.first_instruction is not None else "own clock"
        ratio = "–" if row.cycle_ratio is None else f"{row.cycle_ratio:.2f}×"
        lines.append(
            f"| {cell(row.runtime)} | {format_value(row.start.median, 's')} | {fi} | "
            f"{format_value(row.cycle.median, 's')} | {ratio} | {row.cycle.n} | {cell(row.clock)} |"
        )
    lines.append("")
    lines += [f"- {cell(o.runtime)}: {cell(clock_line(o))}" for o in r.other_runtimes if not o.refused]
    return lines


def _host_figure_line(
    value: float | None, figure: HostMemFigure | None, what: str, cont_mem: float | None
) -> str | None:
    if value is not None:
        return None if value == cont_mem else f"| host, per container | {format_value(value, 'bytes')} | {what} |"
    if figure is not None and figure.reason:
        return f"| host, per container | {cell(figure.reason)} | {what} |"
    return None


def _memory_lines(r: BenchResult) -> list[str]:
    container = r.container
    cont_mem, cont_mem_basis = container_memory_per_instance(container)
    memory = container.memory if container is not None else None
    lines = ["", "#### Memory per instance", "", "| instance | memory | what |", "|---|---:|---|"]
    if memory is not None and memory.host_side_reason:
        lines.append(f"| container | – | {cell(memory.host_side_reason)} |")
    if memory is not None:
        cg, proc = stats.summarize(memory.cgroup_bytes), stats.summarize(memory.process_pss_bytes or ())
        if cg.median is not None:
            lines.append(f"| container | {format_value(cg.median, 'bytes')} | cgroup usage, median of {cg.n} |")
        if proc.median is not None:
            name = cell(process_label(memory.process_name))
            lines.append(f"| per-container process | {format_value(proc.median, 'bytes')} | {name} PSS, median |")
        for value, figure, what in (
            (
                memory.host_kernel_anon_growth_bytes_per_container,
                memory.host_kernel_anon,
                "host kernel+anon memory growth per container",
            ),
            (
                memory.host_available_drop_bytes_per_container,
                memory.host_available,
                "host MemAvailable drop per container (noisy)",
            ),
        ):
            line = _host_figure_line(value, figure, what, cont_mem)
            if line:
                lines.append(line)
    for other in r.other_runtimes:
        om = other.memory
        if om is None:
            continue
        who = f"container, runtime {cell(other.runtime)}"
        if om.host_side_reason:
            lines.append(f"| {who} | – | {cell(om.host_side_reason)} |")
            continue
        ocg, oproc = stats.summarize(om.cgroup_bytes), stats.summarize(om.process_pss_bytes or ())
        if ocg.median is not None:
            lines.append(f"| {who} | {format_value(ocg.median, 'bytes')} | cgroup usage, median of {ocg.n} |")
        if oproc.median is not None:
            name = cell(process_label(om.process_name))
            lines.append(f"| {who} | {format_value(oproc.median, 'bytes')} | {name} PSS, median |")
        for value, what in (
            (om.host_kernel_anon_growth_bytes_per_container, "host kernel+anon memory growth per container"),
            (om.host_available_drop_bytes_per_container, "host MemAvailable drop per container (noisy)"),
        ):
            if value is not None:
                lines.append(f"| {who} | {format_value(value, 'bytes')} | {what} |")
    if cont_mem is not None:
        lines.append(f"| **container, total** | **{format_value(cont_mem, 'bytes')}** | {cell(cont_mem_basis)} |")
    for b in r.baselines:
        value, basis = vm_memory(b)
        kind = "simulated" if b.simulated else f"measured, {b.accel or 'unknown'}"
        lines.append(f"| {cell(b.label)} | {format_value(value, 'bytes')} | {cell(basis)} ({cell(kind)}) |")
    return lines


def _baseline_lines(r: BenchResult) -> list[str]:
    if not r.baselines or r.container is None:
        return []
    container = r.container
    phase = container_startup_phase(container)
    cont_start = container.summary(phase).median
    cont_mem, _ = container_memory_per_instance(container)
    lines = [
        "",
        f"#### Containers vs VM baselines (ratio = VM median / container median; container startup = "
        f"{phase_label(phase)}, {format_value(cont_start, 's')})",
        "",
        "| baseline | boot median | boot p99 | startup ratio | memory ratio | kind |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for b in r.baselines:
        bs = b.boot_summary()
        value, _ = vm_memory(b)
        lines.append(
            f"| {cell(b.label)} | {format_value(bs.median, 's')} | {format_value(bs.p99, 's')} | "
            f"{_ratio(bs.median, cont_start)} | {_ratio(value, cont_mem)} | {cell(baseline_label(b))} |"
        )
    return lines


def _floor_lines(r: BenchResult) -> list[str]:
    ladder = floor_rows(r.container)
    if not ladder:
        return []
    lines = ["", "#### Where the engine's time goes", "", "| what starts the probe | median | n |", "|---|---:|---:|"]
    for label, med, n in ladder:
        lines.append(f"| {cell(label)} | {format_value(med, 's') if n else 'not measured'} | {n} |")
    notes = r.container.floor.notes if r.container is not None and r.container.floor is not None else ()
    if notes:
        lines += ["", *(f"- {cell(note)}" for note in notes)]
    return lines


def _hwvirt_lines(r: BenchResult) -> list[str]:
    hw = r.hwvirt
    if hw is None:
        return []
    lines = ["", f"#### Hardware virtualization itself (/dev/kvm via {cell(hw.kvm_module)}, no VMM)", ""]
    rows = hwvirt_rows(hw)
    if not rows:
        return [*lines, f"Not available: {cell(hw.reason)}"]
    lines += ["| measure | median |", "|---|---:|"]
    lines += [f"| {cell(label)} | {cell(value)} |" for label, value, _ in rows]
    if hw.near_native is not None and hw.near_native.verdict:
        lines += ["", f"Verdict: {cell(hw.near_native.verdict)}"]
    return lines


def _function_lines(r: BenchResult) -> list[str]:
    """--function: cold, warm, paused and the VMs booted per call, with both billing rules."""
    fn = r.function
    if fn is None:
        return []
    runtime = f", runtime {cell(fn.runtime)}" if fn.runtime else ""
    lines = [
        "",
        f"#### The serverless cycle: a function of {fn.function_ms} ms of CPU{runtime}",
        "",
        "| how it is served | wall | function's own work | share of wall | billed at 1 ms | billed at 100 ms | n |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    for row in function_rows(r):
        label = cell(function_row_label(row))
        if row.wall_s is None:
            lines.append(f"| {label} | – | – | – | – | – | 0 |")
            if row.note:
                notes.append(f"- {label}: {cell(row.note)}")
            continue
        share = "–" if row.share is None else f"{row.share * 100:.0f}%"
        lines.append(
            f"| {label} | {format_value(row.wall_s, 's')} | {format_value(row.work_s, 's')} | {share} | "
            f"{row.billed_1ms} ms | {row.billed_100ms} ms | {row.n} |"
        )
    lines += ["", *notes, f"- Billing: {cell(BILLING_RULE)}; source: {cell(BILLING_SOURCE)}"]
    note = function_clock_note(r)
    if note:
        lines.append(f"- {cell(note)}")
    return lines


def render_bench_markdown(report: BenchReport) -> str:
    r = report.result
    lines = [
        *_header_lines(report),
        *_startup_lines(r),
        *_runtime_lines(r),
        *_memory_lines(r),
        *_baseline_lines(r),
        *_function_lines(r),
        *_floor_lines(r),
        *_hwvirt_lines(r),
    ]
    if r.warnings:
        lines += ["", "#### Warnings", ""] + [f"- {cell(w)}" for w in r.warnings]
    lines += ["", _footer(report.header, f"run {cell(r.run_id)}"), ""]
    return "\n".join(lines)


def render_markdown(report: Report) -> str:
    """Markdown for one loaded detect or bench report."""
    if isinstance(report, DetectReport):
        return render_detect_markdown(report)
    return render_bench_markdown(report)
