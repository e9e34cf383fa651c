"""Name the container engine and everything under it, from its /version and /info answers.

Every engine virtprobe talks to speaks the Docker API (Docker Engine, Docker
Desktop, Podman's compatible service, OrbStack, Colima, Rancher Desktop), so
the product is told apart by what each one writes into the same fields:

- Podman names itself in /version `Components` ("Podman Engine", "Conmon",
  "OCI Runtime (runc)") and reports `Rootless` in /info.
- Docker Desktop puts "Docker Desktop <version> (<build>)" in `Platform.Name`
  and "Docker Desktop" in `OperatingSystem`; its kernel is a `linuxkit` one on
  macOS and a `microsoft-standard-WSL2` one on Windows.
- OrbStack writes "OrbStack" in `OperatingSystem` and its kernel carries `orbstack`.
- Colima's VM is named `colima` (or `colima-<profile>`); Rancher Desktop's is
  `lima-rancher-desktop` on macOS, and on Windows its `OperatingSystem` is
  "Rancher Desktop WSL Distribution".

`parse_engine` is pure. Whether the engine runs on THIS machine is decided by
comparing its kernel, host name and OS with a `LocalMachine` read through a
`Source` (`read_local_machine`); the host name and engine ID are used for that
comparison only and never stored, since a report may be shared.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from virtprobe.errors import ReportFormatError
from virtprobe.machine.source import Source

PRODUCTS = ("docker-engine", "docker-desktop", "podman", "orbstack", "colima", "rancher-desktop")

# Products whose engine (and so every container) runs in a VM of their own.
VM_BACKED_PRODUCTS = frozenset({"docker-desktop", "orbstack", "colima", "rancher-desktop"})

# OCI runtimes by the name or path the engine gives them. Order matters: "runsc"
# and "crun" contain no "runc", but "io.containerd.runc.v2" does.
_RUNTIME_KINDS = (
    ("runsc", "runsc"),
    ("gvisor", "runsc"),
    ("kata", "kata"),
    ("youki", "youki"),
    ("crun", "crun"),
    ("krun", "krun"),
    ("runc", "runc"),
)

# Runtimes that run the container under a kernel of their own: gVisor's Sentry is
# a user-space kernel; Kata and libkrun boot a guest kernel in a microVM.
OWN_KERNEL_RUNTIMES = frozenset({"runsc", "kata", "krun"})

CONTAINERD_SHIM = "containerd-shim"
CONMON = "conmon"


def runtime_kind(name: str | None, path: str | None = None) -> str | None:
    """The OCI runtime family ("runc", "crun", "runsc", "kata", "youki", "krun") of a runtime entry."""
    for text in (name, path):
        low = (text or "").lower().rsplit("/", 1)[-1]
        for needle, kind in _RUNTIME_KINDS:
            if needle in low:
                return kind
    return None


_VERSION_RE = re.compile(r"version\s+v?([0-9][^\s,]*)", re.IGNORECASE)


def _component_version(text: str | None) -> str | None:
    """ "runc version 1.1.5+ds1\\ncommit: ..." or "conmon version 2.1.6, commit: x" -> the version."""
    if not text:
        return None
    match = _VERSION_RE.search(text)
    if match:
        return match.group(1)
    first = text.strip().splitlines()[0].strip()
    return first or None


@dataclass(frozen=True)
class RuntimeOffer:
    """One OCI runtime the engine offers (/info `Runtimes`)."""

    name: str
    path: str | None
    kind: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "kind": self.kind}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RuntimeOffer:
        return cls(name=_str(data, "name", required=True) or "", path=_str(data, "path"), kind=_str(data, "kind"))


@dataclass(frozen=True)
class LocalMachine:
    """What the engine's /info is compared with: the machine virtprobe runs on."""

    kernel_release: str | None  # /proc/sys/kernel/osrelease (uname -r)
    hostname: str | None  # /proc/sys/kernel/hostname
    os_pretty_name: str | None  # PRETTY_NAME of /etc/os-release (what Docker reports)
    os_id: str | None  # ID of /etc/os-release (what Podman reports)
    platform: str = "linux"  # Source.platform: "linux", "darwin", "win32" or "unknown"


def parse_os_release(text: str) -> dict[str, str]:
    """Pure: KEY=value lines of os-release(5), quotes removed."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or not key or key.startswith("#"):
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        out[key] = value
    return out


def read_local_machine(src: Source) -> LocalMachine:
    """The local kernel release, host name and OS, read through a Source (None where unreadable)."""

    def first_line(rel: str) -> str | None:
        text = src.read(rel).text
        return text.strip() or None if text is not None else None

    osr_text = src.read("etc/os-release").text
    if osr_text is None:
        osr_text = src.read("usr/lib/os-release").text
    osr = parse_os_release(osr_text or "")
    return LocalMachine(
        kernel_release=first_line("proc/sys/kernel/osrelease"),
        hostname=first_line("proc/sys/kernel/hostname"),
        os_pretty_name=osr.get("PRETTY_NAME") or None,
        os_id=osr.get("ID") or None,
        platform=src.platform,
    )


@dataclass(frozen=True)
class EngineInfo:
    """The engine, its product, its default OCI runtime and what it runs on."""

    product: str | None  # one of PRODUCTS, or None when the answers match none of them
    product_version: str | None  # Docker Desktop's own version, Podman's, else the engine's
    engine_version: str | None  # the daemon's version (/version `Version`)
    api_version: str | None
    containerd_version: str | None
    runtime: str | None  # the default runtime's name as the engine calls it
    runtime_kind: str | None  # its family: runc, crun, runsc, kata, youki, krun
    runtime_version: str | None  # known only when the engine reports it for that runtime
    runtimes: tuple[RuntimeOffer, ...]  # everything /info `Runtimes` offers, sorted by name
    container_process: str | None  # "containerd-shim" or "conmon": the per-container host process
    container_process_version: str | None
    rootless: bool | None
    cgroup_version: int | None
    cgroup_driver: str | None
    storage_driver: str | None
    kernel_version: str | None  # the kernel the engine runs under
    operating_system: str | None
    os_type: str | None
    arch: str | None  # as the engine says it ("x86_64" from Docker, "amd64" from Podman)
    ncpu: int | None
    on_this_machine: bool | None  # None: not compared, or not comparable
    location_reason: str

    @property
    def vm_backed(self) -> bool:
        return self.product in VM_BACKED_PRODUCTS

    def offers(self, name: str) -> RuntimeOffer | None:
        """The runtime entry of that name, or None when the engine does not offer it."""
        return next((r for r in self.runtimes if r.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "product": self.product,
            "product_version": self.product_version,
            "engine_version": self.engine_version,
            "api_version": self.api_version,
            "containerd_version": self.containerd_version,
            "runtime": self.runtime,
            "runtime_kind": self.runtime_kind,
            "runtime_version": self.runtime_version,
            "runtimes": [r.to_dict() for r in self.runtimes],
            "container_process": self.container_process,
            "container_process_version": self.container_process_version,
            "rootless": self.rootless,
            "cgroup_version": self.cgroup_version,
            "cgroup_driver": self.cgroup_driver,
            "storage_driver": self.storage_driver,
            "kernel_version": self.kernel_version,
            "operating_system": self.operating_system,
            "os_type": self.os_type,
            "arch": self.arch,
            "ncpu": self.ncpu,
            "on_this_machine": self.on_this_machine,
            "location_reason": self.location_reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EngineInfo:
        """The inverse of to_dict; ReportFormatError on a value of the wrong type."""
        if not isinstance(data, Mapping):
            raise ReportFormatError("engine: expected an object")
        runtimes = data.get("runtimes") or []
        if not isinstance(runtimes, list) or not all(isinstance(r, Mapping) for r in runtimes):
            raise ReportFormatError("engine.runtimes: expected a list of objects")
        return cls(
            product=_str(data, "product"),
            product_version=_str(data, "product_version"),
            engine_version=_str(data, "engine_version"),
            api_version=_str(data, "api_version"),
            containerd_version=_str(data, "containerd_version"),
            runtime=_str(data, "runtime"),
            runtime_kind=_str(data, "runtime_kind"),
            runtime_version=_str(data, "runtime_version"),
            runtimes=tuple(RuntimeOffer.from_dict(r) for r in runtimes),
            container_process=_str(data, "container_process"),
            container_process_version=_str(data, "container_process_version"),
            rootless=_bool(data, "rootless"),
            cgroup_version=_int(data, "cgroup_version"),
            cgroup_driver=_str(data, "cgroup_driver"),
            storage_driver=_str(data, "storage_driver"),
            kernel_version=_str(data, "kernel_version"),
            operating_system=_str(data, "operating_system"),
            os_type=_str(data, "os_type"),
            arch=_str(data, "arch"),
            ncpu=_int(data, "ncpu"),
            on_this_machine=_bool(data, "on_this_machine"),
            location_reason=_str(data, "location_reason") or "",
        )


def _str(data: Mapping[str, Any], key: str, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ReportFormatError(f"engine.{key}: expected a string, got {value!r}")
    return value


def _int(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ReportFormatError(f"engine.{key}: expected an integer, got {value!r}")
    return value


def _bool(data: Mapping[str, Any], key: str) -> bool | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise ReportFormatError(f"engine.{key}: expected true, false or null, got {value!r}")
    return value


# --- parsing the answers ---------------------------------------------------------------


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _components(version: Mapping[str, Any]) -> dict[str, str | None]:
    """/version Components as {lowercased name: version}."""
    out: dict[str, str | None] = {}
    found = version.get("Components")
    for comp in found if isinstance(found, list) else []:
        if isinstance(comp, Mapping) and isinstance(comp.get("Name"), str):
            out[comp["Name"].strip().lower()] = _text(comp.get("Version"))
    return out


_DESKTOP_VERSION_RE = re.compile(r"docker desktop\s+v?([0-9][^\s(]*)", re.IGNORECASE)


def _product(version: Mapping[str, Any], info: Mapping[str, Any], comps: Mapping[str, str | None]) -> str | None:
    platform = version.get("Platform")
    platform_name = (_text(platform.get("Name")) if isinstance(platform, Mapping) else None) or ""
    os_name = (_text(info.get("OperatingSystem")) or "").lower()
    kernel = (_text(info.get("KernelVersion")) or _text(version.get("KernelVersion")) or "").lower()
    host = (_text(info.get("Name")) or "").lower()
    if "podman engine" in comps or "podman" in platform_name.lower():
        return "podman"
    if "docker desktop" in platform_name.lower() or os_name == "docker desktop":
        return "docker-desktop"
    if "orbstack" in os_name or "orbstack" in kernel:
        return "orbstack"
    if "rancher desktop" in os_name or host == "lima-rancher-desktop":
        return "rancher-desktop"
    if host == "colima" or host.startswith("colima-"):
        return "colima"
    if "engine" in comps or "docker engine" in platform_name.lower():
        return "docker-engine"
    return None


def _cgroup_version(value: Any) -> int | None:
    # Docker answers "1"/"2"; Podman's libpod API answers "v1"/"v2".
    text = str(value).strip().lower().removeprefix("v") if value is not None else ""
    return int(text) if text in ("1", "2") else None


def _rootless(info: Mapping[str, Any]) -> bool | None:
    if isinstance(info.get("Rootless"), bool):  # Podman's compatible API says it outright
        return bool(info["Rootless"])
    opts = info.get("SecurityOptions")
    if not isinstance(opts, list):
        return None
    # Each entry is "name=seccomp,profile=default", "name=rootless", ...
    return any("name=rootless" in str(o).split(",") for o in opts)


def _runtimes(info: Mapping[str, Any]) -> tuple[RuntimeOffer, ...]:
    found = info.get("Runtimes")
    if not isinstance(found, Mapping):
        return ()
    offers = []
    for name, entry in found.items():
        path = _text(entry.get("path")) if isinstance(entry, Mapping) else None
        offers.append(RuntimeOffer(name=str(name), path=path, kind=runtime_kind(str(name), path)))
    return tuple(sorted(offers, key=lambda r: r.name))


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_engine(version: Mapping[str, Any], info: Mapping[str, Any], local: LocalMachine | None = None) -> EngineInfo:
    """Pure: EngineInfo from the /version and /info answers (and where it runs, given `local`)."""
    version = version if isinstance(version, Mapping) else {}
    info = info if isinstance(info, Mapping) else {}
    comps = _components(version)
    product = _product(version, info, comps)
    engine_version = _text(version.get("Version")) or comps.get("engine") or comps.get("podman engine")
    product_version: str | None = engine_version
    if product == "podman":
        product_version = comps.get("podman engine") or engine_version
    elif product == "docker-desktop":
        platform = version.get("Platform")
        name = _text(platform.get("Name")) if isinstance(platform, Mapping) else None
        match = _DESKTOP_VERSION_RE.search(name or "")
        product_version = match.group(1) if match else None  # the engine's own version is not Desktop's

    runtimes = _runtimes(info)
    runtime = _text(info.get("DefaultRuntime"))
    offer = next((r for r in runtimes if r.name == runtime), None)
    kind = runtime_kind(runtime, offer.path if offer else None)
    runtime_version = None
    if product == "podman":
        # "OCI Runtime (runc)": the runtime Podman uses by default, with its `--version` text.
        for cname, cversion in comps.items():
            if cname.startswith("oci runtime"):
                inner = cname.partition("(")[2].rstrip(")").strip()
                if inner == (runtime or inner) or runtime_kind(inner) == kind:
                    runtime_version = _component_version(cversion)
    elif kind is not None and kind in comps:
        # Docker reports the version of the runc it ships; it belongs to the default
        # runtime only when that runtime is runc.
        runtime_version = comps[kind]

    if product == "podman":
        process: str | None = CONMON
        process_version = _component_version(comps.get("conmon"))
    elif product is not None:
        process, process_version = CONTAINERD_SHIM, None  # every Docker product runs containers via containerd
    else:
        process = process_version = None

    os_type = _text(info.get("OSType")) or _text(version.get("Os"))
    engine = EngineInfo(
        product=product,
        product_version=product_version,
        engine_version=engine_version,
        api_version=_text(version.get("ApiVersion")),
        containerd_version=comps.get("containerd"),
        runtime=runtime,
        runtime_kind=kind,
        runtime_version=runtime_version,
        runtimes=runtimes,
        container_process=process,
        container_process_version=process_version,
        rootless=_rootless(info),
        cgroup_version=_cgroup_version(info.get("CgroupVersion")),
        cgroup_driver=_text(info.get("CgroupDriver")),
        storage_driver=_text(info.get("Driver")),
        kernel_version=_text(info.get("KernelVersion")) or _text(version.get("KernelVersion")),
        operating_system=_text(info.get("OperatingSystem")),
        os_type=os_type,
        arch=_text(info.get("Architecture")) or _text(version.get("Arch")),
        ncpu=_int_or_none(info.get("NCPU")),
        on_this_machine=None,
        location_reason="not compared with the local machine",
    )
    if local is None:
        return engine
    same, reason = engine_location(engine, _text(info.get("Name")), local)
    return replace(engine, on_this_machine=same, location_reason=reason)


def engine_location(engine: EngineInfo, engine_host: str | None, local: LocalMachine) -> tuple[bool | None, str]:
    """Pure: does the engine run on this machine (same kernel, same host), and why it is thought so.

    The rules, in order: a different kernel release means another kernel (a VM,
    WSL2's utility VM, a remote host); a VM-backed product runs its containers in
    its VM even where the kernel release happens to match (WSL2 distributions
    share one); a different host name means another machine or a container of
    its own; an OS that matches neither PRETTY_NAME nor ID means another root.
    """
    if local.platform in ("darwin", "win32") and (engine.os_type or "linux") == "linux":
        # macOS and Windows have no Linux kernel: a Linux engine runs in a VM or elsewhere.
        shown = "macOS" if local.platform == "darwin" else "Windows"
        return False, f"the engine runs Linux containers and this machine runs {shown}, so they run in a VM"
    if engine.kernel_version is None or local.kernel_release is None:
        return None, "kernel release unknown on the engine or on this machine, so they cannot be compared"
    if engine.kernel_version != local.kernel_release:
        return False, (
            f"the engine runs under kernel {engine.kernel_version}, this machine under {local.kernel_release}"
        )
    if engine.vm_backed:
        return False, f"{engine.product} runs its engine in a VM of its own"
    if engine_host is not None and local.hostname is not None and engine_host != local.hostname:
        return False, "the engine's host name is not this machine's (another host, or virtprobe runs in a container)"
    os_name = (engine.operating_system or "").lower()
    known = {n.lower() for n in (local.os_pretty_name, local.os_id) if n}
    # Compared only when PRETTY_NAME is known: Docker reports that form, Podman the ID.
    if os_name and local.os_pretty_name and os_name not in known:
        return False, f"the engine's OS is {engine.operating_system!r}, this machine's is {local.os_pretty_name!r}"
    if engine_host is None or local.hostname is None:
        return True, "same kernel release; host name not comparable"
    return True, "same kernel release, host name and OS as this machine"


def engine_differences(a: EngineInfo, b: EngineInfo) -> list[str]:
    """Pure: what differs between the engines of two reports, one line per field (empty: same engine).

    Location and the list of offered runtimes are not compared: they do not change
    what one runtime measures.
    """
    fields = (
        ("product", "product"),
        ("product_version", "product version"),
        ("engine_version", "engine version"),
        ("containerd_version", "containerd"),
        ("runtime_kind", "OCI runtime"),
        ("runtime_version", "OCI runtime version"),
        ("container_process", "per-container process"),
        ("rootless", "rootless"),
        ("cgroup_version", "cgroup version"),
        ("cgroup_driver", "cgroup driver"),
        ("storage_driver", "storage driver"),
        ("kernel_version", "engine kernel"),
    )
    out = []
    for attr, label in fields:
        va, vb = getattr(a, attr), getattr(b, attr)
        if va != vb:
            out.append(f"{label}: {va if va is not None else 'unknown'} vs {vb if vb is not None else 'unknown'}")
    return out


def runtime_not_offered(engine: EngineInfo, name: str) -> str:
    """The one line for `--runtime NAME` when the engine does not offer NAME: what it offers, how to add one."""
    offered = ", ".join(r.name for r in engine.runtimes) or "none that it names"
    if engine.product == "podman":
        how = 'add it under [engine.runtimes] in containers.conf (e.g. runsc = ["/usr/bin/runsc"])'
    else:
        how = (
            'add it under "runtimes" in /etc/docker/daemon.json '
            '(e.g. "runsc": {"path": "/usr/bin/runsc"}) and restart the daemon'
        )
    return f"the engine offers no runtime {name!r} (it offers: {offered}); {how}"
