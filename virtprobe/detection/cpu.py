"""The CPU: vendor, model, hardware virtualization (VT-x / AMD-V), its sub-features, firmware lock.

Sources, in order of trust:
- The hypervisor bit (CPUID.1:ECX[31]) comes from raw CPUID first (live, /dev/cpu,
  or the snapshot's registers), the cpuinfo `hypervisor` flag being the fallback;
  see read_hypervisor_bit() for when each wins (old kernels, Xen PV).
- /proc/cpuinfo `flags`: `vmx` (Intel VT-x), `svm` (AMD-V). These are the
  kernel's view after its own fix-ups, which is what KVM uses.
- /proc/cpuinfo `vmx flags` (Linux >= 5.8, CONFIG_X86_VMX_FEATURE_NAMES): the
  VMX capabilities read from the VMX MSRs (ept, vpid, unrestricted_guest, ...).
  AMD has no such line; its SVM sub-features (npt, avic, ...) are in `flags`.
- Raw CPUID (leaf 1 ECX[5] = VMX, leaf 0x80000001 ECX[2] = SVM): what the
  silicon (or the hypervisor) advertises before the kernel's fix-ups.

"Disabled in firmware" is reported True only where a source says so:
- on Intel, arch/x86/kernel/cpu/feat_ctl.c (Linux >= 5.6) clears the `vmx`
  flag when firmware locked IA32_FEAT_CTL with VMX off, and logs
  "x86/cpu: VMX (outside TXT) disabled by BIOS". Without the log, raw CPUID
  VMX=1 with no `vmx` flag on bare metal means the kernel cleared it, and that
  only happens for a firmware lock (or an unreadable MSR, which real hardware
  does not have) — so that is reported too, as the decisive row says.
- on AMD, KVM logs "SVM disabled (by BIOS) in MSR_VM_CR"; the `svm` flag stays,
  so only the kernel log can tell. The log is read from a captured `dmesg`
  command output when the snapshot holds one.
Everything else is None (unknown), never a guess.
"""

from __future__ import annotations

import re

from virtprobe.detection.model import CONSIDERED, DECISIVE, NONE, OVERRULED, SUPPORTING, UNKNOWN, CpuResult, Evidence
from virtprobe.lean_typing import NamedTuple
from virtprobe.machine.source import FileRead, Source

TOPIC = "cpu"

# AMD SVM sub-features that the kernel lists in the ordinary `flags` line
# (arch/x86/include/asm/cpufeatures.h, word 15 "AMD SVM Feature Identification").
SVM_SUBFLAGS = (
    "npt",
    "lbrv",
    "svm_lock",
    "nrip_save",
    "tsc_scale",
    "vmcb_clean",
    "flushbyasid",
    "decodeassists",
    "pausefilter",
    "pfthreshold",
    "avic",
    "v_vmsave_vmload",
    "vgif",
    "x2avic",
    "v_spec_ctrl",
    "vnmi",
    "svme_addr_chk",
)

# Compiled by firmware_disable_line when it runs, not at import: detect reads dmesg only in the
# rare case that needs it, and each pattern compiled costs start-up time (`detect --json`).
_FIRMWARE_OFF = r"VMX \((?:outside|inside) TXT\) disabled by BIOS|kvm: disabled by bios|SVM disabled \(by BIOS\)"


def parse_cpuinfo(text: str) -> dict[str, str]:
    """The `key: value` fields of the first processor block of /proc/cpuinfo.

    x86 uses `flags`/`vendor_id`/`model name`; arm64 uses `Features`/`CPU implementer`.
    Keys are kept verbatim (stripped); later blocks (other CPUs) are ignored.
    """
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key = key.strip()
        if key and key not in fields:
            fields[key] = value.strip()
    return fields


def read_cpuinfo(src: Source) -> tuple[FileRead, dict[str, str]]:
    """The /proc/cpuinfo read of `src` and the fields of its first processor block.

    Once per source: the cpu, kvm, hypervisor and cloud probes all need it, and on a large
    machine the kernel takes milliseconds to generate it."""

    def read_and_parse() -> tuple[FileRead, dict[str, str]]:
        read = src.read("proc/cpuinfo")
        return read, parse_cpuinfo(read.text) if read.text else {}

    return src.once("cpuinfo", read_and_parse)


def parse_flags(value: str | None) -> frozenset[str]:
    return frozenset(value.split()) if value else frozenset()


def firmware_disable_line(dmesg: str) -> str | None:
    """The kernel log line saying firmware disabled VT-x/AMD-V, if any."""
    pattern = re.compile(_FIRMWARE_OFF, re.IGNORECASE)
    for line in dmesg.splitlines():
        if pattern.search(line):
            return line.strip()
    return None


# X86_FEATURE_HYPERVISOR appeared in Linux 2.6.28 (arch/x86/include/asm/cpufeature.h,
# "x86: add X86_FEATURE_HYPERVISOR feature bit"); an older kernel never prints the flag.
_FIRST_KERNEL_WITH_FLAG = (2, 6, 28)


def kernel_version(text: str | None) -> tuple[int, int, int] | None:
    """(major, minor, patch) of an osrelease string such as "2.6.18-419.el5", or None."""
    m = re.match(r"\s*(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    return (int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)) if m else None


class HypervisorBit(NamedTuple):
    """CPUID.1:ECX[31], from raw CPUID where readable, else the kernel's `hypervisor` flag."""

    on: bool | None
    source: str  # "cpuid 0x00000001" or "/proc/cpuinfo: flags"
    value: str  # "ECX[31]=1", "hypervisor", "no hypervisor flag", ""
    note: str = ""  # for on=None: why it could not be read
    overruled: tuple[str, str, str] | None = None  # (source, value, why) of a cpuinfo flag raw CPUID contradicts

    def rows(self, topic: str) -> list[Evidence]:
        out = []
        if self.on is None:
            out.append(Evidence(topic, self.source, self.value, UNKNOWN, note=self.note))
        else:
            out.append(Evidence(topic, self.source, self.value, DECISIVE, note=self.note or "hypervisor bit"))
        if self.overruled is not None:
            out.append(Evidence(topic, self.overruled[0], self.overruled[1], OVERRULED, note=self.overruled[2]))
        return out


def read_hypervisor_bit(src: Source) -> HypervisorBit:
    """Raw CPUID leaf 1 (live, /dev/cpu, or the snapshot's registers) first; cpuinfo flags as fallback.

    A kernel older than 2.6.28 has no `hypervisor` flag, so there a missing flag proves nothing.
    Raw CPUID costs one fork on a live x86 machine, shared with every other leaf detect reads.
    """
    read, fields = read_cpuinfo(src)
    flag: bool | None = None
    if "flags" in fields:
        flag = "hypervisor" in parse_flags(fields["flags"])
    flag_src = f"{read.path}: flags"
    flag_val = "hypervisor" if flag else "no hypervisor flag"
    leaf = src.cpuid(0x1)
    if leaf.ok:
        raw = bool(leaf.value.ecx & (1 << 31))
        raw_val = f"ECX[31]={int(raw)}"
        if flag and not raw:
            # A Xen PV kernel runs CPUID natively (bit clear) and sets the flag itself: it knows.
            why = "raw CPUID has the bit clear, but the kernel set the flag itself (a Xen PV guest does)"
            return HypervisorBit(True, flag_src, flag_val, "the kernel's flag", ("cpuid 0x00000001", raw_val, why))
        contra = None
        if flag is False and raw:
            why = "this kernel does not print the flag (it predates it, or hides it); raw CPUID decides"
            contra = (flag_src, flag_val, why)
        return HypervisorBit(raw, "cpuid 0x00000001", raw_val, "hypervisor bit, raw CPUID", contra)
    if flag is None:
        return HypervisorBit(None, "cpuid 0x00000001", "", f"{leaf.reason or 'unreadable'}; and no x86 flags line")
    if not flag:
        osrel = src.read("proc/sys/kernel/osrelease", limit=256)
        version = kernel_version(osrel.text)
        if version is not None and version < _FIRST_KERNEL_WITH_FLAG:
            why = (
                f"kernel {osrel.text.strip() if osrel.text else ''} predates the `hypervisor` flag "
                f"(Linux 2.6.28), so its absence proves nothing; raw CPUID: {leaf.reason or 'unreadable'}"
            )
            return HypervisorBit(None, flag_src, flag_val, why)
    return HypervisorBit(
        flag, flag_src, flag_val, f"CPUID.1:ECX[31] as the kernel reports it (raw CPUID: {leaf.reason})"
    )


# x86 vendors whose cpuinfo `flags` would list vmx or svm if the kernel offered them.
X86_VENDORS = ("GenuineIntel", "AuthenticAMD", "HygonGenuine", "CentaurHauls", "  Shanghai  ")


def read_vendor(src: Source, fields: dict[str, str]) -> tuple[str | None, list[Evidence]]:
    """The CPU vendor: cpuinfo's vendor_id, else the CPUID leaf 0 string."""
    vendor = fields.get("vendor_id") or None
    if vendor is not None:
        return vendor, []
    leaf0 = src.cpuid(0x0)
    if not leaf0.ok:
        return None, []
    r = leaf0.value
    raw = b"".join(x.to_bytes(4, "little") for x in (r.ebx, r.edx, r.ecx))
    vendor = raw.decode("ascii", errors="replace").strip("\x00 ") or None
    return vendor, [Evidence(TOPIC, "cpuid 0x00000000", vendor, SUPPORTING, note="vendor string")] if vendor else []


def decide_virt_tech(
    src: Source, path: str, fields: dict[str, str], vendor: str | None, readable: bool
) -> tuple[str | None, tuple[str, ...], list[Evidence]]:
    """(vt-x | amd-v | none | None, its sub-features, evidence) from the kernel's flags line."""
    flags = parse_flags(fields.get("flags"))
    if "vmx" in flags:
        ev = [Evidence(TOPIC, f"{path}: flags", "vmx", DECISIVE, points_to="vt-x")]
        if "vmx flags" in fields:
            ev.append(Evidence(TOPIC, f"{path}: vmx flags", fields["vmx flags"], SUPPORTING, note="VMX capabilities"))
        return "vt-x", tuple(sorted(parse_flags(fields.get("vmx flags")))), ev
    if "svm" in flags:
        features = tuple(f for f in SVM_SUBFLAGS if f in flags)
        ev = [Evidence(TOPIC, f"{path}: flags", "svm", DECISIVE, points_to="amd-v")]
        if features:
            ev.append(Evidence(TOPIC, f"{path}: flags", " ".join(features), SUPPORTING, note="SVM sub-features"))
        return "amd-v", features, ev
    if "flags" in fields:
        # x86 without a vendor line is odd, but the flags line is still the kernel's word.
        note = "the kernel does not offer VT-x or AMD-V to this system" if vendor in X86_VENDORS else ""
        return NONE, (), [Evidence(TOPIC, f"{path}: flags", "no vmx/svm flag", DECISIVE, points_to=NONE, note=note)]
    if not readable:
        return None, (), []
    note = f"no x86 flags line ({src.machine}); hardware virtualization is not listed in cpuinfo here"
    return None, (), [Evidence(TOPIC, f"{path}: flags", "", CONSIDERED, note=note)]


def decide_firmware_lock(
    src: Source, vendor: str | None, virt_tech: str | None, hypervisor_bit: bool | None
) -> tuple[bool | None, list[Evidence]]:
    """True only where a source says firmware disabled VT-x/AMD-V; False where it cannot have; else None."""
    ev: list[Evidence] = []
    disabled: bool | None = None
    suspect_intel = False
    if vendor == "GenuineIntel" and virt_tech == NONE and hypervisor_bit is False:
        regs = src.cpuid(0x1)  # already read for the hypervisor bit: one fork reads every leaf
        suspect_intel = regs.ok and bool(regs.value.ecx & (1 << 5))
    suspect_amd = virt_tech == "amd-v" and hypervisor_bit is False and not src.exists("dev/kvm")
    bare_none = virt_tech == NONE and hypervisor_bit is False
    if suspect_intel or suspect_amd or bare_none:
        dmesg = src.command("dmesg")
        line = firmware_disable_line(dmesg.value.decode("utf-8", "replace")) if dmesg.ok else None
        if line:
            disabled = True
            ev.append(Evidence(TOPIC, "command: dmesg", line, DECISIVE, note="the kernel says firmware disabled it"))
        elif dmesg.ok:
            ev.append(Evidence(TOPIC, "command: dmesg", "no 'disabled by BIOS' line", CONSIDERED))
        else:
            ev.append(Evidence(TOPIC, "command: dmesg", "", UNKNOWN, note=dmesg.reason or "unreadable"))
        if suspect_intel:
            # feat_ctl.c clears X86_FEATURE_VMX only when IA32_FEAT_CTL is locked with VMX off.
            if disabled is None:
                disabled = True
            ev.append(
                Evidence(
                    TOPIC,
                    "cpuid 0x00000001",
                    "ECX[5] (VMX)=1, yet no vmx flag in /proc/cpuinfo",
                    DECISIVE if line is None else SUPPORTING,
                    note="the kernel cleared VMX: firmware locked IA32_FEAT_CTL with VMX off (feat_ctl.c)",
                )
            )
    if disabled is None and (virt_tech == "vt-x" or (virt_tech == "amd-v" and src.exists("dev/kvm"))):
        # A vmx flag survives only when IA32_FEAT_CTL allows VMX; /dev/kvm on AMD
        # exists only when kvm_amd initialised, which it refuses when VM_CR.SVMDIS is set.
        disabled = False
    return disabled, ev


def probe_cpu(src: Source) -> tuple[CpuResult, list[Evidence]]:
    """Vendor, model, VT-x/AMD-V and its sub-features, the hypervisor bit, a firmware lock. Never raises."""
    read, fields = read_cpuinfo(src)
    ev: list[Evidence] = []
    if read.text is None:
        ev.append(Evidence(TOPIC, read.path, "", UNKNOWN, note=read.reason or "unreadable"))
    vendor, vendor_ev = read_vendor(src, fields)
    # Hypervisor bit: raw CPUID first, the cpuinfo flag as the fallback.
    bit = read_hypervisor_bit(src)
    virt_tech, features, tech_ev = decide_virt_tech(src, read.path, fields, vendor, read.text is not None)
    disabled, lock_ev = decide_firmware_lock(src, vendor, virt_tech, bit.on)
    ev += [*vendor_ev, *bit.rows(TOPIC), *tech_ev, *lock_ev]
    if vendor:
        ev.append(Evidence(TOPIC, f"{read.path}: vendor_id", vendor, CONSIDERED))
    result = CpuResult(
        vendor=vendor,
        model_name=fields.get("model name") or None,
        virt_tech=virt_tech,
        virt_features=features,
        disabled_in_firmware=disabled,
        hypervisor_bit=bit.on,
    )
    return result, ev
