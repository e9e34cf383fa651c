"""Confidential VMs: is this a guest whose memory and registers its hypervisor cannot read?

The ids are systemd-detect-virt --cvm's (src/basic/confidential-virt.c, whose
constants and order of checks this follows, as read in systemd 254.26): `sev`,
`sev-es`, `sev-snp`, `tdx`, `protvirt` (IBM Z Secure Execution), `cca` (Arm
CCA realm), `none`; null when the sources could not tell.

Readers, by architecture:
- x86, as systemd does it: no hypervisor bit means bare metal (`none`). On AMD
  (and, unlike systemd, Hygon, whose CSV is SEV under another name), CPUID 0x8000001F EAX bit 1
  says SEV is supported, and the SEV status MSR 0xC0010131 bits 0/1/2 say SEV,
  SEV-ES, SEV-SNP are active (AMD APM vol. 2, 15.34.10). Azure hides 0x8000001F
  from its SNP guests, so a Hyper-V guest with isolation (0x40000003 EBX bit 22,
  and not bit 12 "CPU management", which only the root partition has) is read
  from 0x4000000C EBX[3:0]: 2 = SNP, 3 = TDX (Hyper-V TLFS, "Isolation
  configuration"). On Intel, CPUID leaf 0x21 reads "IntelTDX    " inside a TDX
  guest (arch/x86/coco/tdx/tdx.c, tdx_early_init).
- The kernel's own view, readable without root: the `tdx_guest` cpuinfo flag
  (X86_FEATURE_TDX_GUEST), /dev/tdx_guest and /dev/sev-guest (the attestation
  drivers, which bind only in a TDX or an SNP guest), and the boot line
  "Memory Encryption Features active: ..." (arch/x86/mm/mem_encrypt.c).
- s390x: /sys/firmware/uv/prot_virt_guest reads 1 (arch/s390/kernel/uv.c).
- arm64: the platform device /sys/devices/platform/arm-cca-dev, which a realm
  guest kernel registers (arch/arm64/kernel/rsi.c, Linux 6.13).

The SEV MSR needs root. Without it, and with no kernel hint, the answer is null
("needs root to read the SEV MSR"), never `none` (systemd answers `none` there,
because its msr() returns 0 when /dev/cpu/0/msr cannot be read). `cca` is from
systemd releases after 254; systemd has no source on other architectures and
says `none`, where virtprobe says null.
"""

from __future__ import annotations

import re

from virtprobe.detection.cpu import parse_flags, read_cpuinfo, read_hypervisor_bit
from virtprobe.detection.model import (
    CONSIDERED,
    DECISIVE,
    NONE,
    OVERRULED,
    SUPPORTING,
    UNKNOWN,
    CvmResult,
    Evidence,
)
from virtprobe.lean_typing import NamedTuple
from virtprobe.machine.source import Source

TOPIC = "cvm"
IDS = (NONE, "sev", "sev-es", "sev-snp", "tdx", "protvirt", "cca")

MSR_AMD64_SEV = 0xC0010131
MSR_SEV, MSR_SEV_ES, MSR_SEV_SNP = 1 << 0, 1 << 1, 1 << 2
LEAF_AMD_MEM_ENCRYPT = 0x8000001F
EAX_SEV = 1 << 1
LEAF_INTEL_TDX = 0x21
TDX_SIGNATURE = "IntelTDX    "
HYPERV_SIGNATURE = "Microsoft Hv"
HYPERV_FEATURES, HYPERV_ISOLATION_CONFIG = 0x40000003, 0x4000000C
HYPERV_MIN, HYPERV_MAX = 0x40000005, 0x4000FFFF  # systemd's CPUID_HYPERV_MIN/MAX
EBX_ISOLATION, EBX_CPU_MANAGEMENT = 1 << 22, 1 << 12
HYPERV_ISOLATION_IDS = {2: "sev-snp", 3: "tdx"}  # 1 is VBS (software isolation): not a CVM

SEV_NEEDS_ROOT = "needs root to read the SEV MSR 0xC0010131 (/dev/cpu/0/msr, msr module)"

# "Memory Encryption Features active: AMD SEV SEV-ES SEV-SNP" (Linux >= 5.18) and the
# older "AMD Memory Encryption Features active: SEV SEV-ES" (5.x). Compiled when dmesg is read,
# not at import: detect runs dmesg only when the registers could not answer.
_MEM_ENCRYPT = r"(?:AMD )?Memory Encryption Features active:[ \t]*([^\n]*)"


class Seen(NamedTuple):
    """What one source showed: the id it points to ("none" included), or None when unreadable."""

    source: str
    value: str
    points_to: str | None
    note: str = ""

    def row(self, weight: str, note: str | None = None) -> Evidence:
        return Evidence(TOPIC, self.source, self.value, weight, self.points_to, self.note if note is None else note)


def _regs_text(sig: bytes) -> str:
    return sig.decode("latin-1")


def parse_mem_encrypt(text: str) -> tuple[str, str] | None:
    """(line, id) for the kernel's memory-encryption boot line; id "none" for host-only SME."""
    m = re.search(_MEM_ENCRYPT, text)
    if m is None:
        return None
    feats = m.group(1).split()
    line = m.group(0).strip()
    if "TDX" in feats:
        return line, "tdx"
    for feat, cvm in (("SEV-SNP", "sev-snp"), ("SEV-ES", "sev-es"), ("SEV", "sev")):
        if feat in feats:
            return line, cvm
    return line, NONE  # "AMD SME": the host encrypts its own memory; not a guest


def cvm_from_sev_status(value: int) -> str:
    """The id of an SEV status MSR value: SNP implies ES implies SEV (systemd's order)."""
    if value & MSR_SEV_SNP:
        return "sev-snp"
    if value & MSR_SEV_ES:
        return "sev-es"
    if value & MSR_SEV:
        return "sev"
    return NONE


def read_kernel_hints(src: Source, with_dmesg: bool = True) -> list[Seen]:
    """The kernel's own signs, none of which needs root (dmesg may: dmesg_restrict).

    dmesg is a command (a fork and a few ms on a live machine), so it is asked only
    when the registers could not answer."""
    seen: list[Seen] = []
    read, fields = read_cpuinfo(src)
    if "tdx_guest" in parse_flags(fields.get("flags")):
        seen.append(Seen(f"{read.path}: flags", "tdx_guest", "tdx", "X86_FEATURE_TDX_GUEST"))
    for rel, cvm, why in (
        ("dev/tdx_guest", "tdx", "the TDX attestation driver binds only in a TDX guest"),
        ("dev/sev-guest", "sev-snp", "the SEV guest driver binds only in an SEV-SNP guest"),
    ):
        if src.exists(rel):
            seen.append(Seen(src.path(rel), "present", cvm, why))
    dmesg = src.command("dmesg") if with_dmesg else None
    if dmesg is not None and dmesg.ok:
        got = parse_mem_encrypt(bytes(dmesg.value).decode("utf-8", "replace"))
        if got is not None:
            seen.append(Seen("command: dmesg", got[0], got[1], "the kernel's own verdict at boot"))
    return seen


def _hyperv_isolation(src: Source) -> tuple[str | None, list[Seen]]:
    """sev-snp or tdx for an isolated Hyper-V guest (Azure CVMs), else None."""
    base = src.cpuid(0x40000000)
    if not base.ok:
        return None, []
    regs = base.value
    sig = _regs_text(b"".join(r.to_bytes(4, "little") for r in (regs.ebx, regs.ecx, regs.edx)))
    if sig != HYPERV_SIGNATURE or not HYPERV_MIN <= regs.eax <= HYPERV_MAX:
        return None, []
    feats = src.cpuid(HYPERV_FEATURES)
    if not feats.ok:
        return None, [Seen("cpuid 0x40000003", "", None, feats.reason or "unreadable")]
    ebx = feats.value.ebx
    isolated = bool(ebx & EBX_ISOLATION) and not ebx & EBX_CPU_MANAGEMENT
    rows = [Seen("cpuid 0x40000003", f"EBX=0x{ebx:08x}", None, "Hyper-V isolation bit 22, CPU management bit 12")]
    if not isolated:
        return None, rows
    conf = src.cpuid(HYPERV_ISOLATION_CONFIG)
    if not conf.ok:
        return None, [*rows, Seen("cpuid 0x4000000c", "", None, conf.reason or "unreadable")]
    kind = conf.value.ebx & 0xF
    cvm = HYPERV_ISOLATION_IDS.get(kind)
    note = f"Hyper-V isolation type {kind}" + ("" if cvm else " (not SNP or TDX)")
    return cvm, [*rows, Seen("cpuid 0x4000000c", f"EBX[3:0]={kind}", cvm, note)]


def _vendor(src: Source) -> str | None:
    leaf = src.cpuid(0)
    if leaf.ok:
        r = leaf.value
        return _regs_text(b"".join(x.to_bytes(4, "little") for x in (r.ebx, r.edx, r.ecx)))
    return read_cpuinfo(src)[1].get("vendor_id")


def read_x86_cpuid(src: Source) -> tuple[str | None, list[Seen], str | None]:
    """systemd's CPUID + MSR path: (id or None, what was seen, why unknown)."""
    hv = read_hypervisor_bit(src)
    if hv.on is None:
        return None, [Seen(hv.source, hv.value, None, hv.note)], f"the hypervisor bit is unreadable ({hv.note})"
    if not hv.on:
        note = "no hypervisor bit: bare metal, and a confidential guest always runs under a hypervisor"
        return NONE, [Seen(hv.source, hv.value, NONE, note)], None
    vendor = _vendor(src)
    if vendor is None:
        return None, [Seen("cpuid 0x00000000", "", None, "vendor unreadable")], "the CPU vendor is unreadable"
    seen = [Seen(hv.source, hv.value, None, "under a hypervisor")]
    hv_cvm, hv_rows = _hyperv_isolation(src)
    if vendor in ("AuthenticAMD", "HygonGenuine"):
        top = src.cpuid(0x80000000)
        leaf = src.cpuid(LEAF_AMD_MEM_ENCRYPT) if top.ok and top.value.eax >= LEAF_AMD_MEM_ENCRYPT else None
        if not top.ok:
            seen.append(Seen("cpuid 0x80000000", "", None, top.reason or "unreadable"))
            return None, seen, f"CPUID 0x80000000 (needed for the SEV leaf): {top.reason or 'unreadable'}"
        if leaf is not None and not leaf.ok:
            seen.append(Seen("cpuid 0x8000001f", "", None, leaf.reason or "unreadable"))
            return None, seen, f"CPUID 0x8000001F (SEV): {leaf.reason or 'unreadable'}"
        if leaf is None or not leaf.value.eax & EAX_SEV:
            value = "absent" if leaf is None else f"EAX=0x{leaf.value.eax:08x}"
            seen.append(Seen("cpuid 0x8000001f", value, NONE, "SEV (EAX bit 1) not offered"))
            seen.extend(hv_rows)
            return hv_cvm or NONE, seen, None
        seen.append(Seen("cpuid 0x8000001f", f"EAX=0x{leaf.value.eax:08x}", None, "SEV offered (EAX bit 1)"))
        msr = src.msr(MSR_AMD64_SEV)
        if not msr.ok:
            seen.append(Seen("msr 0xc0010131 (SEV_STATUS)", "", None, msr.reason or "unreadable"))
            return None, seen, f"{SEV_NEEDS_ROOT}: {msr.reason}"
        cvm = cvm_from_sev_status(int(msr.value))
        seen.append(Seen("msr 0xc0010131 (SEV_STATUS)", f"0x{int(msr.value):x}", cvm, "bits 0/1/2: SEV/SEV-ES/SNP"))
        return cvm, seen, None
    if vendor == "GenuineIntel":
        top = src.cpuid(0)
        if top.ok and top.value.eax >= LEAF_INTEL_TDX:
            leaf = src.cpuid(LEAF_INTEL_TDX)
            if not leaf.ok:
                seen.append(Seen("cpuid 0x00000021", "", None, leaf.reason or "unreadable"))
                return None, seen, f"CPUID 0x21 (TDX): {leaf.reason or 'unreadable'}"
            r = leaf.value
            sig = _regs_text(b"".join(x.to_bytes(4, "little") for x in (r.ebx, r.edx, r.ecx)))
            cvm = "tdx" if sig == TDX_SIGNATURE else NONE
            shown = repr(sig) if sig.isprintable() else f"EBX=0x{r.ebx:08x} EDX=0x{r.edx:08x} ECX=0x{r.ecx:08x}"
            note = "TDX guest signature" if cvm == "tdx" else f"not {TDX_SIGNATURE!r}: not a TDX guest"
            seen.append(Seen("cpuid 0x00000021", shown, cvm, note))
        else:
            seen.append(Seen("cpuid 0x00000000", "max leaf < 0x21", NONE, "no TDX enumeration leaf"))
        seen.extend(hv_rows)
        tdx = "tdx" if any(s.points_to == "tdx" for s in seen) or hv_cvm == "tdx" else NONE
        return tdx, seen, None
    note = "SEV and TDX exist only on AMD, Hygon and Intel CPUs"
    return NONE, [*seen, Seen("cpuid 0x00000000", vendor, NONE, note)], None


def decide_x86(
    cpuid_id: str | None, cpuid_seen: list[Seen], why: str | None, hints: list[Seen]
) -> tuple[CvmResult, list[Evidence]]:
    """Registers decide where they show a CVM; else a kernel sign; else the registers' `none`.

    A positive kernel sign beats a CPUID `none` (a VMM may mask a leaf the guest
    kernel used at boot), and a positive register beats a sign that disagrees
    (registers are what the hardware enforces). The kernel's "AMD SME" line
    alone (host memory encryption) may decide `none` when the registers cannot.
    """
    hits = [s for s in cpuid_seen if s.points_to is not None]
    positive = [h for h in hints if h.points_to not in (None, NONE)]
    decider: Seen | None
    if cpuid_id not in (None, NONE):
        decider = next(s for s in reversed(hits) if s.points_to == cpuid_id)
    elif positive:
        decider = positive[0]
    elif cpuid_id == NONE:
        decider = next((s for s in reversed(hits) if s.points_to == NONE), None)
    else:
        decider = next((h for h in hints if h.points_to == NONE), None)
    decided = decider.points_to if decider is not None else cpuid_id
    ev: list[Evidence] = []
    for s in [*cpuid_seen, *hints]:
        if s is decider:
            ev.append(s.row(DECISIVE))
        elif s.points_to is None:
            ev.append(s.row(CONSIDERED if s.value else UNKNOWN))
        elif s.points_to == decided:
            ev.append(s.row(SUPPORTING))
        else:
            where = decider.source if decider is not None else "a stronger source"
            ev.append(s.row(OVERRULED, f"{s.note}; {where} says {decided}"))
    if decided is None:
        return CvmResult(None, why or "no readable source"), ev
    return CvmResult(decided), ev


def read_s390(src: Source) -> tuple[CvmResult, list[Evidence]]:
    rel = "sys/firmware/uv/prot_virt_guest"
    read = src.read(rel, limit=64)
    if read.text is not None:
        value = read.text.strip()
        if value in ("0", "1"):
            cvm = "protvirt" if value == "1" else NONE
            return CvmResult(cvm), [Evidence(TOPIC, read.path, value, DECISIVE, cvm, "IBM Secure Execution guest")]
    why = f"{read.path}: {read.reason or 'not 0 or 1'}; this kernel does not say (systemd answers none)"
    return CvmResult(None, why), [Evidence(TOPIC, read.path, read.text or "", UNKNOWN, None, why)]


def read_arm64(src: Source) -> tuple[CvmResult, list[Evidence]]:
    rel = "sys/devices/platform/arm-cca-dev"
    if src.exists(rel):
        return CvmResult("cca"), [Evidence(TOPIC, src.path(rel), "present", DECISIVE, "cca", "Arm CCA realm guest")]
    platform = src.listdir("sys/devices/platform")
    if not platform:
        why = f"{src.path('sys/devices/platform')} is unreadable or empty (masked sysfs?)"
        return CvmResult(None, why), [Evidence(TOPIC, src.path(rel), "", UNKNOWN, None, why)]
    note = "a realm guest kernel registers this platform device (Linux >= 6.13)"
    return CvmResult(NONE), [Evidence(TOPIC, src.path(rel), "absent", DECISIVE, NONE, note)]


def probe_cvm(src: Source) -> tuple[CvmResult, list[Evidence]]:
    """The cvm section and its evidence. Never raises."""
    machine = src.machine.lower()
    if machine in ("x86_64", "amd64", "i386", "i486", "i586", "i686", "x86"):
        cpuid_id, seen, why = read_x86_cpuid(src)
        return decide_x86(cpuid_id, seen, why, read_kernel_hints(src, with_dmesg=cpuid_id is None))
    if machine == "s390x":
        return read_s390(src)
    if machine in ("aarch64", "arm64"):
        return read_arm64(src)
    why = f"virtprobe knows no confidential-VM source for {src.machine}"
    return CvmResult(None, why), [Evidence(TOPIC, f"machine {src.machine}", "", UNKNOWN, None, why)]
