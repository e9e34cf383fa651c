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
from collections.abc import Callable
from dataclasses import dataclass

from virtprobe.detect.model import (
    CONSIDERED,
    DECISIVE,
    NONE,
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
from virtprobe.detect.wsl import parse_wsl_list
from virtprobe.machine.source import Source

COMMANDS = ("systeminfo", "wsl.exe -l -v", "wmic computersystem", "sc.exe query cexecsvc")

# CExecSvc, the Container Execution Agent, is the service through which the host's
# Host Compute Service runs processes inside a Windows container; the Windows base
# images start it and a Windows host does not have it. That is from Microsoft's
# container documentation and the images' service lists, not checked on a Windows
# machine here. `sc query` fails with error 1060 for a service that does not exist.
CONTAINER_AGENT = "cexecsvc"
CPUID_LEAVES = (0x0, 0x1, 0x80000000, 0x80000001, 0x40000000, 0x40000003)

# Hypervisor vendor signatures (CPUID 0x40000000 EBX:ECX:EDX) -> systemd ids.
SIGNATURES = {
    "Microsoft Hv": "microsoft",
    "KVMKVMKVM": "kvm",
    "VMwareVMware": "vmware",
    "XenVMMXenVMM": "xen",
    "TCGTCGTCGTCG": "qemu",
    "VBoxVBoxVBox": "oracle",
    "prl hyperv": "parallels",
    " lrpepyh  vr": "parallels",
    "bhyve bhyve": "bhyve",
    "ACRNACRNACRN": "acrn",
    "QNXQVMBSQG": "qnx",
}

# System Manufacturer / Model pairs that mean a VM, checked in order. The
# Surface trap: "Microsoft Corporation" alone is a laptop maker.
_VM_MODELS: tuple[tuple[str, str, str], ...] = (
    ("microsoft corporation", "virtual machine", "microsoft"),
    ("vmware", "", "vmware"),
    ("innotek gmbh", "", "oracle"),
    ("qemu", "", "qemu"),
    ("xen", "", "xen"),
    ("parallels", "", "parallels"),
    ("amazon ec2", "", "amazon"),
    ("google", "google compute engine", "kvm"),
)


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


@dataclass(frozen=True)
class HyperVRequirements:
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


def probe_windows(src: Source) -> DetectResult:
    """The whole detect result of a Windows host, from its own sources. Never raises."""
    ev: list[Evidence] = []

    def add(
        topic: str, source: str, value: str, weight: str, points_to: str | None = None, note: str = ""
    ) -> None:
        ev.append(Evidence(topic, source, value, weight, points_to, note))

    si_l = src.command("systeminfo")
    si = parse_systeminfo(decode_console(si_l.value)) if si_l.ok else {}
    if not si_l.ok:
        add("host", "command: systeminfo", "", UNKNOWN, None, si_l.reason or "no output")
    req = parse_hyperv_requirements(si.get("Hyper-V Requirements", ""))
    wm_l = src.command("wmic computersystem")
    wm = parse_wmic_list(decode_console(wm_l.value)) if wm_l.ok else {}
    manufacturer = si.get("System Manufacturer") or wm.get("Manufacturer")
    model = si.get("System Model") or wm.get("Model")

    # --- CPU --------------------------------------------------------------------
    leaf0 = src.cpuid(0)
    leaf1 = src.cpuid(1)
    ext1 = src.cpuid(0x80000001)
    vendor = None
    if leaf0.ok:
        vendor = _sig(leaf0.value.ebx, leaf0.value.edx, leaf0.value.ecx)
    ident = src.env.get("PROCESSOR_IDENTIFIER")
    if vendor is None and ident and "," in ident:
        vendor = ident.rsplit(",", 1)[1].strip()
    model_name = _processor_from_systeminfo(si.get("Processor(s)", "")) or ident
    vmx = bool(leaf1.value.ecx >> 5 & 1) if leaf1.ok else None
    svm = bool(ext1.value.ecx >> 2 & 1) if ext1.ok else None
    hv_bit = bool(leaf1.value.ecx >> 31 & 1) if leaf1.ok else None
    virt_tech: str | None
    disabled: bool | None = None
    if vmx or svm:
        virt_tech = "vt-x" if vmx else "amd-v"
        add("cpu", "cpuid 0x1/0x80000001", "vmx" if vmx else "svm", DECISIVE, virt_tech)
    elif req is not None and not req.hypervisor_detected and req.vm_monitor_mode is not None:
        virt_tech = _tech_for(vendor) if req.vm_monitor_mode else "none"
        disabled = req.enabled_in_firmware is False if req.vm_monitor_mode else None
        add(
            "cpu",
            "command: systeminfo: Hyper-V Requirements",
            f"VM Monitor Mode Extensions: {'Yes' if req.vm_monitor_mode else 'No'}; "
            f"Virtualization Enabled In Firmware: {_yn(req.enabled_in_firmware)}",
            DECISIVE,
            virt_tech,
        )
    elif req is not None and req.hypervisor_detected:
        # Hyper-V hides VMX/SVM from the root partition: the CPU has it (Hyper-V runs), but we cannot see it.
        virt_tech = _tech_for(vendor)
        add(
            "cpu",
            "command: systeminfo: Hyper-V Requirements",
            "A hypervisor has been detected",
            SUPPORTING,
            virt_tech,
            "a running hypervisor hides VT-x/AMD-V from Windows' own CPUID",
        )
    else:
        virt_tech = None
        add("cpu", "cpuid 0x1", "", UNKNOWN, None, leaf1.reason or "no systeminfo Hyper-V block")
    cpu = CpuResult(
        vendor=vendor,
        model_name=model_name,
        virt_tech=virt_tech,
        disabled_in_firmware=disabled,
        hypervisor_bit=hv_bit if hv_bit is not None else (req.hypervisor_detected if req else None),
    )

    # --- hypervisor ----------------------------------------------------------------
    present = hv_bit
    if present is None and req is not None:
        present = req.hypervisor_detected
    if present is None and wm.get("HypervisorPresent"):
        present = wm["HypervisorPresent"].upper() == "TRUE"
    layers: list[Layer] = []
    leaf_hv = src.cpuid(0x40000000)
    sig_id = None
    if leaf_hv.ok and present:
        sig = _sig(leaf_hv.value.ebx, leaf_hv.value.ecx, leaf_hv.value.edx)
        sig_id = SIGNATURES.get(sig)
        if sig_id:
            layers.append(Layer(sig_id, "cpuid 0x40000000", sig))
    root_partition = None
    l3 = src.cpuid(0x40000003)
    if l3.ok and sig_id == "microsoft":
        root_partition = bool(l3.value.ebx & 1)
    vm_from_dmi = _vm_from_model(manufacturer, model)
    hyp_id: str | None
    role: str | None
    if vm_from_dmi and vm_from_dmi != "amazon":
        hyp_id, role = vm_from_dmi, "guest"
        add(
            "hypervisor",
            "command: systeminfo: System Manufacturer/Model",
            f"{manufacturer} / {model}",
            DECISIVE,
            vm_from_dmi,
        )
    elif vm_from_dmi == "amazon":
        hyp_id, role = sig_id or "amazon", "guest"
        add(
            "hypervisor",
            "command: systeminfo: System Manufacturer/Model",
            f"{manufacturer} / {model}",
            DECISIVE,
            hyp_id,
            "EC2: Nitro (KVM-based) or Xen",
        )
    elif present and (root_partition or (root_partition is None and manufacturer)):
        # Hyper-V (or VBS) runs under this Windows, which is its root partition: a host, not a guest.
        # Like Xen dom0 (hypervisor.py): the hypervisor is there, and this OS is its host.
        hyp_id, role = "microsoft", "host"
        if not layers:
            layers.append(Layer("microsoft", "command: systeminfo", None))
        add(
            "hypervisor",
            "command: systeminfo: Hyper-V Requirements",
            "A hypervisor has been detected",
            DECISIVE,
            "microsoft",
            f"Windows is Hyper-V's root partition on {manufacturer} {model} hardware"
            + (" (CPUID 0x40000003 EBX CreatePartitions set)" if root_partition else ""),
        )
    elif present is False:
        hyp_id, role = NONE, None
        add(
            "hypervisor",
            "command: systeminfo: Hyper-V Requirements",
            "requirements listed: no hypervisor",
            DECISIVE,
            NONE,
        )
    elif present and sig_id:
        hyp_id, role = sig_id, "guest"
        add("hypervisor", "cpuid 0x40000000", sig_id, DECISIVE, sig_id)
    else:
        hyp_id, role = None, None
        add("hypervisor", "command: systeminfo", "", UNKNOWN, None, "no hypervisor facts")
    if present is not None and req is None and wm.get("HypervisorPresent"):
        add(
            "hypervisor",
            "command: wmic computersystem: HypervisorPresent",
            wm["HypervisorPresent"],
            SUPPORTING,
        )
    hypervisor = HypervisorResult(id=hyp_id, vmm=None, layers=tuple(layers), role=role)

    # --- cloud -----------------------------------------------------------------------
    cloud = _cloud(manufacturer, model, add)

    # --- KVM, container, WSL ---------------------------------------------------------
    kvm = KvmResult(
        device_present=False,
        openable=False,
        usable=None,
        module=None,
        nested=None,
        reason="no /dev/kvm on Windows (Hyper-V/WHPX is Windows' hypervisor API)",
    )
    add("kvm", "/dev/kvm", "", CONSIDERED, None, "no /dev/kvm on Windows")
    container = _container(src, add)
    wsl_l = src.command("wsl.exe -l -v")
    distros = parse_wsl_list(wsl_l.value) if wsl_l.ok else ()
    if wsl_l.ok:
        add(
            "wsl",
            "command: wsl.exe -l -v",
            ", ".join(f"{d.name} (WSL{d.version})" for d in distros) or "none",
            DECISIVE,
            NONE,
            "this is the Windows host; its WSL distributions are listed",
        )
    else:
        add("wsl", "command: wsl.exe -l -v", "", CONSIDERED, NONE, wsl_l.reason or "no output")
    wsl = WslResult(version=0, distributions=distros)

    os_name = si.get("OS Name")
    kernel = si.get("OS Version")
    host = HostInfo(
        platform="win32", machine=src.machine, kernel=kernel, os_name=os_name, source=src.describe()
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


def _container(src: Source, add: Callable[..., None]) -> ContainerResult:
    """A Windows container runs the Container Execution Agent; a Windows host has no such service."""
    source = f"command: sc.exe query {CONTAINER_AGENT}"
    got = src.command(f"sc.exe query {CONTAINER_AGENT}")
    state = parse_sc_query(decode_console(got.value)) if got.ok else None
    if state == "RUNNING":
        add("container", source, "RUNNING", DECISIVE, "container-other",
            "CExecSvc, the Container Execution Agent, runs only inside a Windows container")  # fmt: skip
        return ContainerResult(id="container-other", orchestrator=None, cgroup_version=None)
    if state == "absent":
        add("container", source, "no such service (1060)", DECISIVE, NONE,
            "no Container Execution Agent: not a Windows container")  # fmt: skip
        return ContainerResult(id=NONE, orchestrator=NONE, cgroup_version=None)
    why = f"service state {state}" if state else (got.reason or "output not understood")
    add("container", source, state or "", UNKNOWN, None, why)
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
    man = (manufacturer or "").lower()
    mod = (model or "").lower()
    for m, md, vid in _VM_MODELS:
        if m in man and md in mod:
            return vid
    return None


def _cloud(manufacturer: str | None, model: str | None, add: Callable[..., None]) -> CloudResult:
    man = (manufacturer or "").lower()
    mod = (model or "").lower()
    if not man:
        add("cloud", "command: systeminfo: System Manufacturer", "", UNKNOWN, None, "no manufacturer")
        return CloudResult(id=None)
    if "amazon ec2" in man:
        add(
            "cloud",
            "command: systeminfo: System Manufacturer/Model",
            f"{manufacturer} / {model}",
            DECISIVE,
            "amazon",
        )
        return CloudResult(
            id="amazon", instance_type=model or None, bare_metal=(".metal" in mod) if mod else None
        )
    if "google" in man:
        add("cloud", "command: systeminfo: System Manufacturer", manufacturer or "", DECISIVE, "google")
        return CloudResult(id="google", bare_metal=False)
    if "alibaba" in man:
        add("cloud", "command: systeminfo: System Manufacturer", manufacturer or "", DECISIVE, "alibaba")
        return CloudResult(id="alibaba")
    if "microsoft corporation" in man and "virtual machine" in mod:
        # Azure and plain Hyper-V share these strings; Azure's chassis asset tag
        # (7783-7084-3265-9085-8269-3286-77) is not in systeminfo.
        add(
            "cloud",
            "command: systeminfo: System Manufacturer/Model",
            f"{manufacturer} / {model}",
            UNKNOWN,
            None,
            "Hyper-V guest: Azure or on-premises Hyper-V; systeminfo lacks the chassis asset tag",
        )
        return CloudResult(id=None)
    add(
        "cloud",
        "command: systeminfo: System Manufacturer/Model",
        f"{manufacturer} / {model}",
        CONSIDERED,
        NONE,
        "not a cloud vendor",
    )
    return CloudResult(id=NONE)
