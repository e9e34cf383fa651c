"""Hypervisor CPUID signatures and VMM CPU brand strings: one table, read by every platform's probe.

Leaf 0x40000000 EBX, ECX, EDX hold a hypervisor's 12-byte vendor signature. Each row
names the file of the hypervisor (or of systemd's vm_table[]) that defines the string.
"""

from __future__ import annotations

SIGNATURES: dict[str, str] = {
    "XenVMMXenVMM": "xen",  # xen/arch/x86/cpuid.c (XEN_CPUID_SIGNATURE_* in public/arch-x86/cpuid.h)
    "KVMKVMKVM": "kvm",  # Linux include/uapi/linux/kvm_para.h KVM_SIGNATURE "KVMKVMKVM\0\0\0"
    "Linux KVM Hv": "kvm",  # Linux arch/x86/kvm/hyperv.c, KVM's own Hyper-V interface signature
    "TCGTCGTCGTCG": "qemu",  # QEMU target/i386 (TCG's own hypervisor leaf); systemd vm_table[]
    "VMwareVMware": "vmware",  # Linux arch/x86/kernel/cpu/vmware.c CPUID_VMWARE_INFO_LEAF signature
    "Microsoft Hv": "microsoft",  # Hyper-V TLFS, "Hypervisor CPUID Leaf Range" 0x40000000
    "bhyve bhyve": "bhyve",  # FreeBSD sys/amd64/vmm/x86.c CPUID_VM_HIGH "bhyve bhyve "
    "QNXQVMBSQG": "qnx",  # systemd src/basic/virt.c vm_table[]
    "ACRNACRNACRN": "acrn",  # Linux arch/x86/include/asm/acrn.h / acrn-hypervisor cpuid.c
    "SRESRESRESRE": "sre",  # systemd src/basic/virt.c vm_table[] (LMHS SRE)
    "Apple VZ": "apple",  # systemd src/basic/virt.c vm_table[]
    "VBoxVBoxVBox": "oracle",  # VirtualBox src/VBox/VMM/VMMR3/GIMMinimal.cpp (GIM "minimal" provider)
    # Parallels writes "prl hyperv  "; " lrpepyh  vr" is the same bytes read in the other
    # register order, which older Parallels Desktop versions exposed (both in Wikipedia's CPUID table).
    "prl hyperv": "parallels",
    "lrpepyh  vr": "parallels",
    "UnisysSpar64": "spar",  # Unisys s-Par (Linux drivers/visorbus); as listed in Wikipedia's CPUID article
    "Jailhouse": "jailhouse",  # Linux arch/x86/kernel/jailhouse.c "Jailhouse\0\0\0"
    "HAXMHAXMHAXM": "haxm",  # Intel HAXM; as listed in Wikipedia's CPUID article (file not verified offline)
    "___ NVMM ___": "nvmm",  # NetBSD sys/dev/nvmm/x86/nvmm_x86_{vmx,svm}.c, leaf 0x40000000 emulation
    "LKVMLKVMLKVM": "kvm",  # kvmtool x86/cpuid.c: "LKVMLKVMLKVM" in place of KVM's own signature
    "OpenBSDVMM58": "openbsd-vmm",  # OpenBSD sys/arch/amd64/include/vmmvar.h VMM_HV_SIGNATURE
    "EVMMEVMMEVMM": "intel-kgt",  # Intel KGT (github.com/intel/ikgt-core); as listed in Wikipedia's CPUID article
}
# VMMs a CPUID signature names by itself.
SIGNATURE_VMM: dict[str, str] = {"TCGTCGTCGTCG": "qemu", "LKVMLKVMLKVM": "kvmtool"}

# CPU brand strings (cpuinfo `model name`, CPUID 0x80000002..4) that only a VMM's CPU models
# carry: QEMU target/i386/cpu.c model_id of its CPU models. (prefix, hypervisor id, what)
BRANDS: tuple[tuple[str, str | None, str], ...] = (
    ("QEMU Virtual CPU", "qemu", "QEMU's qemu64/qemu32 CPU model"),
    ("QEMU TCG CPU", "qemu", "QEMU's `max` CPU model under TCG"),
    ("Common KVM processor", "kvm", "QEMU's kvm64 CPU model"),
    ("Common 32-bit KVM processor", "kvm", "QEMU's kvm32 CPU model"),
)
# CPUID leaves holding the 48-byte processor brand string (Intel SDM vol. 2A, CPUID 80000002H-80000004H).
BRAND_LEAVES = (0x80000002, 0x80000003, 0x80000004)


def signature_id(sig: str, other: str = "vm-other") -> str:
    """The hypervisor id of a signature (trailing spaces and NULs ignored), `other` when unlisted."""
    return SIGNATURES.get(sig.strip("\x00 "), other)


def brand_hint(model_name: str) -> tuple[str | None, str] | None:
    """(hypervisor id, what) for a VMM's CPU brand string, or None."""
    for prefix, hv, what in BRANDS:
        if model_name.strip().startswith(prefix):
            return hv, what
    return None
