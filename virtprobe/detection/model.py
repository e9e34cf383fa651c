"""Frozen result types of `virtprobe detect`, and their JSON form.

Conventions (documented in docs/detect.md, "Identifiers"):
- an `id` is a systemd-detect-virt identifier where one exists; "none" means the
  probe is sure there is nothing, and None (JSON null) means it cannot know;
- every verdict is backed by `Evidence` rows naming the source (a file path and
  field, a CPUID leaf, a command) and the value that decided it.
"""

from __future__ import annotations

import time

from virtprobe._version import __version__
from virtprobe.lean_typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from typing import Any

NONE = "none"

# The version of the detect document (`detect --json`, DetectResult.to_dict()); report/load.py
# keeps the history of versions and upgrades older ones. report/envelope.py writes the same.
SCHEMA_VERSION = "1.2"

# How a piece of evidence was used in the verdict.
DECISIVE = "decisive"  # this row decided the verdict
SUPPORTING = "supporting"  # agrees with the verdict, did not decide it
OVERRULED = "overruled"  # pointed elsewhere, and stronger evidence won (e.g. a stale /.dockerenv)
CONSIDERED = "considered"  # looked at; says nothing either way (absent file, empty value)
UNKNOWN = "unknown"  # could not be read; `note` says why

WEIGHTS = (DECISIVE, SUPPORTING, OVERRULED, CONSIDERED, UNKNOWN)


def show_value(value: Any) -> str:
    """A verdict value for people: None is "unknown", booleans are yes/no."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


class Evidence(NamedTuple):
    topic: str  # "cpu" | "kvm" | "hypervisor" | "cloud" | "container" | "wsl" | "host" | "cvm" | "platform"
    source: str  # "/proc/cpuinfo: flags", "cpuid 0x40000000", "command: systeminfo", ...
    value: str  # what was observed, short and verbatim where possible
    weight: str  # one of WEIGHTS
    points_to: str | None = None  # the id this row suggests, e.g. "kvm", "docker"
    note: str = ""  # why it was weighed so; for UNKNOWN, why it could not be read

    def to_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "source": self.source,
            "value": self.value,
            "weight": self.weight,
            "points_to": self.points_to,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Evidence:
        return cls(
            topic=d["topic"],
            source=d["source"],
            value=d["value"],
            weight=d["weight"],
            points_to=d.get("points_to"),
            note=d.get("note", ""),
        )


class CpuResult(NamedTuple):
    vendor: str | None  # "GenuineIntel", "AuthenticAMD", "Apple", ...
    model_name: str | None
    virt_tech: str | None  # "vt-x" | "amd-v" | "none" | None (unknown)
    virt_features: tuple[str, ...] = ()  # from the "vmx flags" line, or svm sub-flags (npt, ...)
    disabled_in_firmware: bool | None = None  # True only where the kernel/OS says so
    hypervisor_bit: bool | None = None  # CPUID.1:ECX[31] / the "hypervisor" flag

    def to_dict(self) -> dict[str, Any]:
        return {
            "vendor": self.vendor,
            "model_name": self.model_name,
            "virt_tech": self.virt_tech,
            "virt_features": list(self.virt_features),
            "disabled_in_firmware": self.disabled_in_firmware,
            "hypervisor_bit": self.hypervisor_bit,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CpuResult:
        return cls(
            vendor=d.get("vendor"),
            model_name=d.get("model_name"),
            virt_tech=d.get("virt_tech"),
            virt_features=tuple(d.get("virt_features") or ()),
            disabled_in_firmware=d.get("disabled_in_firmware"),
            hypervisor_bit=d.get("hypervisor_bit"),
        )


class KvmResult(NamedTuple):
    device_present: bool | None  # /dev/kvm exists
    openable: bool | None  # could be opened read-write by this user
    usable: bool | None  # a guest really ran to a HLT exit
    module: str | None  # "kvm_intel" | "kvm_amd" | "kvm_pvm" | ... | None
    nested: bool | None  # nested virtualization enabled in that module
    api_version: int | None = None  # KVM_GET_API_VERSION (12 on every sane kernel)
    guest_exit: str | None = None  # the exit that ended the probe guest, e.g. "KVM_EXIT_HLT"
    probe_s: float | None = None  # KVM_CREATE_VM to the HLT exit, seconds
    reason: str | None = None  # why usable is False/None, in words

    def to_dict(self) -> dict[str, Any]:
        return {
            "device_present": self.device_present,
            "openable": self.openable,
            "usable": self.usable,
            "module": self.module,
            "nested": self.nested,
            "api_version": self.api_version,
            "guest_exit": self.guest_exit,
            "probe_s": self.probe_s,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KvmResult:
        return cls(**{k: d.get(k) for k in cls._fields})


class Layer(NamedTuple):
    """One virtualization layer seen from inside, outermost last."""

    id: str  # "kvm", "microsoft", "xen", ...
    source: str  # where it was seen, e.g. "cpuid 0x40000000" or "/sys/class/dmi/id/sys_vendor"
    signature: str | None = None  # the raw vendor signature, e.g. "KVMKVMKVM"

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "source": self.source, "signature": self.signature}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Layer:
        return cls(id=d["id"], source=d["source"], signature=d.get("signature"))


class HypervisorResult(NamedTuple):
    id: str | None  # the hypervisor we run under: "kvm", "microsoft", ..., "none", or None
    vmm: str | None = None  # the user-space VMM where known: "firecracker", "qemu", ...
    layers: tuple[Layer, ...] = ()
    role: str | None = None  # "guest" | "host" | "dom0" | None (e.g. Xen dom0 is a host)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "vmm": self.vmm, "layers": [x.to_dict() for x in self.layers], "role": self.role}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HypervisorResult:
        return cls(
            id=d.get("id"),
            vmm=d.get("vmm"),
            layers=tuple(Layer.from_dict(x) for x in d.get("layers") or ()),
            role=d.get("role"),
        )


class CloudResult(NamedTuple):
    id: str | None  # "amazon", "azure", "google", "oracle", "alibaba", ..., "none", None
    instance_type: str | None = None  # e.g. "m5d.metal" where DMI says it
    bare_metal: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "instance_type": self.instance_type, "bare_metal": self.bare_metal}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CloudResult:
        return cls(id=d.get("id"), instance_type=d.get("instance_type"), bare_metal=d.get("bare_metal"))


class PlatformResult(NamedTuple):
    """What manages this VM or container (detection/platform.py); added in detect schema 1.2."""

    # "github-hosted", "gitlab-saas", "docker-desktop", "orbstack", "lima", "podman-machine",
    # "rancher-desktop", "apple-container", "lxd-vm", "lxd-container", "incus-vm", "kubevirt",
    # "openstack", "nutanix-ahv", "ovirt", "proxmox", "wsl", ...; "none"; None when unknown.
    id: str | None
    kind: str | None = None  # "ci-runner" | "vm" | "container" | "vm-or-container" | None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PlatformResult:
        return cls(id=d.get("id"), kind=d.get("kind"))


PLATFORM_NOT_PROBED = PlatformResult(id=None)


class ContainerResult(NamedTuple):
    id: str | None  # "docker", "podman", "lxc", "systemd-nspawn", "cri-o", ..., "none", None
    orchestrator: str | None = None  # "kubernetes" or "none" or None
    cgroup_version: int | None = None  # 1 or 2 (hybrid counts as 1)
    # The runtime where a source inside names it: "runsc" (gVisor). Added in schema 1.x
    # without a version bump: older reports lack it and load as None.
    runtime: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "orchestrator": self.orchestrator,
            "cgroup_version": self.cgroup_version,
            "runtime": self.runtime,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContainerResult:
        return cls(
            id=d.get("id"),
            orchestrator=d.get("orchestrator"),
            cgroup_version=d.get("cgroup_version"),
            runtime=d.get("runtime"),
        )


class WslDistribution(NamedTuple):
    name: str
    state: str
    version: int | None
    default: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "version": self.version, "default": self.default}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WslDistribution:
        return cls(name=d["name"], state=d["state"], version=d.get("version"), default=bool(d.get("default")))


class WslResult(NamedTuple):
    # 1 or 2 when we run inside WSL; 0 means sure it is not WSL; None means unknown.
    version: int | None
    distributions: tuple[WslDistribution, ...] = ()  # on a Windows host, from `wsl.exe -l -v`

    @property
    def id(self) -> str | None:
        if self.version is None:
            return None
        return "wsl" if self.version else NONE

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "version": self.version,
            "distributions": [x.to_dict() for x in self.distributions],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WslResult:
        return cls(
            version=d.get("version"),
            distributions=tuple(WslDistribution.from_dict(x) for x in d.get("distributions") or ()),
        )


class CvmResult(NamedTuple):
    """Confidential VM: is this a guest whose memory the hypervisor cannot read?"""

    # systemd-detect-virt --cvm ids: "sev", "sev-es", "sev-snp", "tdx", "protvirt", "cca";
    # "none" when the sources that would show one were read and showed none; None when unknown.
    id: str | None
    reason: str | None = None  # why id is None, in words (e.g. "needs root to read the SEV MSR")

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "reason": self.reason}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CvmResult:
        return cls(id=d.get("id"), reason=d.get("reason"))


CVM_NOT_PROBED = CvmResult(id=None, reason="confidential VMs are probed on Linux only")

# Check outcomes, as libvirt's virt-host-validate prints them; UNKNOWN when the
# sources needed were not there (a snapshot without the live KVM probe, --no-kvm-probe).
PASS = "pass"
WARN = "warn"
FAIL = "fail"
CHECK_UNKNOWN = "unknown"
CHECK_STATUSES = (PASS, WARN, FAIL, CHECK_UNKNOWN)


class CheckResult(NamedTuple):
    """One "can this host run X?" answer (virtprobe detect --check)."""

    target: str  # "kvm", "firecracker", "gvisor", ... (detect.checks.TARGETS)
    status: str  # one of CHECK_STATUSES
    reason: str  # what was seen, in words
    fix: str | None = None  # what to do about a WARN or FAIL
    sources: tuple[str, ...] = ()  # where it was seen: paths, "KVM_CHECK_EXTENSION", ...

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "status": self.status,
            "reason": self.reason,
            "fix": self.fix,
            "sources": list(self.sources),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CheckResult:
        return cls(
            target=d["target"],
            status=d["status"],
            reason=d.get("reason", ""),
            fix=d.get("fix"),
            sources=tuple(d.get("sources") or ()),
        )


class HostInfo(NamedTuple):
    platform: str  # "linux" | "win32" | "darwin" | "unknown"
    machine: str
    kernel: str | None = None  # osrelease / OS build
    os_name: str | None = None  # PRETTY_NAME, "Windows 11 Pro 10.0.22631", "macOS 14.5"
    source: str = "live machine"  # "live machine" or "snapshot <path>"

    def to_dict(self) -> dict[str, Any]:
        return {
            "platform": self.platform,
            "machine": self.machine,
            "kernel": self.kernel,
            "os_name": self.os_name,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HostInfo:
        return cls(
            platform=d.get("platform", "unknown"),
            machine=d.get("machine", "unknown"),
            kernel=d.get("kernel"),
            os_name=d.get("os_name"),
            source=d.get("source", "live machine"),
        )


class DetectResult(NamedTuple):
    host: HostInfo
    cpu: CpuResult
    kvm: KvmResult
    hypervisor: HypervisorResult
    cloud: CloudResult
    container: ContainerResult
    wsl: WslResult
    evidence: tuple[Evidence, ...] = ()
    cvm: CvmResult = CVM_NOT_PROBED
    checks: tuple[CheckResult, ...] = ()  # with --check (checks=True): every target (detection.checks)
    platform: PlatformResult = PLATFORM_NOT_PROBED  # schema 1.2

    def sections(self) -> dict[str, Any]:
        return {
            "host": self.host.to_dict(),
            "cpu": self.cpu.to_dict(),
            "kvm": self.kvm.to_dict(),
            "hypervisor": self.hypervisor.to_dict(),
            "cloud": self.cloud.to_dict(),
            "container": self.container.to_dict(),
            "wsl": self.wsl.to_dict(),
            "cvm": self.cvm.to_dict(),
            "platform": self.platform.to_dict(),
            "checks": [c.to_dict() for c in self.checks],
            "evidence": [e.to_dict() for e in self.evidence],
        }

    def to_dict(self, created_utc: str | None = None) -> dict[str, Any]:
        """The whole detect document, as `virtprobe detect --json` prints it (created now, unless given)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": "detect",
            "tool": {"name": "virtprobe", "version": __version__},
            "created_utc": created_utc or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            **self.sections(),
        }

    def to_json(self, created_utc: str | None = None) -> str:
        """`detect --json`'s text: sorted keys, two-space indent, a trailing newline (as report/envelope.dumps)."""
        # lazy: the drop-in modes and --format lines/env never load json (`detect --vm` <= 1.0x virt-what).
        import json

        doc = self.to_dict(created_utc)
        return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"

    @classmethod
    def from_sections(cls, d: dict[str, Any]) -> DetectResult:
        return cls(
            host=HostInfo.from_dict(d.get("host") or {}),
            cpu=CpuResult.from_dict(d["cpu"]),
            kvm=KvmResult.from_dict(d["kvm"]),
            hypervisor=HypervisorResult.from_dict(d["hypervisor"]),
            cloud=CloudResult.from_dict(d["cloud"]),
            container=ContainerResult.from_dict(d["container"]),
            wsl=WslResult.from_dict(d["wsl"]),
            evidence=tuple(Evidence.from_dict(e) for e in d.get("evidence") or ()),
            # Absent in 1.0 documents (report.load upgrades them to null and []).
            cvm=CvmResult.from_dict(d["cvm"]) if isinstance(d.get("cvm"), dict) else CVM_NOT_PROBED,
            checks=tuple(CheckResult.from_dict(c) for c in d.get("checks") or ()),
            # Absent before 1.2 (report.load upgrades it to null).
            platform=PlatformResult.from_dict(d["platform"])
            if isinstance(d.get("platform"), dict)
            else PLATFORM_NOT_PROBED,
        )
