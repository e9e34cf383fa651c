"""The detect page: plain-language verdicts first, then the ids, the checks and the evidence.

The summary says each verdict in words, with the source that decided it; the
details list the ids as the JSON holds them (and name the labels and gauges of
the Prometheus form); `detect --check` has a page of its own (`checks_page`).
Display names come from detection/names.py only.
"""

from __future__ import annotations

from collections.abc import Sequence

from virtprobe.detection.kvm import PVM_GUEST_NOTE
from virtprobe.detection.model import (
    DECISIVE,
    FAIL,
    NONE,
    OVERRULED,
    PASS,
    SUPPORTING,
    UNKNOWN,
    WARN,
    DetectResult,
    Evidence,
)
from virtprobe.detection.names import display_name
from virtprobe.lean_typing import TYPE_CHECKING
from virtprobe.report.page import Cell, Column, ColumnKind, Facts, Note, NoteKind, Page, Section, Table, Tone
from virtprobe.report.sections.common import detect_verdict_line, footer

if TYPE_CHECKING:  # a dataclass: `detect` and `detect --check` must not import `dataclasses`
    from virtprobe.report.envelope import Header


def _seen(evidence: list[Evidence], limit: int = 2) -> str:
    # Decisive rows first, then supporting rows that name something (a VMM, an
    # engine) before generic ones like the bare hypervisor flag.
    rows = sorted(
        (e for e in evidence if e.weight in (DECISIVE, SUPPORTING)),
        key=lambda e: (e.weight != DECISIVE, e.points_to is None),
    )[:limit]
    return " and ".join(f"{e.source} {e.value!r}" if e.value else e.source for e in rows)


def _topic(result: DetectResult, topic: str) -> list[Evidence]:
    return [e for e in result.evidence if e.topic == topic]


def _cpu(result: DetectResult) -> str:
    cpu = result.cpu
    tech = {None: "unknown", NONE: "none"}.get(cpu.virt_tech, display_name("cpu", cpu.virt_tech))
    line = f"{cpu.model_name or cpu.vendor or 'unknown CPU'} — hardware virtualization: {tech}"
    if cpu.virt_features:
        line += f" ({', '.join(cpu.virt_features[:6])}{', …' if len(cpu.virt_features) > 6 else ''})"
    if cpu.disabled_in_firmware:
        line += ", disabled in firmware"
    return line


def _kvm(result: DetectResult) -> str:
    kvm = result.kvm
    if kvm.usable:
        line = "usable" + (f" via {kvm.module}" if kvm.module else "")
        if result.cpu.virt_tech == NONE:
            line += " although the CPU shows no vmx/svm"
        if kvm.guest_exit:
            timing = f" in {kvm.probe_s * 1000:.1f} ms" if kvm.probe_s is not None else ""
            line += f": a guest ran to {kvm.guest_exit.removeprefix('KVM_EXIT_')}{timing}"
        return line
    if kvm.usable is False:
        return f"not usable — {kvm.reason or 'no reason recorded'}"
    if kvm.device_present is False:
        return "no /dev/kvm" + (f" — {kvm.reason}" if kvm.reason else "")
    return "unknown" + (f" — {kvm.reason}" if kvm.reason else "")


def _hypervisor(result: DetectResult) -> str:
    hv = result.hypervisor
    ev = _topic(result, "hypervisor")
    if hv.id is None:
        why = next((e.note for e in ev if e.source == "verdict: hypervisor" and e.note), "")
        return "unknown" + (f" — {why}" if why else "")
    seen = _seen(ev)
    if hv.id == NONE:
        extra = ""
        if hv.role in ("host", "dom0") and hv.layers:
            extra = f" (this is the {hv.role} of {display_name('hypervisor', hv.layers[0].id)})"
        return f"none{extra}" + (f" — {seen}" if seen else "")
    vmm = f" (VMM: {display_name('vmm', hv.vmm)})" if hv.vmm else ""
    if not hv.vmm and any(e.weight == UNKNOWN and "permission denied" in e.note for e in ev):
        # The ACPI tables that name Firecracker and others are readable by root only.
        vmm = " (VMM: not named; some firmware tables need root)"
    elif not hv.vmm and any(e.weight == UNKNOWN and "/sys/firmware is masked" in e.note for e in ev):
        vmm = " (VMM: not named; /sys/firmware is masked inside this container)"
    if hv.role in ("host", "dom0"):
        vmm += " — this machine is its host (root partition / dom0), not a guest"
    return f"{display_name('hypervisor', hv.id)}{vmm}" + (f" — seen in {seen}" if seen else "")


def _cloud(result: DetectResult) -> str:
    cloud = result.cloud
    if cloud.id is None:
        # Unknown says why, as every null does: e.g. a VMM (Firecracker) that writes no DMI.
        why = next((f"{e.source}: {e.note}" for e in _topic(result, "cloud") if e.weight == UNKNOWN and e.note), "")
        return "unknown" + (f" — {why}" if why else "")
    if cloud.id == NONE:
        return "none"
    extra = f" ({cloud.instance_type}{', bare metal' if cloud.bare_metal else ''})" if cloud.instance_type else ""
    return f"{display_name('cloud', cloud.id)}{extra}"


def _platform(result: DetectResult) -> str:
    """What manages this VM or container (detect schema 1.2), with the trail that shows it."""
    pf = result.platform
    if pf.id is None:
        why = next((e.note for e in _topic(result, "platform") if e.weight == UNKNOWN and e.note), "")
        return "unknown" + (f" — {why}" if why else "")
    if pf.id == NONE:
        return "none"
    kind = f" ({pf.kind.replace('-', ' ')})" if pf.kind else ""
    seen = _seen(_topic(result, "platform"))
    return f"{display_name('platform', pf.id)}{kind}" + (f" — seen in {seen}" if seen else "")


def _container(result: DetectResult) -> str:
    ct = result.container
    ev = _topic(result, "container")
    if ct.id == NONE:
        stale = [e for e in ev if e.weight == OVERRULED]
        if not stale:
            return "none"
        what = ", ".join(f"{e.source} {e.value}" for e in stale[:2])
        return f"none — {what} but is stale: PID, user, IPC and cgroup namespaces are the kernel's initial ones"
    if ct.id is None:
        why = next((e.note for e in ev if e.source == "container" and e.weight == UNKNOWN), "")
        return "unknown" + (f" — {why}" if why else "")
    orch = f" in {display_name('orchestrator', ct.orchestrator)}" if ct.orchestrator not in (None, NONE) else ""
    cg = f", cgroup v{ct.cgroup_version}" if ct.cgroup_version else ""
    what = display_name("container", ct.id)
    if result.host.platform == "win32" and ct.id == "container-other":
        what = "a Windows container (engine unknown)"
    rt = f" (runtime {ct.runtime})" if ct.runtime else ""
    stale_sources = [e.source for e in ev if e.weight == OVERRULED and e.note.startswith("stale marker")]
    tail = f"; {', '.join(stale_sources)} is a stale marker" if stale_sources else ""
    seen = _seen(ev)
    return f"{what}{rt}{orch}{cg}" + (f" — seen in {seen}" if seen else "") + tail


def _wsl(result: DetectResult) -> str:
    wsl = result.wsl
    if wsl.version:
        return f"version {wsl.version} — seen in {_seen(_topic(result, 'wsl'))}"
    if wsl.version == 0:
        if not wsl.distributions:
            return "none"
        ds = ", ".join(f"{'*' if d.default else ''}{d.name} (WSL{d.version}, {d.state})" for d in wsl.distributions)
        return f"this is the Windows host; distributions: {ds}"
    return "unknown"


def _cvm(result: DetectResult) -> str:
    cvm = result.cvm
    if cvm.id is None:
        return "unknown" + (f" — {cvm.reason}" if cvm.reason else "")
    if cvm.id == NONE:
        return "none"
    seen = _seen(_topic(result, "cvm"))
    return display_name("cvm", cvm.id) + (f" — seen in {seen}" if seen else "")


SUMMARY = (
    ("CPU", _cpu),
    ("KVM", _kvm),
    ("Hypervisor", _hypervisor),
    ("Cloud", _cloud),
    ("Platform", _platform),
    ("Container", _container),
    ("WSL", _wsl),
    ("Confidential VM", _cvm),
)


def summary_lines(result: DetectResult) -> list[str]:
    """One plain sentence per topic ("Container: Docker, cgroup v1 — seen in ...")."""
    return [f"{name}: {say(result)}" for name, say in SUMMARY]


def summary_section(result: DetectResult) -> Section:
    blocks: list[Facts | Note] = [Facts("detect.summary", tuple((n, Cell(say(result))) for n, say in SUMMARY))]
    if result.kvm.usable and result.kvm.module == "kvm_pvm":
        blocks.append(Note(f"KVM via kvm_pvm: {PVM_GUEST_NOTE}", NoteKind.caveat))
    return Section("detect.summary", "Verdicts", tuple(blocks))


def _join(values: Sequence[object]) -> str | None:
    return ", ".join(str(v) for v in values) or None


def details_section(result: DetectResult) -> Section:
    """The ids as the JSON holds them; the named ones are the Prometheus info labels and gauges."""
    host, cpu, kvm, hv, ct = result.host, result.cpu, result.kvm, result.hypervisor, result.container
    items: list[tuple[str, str | int | bool | None, str | None]] = [
        ("host", f"{host.os_name or 'unknown'} ({host.platform}, {host.machine})", None),
        ("kernel", host.kernel, None),
        ("source", host.source, None),
        ("CPU model", cpu.model_name, None),
        ("CPU virtualization", cpu.virt_tech, "cpu_virt"),
        ("CPU virtualization features", _join(cpu.virt_features), None),
        ("hypervisor bit", cpu.hypervisor_bit, "cpu_hypervisor_bit"),
        ("/dev/kvm present", kvm.device_present, "kvm_device_present"),
        ("KVM usable", kvm.usable, "kvm_usable"),
        ("KVM module", kvm.module, "kvm_module"),
        ("KVM nested", kvm.nested, "kvm_nested"),
        ("KVM: why", kvm.reason, None),
        ("hypervisor", hv.id, "hypervisor"),
        ("VMM", hv.vmm, "vmm"),
        ("hypervisor layers", _join([f"{x.id} ({x.source})" for x in hv.layers]), None),
        ("cloud", result.cloud.id, "cloud"),
        ("instance type", result.cloud.instance_type, None),
        ("platform", result.platform.id, "platform"),
        ("container", ct.id, "container"),
        ("orchestrator", ct.orchestrator, "orchestrator"),
        ("cgroup version", ct.cgroup_version, "cgroup_version"),
        ("container runtime", ct.runtime, None),
        ("WSL", result.wsl.id, "wsl"),
        ("confidential VM", result.cvm.id, "cvm"),
    ]
    facts = Facts(
        "detect.ids",
        tuple((name, Cell(value, "unknown" if value is None else None)) for name, value, _ in items),
        metric="detect",
        names=tuple(metric for _, _, metric in items),
    )
    return Section("detect.ids", "Details", (facts,))


STATUS_TONES = {PASS: Tone.good, WARN: Tone.warn, FAIL: Tone.bad}


def checks_table(result: DetectResult, targets: Sequence[str] | None = None) -> Table:
    """One row per check, as virt-host-validate lists them: status, what, why, and the fix."""
    # lazy: the check targets are detect's largest module; `detect` (the table, <= 1.5x virt-what)
    # builds this page without them, and only `detect --check` loads them.
    from virtprobe.detection.checks import TITLES

    rows = tuple(
        (
            Cell(c.status, c.status.upper(), STATUS_TONES.get(c.status, Tone.muted)),
            Cell(c.target, TITLES.get(c.target, c.target)),
            Cell(c.reason),
            Cell(c.fix),
        )
        for c in result.checks
        if targets is None or c.target in targets
    )
    columns = (
        Column("status", ColumnKind.status, metric="status"),
        Column("check", ColumnKind.label, metric="target"),
        Column("reason"),
        Column("fix"),
    )
    return Table("detect.checks", columns, rows, metric="detect_check")


def checks_section(result: DetectResult, targets: Sequence[str] | None = None) -> Section | None:
    if not result.checks:
        return None
    return Section("detect.checks", "Can this host run it?", (checks_table(result, targets),))


def evidence_section(result: DetectResult, all_evidence: bool) -> Section:
    rows = []
    for e in result.evidence:
        if not all_evidence and e.weight not in (DECISIVE, OVERRULED):
            continue
        value = e.value if len(e.value) <= 60 else e.value[:57] + "..."
        tone = Tone.muted if e.weight == UNKNOWN else Tone.plain
        rows.append((Cell(e.topic), Cell(e.weight, tone=tone), Cell(e.source), Cell(value), Cell(e.note)))
    columns = (Column("topic", ColumnKind.label), Column("weight", ColumnKind.status), Column("source"),
               Column("value"), Column("note"))  # fmt: skip
    title = "Evidence" + ("" if all_evidence else " (decisive and overruled rows; all of them with --evidence)")
    return Section("detect.evidence", title, (Table("detect.evidence", columns, tuple(rows)),))


def build_detect_page(result: DetectResult, header: Header | None = None, all_evidence: bool = False) -> Page:
    """The detect report: verdicts in words, the ids, the checks (with --check), the evidence."""
    sections = [summary_section(result), details_section(result)]
    checks = checks_section(result)
    if checks is not None:
        sections.append(checks)
    sections.append(evidence_section(result, all_evidence))
    return Page.of(
        "detect",
        f"virtprobe detect — {result.host.source}",
        tuple(sections),
        headline=detect_verdict_line(result),
        footer=footer(header),
    )


def build_checks_page(result: DetectResult, targets: Sequence[str] | None = None) -> Page:
    """`detect --check`: what this host can run (targets None: every check)."""
    if not result.checks:
        why = f"no checks: virtprobe checks Linux hosts only; this is {result.host.platform}"
        section = Section("detect.checks", "Checks", (Note(why, NoteKind.info),))
    else:
        section = Section("detect.checks", "Checks", (checks_table(result, targets),))
    return Page.of("detect-checks", f"Can this host run it? ({result.host.source})", (section,))
