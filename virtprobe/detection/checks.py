"""Can this host run X? One PASS/WARN/FAIL per isolation technology, with the reason and the fix.

The model is libvirt's virt-host-validate: each check names what it looked at,
what it found and what to do. Unlike kvm-ok, nothing is inferred from CPU flags
alone: KVM counts as usable only when detect's probe guest really ran, and the
capabilities a VMM needs are asked of /dev/kvm with KVM_CHECK_EXTENSION (they
are recorded in the probe result, so a snapshot replays them).

Required capabilities (x86_64), from each VMM's own source:
- QEMU 7.2: kvm_required_capabilites[] in accel/kvm/kvm-all.c and
  kvm_arch_required_capabilities[] in target/i386/kvm/kvm.c (the names are
  visible with `strings qemu-system-x86_64 | grep KVM_CAP_`).
- Firecracker: the default capability list in src/vmm/src/arch/x86_64/kvm.rs.
- Cloud Hypervisor: check_required_extensions() in hypervisor/src/kvm/mod.rs.
- Kata Containers: `kata-runtime check` (src/runtime/cli/kata-check_amd64.go)
  requires the kvm, vhost, vhost_net and vhost_vsock kernel modules.

Every check is cheap (a few file reads), so detect computes all of them and the
JSON always carries them; `detect --check TARGET...` shows them and sets the
exit code.
"""

from __future__ import annotations

import re

from virtprobe.detection.kvm import parse_bool_param
from virtprobe.detection.model import (
    CHECK_UNKNOWN,
    FAIL,
    NONE,
    PASS,
    WARN,
    CheckResult,
    CpuResult,
    HypervisorResult,
    KvmResult,
    PlatformResult,
)
from virtprobe.lean_typing import TYPE_CHECKING, NamedTuple
from virtprobe.machine.source import Source

if TYPE_CHECKING:
    from typing import Any

TARGETS: tuple[str, ...] = (
    "kvm",
    "firecracker",
    "cloud-hypervisor",
    "kata",
    "gvisor",
    "nested",
    "passthrough",
    "vhost-net",
    "vhost-vsock",
    "tun",
    "ksm",
    "hugepages",
    "cvm-host",
)
ALIASES = {
    "qemu": "kvm",
    "libvirt": "kvm",
    "ch": "cloud-hypervisor",
    "kata-containers": "kata",
    "runsc": "gvisor",
    "vfio": "passthrough",
    "iommu": "passthrough",
    "vsock": "vhost-vsock",
    "sev": "cvm-host",
    "snp": "cvm-host",
    "tdx": "cvm-host",
}
TITLES = {
    "kvm": "KVM VMs (QEMU/libvirt)",
    "firecracker": "Firecracker",
    "cloud-hypervisor": "Cloud Hypervisor",
    "kata": "Kata Containers",
    "gvisor": "gVisor (runsc)",
    "nested": "nested virtualization",
    "passthrough": "device passthrough (IOMMU)",
    "vhost-net": "vhost-net",
    "vhost-vsock": "vhost-vsock",
    "tun": "tun/tap",
    "ksm": "KSM (same-page merging)",
    "hugepages": "huge pages",
    "cvm-host": "SEV/SNP/TDX host",
}

QEMU_CAPS = (
    "KVM_CAP_USER_MEMORY",
    "KVM_CAP_DESTROY_MEMORY_REGION_WORKS",
    "KVM_CAP_JOIN_MEMORY_REGIONS_WORKS",
    "KVM_CAP_SET_TSS_ADDR",
    "KVM_CAP_EXT_CPUID",
    "KVM_CAP_MP_STATE",
)
FIRECRACKER_CAPS = (
    "KVM_CAP_IRQCHIP",
    "KVM_CAP_IOEVENTFD",
    "KVM_CAP_IRQFD",
    "KVM_CAP_USER_MEMORY",
    "KVM_CAP_SET_TSS_ADDR",
    "KVM_CAP_PIT2",
    "KVM_CAP_PIT_STATE2",
    "KVM_CAP_ADJUST_CLOCK",
    "KVM_CAP_DEBUGREGS",
    "KVM_CAP_MP_STATE",
    "KVM_CAP_VCPU_EVENTS",
    "KVM_CAP_XCRS",
    "KVM_CAP_XSAVE",
    "KVM_CAP_EXT_CPUID",
)
CLOUD_HYPERVISOR_CAPS = (
    "KVM_CAP_ADJUST_CLOCK",
    "KVM_CAP_EXT_CPUID",
    "KVM_CAP_IOEVENTFD",
    "KVM_CAP_IRQCHIP",
    "KVM_CAP_IRQFD",
    "KVM_CAP_IRQ_ROUTING",
    "KVM_CAP_MP_STATE",
    "KVM_CAP_SET_TSS_ADDR",
    "KVM_CAP_SIGNAL_MSI",
    "KVM_CAP_TSC_DEADLINE_TIMER",
    "KVM_CAP_USER_MEMORY",
)

# Where distribution packages and upstream installers put the binaries.
BIN_DIRS = ("usr/bin", "usr/sbin", "usr/local/bin", "bin", "sbin")
KATA_BINS = ("usr/bin/kata-runtime", "usr/local/bin/kata-runtime", "opt/kata/bin/kata-runtime")
QEMU_BINARY = {"x86_64": "qemu-system-x86_64", "aarch64": "qemu-system-aarch64", "arm64": "qemu-system-aarch64",
               "s390x": "qemu-system-s390x", "ppc64le": "qemu-system-ppc64"}  # fmt: skip

# Seen on this kind of machine (shared/MEASURED.md, gVisor release 20221219): without the
# flag, runsc stops with "cannot run with network enabled in root network namespace".
GVISOR_NETWORK_NOTE = (
    'run it with --network=none (Docker: "runtimeArgs": ["--network=none"]); without it runsc may refuse '
    "to start ('cannot run with network enabled in root network namespace'), and with it the sandbox has no network"
)

# The short form of detect.kvm.PVM_GUEST_NOTE; the failure was seen here with Debian's
# cloud kernel (linux-image-6.1.0-*-cloud-amd64) under QEMU -accel kvm.
PVM_STOCK_KERNEL = (
    "/dev/kvm comes from kvm_pvm, which runs only guest kernels built for PVM: a stock kernel's "
    "kernel mode is emulated and stops with a KVM emulation failure"
)

_RANK = {PASS: 0, CHECK_UNKNOWN: 1, WARN: 2, FAIL: 3}


def resolve_targets(names: list[str] | tuple[str, ...]) -> tuple[list[str], list[str]]:
    """(known targets in TARGETS order, unknown names) for what the user typed; aliases allowed."""
    wanted: set[str] = set()
    unknown: list[str] = []
    for raw in names:
        for name in raw.split(","):
            name = name.strip().lower()
            if not name:
                continue
            if name == "all":
                wanted.update(TARGETS)
                continue
            name = ALIASES.get(name, name)
            if name in TARGETS:
                wanted.add(name)
            else:
                unknown.append(name)
    return [t for t in TARGETS if t in wanted], unknown


class _Finding(NamedTuple):
    status: str
    reason: str
    fix: str | None = None
    source: str | None = None


class _Ctx(NamedTuple):
    src: Source
    cpu: CpuResult
    kvm: KvmResult
    hypervisor: HypervisorResult
    probe: dict[str, Any] | None
    machine: str
    kernel: str | None
    platform: str | None = None


def _merge(target: str, findings: list[_Finding]) -> CheckResult:
    """The worst finding decides the status; every finding's reason and fix are kept, worst first."""
    ordered = sorted(findings, key=lambda f: -_RANK[f.status])
    status = ordered[0].status
    shown = [f for f in ordered if f.status == status] + [f for f in ordered if f.status != status]
    reasons = [f.reason for f in shown]
    fixes = [f.fix for f in shown if f.fix and f.status != PASS]
    sources = tuple(dict.fromkeys(f.source for f in findings if f.source))
    return CheckResult(target, status, "; ".join(reasons), "; ".join(dict.fromkeys(fixes)) or None, sources)


def _find_binary(src: Source, name: str) -> str | None:
    for d in BIN_DIRS:
        if src.exists(f"{d}/{name}"):
            return src.path(f"{d}/{name}")
    return None


_CONFIG = {"vhost_net": "CONFIG_VHOST_NET", "vhost_vsock": "CONFIG_VHOST_VSOCK", "tun": "CONFIG_TUN"}


def _no_modules(src: Source, kernel: str | None) -> bool:
    """True when this kernel has no module tree, so `modprobe` cannot be the fix."""
    # The release string comes from the machine (or a damaged snapshot): use it as a
    # path component only when it looks like one.
    if kernel is None or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}", kernel):
        return False
    return src.listdir(f"lib/modules/{kernel}") is None


def _device(src: Source, rel: str, module: str, kernel: str | None, role: str) -> _Finding:
    path = src.path(rel)
    if src.exists(rel):
        return _Finding(PASS, f"{path} present", source=path)
    if not src.exists("dev"):
        why = "/dev is not in this snapshot" if not src.is_live else "there is no /dev"
        return _Finding(CHECK_UNKNOWN, f"cannot tell whether {path} exists: {why}", None, path)
    if src.exists(f"sys/module/{module}"):
        fix = f"the {module} module is loaded but {path} is missing here: pass the device in (e.g. --device {path})"
    elif _no_modules(src, kernel):
        fix = (
            f"this kernel has no module tree (/lib/modules/{kernel}), so {module} cannot be loaded: "
            f"boot a kernel built with {_CONFIG.get(module, module)}"
        )
    else:
        fix = f"modprobe {module}"
    return _Finding(FAIL, f"no {path} ({role})", fix, path)


# What to do about /dev/kvm on a CI provider's runner (detection/platform.py ids). GitHub-hosted Linux
# x64 runners have /dev/kvm owned by root:kvm and the runner user outside that group; the udev rule is
# GitHub's own recipe (its changelog on hardware-accelerated Android virtualization on Actions, 2024-04).
# Their arm64 runners offer no nested virtualization.
_UDEV_RULE = (
    "echo 'KERNEL==\"kvm\", GROUP=\"kvm\", MODE=\"0666\", OPTIONS+=\"static_node=kvm\"' | "
    "sudo tee /etc/udev/rules.d/99-kvm4all.rules && sudo udevadm control --reload-rules && "
    "sudo udevadm trigger --name-match=kvm"
)
_GITLAB_DEVICES = 'a self-managed runner on a KVM host whose docker executor has devices = ["/dev/kvm"] (config.toml)'


def ci_kvm_fix(platform: str | None, machine: str, present: bool | None) -> str | None:
    """The fix for a runner of `platform` whose /dev/kvm is missing or not openable, or None."""
    arm = machine in ("aarch64", "arm64")
    if platform == "github-hosted":
        if arm:
            return ("GitHub-hosted arm64 runners have no /dev/kvm (no nested virtualization): run KVM jobs on "
                    "an x64 runner (ubuntu-latest), or a self-hosted arm64 runner on a KVM host")
        if present:
            return "GitHub-hosted x64 runners have /dev/kvm, which the runner user cannot open: add a udev rule: " + (
                _UDEV_RULE
            )
        return "use a GitHub-hosted Linux x64 runner (ubuntu-latest offers /dev/kvm), then the udev rule: " + _UDEV_RULE
    if platform == "github-actions":
        return "a self-hosted runner needs /dev/kvm on its host and the runner user in the kvm group"
    if platform == "gitlab-saas":
        return f"GitLab.com's hosted runners run jobs in containers without /dev/kvm: use {_GITLAB_DEVICES}"
    if platform == "gitlab-ci":
        return f"pass /dev/kvm into the job: {_GITLAB_DEVICES}"
    return None


def _kvm_device(kvm: KvmResult, cpu: CpuResult, platform: str | None = None, machine: str = "") -> _Finding:
    """Read-write /dev/kvm that really ran detect's probe guest."""
    ci_fix = ci_kvm_fix(platform, machine, kvm.device_present)
    if kvm.device_present is False:
        if ci_fix:
            fix = ci_fix
        elif cpu.disabled_in_firmware:
            fix = "enable VT-x/AMD-V in the firmware setup"
        elif cpu.virt_tech in ("vt-x", "amd-v"):
            fix = "load the kvm module: modprobe kvm_intel (or kvm_amd)"
        else:
            fix = "this CPU shows no VT-x/AMD-V: enable nested virtualization on the host that runs this VM"
        return _Finding(FAIL, "no /dev/kvm", fix, "/dev/kvm")
    if kvm.openable is False:
        fix = ci_fix or "add the user to the kvm group (usermod -aG kvm USER) or run as root"
        return _Finding(FAIL, f"/dev/kvm cannot be opened read-write: {kvm.reason}", fix, "/dev/kvm")
    if kvm.usable is False:
        return _Finding(FAIL, f"/dev/kvm did not run a guest: {kvm.reason}", None, "KVM ioctl probe (/dev/kvm)")
    if kvm.usable is None:
        why = kvm.reason or "the probe guest did not run"
        return _Finding(CHECK_UNKNOWN, f"/dev/kvm not proven usable ({why})", "run without --no-kvm-probe", "/dev/kvm")
    via = f" via {kvm.module}" if kvm.module else ""
    return _Finding(PASS, f"/dev/kvm opens read-write and ran a guest{via}", source="KVM ioctl probe (/dev/kvm)")


def _caps(probe: dict[str, Any] | None, needed: tuple[str, ...], who: str, machine: str) -> _Finding:
    src = "KVM_CHECK_EXTENSION (/dev/kvm)"
    if machine not in ("x86_64", "amd64"):
        return _Finding(PASS, f"{who}'s required capabilities are listed for x86_64 only; not checked", source=src)
    caps = probe.get("capabilities") if probe else None
    if not isinstance(caps, dict):
        return _Finding(CHECK_UNKNOWN, "KVM capabilities not read (no live probe, or an older snapshot)", None, src)
    missing = [c for c in needed if not (isinstance(caps.get(c), int) and caps[c] > 0)]
    if missing:
        return _Finding(FAIL, f"KVM lacks {', '.join(missing)}, which {who} requires", "a newer host kernel", src)
    return _Finding(PASS, f"KVM has the {len(needed)} capabilities {who} requires", source=src)


def _pvm(kvm: KvmResult, what: str, fix: str) -> _Finding | None:
    if kvm.usable and kvm.module == "kvm_pvm":
        return _Finding(FAIL, f"{what}: {PVM_STOCK_KERNEL}", fix, "/sys/module/kvm_pvm")
    return None


_PVM_FIX = "use a guest kernel built for PVM (CONFIG_PVM_GUEST), or a host with VT-x/AMD-V"


def _vmm(
    target: str, who: str, needed: tuple[str, ...], ctx: _Ctx, arches: tuple[str, ...], binary: str | None
) -> CheckResult:
    findings = [_kvm_device(ctx.kvm, ctx.cpu, ctx.platform, ctx.machine)]
    if ctx.machine not in arches:
        findings.append(_Finding(FAIL, f"{who} runs on {', '.join(arches)}, not {ctx.machine}"))
    if ctx.kvm.usable:
        findings.append(_caps(ctx.probe, needed, who, ctx.machine))
    fix = _PVM_FIX + (" (QEMU's -accel tcg boots stock kernels, slowly)" if target == "kvm" else "")
    pvm = _pvm(ctx.kvm, f"{who} with a stock guest kernel fails", fix)
    if pvm is not None:
        findings.append(pvm)
    if binary is not None:
        found = _find_binary(ctx.src, binary)
        if found is None:
            findings.append(_Finding(WARN, f"{binary} is not installed", f"install {binary}"))
        else:
            findings.append(_Finding(PASS, f"{found} present", source=found))
    return _merge(target, findings)


def check_kata(ctx: _Ctx) -> CheckResult:
    findings = [_kvm_device(ctx.kvm, ctx.cpu, ctx.platform, ctx.machine)]
    pvm = _pvm(ctx.kvm, "Kata boots its own guest kernel (not built for PVM) under KVM", _PVM_FIX)
    if pvm is not None:
        findings.append(pvm)
    findings.append(_device(ctx.src, "dev/vhost-vsock", "vhost_vsock", ctx.kernel, "Kata's agent talks over vsock"))
    findings.append(_device(ctx.src, "dev/vhost-net", "vhost_net", ctx.kernel, "kata-runtime check requires it"))
    if not any(ctx.src.exists(p) for p in KATA_BINS):
        findings.append(_Finding(WARN, "kata-runtime is not installed", "install Kata Containers"))
    return _merge("kata", findings)


def check_gvisor(ctx: _Ctx) -> CheckResult:
    found = _find_binary(ctx.src, "runsc")
    if ctx.machine not in ("x86_64", "amd64", "aarch64", "arm64"):
        return _merge("gvisor", [_Finding(FAIL, f"gVisor runs on x86_64 and arm64, not {ctx.machine}")])
    if found is None:
        fix = "apt-get install runsc (Debian and Ubuntu package it), then register it as a Docker runtime"
        return _merge("gvisor", [_Finding(FAIL, "runsc is not installed", fix)])
    reason = f"{found} present; gVisor needs no /dev/kvm (its systrap and ptrace platforms run anywhere); "
    return _merge("gvisor", [_Finding(PASS, reason + GVISOR_NETWORK_NOTE, source=found)])


def check_nested(ctx: _Ctx) -> CheckResult:
    kvm, module = ctx.kvm, ctx.kvm.module
    param = ctx.src.path(f"sys/module/{module}/parameters/nested") if module else None
    if module in ("kvm_intel", "kvm_amd"):
        if kvm.nested:
            return _merge("nested", [_Finding(PASS, f"{param} is on: guests can run KVM", source=param)])
        if kvm.nested is False:
            fix = (
                f"echo 'options {module} nested=1' > /etc/modprobe.d/kvm-nested.conf, "
                f"then reload {module} (modprobe -r {module}; modprobe {module})"
            )
            return _merge("nested", [_Finding(FAIL, f"{param} is off", fix, param)])
        return _merge("nested", [_Finding(CHECK_UNKNOWN, f"{param} unreadable", None, param)])
    if module == "kvm_pvm":
        reason = "kvm_pvm has no nested parameter"
        if ctx.cpu.virt_tech == NONE:
            reason += ", and this CPU has no VT-x/AMD-V for KVM to pass on to its guests"
        fix = "nested hardware virtualization needs kvm_intel or kvm_amd on a CPU with VT-x/AMD-V"
        return _merge("nested", [_Finding(FAIL, reason, fix, "/sys/module/kvm_pvm")])
    if kvm.device_present is False:
        return _merge("nested", [_kvm_device(kvm, ctx.cpu, ctx.platform, ctx.machine)])
    if module is None:
        return _merge("nested", [_Finding(CHECK_UNKNOWN, "the KVM module is unknown", None, "/sys/module")])
    return _merge("nested", [_Finding(CHECK_UNKNOWN, f"{module} has no nested parameter to read", None)])


def check_passthrough(ctx: _Ctx) -> CheckResult:
    src = ctx.src
    tables = src.listdir("sys/firmware/acpi/tables")
    listed = src.listdir("sys/kernel/iommu_groups")
    groups = None if listed is None else [g for g in listed if g.isdigit()]  # one numbered directory per group
    fw = [t for t in ("DMAR", "IVRS", "IORT") if tables and t in tables]
    tpath, gpath = src.path("sys/firmware/acpi/tables"), src.path("sys/kernel/iommu_groups")
    if groups:
        what = f" and the firmware's {', '.join(fw)} table" if fw else ""
        return _merge("passthrough", [_Finding(PASS, f"{len(groups)} IOMMU groups in {gpath}{what}", None, gpath)])
    if groups is None and not tables:
        return _merge("passthrough", [_Finding(CHECK_UNKNOWN, f"{gpath} and {tpath} are unreadable", None, gpath)])
    if fw:
        fix = "boot with intel_iommu=on (Intel) or amd_iommu=on iommu=pt (AMD); on arm64 enable the SMMU driver"
        return _merge("passthrough", [_Finding(FAIL, f"firmware has {', '.join(fw)} but {gpath} is empty", fix, gpath)])
    fix = (
        "enable VT-d / AMD-Vi in the firmware setup; in a VM, its VMM must give it a virtual IOMMU "
        "(QEMU: -device intel-iommu; Firecracker has none)"
    )
    reason = f"no IOMMU: no ACPI DMAR, IVRS or IORT table in {tpath}, and {gpath} is empty"
    return _merge("passthrough", [_Finding(FAIL, reason, fix, tpath)])


def check_vsock(ctx: _Ctx) -> CheckResult:
    got = _device(ctx.src, "dev/vhost-vsock", "vhost_vsock", ctx.kernel, "the host side of virtio-vsock")
    if got.status != PASS and ctx.src.exists("dev/vsock"):
        reason = got.reason + f"; {ctx.src.path('dev/vsock')} is the guest side: this machine is a vsock guest itself"
        got = _Finding(got.status, reason, got.fix, got.source)
    return _merge("vhost-vsock", [got])


def check_ksm(ctx: _Ctx) -> CheckResult:
    read = ctx.src.read("sys/kernel/mm/ksm/run", limit=64)
    if read.text is None:
        if read.reason == "not found":
            return _merge("ksm", [_Finding(FAIL, f"no {read.path}", "a kernel built with CONFIG_KSM", read.path)])
        return _merge("ksm", [_Finding(CHECK_UNKNOWN, f"{read.path}: {read.reason}", None, read.path)])
    value = read.text.strip()
    if value == "1":
        sharing = ctx.src.read("sys/kernel/mm/ksm/pages_sharing", limit=64).text
        extra = f", {sharing.strip()} pages sharing" if sharing and sharing.strip().isdigit() else ""
        return _merge("ksm", [_Finding(PASS, f"KSM is running ({read.path} = 1{extra})", None, read.path)])
    fix = f"echo 1 > {read.path} (QEMU and libvirt mark guest memory mergeable)"
    return _merge("ksm", [_Finding(WARN, f"KSM is available but not running ({read.path} = {value})", fix, read.path)])


def _meminfo(text: str | None) -> dict[str, str]:
    out = {}
    for line in (text or "").splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def check_hugepages(ctx: _Ctx) -> CheckResult:
    src = ctx.src
    sizes = src.listdir("sys/kernel/mm/hugepages")
    hpath = src.path("sys/kernel/mm/hugepages")
    if not sizes:
        fix = "a kernel built with CONFIG_HUGETLBFS"
        return _merge("hugepages", [_Finding(FAIL, f"no huge page sizes in {hpath}", fix, hpath)])
    shown = ", ".join(s.removeprefix("hugepages-") for s in sizes)
    info = _meminfo(src.read("proc/meminfo").text)
    total = info.get("HugePages_Total")
    thp = src.read("sys/kernel/mm/transparent_hugepage/enabled", limit=256).text
    thp_note = f"; transparent huge pages: {thp.strip()}" if thp else ""
    if total is None:
        return _merge("hugepages", [_Finding(CHECK_UNKNOWN, f"sizes {shown}; /proc/meminfo unreadable{thp_note}")])
    if total.isdigit() and int(total) > 0:
        size = info.get("Hugepagesize", "")
        return _merge("hugepages", [_Finding(PASS, f"{total} huge pages of {size} reserved{thp_note}", None, hpath)])
    size2m = next((s for s in sizes if s == "hugepages-2048kB"), sizes[0])
    fix = f"reserve some: echo 512 > /sys/kernel/mm/hugepages/{size2m}/nr_hugepages (or hugepages= at boot)"
    reason = f"sizes {shown} supported, but none reserved (HugePages_Total: {total}){thp_note}"
    return _merge("hugepages", [_Finding(WARN, reason, fix, hpath)])


def check_cvm_host(ctx: _Ctx) -> CheckResult:
    src, module = ctx.src, ctx.kvm.module
    where = "/sys/module/kvm_amd/parameters" if module == "kvm_amd" else "/sys/module/kvm_intel/parameters"
    if module == "kvm_amd":
        on = [
            p
            for p in ("sev", "sev_es", "sev_snp")
            if parse_bool_param(src.read(f"sys/module/kvm_amd/parameters/{p}", limit=64).text)
        ]
        psp = src.exists("dev/sev")
        if on and psp:
            return _merge("cvm-host", [_Finding(PASS, f"kvm_amd: {', '.join(on)} on; /dev/sev present", None, where)])
        fix = "enable SEV/SNP in the firmware setup, boot with kvm_amd.sev=1 (and sev_snp=1), load ccp for /dev/sev"
        missing = "" if psp else "; no /dev/sev (the PSP driver, ccp)"
        reason = f"kvm_amd: {', '.join(on) + ' on' if on else 'sev, sev_es and sev_snp off'}{missing}"
        return _merge("cvm-host", [_Finding(FAIL, reason, fix, where)])
    if module == "kvm_intel":
        tdx = parse_bool_param(src.read("sys/module/kvm_intel/parameters/tdx", limit=64).text)
        if tdx:
            return _merge("cvm-host", [_Finding(PASS, "kvm_intel: tdx on", None, where)])
        fix = "enable TDX in the firmware setup and boot a kernel >= 6.16 with kvm_intel.tdx=1"
        return _merge("cvm-host", [_Finding(FAIL, "kvm_intel: tdx off or absent", fix, where)])
    under = ""
    if ctx.hypervisor.id not in (None, NONE) and ctx.hypervisor.role == "guest":
        under = f"; this machine is itself a {ctx.hypervisor.id} guest"
    via = f" (/dev/kvm comes from {module})" if module else ""
    reason = f"no kvm_amd or kvm_intel{via}: SEV-SNP and TDX hosts need them on AMD EPYC or Intel Xeon{under}"
    fix = "a bare-metal AMD EPYC (SEV-SNP) or Intel Xeon (TDX) host"
    return _merge("cvm-host", [_Finding(FAIL, reason, fix, "/sys/module")])


def run_checks(
    src: Source,
    cpu: CpuResult,
    kvm: KvmResult,
    hypervisor: HypervisorResult,
    kernel: str | None,
    kvm_probe: bool = True,
    platform: PlatformResult | None = None,
) -> tuple[CheckResult, ...]:
    """Every target's check, in TARGETS order. Never raises; reads only through `src`."""
    probe: dict[str, Any] | None = None
    if kvm_probe and kvm.device_present:
        got = src.kvm_probe()  # cached: the kvm probe already ran it
        probe = got.value if isinstance(got.value, dict) else None
    machine = src.machine.lower()
    ctx = _Ctx(src, cpu, kvm, hypervisor, probe, machine, kernel, platform.id if platform else None)
    qemu = QEMU_BINARY.get(machine)
    x86_arm = ("x86_64", "amd64", "aarch64", "arm64")
    return (
        _vmm("kvm", "QEMU", QEMU_CAPS, ctx, (machine,), qemu),
        _vmm("firecracker", "Firecracker", FIRECRACKER_CAPS, ctx, x86_arm, None),
        _vmm("cloud-hypervisor", "Cloud Hypervisor", CLOUD_HYPERVISOR_CAPS, ctx, x86_arm, None),
        check_kata(ctx),
        check_gvisor(ctx),
        check_nested(ctx),
        check_passthrough(ctx),
        _merge("vhost-net", [_device(src, "dev/vhost-net", "vhost_net", kernel, "virtio-net in the host kernel")]),
        check_vsock(ctx),
        _merge("tun", [_device(src, "dev/net/tun", "tun", kernel, "tap networking for VMs")]),
        check_ksm(ctx),
        check_hugepages(ctx),
        check_cvm_host(ctx),
    )
