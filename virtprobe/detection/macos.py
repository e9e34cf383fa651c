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
from virtprobe.machine.source import Source

COMMANDS = ("sysctl", "sw_vers")

# hw.model prefixes of VM firmware -> systemd-detect-virt ids.
_VM_MODELS = (
    ("VirtualMac", "apple"),
    ("VMware", "vmware"),
    ("Parallels", "parallels"),
    ("VirtualBox", "oracle"),
)


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


def probe_macos(src: Source) -> DetectResult:
    """The whole detect result of a macOS host. Never raises."""
    ev: list[Evidence] = []

    def add(
        topic: str, source: str, value: str, weight: str, points_to: str | None = None, note: str = ""
    ) -> None:
        ev.append(Evidence(topic, source, value, weight, points_to, note))

    out = src.command("sysctl")
    sc = parse_sysctl(out.value.decode("utf-8", "replace")) if out.ok else {}
    if not out.ok:
        add("host", "command: sysctl", "", UNKNOWN, None, out.reason or "no output")
    brand = sc.get("machdep.cpu.brand_string")
    cpu_vendor = sc.get("machdep.cpu.vendor") or ("Apple" if brand and brand.startswith("Apple") else None)
    features = set(sc.get("machdep.cpu.features", "").upper().split())
    hv_support = _flag(sc.get("kern.hv_support"))
    vmm_present = _flag(sc.get("kern.hv_vmm_present"))
    model = sc.get("hw.model")
    apple_silicon = cpu_vendor == "Apple" or (src.machine == "arm64")

    # --- CPU -------------------------------------------------------------------------
    virt_tech: str | None
    if "VMX" in features:
        virt_tech = "vt-x"
        add("cpu", "command: sysctl: machdep.cpu.features", "VMX", DECISIVE, "vt-x")
    elif features and not apple_silicon:
        # Intel Macs only; a VM's virtual CPU lacks VMX unless nested is offered.
        virt_tech = "none"
        add("cpu", "command: sysctl: machdep.cpu.features", "no VMX", DECISIVE, "none")
    else:
        # Apple silicon virtualizes through EL2; there is no VT-x/AMD-V to name.
        virt_tech = None
        add(
            "cpu",
            "command: sysctl: machdep.cpu.features",
            "",
            CONSIDERED,
            None,
            "Apple silicon has no VT-x/AMD-V; see kern.hv_support for Hypervisor.framework",
        )
    cpu = CpuResult(vendor=cpu_vendor, model_name=brand, virt_tech=virt_tech, hypervisor_bit=vmm_present)

    # --- hypervisor -------------------------------------------------------------------
    layers: list[Layer] = []
    vm_id = None
    for prefix, vid in _VM_MODELS:
        if model and model.startswith(prefix):
            vm_id = vid
    hyp_id: str | None
    if vm_id:
        hyp_id = vm_id
        layers.append(Layer(vm_id, "command: sysctl: hw.model", model))
        add("hypervisor", "command: sysctl: hw.model", model or "", DECISIVE, vm_id)
        if vmm_present:
            add("hypervisor", "command: sysctl: kern.hv_vmm_present", "1", SUPPORTING, vm_id)
    elif vmm_present:
        hyp_id = None  # a VM, but hw.model does not say whose
        add(
            "hypervisor",
            "command: sysctl: kern.hv_vmm_present",
            "1",
            CONSIDERED,
            None,
            f"running in a VM; hw.model {model!r} does not name the hypervisor",
        )
    elif vmm_present is False:
        hyp_id = NONE
        add("hypervisor", "command: sysctl: kern.hv_vmm_present", "0", DECISIVE, NONE)
    else:
        hyp_id = None
        add(
            "hypervisor",
            "command: sysctl: kern.hv_vmm_present",
            "",
            UNKNOWN,
            None,
            "not in the sysctl output",
        )
    hypervisor = HypervisorResult(
        id=hyp_id,
        vmm=None,
        layers=tuple(layers),
        role="guest" if vmm_present else ("host" if hv_support else None),
    )

    # --- KVM: none on macOS; say whether Hypervisor.framework is there instead ------------
    hv = {
        True: "Hypervisor.framework available (kern.hv_support: 1)",
        False: "Hypervisor.framework unavailable (kern.hv_support: 0)",
        None: "kern.hv_support unknown",
    }[hv_support]
    kvm = KvmResult(
        device_present=False,
        openable=False,
        usable=None,
        module=None,
        nested=None,
        reason=f"no /dev/kvm on macOS; {hv}",
    )
    add("kvm", "command: sysctl: kern.hv_support", sc.get("kern.hv_support", ""), CONSIDERED, None, hv)

    cloud = CloudResult(id=NONE if vmm_present is False else None)
    add(
        "cloud",
        "command: sysctl: kern.hv_vmm_present",
        sc.get("kern.hv_vmm_present", ""),
        CONSIDERED,
        cloud.id,
        "a Mac that is not a VM is not a cloud VM (EC2 Mac instances are bare metal)"
        if vmm_present is False
        else "cannot tell a cloud from macOS sysctl",
    )
    container = ContainerResult(id=NONE, orchestrator=NONE, cgroup_version=None)
    add("container", "platform darwin", "", CONSIDERED, NONE, "macOS has no containers of its own")
    wsl = WslResult(version=0)
    add("wsl", "platform darwin", "", CONSIDERED, NONE)

    sw = src.command("sw_vers")
    os_name = parse_sw_vers(sw.value.decode("utf-8", "replace")) if sw.ok else None
    if os_name is None and sc.get("kern.osproductversion"):
        os_name = f"macOS {sc['kern.osproductversion']}"
    host = HostInfo(
        platform="darwin",
        machine=src.machine,
        kernel=sc.get("kern.osrelease"),
        os_name=os_name,
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
