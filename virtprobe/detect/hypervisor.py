"""The hypervisor underneath, every layer of it that shows, and the VMM that emulates the machine.

Identifiers follow systemd-detect-virt (src/basic/virt.c) where one exists;
new ones are added only where systemd has none:

| id | what | seen as |
| --- | --- | --- |
| kvm | Linux KVM | CPUID "KVMKVMKVM", "Linux KVM Hv"; DMI "KVM", "OpenStack" |
| qemu | QEMU without KVM (TCG) | CPUID "TCGTCGTCGTCG"; DMI "QEMU" when CPUID is silent |
| microsoft | Hyper-V | CPUID "Microsoft Hv"; DMI "Hyper-V" |
| vmware | VMware | CPUID "VMwareVMware"; DMI "VMware", "VMW" |
| xen | Xen (HVM, PV, and dom0 with role host) | CPUID "XenVMMXenVMM"; /sys/hypervisor/type; /proc/xen; DMI |
| oracle | VirtualBox | DMI "innotek GmbH", "VirtualBox"; CPUID "VBoxVBoxVBox" |
| amazon | AWS Nitro (KVM-based) | DMI "Amazon EC2" with the hypervisor bit set |
| google | Google Compute Engine (DMI only) | DMI "Google Compute Engine" (CPUID "KVMKVMKVM" wins) |
| parallels | Parallels | DMI "Parallels"; CPUID " lrpepyh  vr" |
| bhyve | FreeBSD bhyve | CPUID "bhyve bhyve "; DMI "BHYVE" |
| qnx | QNX hypervisor | CPUID "QNXQVMBSQG" |
| acrn | ACRN | CPUID "ACRNACRNACRN" |
| sre | Lockheed Martin LMHS (SRE) | CPUID "SRESRESRESRE" |
| apple | Apple Virtualization.framework | CPUID "Apple VZ"; DMI "Apple Virtualization" |
| bochs | Bochs | DMI "Bochs" |
| vm-other | a hypervisor bit or signature we do not know |
| none | sure there is none: hypervisor bit clear and no virtual firmware strings |

The CPUID signatures from "XenVMMXenVMM" to "Apple VZ" and the DMI prefixes are
systemd's tables (virt.c, `vm_table[]` and `dmi_vendor_table[]`). "VBoxVBoxVBox",
" lrpepyh  vr" (Parallels; "prl hyperv  " with its bytes swapped), "UnisysSpar64",
"Jailhouse", "HAXMHAXMHAXM" and "NVMMNVMMNVMM" come from the list of hypervisor
signatures in Wikipedia's CPUID article (leaf 0x40000000), not from systemd.

VMM names (`vmm`), from the firmware the VMM writes (ACPI table headers, DMI):
firecracker (ACPI OEM ID "FIRECK", firecracker src/vmm/src/acpi), qemu (ACPI
"BOCHS "/"BXPC", DMI "QEMU"/"Bochs", CPUID TCG, device tree "linux,dummy-virt"),
cloud-hypervisor (ACPI "CLOUDH", DMI "Cloud Hypervisor"), virtualbox (ACPI
"VBOX  ", DMI innotek/VirtualBox), vmware (ACPI "VMWARE", DMI VMware), hyper-v
(ACPI "VRTUAL"/"MSFTVM"), bhyve (ACPI "BHYVE ", DMI "BHYVE"), parallels (DMI).
Where nothing names it, `vmm` is None.

Order of decision, after systemd's `detect_vm()`: Xen dom0 first (the machine is
a host, role "host"); then DMI that is known to be right even when CPUID says
otherwise (VirtualBox and Parallels expose KVM/Hyper-V paravirt interfaces,
Amazon Nitro is KVM-based); then Xen without CPUID (PV); then CPUID signatures,
where a "Microsoft Hv" base leaf followed by another hypervisor's signature at
0x40000100+ is that other hypervisor offering Hyper-V enlightenments (KVM,
Xen viridian); then DMI and the device tree. A clear hypervisor bit with no
virtual firmware strings is "none". DMI "Microsoft Corporation" alone proves
nothing: Surface laptops say it too.
"""

from __future__ import annotations

from dataclasses import dataclass

from virtprobe.detect.cpu import read_cpuinfo
from virtprobe.detect.model import (
    CONSIDERED,
    DECISIVE,
    NONE,
    OVERRULED,
    SUPPORTING,
    UNKNOWN,
    Evidence,
    HypervisorResult,
    Layer,
)
from virtprobe.machine.cpuid import HYPERVISOR_LEAVES
from virtprobe.machine.source import FileRead, Source

TOPIC = "hypervisor"
VM_OTHER = "vm-other"

CPUID_SIGNATURES: dict[str, str] = {
    # systemd src/basic/virt.c vm_table[]
    "XenVMMXenVMM": "xen",
    "KVMKVMKVM": "kvm",
    "Linux KVM Hv": "kvm",  # QEMU/KVM with Hyper-V enlightenments
    "TCGTCGTCGTCG": "qemu",
    "VMwareVMware": "vmware",
    "Microsoft Hv": "microsoft",
    "bhyve bhyve": "bhyve",
    "QNXQVMBSQG": "qnx",
    "ACRNACRNACRN": "acrn",
    "SRESRESRESRE": "sre",
    "Apple VZ": "apple",
    # Wikipedia, "CPUID" article, hypervisor vendor signatures
    "VBoxVBoxVBox": "oracle",
    "lrpepyh  vr": "parallels",
    "UnisysSpar64": "spar",
    "Jailhouse": "jailhouse",
    "HAXMHAXMHAXM": "haxm",
    "NVMMNVMMNVMM": "nvmm",
}

# systemd dmi_vendor_table[] (prefix match), plus DMI strings naming a VMM.
DMI_VENDORS: tuple[tuple[str, str], ...] = (
    ("KVM", "kvm"),
    ("OpenStack", "kvm"),
    ("KubeVirt", "kvm"),
    ("Amazon EC2", "amazon"),
    ("QEMU", "qemu"),
    ("VMware", "vmware"),
    ("VMW", "vmware"),
    ("innotek GmbH", "oracle"),
    ("VirtualBox", "oracle"),
    ("Xen", "xen"),
    ("Bochs", "bochs"),
    ("Parallels", "parallels"),
    ("BHYVE", "bhyve"),
    ("Hyper-V", "microsoft"),
    ("Apple Virtualization", "apple"),
    ("Google Compute Engine", "google"),
)
DMI_VMM: tuple[tuple[str, str], ...] = (
    ("QEMU", "qemu"),
    ("Bochs", "qemu"),
    ("Cloud Hypervisor", "cloud-hypervisor"),
    ("cloud-hypervisor", "cloud-hypervisor"),
    ("innotek GmbH", "virtualbox"),
    ("VirtualBox", "virtualbox"),
    ("VMware", "vmware"),
    ("Parallels", "parallels"),
    ("BHYVE", "bhyve"),
)
# DMI files systemd reads, in its order, plus those only cloud/VMM naming uses.
DMI_FILES = (
    "product_name",
    "sys_vendor",
    "board_vendor",
    "bios_vendor",
    "product_version",
    "bios_version",
    "chassis_vendor",
    "chassis_asset_tag",
)
_DMI_DECIDING = ("product_name", "sys_vendor", "board_vendor", "bios_vendor", "product_version")

# ACPI table header: OEM ID at bytes 10..16, OEM table ID at 16..24 (ACPI spec 5.2.6).
ACPI_OEM_VMM: tuple[tuple[str, str | None, str | None], ...] = (
    ("FIRECK", "firecracker", "kvm"),
    ("BOCHS", "qemu", None),
    ("BXPC", "qemu", None),
    ("CLOUDH", "cloud-hypervisor", None),
    ("CHYPER", "cloud-hypervisor", None),
    ("VBOX", "virtualbox", "oracle"),
    ("VMWARE", "vmware", "vmware"),
    ("VRTUAL", "hyper-v", "microsoft"),
    ("MSFTVM", "hyper-v", "microsoft"),
    ("BHYVE", "bhyve", "bhyve"),
    ("Xen", None, "xen"),
)
# Small tables every ACPI machine has; DSDT/SSDT can be megabytes and say the same.
ACPI_TABLES = ("FACP", "APIC")
ACPI_READ_LIMIT = 64 * 1024

XENFEAT_DOM0 = 11  # xen/include/public/features.h


@dataclass(frozen=True)
class _Hit:
    id: str | None
    source: str
    value: str
    vmm: str | None = None


def decode_signature(ebx: int, ecx: int, edx: int) -> str | None:
    """The 12-byte vendor signature of a hypervisor leaf (EBX, ECX, EDX), or None if it is not text."""
    raw = b"".join((x & 0xFFFFFFFF).to_bytes(4, "little") for x in (ebx, ecx, edx))
    if any(b != 0 and not 32 <= b < 127 for b in raw):
        return None
    text = raw.replace(b"\x00", b"").decode("ascii").strip()
    return text if len(text) >= 4 else None


def signature_id(sig: str) -> str:
    return CPUID_SIGNATURES.get(sig.strip(), VM_OTHER)


def parse_acpi_header(data: bytes) -> tuple[str, str] | None:
    """(OEM ID, OEM table ID) of an ACPI table, or None if shorter than a header."""
    if len(data) < 24:
        return None
    oem = data[10:16].decode("latin-1")
    table = data[16:24].decode("latin-1")
    return oem, table


def acpi_vmm(oem: str, table: str) -> tuple[str | None, str | None] | None:
    """(vmm, hypervisor id) named by an ACPI OEM ID / table ID, or None."""
    for prefix, vmm, hv in ACPI_OEM_VMM:
        if oem.startswith(prefix) or table.startswith(prefix):
            return vmm, hv
    return None


def dmi_id(value: str) -> str | None:
    for prefix, hv in DMI_VENDORS:
        if value.startswith(prefix):
            return hv
    return None


def dmi_vmm(value: str) -> str | None:
    for prefix, vmm in DMI_VMM:
        if value.startswith(prefix):
            return vmm
    return None


def parse_xen_features(text: str) -> int | None:
    try:
        return int(text.strip(), 16)
    except ValueError:
        return None


def device_tree_strings(data: bytes) -> list[str]:
    """A device-tree string list property: NUL-separated strings."""
    return [s.decode("latin-1") for s in data.split(b"\x00") if s]


def read_dmi(src: Source) -> dict[str, FileRead]:
    return {name: src.read(f"sys/class/dmi/id/{name}", limit=4096) for name in DMI_FILES}


def dmi_text(read: FileRead) -> str | None:
    text = read.text
    return text.strip() if text is not None else None


def hypervisor_bit(src: Source) -> tuple[bool | None, str, str]:
    """(bit, source, value): the kernel's `hypervisor` flag, else CPUID.1:ECX[31]."""
    read, fields = read_cpuinfo(src)
    if "flags" in fields:
        on = "hypervisor" in fields["flags"].split()
        return on, f"{read.path}: flags", "hypervisor" if on else "no hypervisor flag"
    leaf = src.cpuid(0x1)
    if leaf.ok:
        on = bool(leaf.value.ecx & (1 << 31))
        return on, "cpuid 0x00000001", f"ECX[31]={int(on)}"
    return None, "cpuid 0x00000001", leaf.reason or "unreadable"


def probe_hypervisor(src: Source) -> tuple[HypervisorResult, list[Evidence]]:
    rows: list[tuple[Evidence, _Hit | None]] = []  # (evidence without final weight, hit)

    def add(source: str, value: str, hit: _Hit | None, note: str = "", weight: str = CONSIDERED) -> None:
        rows.append((Evidence(TOPIC, source, value, weight, hit.id if hit else None, note), hit))

    # 1. CPUID hypervisor bit and signatures.
    bit, bit_src, bit_val = hypervisor_bit(src)
    if bit is None:
        add(bit_src, "", None, note=bit_val, weight=UNKNOWN)
    sigs: list[_Hit] = []
    if bit:
        seen: set[str] = set()
        for leaf in HYPERVISOR_LEAVES:
            look = src.cpuid(leaf)
            if not look.ok:
                if leaf == HYPERVISOR_LEAVES[0]:
                    add(f"cpuid 0x{leaf:08x}", "", None, note=look.reason or "unreadable", weight=UNKNOWN)
                continue
            r = look.value
            sig = decode_signature(r.ebx, r.ecx, r.edx)
            if sig is None or sig in seen:
                continue  # out-of-range leaves may echo another leaf
            seen.add(sig)
            hit = _Hit(signature_id(sig), f"cpuid 0x{leaf:08x}", sig, "qemu" if sig == "TCGTCGTCGTCG" else None)
            sigs.append(hit)

    # 2. DMI.
    dmi = read_dmi(src)
    dmi_hits: list[_Hit] = []
    dmi_vmms: list[_Hit] = []
    microsoft_dmi: _Hit | None = None
    for name in DMI_FILES:
        value = dmi_text(dmi[name])
        if not value:
            continue
        path = dmi[name].path
        if name in _DMI_DECIDING:
            hv = dmi_id(value)
            if hv:
                dmi_hits.append(_Hit(hv, path, value))
            elif value.startswith("Microsoft Corporation") and microsoft_dmi is None:
                microsoft_dmi = _Hit("microsoft", path, value)
        vmm = dmi_vmm(value)
        if vmm:
            dmi_vmms.append(_Hit(None, path, value, vmm))
    dmi_readable = any(r.ok for r in dmi.values())

    # 3. ACPI table headers.
    acpi_hits: list[_Hit] = []
    for table in ACPI_TABLES:
        read = src.read(f"sys/firmware/acpi/tables/{table}", limit=ACPI_READ_LIMIT)
        if read.data is None:
            if read.reason and not read.reason.startswith("not found"):
                add(f"{read.path}: OEM ID", "", None, note=read.reason, weight=UNKNOWN)
            continue
        header = parse_acpi_header(read.data)
        if header is None:
            continue
        oem, table_id = header
        named = acpi_vmm(oem, table_id)
        if named:
            acpi_hits.append(_Hit(named[1], f"{read.path}: OEM ID", f"{oem.strip()} {table_id.strip()}", named[0]))
            break
        add(f"{read.path}: OEM ID", f"{oem.strip()} {table_id.strip()}", None, note="not a known VMM")

    # 4. Xen interfaces.
    xen_hits: list[_Hit] = []
    dom0: _Hit | None = None
    hv_type = src.read("sys/hypervisor/type", limit=256)
    if hv_type.text and hv_type.text.strip():
        t = hv_type.text.strip()
        xen_hits.append(_Hit("xen" if t == "xen" else VM_OTHER, hv_type.path, t))
    features = src.read("sys/hypervisor/properties/features", limit=256)
    if features.text:
        bits = parse_xen_features(features.text)
        if bits is not None and bits >> XENFEAT_DOM0 & 1:
            dom0 = _Hit("xen", features.path, features.text.strip())
    caps = src.read("proc/xen/capabilities", limit=4096)
    if caps.text is not None:
        if "control_d" in caps.text and dom0 is None:
            dom0 = _Hit("xen", caps.path, caps.text.strip())
        elif not xen_hits:
            xen_hits.append(_Hit("xen", caps.path, caps.text.strip() or "(empty: a domU)"))
    elif src.exists("proc/xen") and not xen_hits:
        xen_hits.append(_Hit("xen", src.path("proc/xen"), "present"))

    # 5. Device tree (ARM, POWER).
    dt_hits: list[_Hit] = []
    dt_hv = src.read("proc/device-tree/hypervisor/compatible", limit=4096)
    if dt_hv.data:
        names = device_tree_strings(dt_hv.data)
        joined = ",".join(names)
        # systemd detect_vm_device_tree(): exact "linux,kvm", else a substring match.
        hv = VM_OTHER
        if "linux,kvm" in names:
            hv = "kvm"
        elif "xen" in joined:
            hv = "xen"
        elif "vmware" in joined:
            hv = "vmware"
        dt_hits.append(_Hit(hv, dt_hv.path, " ".join(names)))
    dt_compat = src.read("proc/device-tree/compatible", limit=4096)
    if dt_compat.data and "linux,dummy-virt" in device_tree_strings(dt_compat.data):
        dmi_vmms.append(_Hit(None, dt_compat.path, "linux,dummy-virt", "qemu"))

    # ---- decide ----
    decisive: _Hit | None = None
    overrule: list[_Hit] = []
    hv_id: str | None
    role: str | None = None
    note = ""
    strong_dmi = next((h for h in dmi_hits if h.id in ("oracle", "amazon", "parallels", "xen")), None)
    if dom0 is not None:
        hv_id, role, decisive = "xen", "host", dom0
        note = "Xen dom0: this machine is the Xen host's control domain"
    elif strong_dmi is not None and strong_dmi.id == "amazon" and bit is False:
        hv_id, decisive = NONE, strong_dmi
        note = "Amazon EC2 firmware with no hypervisor bit: an EC2 bare-metal instance"
    elif strong_dmi is not None and (bit is not False or strong_dmi.id != "amazon"):
        hv_id, decisive = strong_dmi.id, strong_dmi
        overrule = [s for s in sigs if s.id != hv_id]
        note = "firmware names the product; its CPUID signature may be a paravirt interface it offers"
    elif xen_hits and not sigs:
        hv_id, decisive = xen_hits[0].id, xen_hits[0]
        note = "Xen interface without a CPUID signature: a paravirtualized (PV) guest"
    elif sigs:
        pick = sigs[0]
        if pick.id == "microsoft":
            other = next((s for s in sigs[1:] if s.id != "microsoft"), None)
            if other is not None:
                overrule = [pick]
                pick = other
                note = f"{other.value} behind a Hyper-V interface: {other.id} offering Hyper-V enlightenments"
        hv_id, decisive = pick.id, pick
    elif bit is True:
        fallback = dmi_hits[0] if dmi_hits else xen_hits[0] if xen_hits else dt_hits[0] if dt_hits else None
        if fallback is None:
            fallback = next((h for h in acpi_hits if h.id), None)
        if fallback is not None:
            hv_id, decisive = fallback.id, fallback
        else:
            hv_id = VM_OTHER
            note = "hypervisor bit set, but no signature or firmware string names it"
    else:
        fallback = dmi_hits[0] if dmi_hits else dt_hits[0] if dt_hits else None
        if fallback is None and bit is None:
            fallback = next((h for h in acpi_hits if h.id), None) or (xen_hits[0] if xen_hits else None)
        if fallback is not None:
            hv_id, decisive = fallback.id, fallback
            if bit is False:
                note = "the CPUID hypervisor bit is hidden, but the firmware is a hypervisor's"
        elif bit is False:
            hv_id = NONE
            note = "hypervisor bit clear and no virtual firmware strings"
        else:
            hv_id = None
            note = "neither CPUID, DMI, ACPI, Xen nor the device tree could be read"
    if hv_id not in (None, NONE) and role is None:
        role = "guest"

    # VMM: ACPI first (written by the VMM itself), then DMI/device tree, then CPUID (TCG).
    vmm_name: str | None = None
    vmm_hit: _Hit | None = None
    if hv_id not in (None, NONE):
        vmm_hit = next((h for h in [*acpi_hits, *dmi_vmms, *sigs] if h.vmm), None)
        vmm_name = vmm_hit.vmm if vmm_hit else None

    # ---- evidence with final weights ----
    ev: list[Evidence] = []
    if bit is not None:
        if hv_id == NONE or (decisive is None and hv_id == VM_OTHER):
            w = DECISIVE
        elif bit and hv_id is not None:
            w = SUPPORTING
        elif not bit and hv_id is not None and dom0 is None:
            w = OVERRULED  # a PV guest or a hidden bit: another source proved a hypervisor
        else:
            w = CONSIDERED
        ev.append(Evidence(TOPIC, bit_src, bit_val, w, None, note if w == DECISIVE else ""))
    for e, _ in rows:
        ev.append(e)
    layers: list[Layer] = []
    for group in (sigs, dmi_hits, acpi_hits, xen_hits, [dom0] if dom0 else [], dt_hits):
        for h in group:
            if h is decisive:
                w, n = DECISIVE, note
            elif h in overrule:
                w, n = OVERRULED, f"the real hypervisor is {hv_id}"
            elif h.id is None or h.id == hv_id or hv_id in (None,):
                w, n = SUPPORTING if h.id == hv_id and hv_id else CONSIDERED, ""
            elif (h.id, hv_id) in (("google", "kvm"), ("kvm", "amazon"), ("kvm", "google")):
                w, n = SUPPORTING, f"{h.id} and {hv_id} describe the same KVM-based hypervisor"
            elif (h.id, hv_id) == ("qemu", "kvm"):
                w, n = SUPPORTING, "QEMU's firmware: QEMU is the VMM, KVM the hypervisor"
            elif hv_id == NONE:
                w, n = OVERRULED, "no hypervisor bit: these are not a hypervisor's strings"
            else:
                w, n = CONSIDERED, ""
            if h.vmm and h is vmm_hit:
                n = (n + "; " if n else "") + f"names the VMM: {h.vmm}"
            ev.append(Evidence(TOPIC, h.source, h.value, w, h.id, n))
            # Layers: every CPUID signature, plus what decided and the Xen/device-tree
            # interfaces; other firmware strings name the VMM, not another layer.
            layer_worthy = group is sigs or h is decisive or group is xen_hits or group is dt_hits
            if layer_worthy and h.id and h.id != NONE and not any(x.id == h.id for x in layers):
                layers.append(Layer(h.id, h.source, h.value if group is sigs else None))
    for h in dmi_vmms:
        if h is vmm_hit:
            ev.append(Evidence(TOPIC, h.source, h.value, SUPPORTING, None, f"names the VMM: {h.vmm}"))
    if microsoft_dmi is not None:
        w = SUPPORTING if hv_id == "microsoft" else OVERRULED
        why = (
            "Microsoft firmware, as on every Hyper-V VM"
            if hv_id == "microsoft"
            else "Microsoft hardware (e.g. a Surface) says this too; it is not a hypervisor's string"
        )
        ev.append(Evidence(TOPIC, microsoft_dmi.source, microsoft_dmi.value, w, "microsoft", why))
    if not dmi_readable:
        reasons = sorted({r.reason or "" for r in dmi.values()})
        ev.append(Evidence(TOPIC, src.path("sys/class/dmi/id"), "", CONSIDERED, note="; ".join(reasons)))
    return HypervisorResult(id=hv_id, vmm=vmm_name, layers=tuple(layers), role=role), ev
