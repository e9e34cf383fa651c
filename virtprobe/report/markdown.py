"""Markdown rendering of detect and bench reports, short enough for $GITHUB_STEP_SUMMARY.

Pure: a loaded document in (see load.load_report, which fills the summaries),
a string out. Every simulated figure says so and names its source, and every
measured VM row names its accelerator, because a TCG boot time next to a
container start time would otherwise read as a hardware-virtualization cost.
"""

from __future__ import annotations

import re
from typing import Any

from virtprobe.detect.model import show_value
from virtprobe.report.compare import format_value
from virtprobe.report.document import KIND_BENCH, KIND_DETECT
from virtprobe.report.load import PHASES, recompute_summaries
from virtprobe.report.metrics import (
    container_memory_per_instance,
    container_startup_phase,
    floor_rows,
    hwvirt_rows,
    source_text,
    vm_memory,
)

PHASE_LABELS = {
    "create_s": "create",
    "start_s": "start (API call)",
    "first_instruction_s": "start → first instruction",
    "first_output_s": "start → first output",
    "run_to_exit_s": "run to exit",
    "remove_s": "remove",
    "cycle_s": "full cycle",
}
TCG_CAVEAT = "TCG is software emulation: not representative of hardware virtualization"


def cell(value: Any) -> str:
    """Text safe inside a Markdown table cell (or a one-line quote)."""
    text = "–" if value is None else str(value)
    text = " ".join(text.split()).replace("|", "\\|")
    # "<kernel vmlinuz-6.1>" would be taken for an HTML tag and vanish on GitHub;
    # "<= 125 ms" and "<0.001" are not tags and stay as they are.
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", text)


def detect_verdict_line(
    hypervisor: Any, vmm: Any, container: Any, cloud: Any, wsl: Any, kvm_usable: Any, kvm_module: Any
) -> str:
    hv = show_value(hypervisor) + (f" ({vmm})" if vmm else "")
    kvm = {True: "usable", False: "not usable", None: "unknown"}.get(kvm_usable, show_value(kvm_usable))
    if kvm_module:
        kvm += f" ({kvm_module})"
    return (
        f"hypervisor: {hv} · container: {show_value(container)} · cloud: {show_value(cloud)} · "
        f"WSL: {show_value(wsl)} · KVM: {kvm}"
    )


def _detect_line_from_detect_doc(doc: dict[str, Any]) -> str:
    def g(section: str, key: str) -> Any:
        sec = doc.get(section)
        return sec.get(key) if isinstance(sec, dict) else None

    return detect_verdict_line(
        g("hypervisor", "id"),
        g("hypervisor", "vmm"),
        g("container", "id"),
        g("cloud", "id"),
        g("wsl", "id"),
        g("kvm", "usable"),
        g("kvm", "module"),
    )


def render_detect_markdown(doc: dict[str, Any]) -> str:
    host = doc.get("host") or {}
    cpu = doc.get("cpu") or {}
    kvm = doc.get("kvm") or {}
    container = doc.get("container") or {}
    lines = [
        "### virtprobe detect",
        "",
        f"**{_detect_line_from_detect_doc(doc)}**",
        "",
        "| | |",
        "|---|---|",
        f"| host | {cell(host.get('platform'))} {cell(host.get('machine'))}, "
        f"kernel {cell(host.get('kernel'))}, "
        f"{cell(host.get('os_name'))} |",
        f"| cpu | {cell(cpu.get('model_name'))}; hardware virtualization: {cell(show_value(cpu.get('virt_tech')))} |",
        f"| /dev/kvm | present: {show_value(kvm.get('device_present'))}, usable: {show_value(kvm.get('usable'))}"
        + (f" ({cell(kvm.get('reason'))})" if kvm.get("reason") else "")
        + " |",
        f"| container | {cell(show_value(container.get('id')))}, "
        f"orchestrator {cell(show_value(container.get('orchestrator')))}, "
        f"cgroup v{cell(show_value(container.get('cgroup_version')))} |",
        "",
        f"<sub>{cell(doc.get('tool', {}).get('name'))} {cell(doc.get('tool', {}).get('version'))}, "
        f"schema {cell(doc.get('schema_version'))}, {cell(doc.get('created_utc'))}</sub>",
        "",
    ]
    return "\n".join(lines)


def baseline_label(baseline: dict[str, Any]) -> str:
    """ "simulated (source: …)" or "measured, accel tcg ⚠ …": never a bare number."""
    if baseline.get("kind") == "simulated":
        text = source_text(baseline)
        return "**simulated**" + (f" — source: {text}" if text else " — no source given")
    accel = baseline.get("accel")
    text = f"measured, accel {accel or 'unknown'}"
    if accel == "tcg":
        text += f" ⚠ {TCG_CAVEAT}"
    return text


def _ratio(vm: float | None, container: float | None) -> str:
    if vm is None or not container:
        return "–"
    return f"{vm / container:.1f}×" if vm / container >= 10 else f"{vm / container:.2f}×"


def render_bench_markdown(doc: dict[str, Any]) -> str:
    doc = recompute_summaries(doc)  # idempotent; summaries are never trusted from a file
    env = doc.get("environment") or {}
    docker = env.get("docker") or {}
    det = env.get("detect") or {}
    container = doc.get("container") or {}
    summary = container.get("summary") or {}
    opts = doc.get("options") or {}
    lines = [
        f"### virtprobe bench — {cell(env.get('hostname'))}, {cell(doc.get('created_utc'))}",
        "",
        f"**{detect_verdict_line(det.get('hypervisor'), det.get('vmm'), det.get('container'), det.get('cloud'), det.get('wsl'), det.get('kvm_usable'), det.get('kvm_module'))}**",  # noqa: E501
        "",
        f"Kernel {cell(env.get('kernel'))} · {cell(env.get('cpu_model'))} × {cell(env.get('cpu_count'))} · "
        f"Docker {cell(docker.get('engine_version'))} (containerd {cell(docker.get('containerd_version'))}, "
        f"runc {cell(docker.get('runc_version'))}, cgroup v{cell(docker.get('cgroup_version'))}) · "
        f"{cell(opts.get('runs'))} runs after {cell(opts.get('warmup'))} warmup",
        "",
        "#### Container startup",
        "",
        "| phase | median | p99 | n |",
        "|---|---:|---:|---:|",
    ]
    for phase in PHASES:
        s = summary.get(phase) or {}
        if s.get("n"):
            noisy = " (noisy)" if s.get("noisy") else ""
            lines.append(
                f"| {PHASE_LABELS[phase]}{noisy} | {format_value(s.get('median'), 's')} | "
                f"{format_value(s.get('p99'), 's')} | {s['n']} |"
            )
    parallel = container.get("parallel")
    if isinstance(parallel, dict) and parallel.get("containers_per_s") is not None:
        lines += [
            "",
            f"Parallel: {parallel['containers_per_s']:.2f} containers/s "
            f"with {cell(parallel.get('parallel'))} "
            f"at once ({cell(parallel.get('n'))} containers).",
        ]

    cont_mem, cont_mem_basis = container_memory_per_instance(container)
    memory = container.get("memory") or {}
    msum = memory.get("summary") or {}
    lines += ["", "#### Memory per instance", "", "| instance | memory | what |", "|---|---:|---|"]
    if (msum.get("cgroup_bytes") or {}).get("median") is not None:
        lines.append(
            f"| container | {format_value(msum['cgroup_bytes']['median'], 'bytes')} | "
            f"cgroup usage, median of {msum['cgroup_bytes']['n']} |"
        )
    if (msum.get("shim_pss_bytes") or {}).get("median") is not None:
        lines.append(
            f"| container shim | {format_value(msum['shim_pss_bytes']['median'], 'bytes')} | "
            "containerd-shim PSS, median |"
        )
    mem = container.get("memory") or {}
    for key, what in (
        ("host_kernel_anon_growth_bytes_per_container", "host kernel+anon memory growth per container"),
        ("host_available_drop_bytes_per_container", "host MemAvailable drop per container (noisy)"),
    ):
        value = mem.get(key)
        if isinstance(value, int | float) and value != cont_mem:
            lines.append(f"| host, per container | {format_value(value, 'bytes')} | {what} |")
    if cont_mem is not None:
        lines.append(f"| **container, total** | **{format_value(cont_mem, 'bytes')}** | {cell(cont_mem_basis)} |")
    baselines = (doc.get("vm") or {}).get("baselines") or []
    for b in baselines:
        value, basis = vm_memory(b)
        kind = "simulated" if b.get("kind") == "simulated" else f"measured, {b.get('accel') or 'unknown'}"
        lines.append(
            f"| {cell(b.get('label') or b.get('name'))} | {format_value(value, 'bytes')} | "
            f"{cell(basis)} ({cell(kind)}) |"
        )

    if baselines:
        phase = container_startup_phase(container)
        cont_start = (summary.get(phase) or {}).get("median")
        lines += [
            "",
            f"#### Containers vs VM baselines (ratio = VM median / container median; container startup = "
            f"{PHASE_LABELS[phase]}, {format_value(cont_start, 's')})",
            "",
            "| baseline | boot median | boot p99 | startup ratio | memory ratio | kind |",
            "|---|---:|---:|---:|---:|---|",
        ]
        for b in baselines:
            bs = b.get("boot_summary") or {}
            value, _ = vm_memory(b)
            lines.append(
                f"| {cell(b.get('label') or b.get('name'))} | {format_value(bs.get('median'), 's')} | "
                f"{format_value(bs.get('p99'), 's')} | {_ratio(bs.get('median'), cont_start)} | "
                f"{_ratio(value, cont_mem)} | {cell(baseline_label(b))} |"
            )
    ladder = floor_rows(container)
    if ladder:
        lines += ["", "#### Where Docker's time goes", "", "| what starts the probe | median | n |", "|---|---:|---:|"]
        lines += [
            f"| {cell(label)} | {format_value(med, 's') if n else 'not measured'} | {n} |" for label, med, n in ladder
        ]
        floor_notes = (container.get("floor") or {}).get("notes") or []
        if floor_notes:
            lines += ["", *(f"- {cell(note)}" for note in floor_notes)]
    hw = doc.get("hwvirt") or {}
    if hw:
        lines += ["", f"#### Hardware virtualization itself (/dev/kvm via {cell(hw.get('kvm_module'))}, no VMM)", ""]
        rows = hwvirt_rows(hw)
        if rows:
            lines += ["| measure | median |", "|---|---:|"]
            lines += [f"| {cell(label)} | {cell(value)} |" for label, value, _ in rows]
            verdict = (hw.get("near_native") or {}).get("verdict")
            if verdict:
                lines += ["", f"Verdict: {cell(verdict)}"]
        else:
            lines.append(f"Not available: {cell(hw.get('reason'))}")
    warnings = [w for w in doc.get("warnings") or () if isinstance(w, str)]
    if warnings:
        lines += ["", "#### Warnings", ""] + [f"- {cell(w)}" for w in warnings]
    lines += [
        "",
        f"<sub>{cell((doc.get('tool') or {}).get('name'))} {cell((doc.get('tool') or {}).get('version'))}, "
        f"schema {cell(doc.get('schema_version'))}, run {cell(doc.get('run_id'))}</sub>",
        "",
    ]
    return "\n".join(lines)


def render_markdown(doc: dict[str, Any]) -> str:
    """Markdown for one loaded detect or bench document."""
    if doc.get("kind") == KIND_DETECT:
        return render_detect_markdown(doc)
    if doc.get("kind") == KIND_BENCH:
        return render_bench_markdown(doc)
    raise ValueError(f"not a report kind: {doc.get('kind')!r}")
