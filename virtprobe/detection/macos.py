"""macOS host probe: `sysctl` facts about Hypervisor.framework, the CPU and the machine model.

- kern.hv_support: 1 when Hypervisor.framework can run guests here (VT-x with EPT
  on Intel Macs, EL2 on Apple silicon);
- kern.hv_vmm_present: 1 when macOS itself runs in a VM (Apple's
  "Determining whether your app is running in a virtual machine");
- hw.model: "VirtualMac2,1" in an Apple Virtualization.framework guest,
  "VMware7,1", "Parallels-ARM" and so on under other hypervisors;
- machdep.cpu.features holds "VMX" on Intel Macs (absent on Apple silicon).
"""

from __future__ import annotations

from virtprobe.detection.model import (
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
from virtprobe.detection.tables.dmi import mac_model_id
from virtprobe.machine.source import Source

COMMANDS = ("sysctl", "sw_vers")

# hw.model prefixes of VM firmware are in the shared table (tables/dmi.py MAC_MODELS).


def parse_sysctl(text: str) -> dict[str, str]:
    """`sysctl name...` output: "name: value" lines (sysctl -a style "name = value" too)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        for sep in (": ", " = "):
            if sep in line:
                k, _, v = line.partition(sep)
                if k.strip() and " " not in k.strip():
                    out[k.strip()] = v.strip()
                break
    return out


def parse_sw_vers(text: str) -> str | None:
    """ "ProductName: macOS / ProductVersion: 14.5" -> "macOS 14.5"."""
    fields = {}
    for line in text.splitlines():
        k, sep, v = line.partition(":")
        if sep:
            fields[k.strip()] = v.strip()
    name, ver = fields.get("ProductName"), fields.get("ProductVersion")
    if name and ver:
        return f"{name} {ver}"
    return name or None


def _flag(v: str | None) -> bool | None:
    if v is None or not v.strip().isdigit():
        return None
    return v.strip() != "0"


SYSCTL = "command: sysctl"


def _cpu(src: Source, sc: dict[str, str]) -> tuple[CpuResult, list[Evidence]]:
    """VT-x on an Intel Mac from machdep.cpu.features; Apple silicon has none to name."""
    brand = sc.get("machdep.cpu.brand_string")
    vendor = sc.get("machdep.cpu.vendor") or ("Apple" if brand and brand.startswith("Apple") else None)
    features = set(sc.get("machdep.cpu.features", "").upper().split())
    apple_silicon = vendor == "Apple" or (src.machine == "arm64")
    source = f"{SYSCTL}: machdep.cpu.features"
    virt_tech: str | None
    if "VMX" in features:
        virt_tech, row = "vt-x", Evidence("cpu", source, "VMX", DECISIVE, "vt-x")
    elif features and not apple_silicon:
        # Intel Macs only; a VM's virtual CPU lacks VMX unless nested is offered.
        virt_tech, row = "none", Evidence("cpu", source, "no VMX", DECISIVE, "none")
    else:
        # Apple silicon virtualizes through EL2; there is no VT-x/AMD-V to name.
        note = "Apple silicon has no VT-x/AMD-V; see kern.hv_support for Hypervisor.framework"
        virt_tech, row = None, Evidence("cpu", source, "", CONSIDERED, None, note)
    vmm_present = _flag(sc.get("kern.hv_vmm_present"))
    return CpuResult(vendor=vendor, model_name=brand, virt_tech=virt_tech, hypervisor_bit=vmm_present), [row]


def _hypervisor(sc: dict[str, str]) -> tuple[HypervisorResult, list[Evidence]]:
    """hw.model names the hypervisor of a macOS guest; kern.hv_vmm_present says whether it is one."""
    model = sc.get("hw.model")
    vmm_present = _flag(sc.get("kern.hv_vmm_present"))
    vm_id = mac_model_id(model) if model else None
    present = f"{SYSCTL}: kern.hv_vmm_present"
    layers: list[Layer] = []
    ev: list[Evidence] = []
    hyp_id: str | None
    if vm_id:
        hyp_id = vm_id
        layers.append(Layer(vm_id, f"{SYSCTL}: hw.model", model))
        ev.append(Evidence("hypervisor", f"{SYSCTL}: hw.model", model or "", DECISIVE, vm_id))
        if vmm_present:
            ev.append(Evidence("hypervisor", present, "1", SUPPORTING, vm_id))
    elif vmm_present:
        hyp_id = None  # a VM, but hw.model does not say whose
        note = f"running in a VM; hw.model {model!r} does not name the hypervisor"
        ev.append(Evidence("hypervisor", present, "1", CONSIDERED, None, note))
    elif vmm_present is False:
        hyp_id = NONE
        ev.append(Evidence("hypervisor", present, "0", DECISIVE, NONE))
    else:
        hyp_id = None
        ev.append(Evidence("hypervisor", present, "", UNKNOWN, None, "not in the sysctl output"))
    role = "guest" if vmm_present else ("host" if _flag(sc.get("kern.hv_support")) else None)
    return HypervisorResult(id=hyp_id, vmm=None, layers=tuple(layers), role=role), ev


def _kvm(sc: dict[str, str]) -> tuple[KvmResult, list[Evidence]]:
    """No /dev/kvm on macOS; whether Hypervisor.framework is there instead."""
    hv = {
        True: "Hypervisor.framework available (kern.hv_support: 1)",
        False: "Hypervisor.framework unavailable (kern.hv_support: 0)",
        None: "kern.hv_support unknown",
    }[_flag(sc.get("kern.hv_support"))]
    kvm = KvmResult(
        device_present=False,
        openable=False,
        usable=None,
        module=None,
        nested=None,
        reason=f"no /dev/kvm on macOS; {hv}",
    )
    return kvm, [Evidence("kvm", f"{SYSCTL}: kern.hv_support", sc.get("kern.hv_support", ""), CONSIDERED, None, hv)]


def _cloud(sc: dict[str, str]) -> tuple[CloudResult, list[Evidence]]:
    vmm_present = _flag(sc.get("kern.hv_vmm_present"))
    cloud = CloudResult(id=NONE if vmm_present is False else None)
    note = (
        "a Mac that is not a VM is not a cloud VM (EC2 Mac instances are bare metal)"
        if vmm_present is False
        else "cannot tell a cloud from macOS sysctl"
    )
    value = sc.get("kern.hv_vmm_present", "")
    return cloud, [Evidence("cloud", f"{SYSCTL}: kern.hv_vmm_present", value, CONSIDERED, cloud.id, note)]


def _host(src: Source, sc: dict[str, str]) -> HostInfo:
    sw = src.command("sw_vers")
    os_name = parse_sw_vers(sw.value.decode("utf-8", "replace")) if sw.ok else None
    if os_name is None and sc.get("kern.osproductversion"):
        os_name = f"macOS {sc['kern.osproductversion']}"
    return HostInfo(
        platform="darwin", machine=src.machine, kernel=sc.get("kern.osrelease"), os_name=os_name, source=src.describe()
    )


def _sysctl(src: Source) -> tuple[dict[str, str], str | None]:
    out = src.command("sysctl")  # a command: LiveSource caches its output
    return (parse_sysctl(out.value.decode("utf-8", "replace")) if out.ok else {}), (
        None if out.ok else (out.reason or "no output")
    )


# --- the per-topic probes: the same names as on Linux and Windows (probe_cpu, probe_hypervisor, ...) ---


def probe_cpu(src: Source) -> tuple[CpuResult, list[Evidence]]:
    return _cpu(src, _sysctl(src)[0])


def probe_hypervisor(src: Source) -> tuple[HypervisorResult, list[Evidence]]:
    return _hypervisor(_sysctl(src)[0])


def probe_kvm(src: Source) -> tuple[KvmResult, list[Evidence]]:
    return _kvm(_sysctl(src)[0])


def probe_cloud(src: Source, hypervisor: HypervisorResult | None = None) -> tuple[CloudResult, list[Evidence]]:
    return _cloud(_sysctl(src)[0])


def probe_macos(src: Source) -> DetectResult:
    """The whole detect result of a macOS host, from sysctl and sw_vers. Never raises."""
    sc, why = _sysctl(src)
    ev: list[Evidence] = []
    if why is not None:
        ev.append(Evidence("host", SYSCTL, "", UNKNOWN, None, why))
    cpu, cpu_ev = probe_cpu(src)
    hypervisor, hv_ev = probe_hypervisor(src)
    kvm, kvm_ev = probe_kvm(src)
    cloud, cloud_ev = probe_cloud(src, hypervisor)
    ev += [*cpu_ev, *hv_ev, *kvm_ev, *cloud_ev]
    ev.append(Evidence("container", "platform darwin", "", CONSIDERED, NONE, "macOS has no containers of its own"))
    ev.append(Evidence("wsl", "platform darwin", "", CONSIDERED, NONE))
    return DetectResult(
        host=_host(src, sc),
        cpu=cpu,
        kvm=kvm,
        hypervisor=hypervisor,
        cloud=cloud,
        container=ContainerResult(id=NONE, orchestrator=NONE, cgroup_version=None),
        wsl=WslResult(version=0),
        evidence=tuple(ev),
    )
