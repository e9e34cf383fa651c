"""The hypervisor underneath, every layer of it that shows: gather the hints, then decide.

The readers are in detection/hv_readers.py (one per source, each returning `Hint`s),
the VMM decision in detection/vmm.py. This module holds `decide()`, the one set of
rules, and turns hints into evidence rows. Identifiers follow systemd-detect-virt
(src/basic/virt.c) where one exists; the table is in docs/detect.md and the rules in
docs/detection.md ("Hypervisor and VMM").

Rules, strongest first (the first that applies decides):
1. Xen says this is dom0: xen, role host. User Mode Linux says so in cpuinfo: uml.
2. DMI naming a product that is known to be right even when CPUID says otherwise
   (VirtualBox and Parallels offer KVM/Hyper-V paravirt interfaces; Amazon Nitro
   is KVM-based; Xen HVM). "Amazon EC2" with the hypervisor bit clear is a
   metal instance: none.
3. A Xen interface with no CPUID signature: a Xen PV guest.
4. Raw CPUID signatures (0x40000000..): the first, unless it is "Microsoft Hv"
   followed by another hypervisor's (KVM or Xen offering Hyper-V enlightenments).
5. s390 /proc/sysinfo: "Manufacturer: QEMU" is TCG; else the VM00 control program
   (z/VM -> zvm, KVM/Linux -> kvm). The other levels are further layers.
6. The device tree: the hypervisor node, PowerVM, then QEMU's nodes.
   (4b: with CPUID unreadable, the kernel's own "Hypervisor detected:" line.)
7. Firmware and devices that name a hypervisor (DMI, ACPI, VMBus, PCI ids, the
   CPU model name, QEMU's devices).
8. A hypervisor bit, an SMBIOS VM bit or virtio devices with no name: vm-other.
9. `none` only when the bit (or the s390/device-tree sources) was readable and
   clear AND the firmware tables were readable and showed nothing; else null,
   with a row saying what could not be read.
"""

from __future__ import annotations

from virtprobe.detection import hv_readers as R
from virtprobe.detection.cpu import HypervisorBit, read_hypervisor_bit
from virtprobe.detection.hv_readers import SOME_VM, VM_OTHER, Hint
from virtprobe.detection.model import (
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
from virtprobe.detection.vmm import decide_vmm
from virtprobe.lean_typing import NamedTuple
from virtprobe.machine.source import Source

TOPIC = "hypervisor"

_STRONG_DMI = ("oracle", "amazon", "parallels", "xen")
# Pairs (hint id, verdict id) that describe the same hypervisor.
_SAME = {("google", "kvm"), ("kvm", "amazon"), ("kvm", "google"), ("qemu", "kvm"), ("bochs", "qemu")}


class Hints:
    """Everything the readers saw, by source (a plain class: a dataclass costs ~0.5 ms at import)."""

    def __init__(self, bit: HypervisorBit) -> None:
        self.bit = bit
        self.cpuid: list[Hint] = []
        self.dmi: list[Hint] = []
        self.dmi_reason: str | None = None  # set when no DMI file could be read
        self.firmware: list[Hint] = []  # ACPI, ACPI devices, PCI, VMBus, fw_cfg, brand, SMBIOS
        self.xen: list[Hint] = []
        self.dt: list[Hint] = []
        self.dt_readable = False
        self.sysinfo: list[Hint] = []
        self.lparcfg: list[Hint] = []
        self.dmesg: list[Hint] = []
        self.masked: Hint | None = None

    def all(self) -> list[Hint]:
        return [*self.cpuid, *self.dmi, *self.firmware, *self.xen, *self.dt, *self.sysinfo, *self.lparcfg, *self.dmesg]


class Decision(NamedTuple):
    id: str | None
    role: str | None = None
    decisive: Hint | None = None
    overruled: tuple[Hint, ...] = ()
    note: str = ""


def gather(src: Source) -> Hints:
    """Run every reader. Cheap file reads only; dmesg (a command) is read later, only if needed."""
    bit = read_hypervisor_bit(src)
    h = Hints(bit=bit)
    if bit.on:
        h.cpuid = R.read_cpuid_signatures(src)
    dmi = R.read_dmi(src)
    h.dmi = R.dmi_hints(dmi)
    if not any(r.ok for r in dmi.values()):
        h.dmi_reason = "; ".join(sorted({r.reason or "unreadable" for r in dmi.values()}))
    h.masked = R.firmware_masked(src)
    h.firmware = [
        *R.read_acpi(src),
        *R.read_acpi_devices(src),
        *R.read_small_markers(src),
        *R.read_pci(src),
        *R.read_brand(src),
        *R.read_smbios_bit(src),
    ]
    h.xen = R.read_xen(src)
    h.dt, h.dt_readable = R.read_device_tree(src)
    h.sysinfo, _ = R.read_sysinfo(src)
    h.lparcfg = R.read_lparcfg(src)
    return h


def _named(hints: list[Hint]) -> list[Hint]:
    return [x for x in hints if x.id and x.id != SOME_VM and not x.unreadable]


def decide(h: Hints) -> Decision:
    """The hypervisor from the hints: the first rule that applies (module docstring, docs/detection.md)."""
    rules = (_host_or_uml, _strong_dmi, _xen_pv, _cpuid, _s390, _device_tree, _power, _firmware_named, _unnamed)
    for rule in rules:
        d = rule(h)
        if d is not None:
            return d
    return _none_or_unknown(h)


def _host_or_uml(h: Hints) -> Decision | None:
    """Rule 1."""
    dom0 = next((x for x in h.xen if x.kind == R.XEN_DOM0), None)
    if dom0 is not None:
        return Decision("xen", "host", dom0, (), "Xen dom0: this machine is the Xen host's control domain")
    uml = next((x for x in h.firmware if x.id == "uml"), None)
    if uml is not None:
        return Decision("uml", None, uml, (), "the kernel itself runs as a process of another Linux")
    return None


def _strong_dmi(h: Hints) -> Decision | None:
    """Rule 2: DMI naming a product that offers another hypervisor's CPUID interface."""
    strong = next((x for x in h.dmi if x.id in _STRONG_DMI), None)
    if strong is None:
        return None
    if strong.id == "amazon" and h.bit.on is False:
        return Decision(NONE, None, strong, (), "Amazon EC2 firmware with no hypervisor bit: an EC2 metal instance")
    over = tuple(s for s in _named(h.cpuid) if s.id != strong.id)
    why = "firmware names the product; its CPUID signature may be a paravirt interface it offers"
    return Decision(strong.id, None, strong, over, why)


def _xen_pv(h: Hints) -> Decision | None:
    """Rule 3."""
    xen = [x for x in h.xen if x.kind == R.XEN]
    if not xen or _named(h.cpuid):
        return None
    return Decision(
        xen[0].id, None, xen[0], (), "Xen interface without a CPUID signature: a paravirtualized (PV) guest"
    )


def _cpuid(h: Hints) -> Decision | None:
    """Rule 4: raw CPUID signatures; with CPUID unreadable, the kernel's own line."""
    sigs = _named(h.cpuid)
    if sigs:
        pick, note = sigs[0], ""
        over: tuple[Hint, ...] = ()
        if pick.id == "microsoft":
            other = next((s for s in sigs[1:] if s.id != "microsoft"), None)
            if other is not None:
                over, pick = (pick,), other
                note = f"{other.value} behind a Hyper-V interface: {other.id} offering Hyper-V enlightenments"
        return Decision(pick.id, None, pick, over, note)
    dmesg = _named(h.dmesg)
    if dmesg and not any(x.kind == R.CPUID and not x.unreadable for x in h.cpuid):
        return Decision(dmesg[0].id, None, dmesg[0], (), "the kernel's own hypervisor detection (CPUID)")
    return None


def _s390(h: Hints) -> Decision | None:
    """Rule 5."""
    s390 = _named(h.sysinfo)
    if not s390:
        return None
    tcg = next((x for x in s390 if x.id == "qemu"), None)
    if tcg is not None:
        why = "QEMU's STSI answer under TCG says KVM/Linux too; the manufacturer QEMU tells TCG"
        return Decision("qemu", None, tcg, (), why)
    return Decision(s390[0].id, None, s390[0], (), "the VM00 block is the hypervisor this Linux runs under")


def _device_tree(h: Hints) -> Decision | None:
    """Rule 6."""
    dt = _named(h.dt)
    if dt:
        return Decision(dt[0].id, None, dt[0])
    tcg_cpu = next((x for x in h.firmware if x.kind == R.BRAND and x.id == "qemu"), None)
    dummy = next((x for x in h.dt if x.value == "linux,dummy-virt"), None)
    if dummy is not None:
        if tcg_cpu is not None:
            return Decision("qemu", None, tcg_cpu, (), "linux,dummy-virt with QEMU's software-defined CPU: TCG")
        if any(x.vmm == "qemu" for x in h.dt):
            # QEMU's virt board runs under KVM, and under TCG with a named CPU model (-cpu cortex-a57),
            # whose MIDR is a real core's: the tree cannot tell them apart.
            why = "QEMU's arm virt machine with a real core's MIDR: KVM, or TCG with a named CPU model"
            return Decision(None, None, None, (), why)
        why = (
            f"linux,dummy-virt without QEMU's fw-cfg node: {', '.join(R.DUMMY_VIRT_VMMS[1:])} run only on KVM "
            "(the CPU is a real one's, not TCG's `max`)"
        )
        return Decision("kvm", None, dummy, (), why)
    riscv = next((x for x in h.dt if x.value == "riscv-virtio"), None)
    if riscv is not None:
        tcg = next((x for x in h.firmware if x.kind == R.BRAND and x.value == "0x0"), None)
        if tcg is not None:
            return Decision("qemu", None, tcg, (), "QEMU's riscv virt machine with QEMU's generic CPU: TCG")
        return Decision("kvm", None, riscv, (), "QEMU's riscv virt machine with a real core's vendor id: KVM")
    qemu_dt = next((x for x in h.dt if x.vmm == "qemu"), None)
    if qemu_dt is None:
        return None
    note = (
        "a QEMU machine with QEMU's own CPU model: TCG"
        if tcg_cpu is not None
        else "a QEMU machine; the device tree cannot tell KVM from TCG here, and systemd says qemu too"
    )
    return Decision("qemu", None, qemu_dt, (), note)


def _power(h: Hints) -> Decision | None:
    """Rule 6b: POWER without a device tree: cpuinfo's platform and model (virt-what's rule)."""
    lpar = next((x for x in h.lparcfg if x.id == "powervm"), None)
    if lpar is not None:
        return Decision("powervm", None, lpar, (), "")
    qemu = next((x for x in h.lparcfg if x.vmm == "qemu"), None)
    if qemu is not None:
        why = (
            "QEMU's pseries; without the device tree's hypervisor node (QEMU adds it under KVM) KVM is not "
            "told from TCG, and systemd says qemu for a pseries without that node"
        )
        return Decision("qemu", None, qemu, (), why)
    return None


def _cpuid_read(h: Hints) -> bool:
    """Were the hypervisor CPUID leaves read (so that "no KVM signature" means something)? The kernel's
    own detection counts: a whole boot log without "Hypervisor detected" saw no KVM signature."""
    if h.bit.on is True and not any(x.unreadable for x in h.cpuid):
        return True
    return any(x.kind == R.DMESG and x.value.startswith("no ") for x in h.dmesg)


def _unnamed(h: Hints) -> Decision | None:
    """Rule 8: a VM that nothing names (or whose CPUID leaves are hidden)."""
    bit = h.bit.on
    hidden = next((x for x in h.cpuid if x.unreadable), None)
    if bit and hidden is not None:
        # A VM for sure, but which hypervisor the leaves would have said cannot be known.
        return Decision(None, None, None, (), f"hypervisor bit set, but {hidden.source} cannot tell: {hidden.note}")
    if bit is False:
        return None
    unnamed = [x for x in h.all() if x.id == SOME_VM] if bit is None else []
    if not bit and not unnamed:
        return None
    why = "hypervisor bit set" if bit else f"{unnamed[0].value} ({unnamed[0].note})"
    return Decision(
        VM_OTHER, None, None if bit else unnamed[0], (), f"{why}, but no signature or firmware string names it"
    )


def _firmware_named(h: Hints) -> Decision | None:
    """Rule 7: DMI, firmware/device ids, the CPU model name, the kernel's line."""
    bit = h.bit.on
    brand = next((x for x in h.firmware if x.kind == R.BRAND), None)
    dmi = _named(h.dmi)
    if dmi:
        pick = dmi[0]
        if pick.id == "bochs" and brand is not None and brand.id == "qemu":
            return Decision(
                "qemu", None, brand, (pick,), "Bochs firmware strings with QEMU's CPU model: SeaBIOS's defaults on QEMU"
            )
        note = "the CPUID hypervisor bit is hidden, but the firmware is a hypervisor's" if bit is False else ""
        return Decision(pick.id, None, pick, (), note)
    fw = _named([x for x in h.firmware if x.kind != R.BRAND])
    if bit is False:
        # With the bit clear only firmware tables written by a VMM count, not device ids.
        fw = [x for x in fw if x.kind in (R.ACPI, R.VMBUS)]
    if fw:
        return Decision(fw[0].id, None, fw[0])
    unread = "QEMU, under KVM or TCG: the CPUID leaf 0x40000000 that tells them apart was not read"
    # QEMU's qemu64 CPU model runs under KVM too (libvirt's old default): only a TCG-only model decides.
    qemu64 = brand is not None and brand.id == "qemu" and brand.value.startswith("QEMU Virtual CPU")
    if brand is not None and brand.id and bit is not False:
        if qemu64 and not _cpuid_read(h):
            return Decision(None, None, None, (), unread)
        return Decision(brand.id, None, brand, (), f"{brand.note}: a QEMU guest")
    qemu_vmm = next((x for x in h.firmware if x.vmm == "qemu"), None)
    if qemu_vmm is not None and bit is not False:
        if not _cpuid_read(h):
            return Decision(None, None, None, (), unread)
        return Decision("qemu", None, qemu_vmm, (), "QEMU's devices and no KVM signature")
    return None


def _none_or_unknown(h: Hints) -> Decision:
    """Rule 9: `none` needs readable sources that showed nothing."""
    bit = h.bit.on
    lpar = next((x for x in h.sysinfo if x.source.endswith("LPAR Name")), None)
    if lpar is not None and not _named(h.sysinfo):
        return Decision(
            NONE,
            None,
            lpar,
            (),
            f"an s390 LPAR ({lpar.value}), no z/VM or KVM level: none, as systemd says (docs/detection.md)",
        )
    powernv = next((x for x in h.lparcfg if x.value == "PowerNV"), None)
    if powernv is not None:
        return Decision(NONE, None, powernv, (), R.POWERNV_NOTE)
    if bit is False and h.dmi_reason is None:
        return Decision(NONE, None, None, (), "hypervisor bit clear and no virtual firmware strings")
    if bit is False:
        # lscpu, systemd-detect-virt and virt-what say none here too: unreadable firmware is a caveat
        # (an evidence row), not a veto (issue 15).
        why = "hypervisor bit clear (a kernel that prints the flag); DMI could not be read, which is only a caveat"
        return Decision(NONE, None, None, (), why)
    if bit is None and h.dt_readable:
        return Decision(NONE, None, None, (), "the device tree was readable and shows no hypervisor")
    missing = []
    if bit is None:
        missing.append(f"the hypervisor bit ({h.bit.note})")
    if h.dmi_reason is not None:
        missing.append(f"DMI ({h.dmi_reason})")
    why = "cannot tell: " + "; ".join(missing or ["no source could be read"])
    if bit is False:
        why += "; a clear hypervisor bit alone does not rule out a hypervisor that hides it"
    return Decision(None, None, None, (), why)


def _weigh(x: Hint, d: Decision) -> tuple[str, str]:
    if x.unreadable:
        return UNKNOWN, x.note
    if x is d.decisive:
        return DECISIVE, "; ".join(n for n in (x.note, d.note) if n)
    if x in d.overruled:
        return OVERRULED, f"the real hypervisor is {d.id}" + (f"; {x.note}" if x.note else "")
    if x.id is not None and x.id == d.id:
        return SUPPORTING, x.note
    if x.id is not None and (x.id, d.id) in _SAME:
        return SUPPORTING, f"{x.id} and {d.id} describe the same machine" + (f"; {x.note}" if x.note else "")
    if (x.id == SOME_VM or (x.id is None and x.vmm)) and d.id not in (None, NONE):
        return SUPPORTING, x.note  # a VMM's device or string proves a VM
    if d.id == NONE and (x.id is not None or x.value.startswith("Microsoft Corporation")):
        return OVERRULED, x.note or "no hypervisor bit: these are not a hypervisor's strings"
    return CONSIDERED, x.note


def _layers(h: Hints, d: Decision) -> tuple[Layer, ...]:
    """Every CPUID signature, then what decided, the Xen and device-tree interfaces, the s390 levels."""
    out: list[Layer] = []
    cands = [*((x, True) for x in h.cpuid), *((x, False) for x in [*h.dmi, *h.firmware, *h.xen, *h.dt, *h.sysinfo])]
    for x, is_sig in cands:
        worthy = is_sig or x is d.decisive or x.kind in (R.XEN, R.DT, R.SYSINFO)
        hv = x.id or (d.id if x is d.decisive else None)
        if not worthy or not hv or hv in (NONE, SOME_VM) or x.unreadable:
            continue
        if d.id == "qemu" and x.kind == R.SYSINFO and hv == "kvm":
            continue  # QEMU's TCG answers "KVM/Linux" in STSI 3.2.2; it is not a KVM layer
        if not any(layer.id == hv for layer in out):
            out.append(Layer(hv, x.source, x.value if is_sig else None))
    return tuple(out)


def evidence(h: Hints, d: Decision) -> list[Evidence]:
    ev: list[Evidence] = []
    b = h.bit
    if b.on is None:
        ev.append(Evidence(TOPIC, b.source, b.value, UNKNOWN, None, b.note))
    else:
        if d.id == NONE or (d.decisive is None and d.id == VM_OTHER):
            w = DECISIVE
        elif b.on and d.id is not None:
            w = SUPPORTING
        elif not b.on and d.id is not None and d.role != "host":
            w = OVERRULED  # a PV guest or a hidden bit: another source proved a hypervisor
        else:
            w = CONSIDERED
        ev.append(Evidence(TOPIC, b.source, b.value, w, None, d.note if w == DECISIVE else ""))
    if b.overruled is not None:
        ev.append(Evidence(TOPIC, b.overruled[0], b.overruled[1], OVERRULED, None, b.overruled[2]))
    for x in h.all():
        w, note = _weigh(x, d)
        ev.append(Evidence(TOPIC, x.source, x.value, w, x.id if x.id != SOME_VM else None, note))
    if h.dmi_reason is not None:
        ev.append(Evidence(TOPIC, "/sys/class/dmi/id", "", UNKNOWN if d.id is None else CONSIDERED, None, h.dmi_reason))
    if h.masked is not None:
        ev.append(Evidence(TOPIC, h.masked.source, h.masked.value, CONSIDERED, None, h.masked.note))
    if d.id is None:
        ev.append(Evidence(TOPIC, "verdict: hypervisor", "unknown", UNKNOWN, None, d.note))
    return ev


def probe_hypervisor(src: Source) -> tuple[HypervisorResult, list[Evidence]]:
    h = gather(src)
    d = decide(h)
    # The kernel's "Hypervisor detected:" line is a command, and guest drivers and files are a
    # dozen more reads: read them from a snapshot always, live only when the cheap sources left
    # the answer open (never on the x86 fast path, where CPUID decides).
    if not src.is_live or d.id in (None, VM_OTHER):
        h.firmware = [*h.firmware, *R.read_guest_files(src)]
        d = decide(h)
    if not src.is_live or d.id in (None, VM_OTHER):
        h.dmesg = R.read_dmesg(src)
        d = decide(h)
        if d.id is not None:
            h.dmesg = [x for x in h.dmesg if not x.unreadable]  # a missing log did not matter
    role = d.role if d.role is not None else ("guest" if d.id not in (None, NONE) else None)
    vmm, vmm_rows = decide_vmm(TOPIC, d.id, h.all(), h.masked)
    ev = evidence(h, d)
    ev.extend(vmm_rows)
    return HypervisorResult(id=d.id, vmm=vmm, layers=_layers(h, d), role=role), ev
