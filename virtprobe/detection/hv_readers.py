"""Readers for the hypervisor and VMM topics: each reads one source and returns hints, never a verdict.

A `Hint` is one observation: where it was read, what it said, which hypervisor
id and/or VMM it points to, and how strong it is. A reader whose source cannot
be read returns a hint with `unreadable` set and the reason, so the decision
(detection/hypervisor.py, detection/vmm.py) can answer null and say why.

Every string table below names the primary source it comes from.
"""

from __future__ import annotations

import re

from virtprobe.detection.cpu import read_cpuinfo
from virtprobe.detection.tables import cpuid as TC
from virtprobe.detection.tables import dmi as TD
from virtprobe.lean_typing import NamedTuple
from virtprobe.machine.cpuid import HYPERVISOR_LEAVES
from virtprobe.machine.source import FileRead, Source

VM_OTHER = "vm-other"

# Hint kinds, by source. The decision weighs them by kind (docs/detection.md).
CPUID = "cpuid"
DMI = "dmi"
ACPI = "acpi"  # ACPI table header OEM IDs
ACPI_DEV = "acpi-device"  # /sys/bus/acpi/devices HIDs
XEN = "xen"
XEN_DOM0 = "xen-dom0"
DT = "device-tree"
SYSINFO = "sysinfo"  # s390 /proc/sysinfo
LPARCFG = "lparcfg"
PCI = "pci"
VMBUS = "vmbus"
FW_CFG = "fw-cfg"
BRAND = "cpu-brand"
DMESG = "dmesg"
SMBIOS_BIT = "smbios-vm-bit"
MASK = "masked"  # a source that exists but is hidden (an empty tmpfs over /sys/firmware)
MODULE = "guest-file"  # a guest driver in /proc/modules, or a file only a guest has


class Hint(NamedTuple):
    kind: str
    source: str
    value: str
    id: str | None = None  # the hypervisor id it points to ("vm" = some VM, unnamed)
    vmm: str | None = None  # the VMM it names
    note: str = ""
    unreadable: bool = False  # the source could not be read; note says why


SOME_VM = "vm"  # a hint that proves a VM without naming the hypervisor (virtio, SMBIOS bit)

# --- CPUID signatures, DMI strings, CPU brands: one table each (detection/tables/) -----------
CPUID_SIGNATURES = TC.SIGNATURES
CPUID_VMM = TC.SIGNATURE_VMM
BRANDS = TC.BRANDS
DMI_VENDORS = TD.VENDORS
DMI_VMM = TD.VMM
DMI_FILES = TD.FILES

# --- ACPI --------------------------------------------------------------------------
# Table header OEM ID (bytes 10..16) / OEM table ID (16..24), ACPI spec 5.2.6.
ACPI_OEM_VMM: tuple[tuple[str, str | None, str | None], ...] = (
    ("FIRECK", "firecracker", "kvm"),  # firecracker src/vmm/src/acpi/mod.rs OEM_ID b"FIRECK"
    ("BOCHS", "qemu", None),  # QEMU include/hw/acpi/aml-build.h ACPI_BUILD_APPNAME6 "BOCHS "
    ("BXPC", "qemu", None),  # QEMU ACPI_BUILD_APPNAME8 "BXPC    " (table ID prefix)
    ("CLOUDH", "cloud-hypervisor", None),  # cloud-hypervisor vmm/src/acpi.rs b"CLOUDH"
    ("CHYPER", "cloud-hypervisor", None),  # cloud-hypervisor's OEM table IDs "CHYPER.."
    ("VBOX", "virtualbox", "oracle"),  # VirtualBox DevACPI / vbox.dsl "VBOX  "
    ("VMWARE", "vmware", "vmware"),
    ("VRTUAL", "hyper-v", "microsoft"),  # Hyper-V ACPI tables: OEM ID "VRTUAL", table ID "MICROSFT"
    ("MSFTVM", "hyper-v", "microsoft"),
    ("BHYVE", "bhyve", "bhyve"),  # FreeBSD usr.sbin/bhyve/acpi.c "BHYVE "
    ("Xen", None, "xen"),  # xen tools/libacpi "Xen"
)
ACPI_TABLES = ("FACP", "APIC")
ACPI_READ_LIMIT = 64 * 1024
# ACPI device HIDs (/sys/bus/acpi/devices/<HID>:<n>) that name a VMM, and ones that
# only say "a VM" because several VMMs use them.
ACPI_HID_VMM: dict[str, tuple[str | None, str | None, str]] = {
    # Linux drivers/firmware/qemu_fw_cfg.c matches "QEMU0002", the _HID of QEMU's fw_cfg ACPI node
    "QEMU0002": ("qemu", None, "QEMU's fw_cfg device"),
    # QEMU hw/acpi/vmgenid.c _HID "QEMUVGID"
    "QEMUVGID": ("qemu", None, "QEMU's VM generation ID device"),
    # Linux drivers/hv/vmbus_drv.c vmbus_acpi_device_ids[]
    "VMBUS": ("hyper-v", "microsoft", "Hyper-V's VMBus"),
    "VMBus": ("hyper-v", "microsoft", "Hyper-V's VMBus"),
    "MSFT1000": ("hyper-v", "microsoft", "Hyper-V's VMBus (arm64)"),
}
ACPI_HID_GENERIC: dict[str, str] = {
    # Linux drivers/virt/vmgenid.c matches "VMGENCTR": any VMM that offers a VM generation counter
    "VMGENCTR": "a VM generation counter (Linux vmgenid.c matches this id); any VMM offering one may use it",
    # Linux drivers/ptp/ptp_vmclock.c matches "AMZNC10C": the vmclock device of QEMU and Firecracker
    "AMZNC10C": "the vmclock device (Linux ptp_vmclock.c); QEMU and Firecracker both offer it",
    # ACPI 6.1 Generic Event Device: QEMU (virt, microvm), Firecracker and Cloud Hypervisor use it
    "ACPI0013": "the ACPI Generic Event Device, used by QEMU, Firecracker and Cloud Hypervisor alike",
}

XENFEAT_DOM0 = 11  # xen/include/public/features.h

# --- PCI ---------------------------------------------------------------------------
# (vendor, device or None for any, hypervisor id, vmm, what). From Linux include/linux/pci_ids.h,
# QEMU include/hw/pci/pci.h and util-linux sys-utils/lscpu-virt.c (hv_vendor_pci[], hv_graphics_pci[]).
PCI_IDS: tuple[tuple[int, int | None, str | None, str | None, str], ...] = (
    (0x80EE, 0xBEEF, "oracle", "virtualbox", "VirtualBox graphics adapter (lscpu-virt.c)"),
    (0x80EE, 0xCAFE, "oracle", "virtualbox", "VirtualBox guest service (lscpu-virt.c)"),
    (0x5853, 0x0001, "xen", None, "Xen platform device (Linux drivers/xen/platform-pci.c)"),
    (0x15AD, None, "vmware", "vmware", "VMware virtual device (PCI_VENDOR_ID_VMWARE)"),
    (0x1414, None, "microsoft", "hyper-v", "Microsoft Hyper-V virtual device (PCI_VENDOR_ID_MICROSOFT)"),
    (0x1AB8, None, "parallels", "parallels", "Parallels virtual device"),
    (0x1234, 0x1111, None, "qemu", "QEMU standard VGA (QEMU PCI_VENDOR_ID_QEMU/PCI_DEVICE_ID_QEMU_VGA)"),
    (0x1B36, None, None, "qemu", "Red Hat QEMU device (QEMU PCI_VENDOR_ID_REDHAT: bridges, root ports, xhci)"),
    (0x1AF4, None, SOME_VM, None, "virtio device (PCI_VENDOR_ID_REDHAT_QUMRANET): every KVM-era VMM uses it"),
)
# QEMU's emulated non-virtio devices carry subsystem 1af4:1100 (QEMU include/hw/pci/pci.h
# PCI_SUBVENDOR_ID_REDHAT_QUMRANET, PCI_SUBDEVICE_ID_QEMU).
QEMU_SUBSYSTEM = (0x1AF4, 0x1100)

# --- the kernel's "Hypervisor detected: %s" (arch/x86/kernel/cpu/hypervisor.c, x86_hyper_*.name)
DMESG_NAMES = {
    "KVM": "kvm",
    "Microsoft Hyper-V": "microsoft",
    "VMware": "vmware",
    "Xen HVM": "xen",
    "Xen PV": "xen",
    "Jailhouse": "jailhouse",
    "ACRN": "acrn",
    "Bhyve": "bhyve",
}
# Compiled when dmesg is read, not at import: detect runs dmesg only when nothing cheaper decided.
_DMESG_RE = r"Hypervisor detected: (.+?)\s*$"


# --- pure parsers --------------------------------------------------------------------


def decode_signature(ebx: int, ecx: int, edx: int) -> str | None:
    """The 12-byte vendor signature of a hypervisor leaf (EBX, ECX, EDX), or None if it is not text."""
    raw = b"".join((x & 0xFFFFFFFF).to_bytes(4, "little") for x in (ebx, ecx, edx))
    if any(b != 0 and not 32 <= b < 127 for b in raw):
        return None
    text = raw.replace(b"\x00", b"").decode("ascii").strip()
    return text if len(text) >= 4 else None


def signature_id(sig: str) -> str:
    return TC.signature_id(sig, VM_OTHER)


def parse_acpi_header(data: bytes) -> tuple[str, str] | None:
    """(OEM ID, OEM table ID) of an ACPI table, or None if shorter than a header."""
    if len(data) < 24:
        return None
    return data[10:16].decode("latin-1"), data[16:24].decode("latin-1")


def acpi_vmm(oem: str, table: str) -> tuple[str | None, str | None] | None:
    """(vmm, hypervisor id) named by an ACPI OEM ID / table ID, or None."""
    for prefix, vmm, hv in ACPI_OEM_VMM:
        if oem.startswith(prefix) or table.startswith(prefix):
            return vmm, hv
    return None


dmi_id = TD.vendor_id
dmi_vmm = TD.vmm_id


def parse_xen_features(text: str) -> int | None:
    try:
        return int(text.strip(), 16)
    except ValueError:
        return None


def device_tree_strings(data: bytes) -> list[str]:
    """A device-tree string list property: NUL-separated strings. A copy made with `echo` or a
    text editor ends in a newline instead of a NUL: the same strings (issue 15)."""
    out = []
    for raw in data.split(b"\x00"):
        text = raw.decode("latin-1").strip("\r\n")
        if text:
            out.append(text)
    return out


class SysinfoLevel(NamedTuple):
    level: int  # 0 = the VM this Linux runs in (STSI 3.2.2 block 1), counting outwards
    name: str
    control_program: str


class Sysinfo(NamedTuple):
    manufacturer: str | None
    lpar_name: str | None
    levels: tuple[SysinfoLevel, ...]


def parse_sysinfo(text: str) -> Sysinfo:
    """s390 /proc/sysinfo (arch/s390/kernel/sysinfo.c): manufacturer, LPAR, and the VMnn blocks.

    STSI 3.2.2 lists the virtual-machine levels innermost first, so "VM00" is the
    hypervisor this Linux runs under and VM01 the one below it (KVM in z/VM).
    """
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in fields:
            fields[key.strip()] = " ".join(value.split())
    levels = []
    for n in range(100):
        cp = fields.get(f"VM{n:02d} Control Program")
        if cp is None:
            break
        levels.append(SysinfoLevel(n, fields.get(f"VM{n:02d} Name", ""), cp))
    return Sysinfo(fields.get("Manufacturer"), fields.get("LPAR Name"), tuple(levels))


def sysinfo_id(control_program: str) -> str:
    # systemd virt.c detect_vm_zvm(): "z/VM" is zvm, anything else (KVM/Linux) kvm.
    return "zvm" if control_program.startswith("z/VM") else "kvm" if "KVM" in control_program else VM_OTHER


def parse_lparcfg(text: str) -> dict[str, str]:
    """/proc/ppc64/lparcfg key=value lines (arch/powerpc/platforms/pseries/lparcfg.c)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        if sep:
            out.setdefault(k.strip(), v.strip())
    return out


def parse_pci_proc(text: str) -> list[tuple[str, int, int]]:
    """/proc/bus/pci/devices: (bus/devfn, vendor, device) per line (drivers/pci/proc.c)."""
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and len(parts[1]) == 8:
            try:
                out.append((parts[0], int(parts[1][:4], 16), int(parts[1][4:], 16)))
            except ValueError:
                continue
    return out


def parse_hex_id(text: str | None) -> int | None:
    try:
        return int((text or "").strip(), 16)
    except ValueError:
        return None


def pci_match(vendor: int, device: int) -> tuple[str | None, str | None, str] | None:
    for v, d, hv, vmm, what in PCI_IDS:
        if v == vendor and (d is None or d == device):
            return hv, vmm, what
    return None


def smbios_vm_bit(raw: bytes) -> bool | None:
    """SMBIOS type 0 BIOS Characteristics Extension Byte 2 bit 4, "virtual machine" (DSP0134 7.1.2.2).

    Offset 0x13 of the type 0 structure; the structure must be at least 0x14 bytes long
    (systemd virt.c detect_vm_smbios() makes the same check).
    """
    if len(raw) < 20 or raw[0] != 0 or raw[1] < 20:
        return None
    return bool(raw[19] & (1 << 4))


def dmesg_hypervisor(text: str) -> str | None:
    """The name in the kernel's "Hypervisor detected: NAME" line, if any."""
    m = re.search(_DMESG_RE, text, re.MULTILINE)
    return m.group(1).strip() if m else None


brand_hint = TC.brand_hint


# --- readers -------------------------------------------------------------------------


def _names(src: Source, rel: str) -> list[str] | None:
    """listdir without dot-files: sysfs and procfs have none, but a committed fixture keeps
    its empty folders with a ".keep"."""
    names = src.listdir(rel)
    return None if names is None else [n for n in names if not n.startswith(".")]


def read_cpuid_signatures(src: Source) -> list[Hint]:
    """Every distinct text signature in 0x40000000..0x4000FF00 (call only with the bit set)."""
    hints: list[Hint] = []
    seen: set[str] = set()
    for leaf in HYPERVISOR_LEAVES:
        look = src.cpuid(leaf)
        if not look.ok:
            if leaf == HYPERVISOR_LEAVES[0]:
                hints.append(Hint(CPUID, f"cpuid 0x{leaf:08x}", "", note=look.reason or "unreadable", unreadable=True))
            continue
        r = look.value
        if leaf == HYPERVISOR_LEAVES[0] and not (r.eax or r.ebx or r.ecx or r.edx):
            # A hypervisor that sets the bit answers here; all zeros means CPUID is emulated
            # by something in between that hides the range (gVisor's sentry does).
            why = "the hypervisor leaves read as zeros: CPUID is filtered here (a sandbox such as gVisor)"
            hints.append(Hint(CPUID, f"cpuid 0x{leaf:08x}", "0 0 0 0", note=why, unreadable=True))
            break
        sig = decode_signature(r.ebx, r.ecx, r.edx)
        if sig is None or sig in seen:
            continue  # out-of-range leaves may echo another leaf
        seen.add(sig)
        hints.append(Hint(CPUID, f"cpuid 0x{leaf:08x}", sig, signature_id(sig), CPUID_VMM.get(sig)))
    return hints


def read_dmi(src: Source) -> dict[str, FileRead]:
    """The DMI strings, read once per source: the hypervisor, cloud and platform readers all need them."""
    return src.once("dmi", lambda: {name: src.read(f"sys/class/dmi/id/{name}", limit=4096) for name in DMI_FILES})


def dmi_text(read: FileRead) -> str | None:
    """A DMI string without its trailing newline (sysfs) or NUL, None when unreadable."""
    text = read.text
    return text.strip().strip("\x00").strip() if text is not None else None


def dmi_hints(dmi: dict[str, FileRead]) -> list[Hint]:
    values = {name: t for name, r in dmi.items() if (t := dmi_text(r))}
    return [Hint(DMI, dmi[h.file].path, h.value, h.id, h.vmm, h.note) for h in TD.dmi_hypervisor(values)]


def read_acpi(src: Source) -> list[Hint]:
    hints: list[Hint] = []
    for table in ACPI_TABLES:
        read = src.read(f"sys/firmware/acpi/tables/{table}", limit=ACPI_READ_LIMIT)
        if read.data is None:
            if read.reason and not read.reason.startswith("not found"):
                hints.append(Hint(ACPI, f"{read.path}: OEM ID", "", note=read.reason, unreadable=True))
            continue
        header = parse_acpi_header(read.data)
        if header is None:
            continue
        oem, table_id = header
        shown = f"{oem.strip()} {table_id.strip()}"
        named = acpi_vmm(oem, table_id)
        if named:
            hints.append(Hint(ACPI, f"{read.path}: OEM ID", shown, named[1], named[0]))
            break
        hints.append(Hint(ACPI, f"{read.path}: OEM ID", shown, note="not a known VMM"))
    return hints


def firmware_masked(src: Source) -> Hint | None:
    """/sys/firmware present but empty: Docker, Podman and nspawn mount a tmpfs over it."""
    if not src.exists("sys/firmware"):
        return None
    if _names(src, "sys/firmware") == []:
        return Hint(MASK, src.path("sys/firmware"), "empty", note="masked (an empty tmpfs, as container engines mount)")
    return None


def read_acpi_devices(src: Source) -> list[Hint]:
    names = _names(src, "sys/bus/acpi/devices")
    if not names:
        return []
    hints = []
    for name in names:
        hid = name.rsplit(":", 1)[0]
        path = src.path(f"sys/bus/acpi/devices/{name}")
        if hid in ACPI_HID_VMM:
            vmm, hv, what = ACPI_HID_VMM[hid]
            hints.append(Hint(ACPI_DEV, path, hid, hv, vmm, what))
        elif hid in ACPI_HID_GENERIC:
            hints.append(Hint(ACPI_DEV, path, hid, SOME_VM, None, ACPI_HID_GENERIC[hid] + "; names no VMM"))
    return hints


def read_xen(src: Source) -> list[Hint]:
    hints: list[Hint] = []
    hv_type = src.read("sys/hypervisor/type", limit=256)
    if hv_type.text and hv_type.text.strip():
        t = hv_type.text.strip()
        hints.append(Hint(XEN, hv_type.path, t, "xen" if t == "xen" else VM_OTHER))
    features = src.read("sys/hypervisor/properties/features", limit=256)
    dom0 = False
    if features.text:
        bits = parse_xen_features(features.text)
        if bits is not None and bits >> XENFEAT_DOM0 & 1:
            dom0 = True
            hints.append(Hint(XEN_DOM0, features.path, features.text.strip(), "xen"))
    caps = src.read("proc/xen/capabilities", limit=4096)
    if caps.text is not None:
        if "control_d" in caps.text and not dom0:
            hints.append(Hint(XEN_DOM0, caps.path, caps.text.strip(), "xen"))
        elif not any(h.kind == XEN for h in hints):
            hints.append(Hint(XEN, caps.path, caps.text.strip() or "(empty: a domU)", "xen"))
    elif src.exists("proc/xen") and not hints:
        hints.append(Hint(XEN, src.path("proc/xen"), "present", "xen"))
    return hints


# arm64 VMMs that write the root compatible "linux,dummy-virt" into the FDT they build (QEMU
# hw/arm/virt.c, Firecracker src/vmm/src/arch/aarch64/fdt.rs, Cloud Hypervisor arch/src/aarch64/fdt.rs,
# kvmtool arm/fdt.c), and the nodes that tell some of them apart.
DUMMY_VIRT_VMMS = ("QEMU", "Firecracker", "Cloud Hypervisor", "kvmtool")
DT_VMM_NODES: tuple[tuple[str, str, str], ...] = (
    ("fw-cfg", "qemu", "QEMU's fw_cfg node (hw/arm/virt.c, hw/ppc/spapr.c)"),
    ("chosen/linux,pci-probe-only", "kvmtool", "kvmtool's chosen/linux,pci-probe-only (arm/fdt.c)"),
)


def read_device_tree(src: Source) -> tuple[list[Hint], bool]:
    """Hints from the flattened device tree (arm64, POWER, RISC-V), and whether it was readable.

    The rules are systemd's detect_vm_device_tree() (src/basic/virt.c): the
    `hypervisor` node's compatible; PowerVM from ibm,partition-name + hmc-managed?
    without QEMU's chosen/qemu,graphic-width; QEMU from an fw-cfg node or a
    `qemu,pseries` compatible. `linux,dummy-virt` is the root compatible that QEMU's
    arm `virt` board, Firecracker, Cloud Hypervisor and kvmtool all write: a VM, whose
    VMM only some nodes tell (DT_VMM_NODES). The tree counts as readable only when its
    root properties (compatible or model) were read: a tree holding only cpus/ is partial.
    """
    names = _names(src, "proc/device-tree")
    if names is None:
        return [], False
    hints: list[Hint] = []
    compat = src.read("proc/device-tree/compatible", limit=4096)
    model = src.read("proc/device-tree/model", limit=4096)
    readable = compat.data is not None or model.data is not None
    if not readable:
        why = f"only {', '.join(names[:4]) or 'nothing'} there: the root's compatible and model are missing"
        hints.append(Hint(DT, src.path("proc/device-tree"), "partial", note=why, unreadable=True))
    dt_hv = src.read("proc/device-tree/hypervisor/compatible", limit=4096)
    if dt_hv.data:
        strings = device_tree_strings(dt_hv.data)
        joined = ",".join(strings)
        hv = (
            "kvm"
            if "linux,kvm" in strings
            else "xen"
            if "xen" in joined
            else "vmware"
            if "vmware" in joined
            else VM_OTHER
        )
        hints.append(Hint(DT, dt_hv.path, " ".join(strings), hv))
    if "ibm,partition-name" in names and "hmc-managed?" in names:
        qemu = src.exists("proc/device-tree/chosen/qemu,graphic-width")
        part = src.read("proc/device-tree/ibm,partition-name", limit=4096)
        shown = " ".join(device_tree_strings(part.data)) if part.data else "present"
        if not qemu:
            hints.append(Hint(DT, part.path, shown, "powervm", None, "an LPAR of PowerVM (managed by an HMC)"))
    for node, vmm, what in DT_VMM_NODES:
        if "/" in node:
            if src.exists(f"proc/device-tree/{node}"):
                hints.append(Hint(DT, src.path(f"proc/device-tree/{node}"), node, None, vmm, what))
            continue
        found = next((n for n in names if n.startswith(node)), None)
        if found is not None:
            hints.append(Hint(DT, src.path(f"proc/device-tree/{found}"), found, None, vmm, what))
    if compat.data:
        strings = device_tree_strings(compat.data)
        if "qemu,pseries" in strings:
            hints.append(Hint(DT, compat.path, "qemu,pseries", None, "qemu", "QEMU's pseries machine"))
        elif "riscv-virtio" in strings:
            # QEMU hw/riscv/virt.c sets the root compatible "riscv-virtio" (under TCG and KVM alike).
            hints.append(Hint(DT, compat.path, "riscv-virtio", SOME_VM, "qemu", "QEMU's riscv virt machine"))
        elif "linux,dummy-virt" in strings:
            note = f"the root compatible that {', '.join(DUMMY_VIRT_VMMS)} all write: a VM"
            hints.append(Hint(DT, compat.path, "linux,dummy-virt", SOME_VM, None, note))
        elif any(x.startswith("apple,") for x in strings):
            hints.append(Hint(DT, compat.path, " ".join(strings), None, None, "an Apple device tree"))
        else:
            hints.append(Hint(DT, compat.path, " ".join(strings), note="not a virtual machine's board"))
    return hints, readable


def read_sysinfo(src: Source) -> tuple[list[Hint], Sysinfo | None]:
    read = src.read("proc/sysinfo", limit=65536)
    if read.text is None:
        return [], None
    info = parse_sysinfo(read.text)
    hints: list[Hint] = []
    for lv in info.levels:
        hv = sysinfo_id(lv.control_program)
        hints.append(
            Hint(
                SYSINFO,
                f"{read.path}: VM{lv.level:02d} Control Program",
                lv.control_program,
                hv,
                note=f"level {lv.level} ({'this guest' if lv.level == 0 else 'below it'}), name {lv.name!r}",
            )
        )
    if info.manufacturer == "QEMU":
        # QEMU's TCG fills STSI 1.1.1 with "QEMU" (target/s390x/tcg/misc_helper.c); under KVM it is the real machine's.
        hints.append(
            Hint(SYSINFO, f"{read.path}: Manufacturer", "QEMU", "qemu", "qemu", "QEMU emulates this machine (TCG)")
        )
    if info.lpar_name is not None:
        hints.append(
            Hint(
                SYSINFO,
                f"{read.path}: LPAR Name",
                info.lpar_name,
                None,
                note='a logical partition of PR/SM, the machine\'s firmware partitioning (lscpu says "PR/SM")',
            )
        )
    return hints, info


def cpuinfo_trailer(text: str) -> dict[str, str]:
    """The machine-wide lines POWER prints after the processor blocks (platform, model, machine:
    arch/powerpc/kernel/setup-common.c show_cpuinfo), as key -> value; the last block wins."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            fields = {}
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


POWERNV_NOTE = "OPAL firmware on bare metal (PowerNV): no hypervisor below this Linux"


def read_lparcfg(src: Source) -> list[Hint]:
    """POWER without a device tree: /proc/cpuinfo's platform and model, and /proc/ppc64/lparcfg.

    - `platform : PowerNV` is OPAL firmware on bare metal (arch/powerpc/platforms/powernv).
    - `platform : pSeries` with `model : IBM pSeries (emulated by qemu)`: QEMU's pseries machine
      (hw/ppc/spapr.c writes that model); KVM or TCG is not told here (virt-what says ibm_power-kvm).
    - `platform : pSeries` with any other model: a PowerVM LPAR (virt-what: ibm_power-lpar_shared or
      _dedicated from lparcfg's shared_processor_mode).
    """
    hints: list[Hint] = []
    read, _ = read_cpuinfo(src)
    trailer = cpuinfo_trailer(read.text or "")
    platform, model = trailer.get("platform"), trailer.get("model", "")
    lpar = src.read("proc/ppc64/lparcfg", limit=65536)
    fields = parse_lparcfg(lpar.text) if lpar.text is not None else {}
    mode = {"0": "dedicated", "1": "shared"}.get(fields.get("shared_processor_mode", ""), "")
    if platform == "PowerNV":
        hints.append(Hint(LPARCFG, f"{read.path}: platform", "PowerNV", None, note=POWERNV_NOTE))
    elif platform == "pSeries" and "emulated by qemu" in model:
        what = "QEMU's pseries machine (hw/ppc/spapr.c): KVM or TCG, which cpuinfo does not tell"
        hints.append(Hint(LPARCFG, f"{read.path}: model", model, None, "qemu", what))
    elif platform == "pSeries":
        note = "a PowerVM logical partition" + (f" ({mode} processors, lparcfg)" if mode else "")
        hints.append(Hint(LPARCFG, f"{read.path}: platform", f"pSeries, model {model}", "powervm", None, note))
    if lpar.text is not None and not hints:
        shown = ", ".join(f"{k}={fields[k]}" for k in ("partition_id", "system_type") if k in fields)
        hints.append(Hint(LPARCFG, lpar.path, shown or "present", None, note="a pseries logical partition"))
    return hints


def read_pci(src: Source) -> list[Hint]:
    """PCI vendor/device ids from sysfs, else /proc/bus/pci/devices (old snapshots)."""
    found: list[tuple[str, int, int, int | None, int | None]] = []
    names = _names(src, "sys/bus/pci/devices")
    if names:
        for name in names:
            base = f"sys/bus/pci/devices/{name}"
            vendor = parse_hex_id(src.read(f"{base}/vendor", limit=64).text)
            device = parse_hex_id(src.read(f"{base}/device", limit=64).text)
            if vendor is None or device is None:
                continue
            sv = parse_hex_id(src.read(f"{base}/subsystem_vendor", limit=64).text)
            sd = parse_hex_id(src.read(f"{base}/subsystem_device", limit=64).text) if sv == QEMU_SUBSYSTEM[0] else None
            found.append((src.path(base), vendor, device, sv, sd))
    else:
        read = src.read("proc/bus/pci/devices", limit=1 << 20)
        if read.text is None:
            return []
        found = [(f"{read.path}: {slot}", v, d, None, None) for slot, v, d in parse_pci_proc(read.text)]
    hints: list[Hint] = []
    seen: set[tuple[str | None, str | None]] = set()
    for path, vendor, device, sv, sd in found:
        ident = f"{vendor:04x}:{device:04x}"
        got = pci_match(vendor, device)
        if got is None and (sv, sd) == QEMU_SUBSYSTEM:
            got = (None, "qemu", "subsystem 1af4:1100, QEMU's emulated devices (QEMU PCI_SUBDEVICE_ID_QEMU)")
            ident += f" (subsystem {sv:04x}:{sd:04x})"
        if got is None or (got[0], got[1]) in seen:
            continue  # one row per kind of finding keeps the evidence short
        seen.add((got[0], got[1]))
        hints.append(Hint(PCI, path, ident, got[0], got[1], got[2]))
    return hints


def read_small_markers(src: Source) -> list[Hint]:
    """/sys/bus/vmbus (Hyper-V's bus) and /sys/firmware/qemu_fw_cfg (QEMU's fw_cfg driver)."""
    hints = []
    vmbus = _names(src, "sys/bus/vmbus/devices")
    if vmbus:
        hints.append(Hint(VMBUS, src.path("sys/bus/vmbus/devices"), f"{len(vmbus)} devices", "microsoft", "hyper-v"))
    if src.exists("sys/firmware/qemu_fw_cfg"):
        hints.append(Hint(FW_CFG, src.path("sys/firmware/qemu_fw_cfg"), "present", None, "qemu", "QEMU's fw_cfg"))
    return hints


def read_brand(src: Source) -> list[Hint]:
    read, fields = read_cpuinfo(src)
    if fields.get("vendor_id") == "User Mode Linux":
        # arch/um/kernel/um_arch.c show_cpuinfo(); systemd virt.c detect_vm_uml() reads the same line.
        return [
            Hint(BRAND, f"{read.path}: vendor_id", "User Mode Linux", "uml", "uml", "this kernel is User Mode Linux")
        ]
    if fields.get("CPU implementer") == "0x00":
        # Implementer 0 is "reserved for software use" (Arm ARM, MIDR_EL1): QEMU's `max` CPU
        # under TCG (target/arm/cpu64.c aarch64_max_initfn); under KVM the MIDR is the host's.
        part = fields.get("CPU part", "")
        what = f"MIDR implementer 0x00, part {part}: QEMU's software-defined `max` CPU (TCG)"
        return [Hint(BRAND, f"{read.path}: CPU implementer", "0x00", "qemu", "qemu", what)]
    if fields.get("isa", "").startswith("rv") and fields.get("mvendorid") == "0x0":
        # RISC-V: QEMU's generic CPUs (rv64, max) report mvendorid 0 under TCG (target/riscv/cpu.c); under
        # KVM the vCPU reports the host core's JEDEC vendor id. Decisive only beside QEMU's riscv board.
        what = "mvendorid 0: QEMU's generic RISC-V CPU under TCG (real cores report their vendor's id)"
        return [Hint(BRAND, f"{read.path}: mvendorid", "0x0", None, None, what)]
    model = fields.get("model name")
    source = f"{read.path}: model name"
    if not model:
        # No cpuinfo model name (a snapshot without /proc/cpuinfo): the CPU's own brand string.
        model, source = read_cpuid_brand(src), f"cpuid 0x{TC.BRAND_LEAVES[0]:08x}..0x{TC.BRAND_LEAVES[-1]:08x}"
    got = brand_hint(model) if model else None
    if not got:
        return []
    return [Hint(BRAND, source, model or "", got[0], "qemu", got[1])]


def parse_brand(regs: list[tuple[int, int, int, int]]) -> str | None:
    """The 48-byte processor brand string of CPUID 0x80000002..4 (EAX, EBX, ECX, EDX each), or None."""
    raw = b"".join((x & 0xFFFFFFFF).to_bytes(4, "little") for r in regs for x in r)
    text = raw.split(b"\x00", 1)[0].decode("ascii", errors="replace").strip()
    return text or None


def read_cpuid_brand(src: Source) -> str | None:
    looks = [src.cpuid(leaf) for leaf in TC.BRAND_LEAVES]
    if not all(x.ok for x in looks):
        return None
    return parse_brand([(x.value.eax, x.value.ebx, x.value.ecx, x.value.edx) for x in looks])


# Guest-side kernel modules (/proc/modules) and files only a hypervisor's guest has. A module binds to
# a device (its modalias), so a guest driver is loaded where the hypervisor's device is. Host-side
# modules (vboxdrv, vmmon, kvm) are not listed. module -> (hypervisor id, vmm)
GUEST_MODULES: dict[str, tuple[str, str | None]] = {
    **{m: ("oracle", "virtualbox") for m in ("vboxguest", "vboxsf", "vboxvideo")},
    **{m: ("vmware", "vmware") for m in ("vmw_balloon", "vmw_vmci", "vmw_pvscsi", "vmxnet3", "vmwgfx")},
    **{m: ("microsoft", "hyper-v") for m in ("hv_vmbus", "hv_netvsc", "hv_storvsc", "hv_utils", "hv_balloon")},
    **{m: ("xen", None) for m in ("xen_blkfront", "xen_netfront", "xenfs", "xen_privcmd", "xen_gntdev")},
}
# (path, hypervisor id, vmm, what)
GUEST_FILES: tuple[tuple[str, str, str | None, str], ...] = (
    ("var/lib/hyperv/.kvp_pool_0", "microsoft", "hyper-v", "Hyper-V's KVP pool (hv_kvp_daemon, guests only)"),
    ("dev/xen/evtchn", "xen", None, "Xen's event channel device (a Xen guest or dom0)"),
)


def parse_modules(text: str) -> list[str]:
    """Module names of /proc/modules (kernel/module/procfs.c: the name first on each line)."""
    return [line.split(None, 1)[0] for line in text.splitlines() if line.strip()]


def read_guest_files(src: Source) -> list[Hint]:
    """Hypervisors shown by files rather than CPUID: guest drivers, the KVP pool, Xen devices."""
    hints: list[Hint] = []
    mods = src.read("proc/modules", limit=1 << 20)
    seen: set[str] = set()
    for name in parse_modules(mods.text or ""):
        got = GUEST_MODULES.get(name)
        if got is not None and got[0] not in seen:
            seen.add(got[0])
            what = "a guest driver of that hypervisor"
            hints.append(Hint(MODULE, f"{mods.path}: {name}", name, got[0], got[1], what))
    for rel, hv, vmm, what in GUEST_FILES:
        if hv not in seen and src.exists(rel):
            seen.add(hv)
            hints.append(Hint(MODULE, src.path(rel), "exists", hv, vmm, what))
    if "xen" not in seen:
        xvd = [n for n in (_names(src, "dev") or ()) if n.startswith("xvd")]
        if xvd:
            hints.append(Hint(MODULE, src.path(f"dev/{xvd[0]}"), xvd[0], "xen", None, "a Xen virtual block device"))
    return hints


def read_smbios_bit(src: Source) -> list[Hint]:
    read = src.read("sys/firmware/dmi/entries/0-0/raw", limit=4096)
    if read.data is None:
        return []
    bit = smbios_vm_bit(read.data)
    if bit:
        return [
            Hint(SMBIOS_BIT, f"{read.path}: byte 19 bit 4", "set", SOME_VM, None, 'the SMBIOS "virtual machine" bit')
        ]
    return []


def read_dmesg(src: Source) -> list[Hint]:
    """The kernel's "Hypervisor detected:" line. Call only when nothing cheaper decided: dmesg is a command."""
    got = src.command("dmesg")
    if not got.ok:
        return [Hint(DMESG, "command: dmesg", "", note=got.reason or "unreadable", unreadable=True)]
    text = got.value.decode("utf-8", "replace")
    name = dmesg_hypervisor(text)
    if name is None:
        if boot_log_complete(text):
            return [Hint(DMESG, "command: dmesg", "no 'Hypervisor detected:' line", None, None, NO_HV_LINE)]
        return []
    return [Hint(DMESG, "command: dmesg", f"Hypervisor detected: {name}", DMESG_NAMES.get(name, VM_OTHER))]


# arch/x86/kernel/cpu/hypervisor.c prints "Hypervisor detected" for every signature it knows (KVM,
# Hyper-V, VMware, Xen, Jailhouse, ACRN, bhyve): its absence from a whole boot log is the kernel's word.
NO_HV_LINE = (
    "the whole boot log (from the kernel's first line) has no such line: the kernel recognised no "
    "hypervisor signature, so this is not KVM"
)


def boot_log_complete(text: str) -> bool:
    """Does the log start at boot (its ring buffer has not wrapped)? The kernel's first line is
    "Linux version ..." at time 0 (init/main.c start_kernel, linux_banner). Compiled here, not at
    import: detect's live path rarely reads dmesg, and a pattern costs import time."""
    return re.search(r"^\[\s*0\.0+\] Linux version ", text, re.MULTILINE) is not None
