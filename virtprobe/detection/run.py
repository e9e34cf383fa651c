"""`detect(src)`: dispatch on the source's platform once, run every probe, assemble the result.

Linux runs the file-based probes (cpu, kvm, hypervisor, cloud, container, wsl, cvm,
platform) and the --check targets when asked (detection/linux.py); Windows and macOS have
their own whole-machine probes (windows.py, macos.py); any other platform gets a result
whose every id is None, with evidence saying why. Probes never raise; neither does this.

Each platform's module is imported when its platform is detected, not at the top: Windows
and macOS load none of the Linux probes, and on Linux the probes load after src.prefetch()
started the CPUID/KVM child, so their import overlaps its work (`detect --json` <= 1.0x
virt-what, benchmarks/detect_speed.py).
"""

from __future__ import annotations

from virtprobe.detection.model import (
    UNKNOWN,
    CloudResult,
    ContainerResult,
    CpuResult,
    DetectResult,
    Evidence,
    HostInfo,
    HypervisorResult,
    KvmResult,
    WslResult,
)
from virtprobe.machine.source import Source


def detect_linux(src: Source, kvm_probe: bool = True, checks: bool = False) -> DetectResult:
    # The probes that execute code (CPUID, the KVM guest) start in a child now and run
    # while the modules below load and the file-only probes read (machine/prefetch.py).
    src.prefetch(kvm=kvm_probe)
    try:
        from virtprobe.detection.linux import probe_linux  # lazy: after prefetch (module docstring)

        return probe_linux(src, kvm_probe, checks)
    finally:
        src.close()


def detect_unknown(src: Source) -> DetectResult:
    why = f"virtprobe has no probes for platform {src.platform!r}"
    evidence = tuple(
        Evidence(topic, f"platform {src.platform}", "", UNKNOWN, None, why)
        for topic in ("cpu", "kvm", "hypervisor", "cloud", "container", "wsl", "platform")
    )
    return DetectResult(
        host=HostInfo(platform=src.platform, machine=src.machine, source=src.describe()),
        cpu=CpuResult(vendor=None, model_name=None, virt_tech=None),
        kvm=KvmResult(device_present=None, openable=None, usable=None, module=None, nested=None, reason=why),
        hypervisor=HypervisorResult(id=None),
        cloud=CloudResult(id=None),
        container=ContainerResult(id=None),
        wsl=WslResult(version=None),
        evidence=evidence,
    )


def detect(src: Source, kvm_probe: bool = True, checks: bool = False) -> DetectResult:
    """Everything detect can tell about the machine `src` describes. Never raises for bad input.

    `checks` also answers "can this host run X?" for every --check target (Linux only)."""
    if src.platform == "linux":
        return detect_linux(src, kvm_probe=kvm_probe, checks=checks)
    if src.platform in ("win32", "darwin"):
        # lazy: each platform loads its own module (module docstring).
        from virtprobe.detection.platform import probe_platform_env_only

        if src.platform == "win32":
            from virtprobe.detection.windows import probe_windows as probe
        else:
            from virtprobe.detection.macos import probe_macos as probe
        result = probe(src)
        platform, platform_ev = probe_platform_env_only(src)
        return result._replace(platform=platform, evidence=(*result.evidence, *platform_ev))
    return detect_unknown(src)
