"""Render a detect result for people: plain-language verdicts first, then sections and evidence.

Pure: the result in, a Rich renderable out. Golden tests print it to a
Console(width=100, no colour).
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from virtprobe.detection.kvm import PVM_GUEST_NOTE
from virtprobe.detection.model import (
    DECISIVE,
    NONE,
    OVERRULED,
    SUPPORTING,
    UNKNOWN,
    DetectResult,
    Evidence,
    show_value,
)
from virtprobe.detection.names import display_name


def _seen(evidence: list[Evidence], limit: int = 2) -> str:
    # Decisive rows first, then supporting rows that name something (a VMM, an
    # engine) before generic ones like the bare hypervisor flag.
    rows = sorted(
        (e for e in evidence if e.weight in (DECISIVE, SUPPORTING)),
        key=lambda e: (e.weight != DECISIVE, e.points_to is None),
    )[:limit]
    parts = [f"{e.source} {e.value!r}" if e.value else e.source for e in rows]
    return " and ".join(parts)


def _topic(result: DetectResult, topic: str) -> list[Evidence]:
    return [e for e in result.evidence if e.topic == topic]


def summary_lines(result: DetectResult) -> list[str]:
    """One plain sentence per section."""
    lines: list[str] = []
    cpu = result.cpu
    cpu_name = cpu.model_name or cpu.vendor or "unknown CPU"
    tech = {None: "unknown", NONE: "none"}.get(cpu.virt_tech, display_name("cpu", cpu.virt_tech))
    line = f"CPU: {cpu_name} — hardware virtualization: {tech}"
    if cpu.virt_features:
        line += f" ({', '.join(cpu.virt_features[:6])}{', …' if len(cpu.virt_features) > 6 else ''})"
    if cpu.disabled_in_firmware:
        line += ", disabled in firmware"
    lines.append(line)

    kvm = result.kvm
    if kvm.usable:
        via = f" via {kvm.module}" if kvm.module else ""
        line = f"KVM: usable{via}"
        if cpu.virt_tech == NONE:
            line += " although the CPU shows no vmx/svm"
        if kvm.guest_exit:
            exit_name = kvm.guest_exit.removeprefix("KVM_EXIT_")
            timing = f" in {kvm.probe_s * 1000:.1f} ms" if kvm.probe_s is not None else ""
            line += f": a guest ran to {exit_name}{timing}"
        lines.append(line)
        if kvm.module == "kvm_pvm":
            lines.append(f"     but {PVM_GUEST_NOTE}")
    elif kvm.usable is False:
        lines.append(f"KVM: not usable — {kvm.reason or 'no reason recorded'}")
    elif kvm.device_present is False:
        lines.append(f"KVM: no /dev/kvm{' — ' + kvm.reason if kvm.reason else ''}")
    else:
        lines.append(f"KVM: unknown{' — ' + kvm.reason if kvm.reason else ''}")

    hv = result.hypervisor
    hv_ev = _topic(result, "hypervisor")
    if hv.id is None:
        why = next((e.note for e in hv_ev if e.source == "verdict: hypervisor" and e.note), "")
        lines.append("Hypervisor: unknown" + (f" — {why}" if why else ""))
    elif hv.id == NONE:
        extra = ""
        if hv.role in ("host", "dom0") and hv.layers:
            extra = f" (this is the {hv.role} of {display_name('hypervisor', hv.layers[0].id)})"
        seen = _seen(hv_ev)
        lines.append(f"Hypervisor: none{extra}" + (f" — {seen}" if seen else ""))
    else:
        vmm = f" (VMM: {display_name('vmm', hv.vmm)})" if hv.vmm else ""
        if not hv.vmm and any(e.weight == UNKNOWN and "permission denied" in e.note for e in hv_ev):
            # The ACPI tables that name Firecracker and others are readable by root only.
            vmm = " (VMM: not named; some firmware tables need root)"
        elif not hv.vmm and any(e.weight == UNKNOWN and "/sys/firmware is masked" in e.note for e in hv_ev):
            vmm = " (VMM: not named; /sys/firmware is masked inside this container)"
        if hv.role in ("host", "dom0"):
            vmm += " — this machine is its host (root partition / dom0), not a guest"
        seen = _seen(hv_ev)
        lines.append(f"Hypervisor: {display_name('hypervisor', hv.id)}{vmm}" + (f" — seen in {seen}" if seen else ""))

    cloud = result.cloud
    if cloud.id is None:
        # Unknown says why, as every null does: e.g. a VMM (Firecracker) that writes no DMI.
        why = next((f"{e.source}: {e.note}" for e in _topic(result, "cloud") if e.weight == UNKNOWN and e.note), "")
        lines.append("Cloud: unknown" + (f" — {why}" if why else ""))
    elif cloud.id == NONE:
        lines.append("Cloud: none")
    else:
        extra = (
            f" ({cloud.instance_type}{', bare metal' if cloud.bare_metal else ''})"
            if cloud.instance_type
            else ""
        )
        lines.append(f"Cloud: {display_name('cloud', cloud.id)}{extra}")

    ct = result.container
    ct_ev = _topic(result, "container")
    if ct.id == NONE:
        stale = [e for e in ct_ev if e.weight == OVERRULED]
        if stale:
            what = ", ".join(f"{e.source} {e.value}" for e in stale[:2])
            lines.append(
                f"Container: none — {what} but is stale: PID, user, IPC and cgroup namespaces"
                " are the kernel's initial ones"
            )
        else:
            lines.append("Container: none")
    elif ct.id is None:
        why = next((e.note for e in ct_ev if e.source == "container" and e.weight == UNKNOWN), "")
        lines.append("Container: unknown" + (f" — {why}" if why else ""))
    else:
        orch = f" in {display_name('orchestrator', ct.orchestrator)}" if ct.orchestrator not in (None, NONE) else ""
        cg = f", cgroup v{ct.cgroup_version}" if ct.cgroup_version else ""
        seen = _seen(ct_ev)
        what = display_name("container", ct.id)
        if result.host.platform == "win32" and ct.id == "container-other":
            what = "a Windows container (engine unknown)"
        rt = f" (runtime {ct.runtime})" if ct.runtime else ""
        stale_sources = [e.source for e in ct_ev if e.weight == OVERRULED and e.note.startswith("stale marker")]
        tail = f"; {', '.join(stale_sources)} is a stale marker" if stale_sources else ""
        lines.append(f"Container: {what}{rt}{orch}{cg}" + (f" — seen in {seen}" if seen else "") + tail)

    wsl = result.wsl
    if wsl.version:
        lines.append(f"WSL: version {wsl.version}" + (f" — seen in {_seen(_topic(result, 'wsl'))}"))
    elif wsl.version == 0:
        if wsl.distributions:
            ds = ", ".join(
                f"{'*' if d.default else ''}{d.name} (WSL{d.version}, {d.state})" for d in wsl.distributions
            )
            lines.append(f"WSL: this is the Windows host; distributions: {ds}")
        else:
            lines.append("WSL: none")
    else:
        lines.append("WSL: unknown")

    cvm = result.cvm
    if cvm.id is None:
        lines.append(f"Confidential VM: unknown{' — ' + cvm.reason if cvm.reason else ''}")
    elif cvm.id == NONE:
        lines.append("Confidential VM: none")
    else:
        seen = _seen(_topic(result, "cvm"))
        lines.append(f"Confidential VM: {display_name('cvm', cvm.id)}" + (f" — seen in {seen}" if seen else ""))
    return lines


def _fmt(v: object) -> str:
    if isinstance(v, (list, tuple)):
        return ", ".join(str(x) for x in v) or "-"
    return show_value(v)


def sections_table(result: DetectResult) -> Table:
    table = Table(title=None, show_header=True, header_style="bold", expand=False)
    table.add_column("section")
    table.add_column("field")
    table.add_column("value", overflow="fold")
    host = result.host
    table.add_row("host", "os", f"{host.os_name or 'unknown'} ({host.platform}, {host.machine})")
    table.add_row("", "kernel", _fmt(host.kernel))
    table.add_row("", "source", host.source)
    cpu = result.cpu
    table.add_row("cpu", "model", _fmt(cpu.model_name))
    table.add_row("", "virt tech", _fmt(cpu.virt_tech))
    if cpu.virt_features:
        table.add_row("", "features", _fmt(cpu.virt_features))
    table.add_row("", "hypervisor bit", _fmt(cpu.hypervisor_bit))
    kvm = result.kvm
    table.add_row("kvm", "usable", _fmt(kvm.usable))
    table.add_row("", "module", _fmt(kvm.module))
    table.add_row("", "nested", _fmt(kvm.nested))
    hv = result.hypervisor
    table.add_row("hypervisor", "id", _fmt(hv.id))
    table.add_row("", "vmm", _fmt(hv.vmm))
    if hv.layers:
        table.add_row("", "layers", ", ".join(f"{x.id} ({x.source})" for x in hv.layers))
    table.add_row("cloud", "id", _fmt(result.cloud.id))
    if result.cloud.instance_type:
        table.add_row("", "instance type", result.cloud.instance_type)
    ct = result.container
    table.add_row("container", "id", _fmt(ct.id))
    table.add_row("", "orchestrator", _fmt(ct.orchestrator))
    table.add_row("", "cgroup version", _fmt(ct.cgroup_version))
    if ct.runtime:
        table.add_row("", "runtime", ct.runtime)
    table.add_row("wsl", "version", _fmt(result.wsl.version))
    table.add_row("cvm", "id", _fmt(result.cvm.id))
    return table


def evidence_table(result: DetectResult, all_evidence: bool) -> Table:
    table = Table(show_header=True, header_style="bold")
    table.add_column("topic")
    table.add_column("weight")
    table.add_column("source", overflow="fold")
    table.add_column("value", overflow="fold", max_width=30)
    table.add_column("note", overflow="fold")
    for e in result.evidence:
        if not all_evidence and e.weight not in (DECISIVE, OVERRULED):
            continue
        value = e.value if len(e.value) <= 60 else e.value[:57] + "..."
        table.add_row(e.topic, e.weight, e.source, value, e.note)
    return table


def check_lines(result: DetectResult, targets: list[str] | None = None) -> list[str]:
    """Lines as virt-host-validate prints them: STATUS, what, why; then the fix, indented."""
    from virtprobe.detection.checks import TITLES

    lines = []
    for c in result.checks:
        if targets is not None and c.target not in targets:
            continue
        lines.append(f"{c.status.upper():<7} {TITLES.get(c.target, c.target)}: {c.reason}")
        if c.fix:
            lines.append(f"{'':<7} fix: {c.fix}")
    return lines


def render_checks(result: DetectResult, targets: list[str] | None = None) -> RenderableType:
    """`detect --check`: what this host can run (targets None: every check)."""
    if not result.checks:
        why = f"no checks: virtprobe checks Linux hosts only; this is {result.host.platform}"
        return Text(why)
    from virtprobe.detection.checks import TITLES

    # A borderless grid: the status in its own column, so wrapped reasons keep their indent.
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for c in result.checks:
        if targets is not None and c.target not in targets:
            continue
        body = f"{TITLES.get(c.target, c.target)}: {c.reason}" + (f"\nfix: {c.fix}" if c.fix else "")
        grid.add_row(c.status.upper(), body)
    return Group(Text(f"Can this host run it? ({result.host.source})"), Text(""), grid)


def render_detect(result: DetectResult, all_evidence: bool = False) -> RenderableType:
    summary = Text("\n".join(summary_lines(result)))
    title = Text("Evidence" + (" (all)" if all_evidence else " (decisive and overruled; --evidence for all)"))
    return Group(
        summary, Text(""), sections_table(result), Text(""), title, evidence_table(result, all_evidence)
    )
