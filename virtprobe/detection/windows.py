"""Windows host probe: systeminfo's Hyper-V block, wmic, CPUID and `wsl.exe -l -v`.

Windows hides VT-x from its own CPUID once Hyper-V (or VBS, WSL2, the Windows
Sandbox) runs: the host becomes the root partition of the hypervisor. Then
systeminfo prints "A hypervisor has been detected. Features required for
Hyper-V will not be displayed." instead of the four requirement lines. CPUID
leaf 0x40000003 EBX bit 0 (CreatePartitions, Hyper-V TLFS 6.0 section 2.4.4) is
set only in the root partition, which tells a Hyper-V host from a Hyper-V guest.
A Surface laptop says "Microsoft Corporation" in System Manufacturer and is not
a VM: only the model "Virtual Machine" means a Hyper-V guest.
"""

from __future__ import annotations

import re

from virtprobe.detection.cloud import CloudFacts, decide_cloud, guest_of
from virtprobe.detection.model import (
    CONSIDERED,
    DECISIVE,
    NONE,
    OVERRULED,
    SUPPORTING,
    UNKNOWN,
    CloudResult,
    ContainerResult,
    CpuResult,
    DetectResult,
    Evidence,
    HostInfo,
    HypervisorResult,
    KvmResult,
    Layer,
    WslResult,
)
from virtprobe.detection.tables import clouds as TCL
from virtprobe.detection.tables import cpuid as TC
from virtprobe.detection.tables import dmi as TD
from virtprobe.detection.wsl_list import parse_wsl_list
from virtprobe.lean_typing import NamedTuple
from virtprobe.machine.source import Source

COMMANDS = ("systeminfo", "wsl.exe -l -v", "wmic computersystem", "sc.exe query cexecsvc")

# CExecSvc, the Container Execution Agent, is the service through which the host's
# Host Compute Service runs processes inside a Windows container; the Windows base
# images start it and a Windows host does not have it. That is from Microsoft's
# container documentation and the images' service lists, not checked on a Windows
# machine here. `sc query` fails with error 1060 for a service that does not exist.
CONTAINER_AGENT = "cexecsvc"
CPUID_LEAVES = (0x0, 0x1, 0x80000000, 0x80000001, 0x40000000, 0x40000003)

# The CPUID signatures, DMI strings and cloud rules are the shared tables (detection/tables/):
# systeminfo's System Manufacturer is DMI sys_vendor and System Model is product_name.
# Clouds whose own hypervisor a DMI string names: CPUID's signature is the layer below.
_CLOUD_HYPERVISORS = ("amazon", "google")


def parse_systeminfo(text: str) -> dict[str, str]:
    """`systeminfo` as "Key: value" pairs; continuation lines join their key's value with "; "."""
    out: dict[str, str] = {}
    key: str | None = None
    for raw in text.replace("\r\n", "\n").split("\n"):
        if not raw.strip():
            continue
        m = re.match(r"^(\S[^:]*?):\s*(.*)$", raw)
        if m and not raw.startswith(" "):
            key = m.group(1).strip()
            out[key] = m.group(2).strip()
        elif key is not None:
            out[key] = (out[key] + "; " if out[key] else "") + raw.strip()
    return out


class HyperVRequirements(NamedTuple):
    hypervisor_detected: bool
    vm_monitor_mode: bool | None = None
    enabled_in_firmware: bool | None = None
    slat: bool | None = None
    dep: bool | None = None


def parse_hyperv_requirements(value: str) -> HyperVRequirements | None:
    """The "Hyper-V Requirements" value of parse_systeminfo()."""
    if not value:
        return None
    if "hypervisor has been detected" in value.lower():
        return HyperVRequirements(hypervisor_detected=True)

    def yes(label: str) -> bool | None:
        m = re.search(re.escape(label) + r":\s*(Yes|No)", value, re.IGNORECASE)
        return None if m is None else m.group(1).lower() == "yes"

    return HyperVRequirements(
        hypervisor_detected=False,
        vm_monitor_mode=yes("VM Monitor Mode Extensions"),
        enabled_in_firmware=yes("Virtualization Enabled In Firmware"),
        slat=yes("Second Level Address Translation"),
        dep=yes("Data Execution Prevention Available"),
    )


def parse_wmic_list(text: str) -> dict[str, str]:
    """`wmic ... /format:list` output: Key=Value lines."""
    out = {}
    for line in text.replace("\r", "").split("\n"):
        k, sep, v = line.partition("=")
        if sep and k.strip():
            out[k.strip()] = v.strip()
    return out


def parse_sc_query(text: str) -> str | None:
    """Pure: a service's state from `sc.exe query NAME` ("RUNNING", "STOPPED", ...),
    "absent" for error 1060 (no such service), or None when the output says neither."""
    if re.search(r"\b1060\b", text):
        return "absent"
    m = re.search(r"^\s*STATE\s*:\s*\d+\s+([A-Z_]+)", text, re.MULTILINE)
    return m.group(1) if m else None


def decode_console(raw: bytes) -> str:
    """Console tools write the OEM code page, or UTF-16LE (wmic); decode either."""
    if raw.startswith(b"\xff\xfe") or (len(raw) > 4 and raw[1:8:2].count(0) >= 3):
        return raw.decode("utf-16-le", errors="replace").lstrip("\ufeff")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp437", errors="replace")


def _sig(b: int, c: int, d: int) -> str:
    raw = b.to_bytes(4, "little") + c.to_bytes(4, "little") + d.to_bytes(4, "little")
    return raw.decode("latin-1").rstrip("\0")


class WindowsFacts(NamedTuple):
    """What the Windows sources said, before anything is decided."""

    si: dict[str, str]  # systeminfo, parsed; empty when it gave no output
    si_reason: str | None  # why systeminfo gave nothing
    req: HyperVRequirements | None
    wm: dict[str, str]  # wmic computersystem, parsed
    manufacturer: str | None
    model: str | None
    vendor: str | None  # CPUID 0 vendor, or PROCESSOR_IDENTIFIER's last field
    model_name: str | None
    vmx: bool | None
    svm: bool | None
    hv_bit: bool | None
    leaf1_reason: str | None
    present: bool | None  # a hypervisor runs: CPUID bit, then systeminfo, then wmic
    sig: str | None  # the CPUID 0x40000000 signature, read only when a hypervisor is present
    root_partition: bool | None  # Hyper-V's CreatePartitions privilege (CPUID 0x40000003 EBX bit 0)


def read_windows(src: Source) -> WindowsFacts:
    """Run the readers: systeminfo, wmic, CPUID and the environment. Decides nothing."""
    si_l = src.command("systeminfo")
    si = parse_systeminfo(decode_console(si_l.value)) if si_l.ok else {}
    req = parse_hyperv_requirements(si.get("Hyper-V Requirements", ""))
    wm_l = src.command("wmic computersystem")
    wm = parse_wmic_list(decode_console(wm_l.value)) if wm_l.ok else {}
    leaf0, leaf1, ext1 = src.cpuid(0), src.cpuid(1), src.cpuid(0x80000001)
    vendor = _sig(leaf0.value.ebx, leaf0.value.edx, leaf0.value.ecx) if leaf0.ok else None
    ident = src.env.get("PROCESSOR_IDENTIFIER")
    if vendor is None and ident and "," in ident:
        vendor = ident.rsplit(",", 1)[1].strip()
    hv_bit = bool(leaf1.value.ecx >> 31 & 1) if leaf1.ok else None
    present = hv_bit
    if present is None and req is not None:
        present = req.hypervisor_detected
    if present is None and wm.get("HypervisorPresent"):
        present = wm["HypervisorPresent"].upper() == "TRUE"
    sig = None
    leaf_hv = src.cpuid(0x40000000)
    if leaf_hv.ok and present:
        sig = _sig(leaf_hv.value.ebx, leaf_hv.value.ecx, leaf_hv.value.edx)
    root_partition = None
    l3 = src.cpuid(0x40000003)
    if l3.ok and TC.signature_id(sig or "", "") == "microsoft":
        root_partition = bool(l3.value.ebx & 1)
    return WindowsFacts(
        si=si,
        si_reason=None if si_l.ok else (si_l.reason or "no output"),
        req=req,
        wm=wm,
        manufacturer=si.get("System Manufacturer") or wm.get("Manufacturer"),
        model=si.get("System Model") or wm.get("Model"),
        vendor=vendor,
        model_name=_processor_from_systeminfo(si.get("Processor(s)", "")) or ident,
        vmx=bool(leaf1.value.ecx >> 5 & 1) if leaf1.ok else None,
        svm=bool(ext1.value.ecx >> 2 & 1) if ext1.ok else None,
        hv_bit=hv_bit,
        leaf1_reason=leaf1.reason,
        present=present,
        sig=sig,
        root_partition=root_partition,
    )


# --- the per-topic probes: the same names as on Linux and macOS (probe_cpu, probe_hypervisor, ...) ---


def _facts(src: Source) -> WindowsFacts:
    """The Windows facts, read once per source: every per-topic probe needs them."""
    return src.once("windows", lambda: read_windows(src))


def probe_cpu(src: Source) -> tuple[CpuResult, list[Evidence]]:
    ev: list[Evidence] = []
    return decide_cpu(_facts(src), ev), ev


def probe_hypervisor(src: Source) -> tuple[HypervisorResult, list[Evidence]]:
    ev: list[Evidence] = []
    return decide_hypervisor(_facts(src), ev), ev


def probe_cloud(src: Source, hypervisor: HypervisorResult) -> tuple[CloudResult, list[Evidence]]:
    ev: list[Evidence] = []
    f = _facts(src)
    return _cloud(f.manufacturer, f.model, hypervisor, ev), ev


def probe_kvm(src: Source) -> tuple[KvmResult, list[Evidence]]:
    kvm = KvmResult(
        device_present=False,
        openable=False,
        usable=None,
        module=None,
        nested=None,
        reason="no /dev/kvm on Windows (Hyper-V/WHPX is Windows' hypervisor API)",
    )
    return kvm, [Evidence("kvm", "/dev/kvm", "", CONSIDERED, None, "no /dev/kvm on Windows")]


def probe_container(src: Source) -> tuple[ContainerResult, list[Evidence]]:
    ev: list[Evidence] = []
    return _container(src, ev), ev


def probe_wsl(src: Source) -> tuple[WslResult, list[Evidence]]:
    ev: list[Evidence] = []
    return _wsl_host(src, ev), ev


def probe_windows(src: Source) -> DetectResult:
    """The whole detect result of a Windows host, from its own sources. Never raises."""
    f = _facts(src)
    ev: list[Evidence] = []
    if f.si_reason is not None:
        ev.append(Evidence("host", "command: systeminfo", "", UNKNOWN, None, f.si_reason))
    cpu, cpu_ev = probe_cpu(src)
    hypervisor, hv_ev = probe_hypervisor(src)
    cloud, cloud_ev = probe_cloud(src, hypervisor)
    kvm, kvm_ev = probe_kvm(src)
    container, ct_ev = probe_container(src)
    wsl, wsl_ev = probe_wsl(src)
    ev += [*cpu_ev, *hv_ev, *cloud_ev, *kvm_ev, *ct_ev, *wsl_ev]
    host = HostInfo(
        platform="win32",
        machine=src.machine,
        kernel=f.si.get("OS Version"),
        os_name=f.si.get("OS Name"),
        source=src.describe(),
    )
    return DetectResult(
        host=host,
        cpu=cpu,
        kvm=kvm,
        hypervisor=hypervisor,
        cloud=cloud,
        container=container,
        wsl=wsl,
        evidence=tuple(ev),
    )


def decide_cpu(f: WindowsFacts, ev: list[Evidence]) -> CpuResult:
    """CPUID's VMX/SVM bits first, then systeminfo's requirement lines; a running Hyper-V hides both."""
    req = f.req
    virt_tech: str | None
    disabled: bool | None = None
    if f.vmx or f.svm:
        virt_tech = "vt-x" if f.vmx else "amd-v"
        ev.append(Evidence("cpu", "cpuid 0x1/0x80000001", "vmx" if f.vmx else "svm", DECISIVE, virt_tech))
    elif req is not None and not req.hypervisor_detected and req.vm_monitor_mode is not None:
        virt_tech = _tech_for(f.vendor) if req.vm_monitor_mode else "none"
        disabled = req.enabled_in_firmware is False if req.vm_monitor_mode else None
        value = (
            f"VM Monitor Mode Extensions: {'Yes' if req.vm_monitor_mode else 'No'}; "
            f"Virtualization Enabled In Firmware: {_yn(req.enabled_in_firmware)}"
        )
        ev.append(Evidence("cpu", "command: systeminfo: Hyper-V Requirements", value, DECISIVE, virt_tech))
    elif req is not None and req.hypervisor_detected:
        # Hyper-V hides VMX/SVM from the root partition: the CPU has it (Hyper-V runs), but we cannot see it.
        virt_tech = _tech_for(f.vendor)
        note = "a running hypervisor hides VT-x/AMD-V from Windows' own CPUID"
        source = "command: systeminfo: Hyper-V Requirements"
        ev.append(Evidence("cpu", source, "A hypervisor has been detected", SUPPORTING, virt_tech, note))
    else:
        virt_tech = None
        ev.append(Evidence("cpu", "cpuid 0x1", "", UNKNOWN, None, f.leaf1_reason or "no systeminfo Hyper-V block"))
    return CpuResult(
        vendor=f.vendor,
        model_name=f.model_name,
        virt_tech=virt_tech,
        disabled_in_firmware=disabled,
        hypervisor_bit=f.hv_bit if f.hv_bit is not None else (req.hypervisor_detected if req else None),
    )


def decide_hypervisor(f: WindowsFacts, ev: list[Evidence]) -> HypervisorResult:
    """DMI's VM models first, then a running Hyper-V as this host's root partition, then CPUID's signature."""
    sig_id = (TC.signature_id(f.sig, "") or None) if f.sig else None
    layers = [Layer(sig_id, "cpuid 0x40000000", f.sig)] if sig_id else []
    vm_from_dmi = _vm_from_model(f.manufacturer, f.model)
    dmi = ("command: systeminfo: System Manufacturer/Model", f"{f.manufacturer} / {f.model}")
    hyp_id: str | None
    role: str | None
    if vm_from_dmi and vm_from_dmi not in _CLOUD_HYPERVISORS:
        hyp_id, role = vm_from_dmi, "guest"
        ev.append(Evidence("hypervisor", *dmi, DECISIVE, vm_from_dmi))
    elif vm_from_dmi:
        hyp_id, role = sig_id or vm_from_dmi, "guest"
        note = "a cloud's own machine; CPUID names the hypervisor below it (EC2: Nitro/KVM or Xen; GCE: KVM)"
        ev.append(Evidence("hypervisor", *dmi, DECISIVE, hyp_id, note))
    elif f.present and (
        f.root_partition or (f.root_partition is None and f.manufacturer and sig_id in (None, "microsoft"))
    ):
        # Hyper-V (or VBS) runs under this Windows, which is its root partition: a host, not a guest.
        # Another hypervisor's signature (KVM under an unlisted vendor's DMI) is a guest, below.
        # Like Xen dom0 (hypervisor.py): the hypervisor is there, and this OS is its host.
        hyp_id, role = "microsoft", "host"
        if not layers:
            layers.append(Layer("microsoft", "command: systeminfo", None))
        note = f"Windows is Hyper-V's root partition on {f.manufacturer} {f.model} hardware" + (
            " (CPUID 0x40000003 EBX CreatePartitions set)" if f.root_partition else ""
        )
        source = "command: systeminfo: Hyper-V Requirements"
        ev.append(Evidence("hypervisor", source, "A hypervisor has been detected", DECISIVE, "microsoft", note))
    elif f.present is False:
        hyp_id, role = NONE, None
        source = "command: systeminfo: Hyper-V Requirements"
        ev.append(Evidence("hypervisor", source, "requirements listed: no hypervisor", DECISIVE, NONE))
    elif f.present and sig_id:
        hyp_id, role = sig_id, "guest"
        ev.append(Evidence("hypervisor", "cpuid 0x40000000", sig_id, DECISIVE, sig_id))
    else:
        hyp_id, role = None, None
        ev.append(Evidence("hypervisor", "command: systeminfo", "", UNKNOWN, None, "no hypervisor facts"))
    if f.present is not None and f.req is None and f.wm.get("HypervisorPresent"):
        source = "command: wmic computersystem: HypervisorPresent"
        ev.append(Evidence("hypervisor", source, f.wm["HypervisorPresent"], SUPPORTING))
    return HypervisorResult(id=hyp_id, vmm=None, layers=tuple(layers), role=role)


def _wsl_host(src: Source, ev: list[Evidence]) -> WslResult:
    """On the Windows host WSL is never "inside"; its distributions are listed."""
    wsl_l = src.command("wsl.exe -l -v")
    distros = parse_wsl_list(wsl_l.value) if wsl_l.ok else ()
    if wsl_l.ok:
        value = ", ".join(f"{d.name} (WSL{d.version})" for d in distros) or "none"
        note = "this is the Windows host; its WSL distributions are listed"
        ev.append(Evidence("wsl", "command: wsl.exe -l -v", value, DECISIVE, NONE, note))
    else:
        ev.append(Evidence("wsl", "command: wsl.exe -l -v", "", CONSIDERED, NONE, wsl_l.reason or "no output"))
    return WslResult(version=0, distributions=distros)


def _container(src: Source, ev: list[Evidence]) -> ContainerResult:
    """A Windows container runs the Container Execution Agent; a Windows host has no such service."""
    source = f"command: sc.exe query {CONTAINER_AGENT}"
    got = src.command(f"sc.exe query {CONTAINER_AGENT}")
    state = parse_sc_query(decode_console(got.value)) if got.ok else None
    if state == "RUNNING":
        note = "CExecSvc, the Container Execution Agent, runs only inside a Windows container"
        ev.append(Evidence("container", source, "RUNNING", DECISIVE, "container-other", note))
        return ContainerResult(id="container-other", orchestrator=None, cgroup_version=None)
    if state == "absent":
        note = "no Container Execution Agent: not a Windows container"
        ev.append(Evidence("container", source, "no such service (1060)", DECISIVE, NONE, note))
        return ContainerResult(id=NONE, orchestrator=NONE, cgroup_version=None)
    why = f"service state {state}" if state else (got.reason or "output not understood")
    ev.append(Evidence("container", source, state or "", UNKNOWN, None, why))
    return ContainerResult(id=None, orchestrator=None, cgroup_version=None)


def _processor_from_systeminfo(value: str) -> str | None:
    m = re.search(r"\[01\]:\s*(.+?)(?:;|$)", value)
    return m.group(1).strip() if m else None


def _tech_for(vendor: str | None) -> str | None:
    if vendor == "GenuineIntel":
        return "vt-x"
    if vendor == "AuthenticAMD":
        return "amd-v"
    return None


def _yn(v: bool | None) -> str:
    return "?" if v is None else ("Yes" if v else "No")


def _vm_from_model(manufacturer: str | None, model: str | None) -> str | None:
    """The hypervisor a System Manufacturer/Model pair names, from the shared DMI table."""
    values = {"sys_vendor": (manufacturer or "").strip(), "product_name": (model or "").strip()}
    return next((h.id for h in TD.dmi_hypervisor(values) if h.id), None)


def _cloud(
    manufacturer: str | None, model: str | None, hypervisor: HypervisorResult, ev: list[Evidence]
) -> CloudResult:
    """The shared cloud rules on what systeminfo shows (sys_vendor and product_name only)."""
    source = "command: systeminfo: System Manufacturer/Model"
    if not manufacturer:
        ev.append(Evidence("cloud", "command: systeminfo: System Manufacturer", "", UNKNOWN, None, "no manufacturer"))
        return CloudResult(id=None)
    facts = {"dmi:sys_vendor": manufacturer.strip(), "dmi:product_name": (model or "").strip()}
    unread = tuple(f for f in TD.FILES if f not in ("sys_vendor", "product_name"))
    cf = CloudFacts(facts, {}, True, "", unread)
    hits = TCL.match_rules(facts)
    v = decide_cloud(hits, guest_of(hypervisor), False, hypervisor.id, cf)
    shown = f"{manufacturer} / {model}"
    if v.decisive is not None:
        ev.append(Evidence("cloud", source, shown, DECISIVE, v.id, f"rule: {v.decisive.rule.cite}"))
    else:
        weight = UNKNOWN if v.id is None else (OVERRULED if hits else CONSIDERED)
        ev.append(Evidence("cloud", source, shown, weight, v.id, v.note))
    instance = (model or None) if v.id == "amazon" else None
    return CloudResult(id=v.id, instance_type=instance, bare_metal=v.bare_metal)
