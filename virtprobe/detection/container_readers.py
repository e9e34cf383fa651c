"""Container evidence readers: each reads one kind of source and returns what it saw, with its strength.

The decision (detection/container.py) weighs what these return; nothing here decides.
Strength is written down in docs/detection.md ("Container"):
- STRONG: facts about this process that a runtime sets up at start and a root
  filesystem cannot carry: its own root mount and bind mounts, its own cgroup,
  PID 1's `container=` variable, /run/systemd/container, a bind-mounted
  /run/.containerenv, the sandbox kernel's fingerprint (gVisor), /proc/vz.
- SUPPORT: agrees but can leak: `container=` in this process's own environment
  is inherited from whatever parent ran it.
- WEAK: marker files that building a root filesystem from an image leaves behind
  (/.dockerenv, a zero-byte /run/.containerenv that nothing mounts).
Namespaces are read separately: they tell "some runtime unshared this process"
from "the kernel's initial namespaces", but never which runtime.
"""

from __future__ import annotations

import re

from virtprobe.detection.model import CONSIDERED, UNKNOWN, Evidence
from virtprobe.lean_typing import NamedTuple
from virtprobe.machine.source import Source

TOPIC = "container"

STRONG = "strong"
SUPPORT = "support"
WEAK = "weak"

# include/linux/proc_ns.h: the inode numbers of the namespaces the kernel boots with.
INIT_NS_INODES: dict[str, int] = {
    "ipc": 0xEFFFFFFF,  # 4026531839
    "uts": 0xEFFFFFFE,  # 4026531838
    "user": 0xEFFFFFFD,  # 4026531837
    "pid": 0xEFFFFFFC,  # 4026531836
    "cgroup": 0xEFFFFFFB,  # 4026531835
    "time": 0xEFFFFFFA,  # 4026531834
}
# A process in all four of these initial namespaces was not isolated by a runtime;
# uts and time are shared by `--uts=host`-style options and say little.
HOST_NS = ("pid", "user", "ipc", "cgroup")
NS_NAMES = ("pid", "user", "ipc", "cgroup", "uts", "time")

# The values of `container=` (PID 1's environment, /run/systemd/container) mapped to
# our ids. systemd's convention: https://systemd.io/CONTAINER_INTERFACE/ ; "crio" is
# what CRI-O puts in every container's environment (systemd maps it to container-other).
CONTAINER_ENV_IDS: dict[str, str | None] = {
    "docker": "docker",
    "podman": "podman",
    "lxc": "lxc",
    "lxc-libvirt": "lxc-libvirt",
    "systemd-nspawn": "systemd-nspawn",
    "rkt": "rkt",
    "crio": "cri-o",
    "wsl": None,  # WSL sets container=wsl in some distributions; the wsl probe owns it
    "oci": "container-other",
    "proot": "proot",
    "pouch": "pouch",
}

KUBE_TOKEN_PATHS = (
    "var/run/secrets/kubernetes.io/serviceaccount/token",
    "run/secrets/kubernetes.io/serviceaccount/token",
)

# gVisor's sentry reports this fixed kernel identity (release "4.4.0") whatever the
# host runs; seen here with runsc release 20221219, and in gVisor's source
# (google/gvisor, the kernel.Version the sentry is started with). A real Linux
# /proc/version names its compiler; this one names none.
GVISOR_VERSION = "Linux version 4.4.0 #1 SMP Sun Jan 10 15:06:54 PST 2016"
# The first and last lines of gVisor's boot log (pkg/sentry/kernel/syslog.go); the
# lines between are jokes picked at random.
GVISOR_DMESG = ("Starting gVisor...", "Ready!")

# The files the readers touch; capture.PATHS lists them (the "# container.py" block).
PATHS = (
    ".dockerenv",
    "run/.containerenv",
    "run/systemd/container",
    "proc/1/environ",
    "proc/1/comm",
    "proc/1/cmdline",
    "proc/1/cgroup",
    "proc/self/cgroup",
    "proc/self/mountinfo",
    "proc/mounts",
    "proc/version",
    "proc/vz",
    "proc/bc",
    "proc/self/status",
    *(f"proc/self/ns/{n}" for n in NS_NAMES),
    *KUBE_TOKEN_PATHS,
    "sys/fs/cgroup",
    "sys/fs/cgroup/cgroup.controllers",
)

_HEX64 = r"[0-9a-f]{64}"
# Ordered: the first match wins for one path. Each pattern names the engine that
# lays out cgroups that way (docker's cgroupfs and systemd drivers, podman's
# libpod scopes, CRI-O and containerd's CRI scopes, LXC 4+ and older LXC,
# systemd-nspawn machines). Each row also names a literal that every match of its
# pattern contains: a path without it cannot match, so the pattern is compiled only
# for a path that may (a host's cgroup paths compile none; each costs start-up time).
_CGROUP_PATTERNS: tuple[tuple[str, str, str], ...] = (
    ("cri-o", "crio-", r"crio-(?:conmon-)?" + _HEX64),
    ("containerd", "cri-containerd-", r"cri-containerd-" + _HEX64),
    ("podman", "libpod-", r"libpod-(?:conmon-)?" + _HEX64),
    ("docker", "docker", r"(?:^|/)docker[-/]" + _HEX64),
    ("lxc", "lxc", r"(?:^|/)lxc\.payload[./]|(?:^|/)lxc/[^/]+"),
    ("systemd-nspawn", "machine.slice/", r"machine\.slice/(?:systemd-nspawn@|machine-)"),
)


# NamedTuple, not frozen dataclasses: the same immutability at a twentieth of the
# import cost (about 1 ms per frozen dataclass here), and detect's start-up is its speed.
class Clue(NamedTuple):
    """One source that names an engine, and how much it can be trusted."""

    id: str
    strength: str  # STRONG | SUPPORT | WEAK
    ev: Evidence


class Namespaces(NamedTuple):
    inodes: dict[str, int | None]
    rows: dict[str, Evidence]

    @property
    def readable(self) -> bool:
        return all(self.inodes[n] is not None for n in HOST_NS)

    @property
    def initial(self) -> bool:
        """All of pid, user, ipc and cgroup are the kernel's initial namespaces."""
        return self.readable and all(self.inodes[n] == INIT_NS_INODES[n] for n in HOST_NS)

    @property
    def unshared(self) -> tuple[str, ...]:
        """The namespaces that were readable and are not the initial ones (pid and user matter)."""
        return tuple(n for n in ("pid", "user") if self.inodes[n] is not None and self.inodes[n] != INIT_NS_INODES[n])


class Mounts(NamedTuple):
    readable: bool
    root: tuple[str, str, str] | None  # (fstype, source, super options) of "/"
    containerenv_mounted: bool  # podman bind-mounts /run/.containerenv from its userdata
    clue: Clue | None
    row: Evidence | None  # what was seen when no engine shows, or why it could not be read

    def root_desc(self) -> str:
        return f"/ is {self.root[0]} on {self.root[1]}" if self.root else "no root mount line"


def ev(source: str, value: str, weight: str, points_to: str | None = None, note: str = "") -> Evidence:
    return Evidence(TOPIC, source, value, weight, points_to, note)


# --- pure parsers -------------------------------------------------------------------


class CgroupLine(NamedTuple):
    hierarchy: str
    controllers: str
    path: str


def parse_cgroup(text: str) -> tuple[CgroupLine, ...]:
    """Parse /proc/<pid>/cgroup ("hierarchy-ID:controller-list:cgroup-path" per line)."""
    out = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        out.append(CgroupLine(parts[0].strip(), parts[1].strip(), parts[2].strip()))
    return tuple(out)


def classify_cgroup_path(path: str) -> str | None:
    """The engine a cgroup path belongs to, or None."""
    for cid, literal, pattern in _CGROUP_PATTERNS:
        if literal in path and re.search(pattern, path):
            return cid
    return None


def is_kubepods(path: str) -> bool:
    return "kubepods" in path


def parse_ns_inode(link: str | None, name: str) -> int | None:
    """The inode number from a namespace link target like 'pid:[4026531836]' (spaces around it allowed)."""
    if not link:
        return None
    # str methods, not a pattern (one compiled per namespace cost start-up time): strip() drops what
    # \s does, isdecimal() accepts what \d does, and int() reads every such digit.
    text, prefix = link.strip(), f"{name}:["
    if not (text.startswith(prefix) and text.endswith("]")):
        return None
    digits = text[len(prefix) : -1]
    return int(digits) if digits.isdecimal() else None


def parse_environ(data: bytes) -> dict[str, str]:
    """Parse a NUL-separated /proc/<pid>/environ."""
    out: dict[str, str] = {}
    for item in data.split(b"\0"):
        if b"=" in item:
            k, _, v = item.partition(b"=")
            out[k.decode("utf-8", "replace")] = v.decode("utf-8", "replace")
    return out


def parse_containerenv(text: str) -> dict[str, str]:
    """Parse podman's /run/.containerenv (key="value" lines; empty unless --privileged on old podman)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        if sep:
            out[k.strip()] = v.strip().strip('"')
    return out


def parse_mountinfo_root(text: str) -> tuple[str, str, str] | None:
    """(fstype, source, super options) of the mount at "/" in /proc/self/mountinfo, the last one wins."""
    found = None
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 10 or fields[4] != "/":
            continue
        try:
            sep = fields.index("-", 6)
        except ValueError:
            continue
        if len(fields) < sep + 3:
            continue
        found = (fields[sep + 1], fields[sep + 2], " ".join(fields[sep + 3 :]))
    return found


def parse_mounts_root(text: str) -> tuple[str, str, str] | None:
    """(fstype, source, options) of "/" in /proc/mounts (fstab layout); the last one wins (overmounts)."""
    found = None
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[1] == "/":
            found = (parts[2], parts[0], parts[3])
    return found


def engine_from_mountinfo(text: str) -> tuple[str, str] | None:
    """(engine, the line fragment that says so) from an overlay root or the runtime's bind mounts."""
    root = parse_mountinfo_root(text)
    if root is not None and root[0] in ("overlay", "fuse-overlayfs", "aufs"):
        opts = root[2]
        if "/var/lib/docker/" in opts:
            return "docker", _fragment(opts, "/var/lib/docker/")
        if "io.containerd.snapshotter" in opts:
            return "containerd", _fragment(opts, "/var/lib/containerd/")
        if "/containers/storage/" in opts:
            # podman and CRI-O share containers/storage; the decision refines with Kubernetes signs.
            return "podman", _fragment(opts, "/containers/storage/")
    # Docker bind-mounts /etc/hostname, /etc/hosts and /etc/resolv.conf from
    # /var/lib/docker/containers/<id>/ whatever the storage driver and namespaces.
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[4] in ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf"):
            if "/docker/containers/" in fields[3]:
                return "docker", f"{fields[4]} from {fields[3]}"
            if "/containers/storage/" in fields[3] or "/userdata/" in fields[3]:
                return "podman", f"{fields[4]} from {fields[3]}"
    return None


def containerenv_mounted(text: str) -> bool:
    """Is /run/.containerenv a mount point (podman bind-mounts it from the container's userdata)?"""
    return any(len(f) >= 5 and f[4] == "/run/.containerenv" for f in (line.split() for line in text.splitlines()))


def is_gvisor_version(text: str) -> bool:
    return text.strip() == GVISOR_VERSION


def _fragment(opts: str, needle: str) -> str:
    for part in opts.split(","):
        if needle in part:
            return part[:160]
    return opts[:160]


def _env_id(value: str) -> str | None:
    return CONTAINER_ENV_IDS.get(value.strip(), "container-other")


# --- readers: each returns evidence, none decides -------------------------------------


def read_namespaces(src: Source) -> Namespaces:
    inodes: dict[str, int | None] = {}
    rows: dict[str, Evidence] = {}
    for name in NS_NAMES:
        rel = f"proc/self/ns/{name}"
        link = src.readlink(rel)
        ino = parse_ns_inode(link, name)
        inodes[name] = ino
        if ino is None:
            why = "unreadable link" if link is None else "not a namespace link"
            rows[name] = ev(src.path(rel), link or "", UNKNOWN, None, why)
        else:
            initial = ino == INIT_NS_INODES[name]
            note = "the kernel's initial namespace" if initial else "not the initial namespace"
            rows[name] = ev(src.path(rel), link or "", CONSIDERED, None, note)
    return Namespaces(inodes, rows)


def read_pid1(src: Source) -> tuple[str | None, list[Evidence], list[Clue]]:
    """Who PID 1 is (a description for notes), and its `container=` variable (STRONG)."""
    rows: list[Evidence] = []
    clues: list[Clue] = []
    comm_read = src.read("proc/1/comm", limit=256)
    comm = comm_read.text.strip() if comm_read.text else None
    cmd_read = src.read("proc/1/cmdline", limit=4096)
    cmd = cmd_read.data.replace(b"\0", b" ").decode("utf-8", "replace").strip() if cmd_read.data else None
    desc = comm or (cmd.split(" ", 1)[0] if cmd else None)
    if comm is not None or cmd:
        rel = "proc/1/cmdline" if cmd else "proc/1/comm"
        rows.append(ev(src.path(rel), (cmd or comm or "")[:160], CONSIDERED, None, _pid1_note(comm, cmd)))
    else:
        rows.append(ev(src.path("proc/1/comm"), "", UNKNOWN, None, comm_read.reason or "empty"))
    environ = src.read("proc/1/environ", limit=65536)
    if environ.data is None:
        rows.append(ev(src.path("proc/1/environ"), "", UNKNOWN, None, environ.reason or "unreadable"))
        return desc, rows, clues
    val = parse_environ(environ.data).get("container")
    cid = _env_id(val) if val else None
    if val and cid:
        note = "the runtime set it for the container's init (systemd's container interface)"
        clues.append(Clue(cid, STRONG, ev(src.path("proc/1/environ"), f"container={val}", CONSIDERED, cid, note)))
    else:
        rows.append(ev(src.path("proc/1/environ"), f"container={val}" if val else "no container=", CONSIDERED))
    return desc, rows, clues


def read_declarations(src: Source, mounts: Mounts) -> list[Clue]:
    """What a runtime or systemd declares: this process's variable, /run/systemd/container, /run/.containerenv."""
    clues: list[Clue] = []
    val = src.env.get("container")
    cid = _env_id(val) if val else None
    if val and cid:
        note = "this process's own environment: inherited from its parent, so it can leak out of a container"
        clues.append(Clue(cid, SUPPORT, ev("env container", val, CONSIDERED, cid, note)))
    sd = src.read("run/systemd/container", limit=256)
    val = sd.text.strip() if sd.text else ""
    cid = _env_id(val) if val else None
    if cid:
        note = "systemd writes it from the container= its init was given"
        clues.append(Clue(cid, STRONG, ev(src.path("run/systemd/container"), val, CONSIDERED, cid, note)))
    if src.exists("run/.containerenv"):
        fields = parse_containerenv(src.read("run/.containerenv", limit=65536).text or "")
        engine = fields.get("engine", "")
        value = f'engine="{engine}"' if engine else "exists (empty)"
        if engine or mounts.containerenv_mounted or not mounts.readable:
            how = "bind-mounted by podman" if mounts.containerenv_mounted else "podman writes this file"
            clues.append(Clue("podman", STRONG, ev(src.path("run/.containerenv"), value, CONSIDERED, "podman", how)))
        else:
            note = "an empty file nothing mounts: a leftover of a root filesystem exported from podman"
            clues.append(Clue("podman", WEAK, ev(src.path("run/.containerenv"), value, CONSIDERED, "podman", note)))
    return clues


def read_cgroups(src: Source) -> tuple[bool, list[Clue], list[Evidence], list[Evidence]]:
    """(readable, engine clues, Kubernetes rows, other rows) from this process's and PID 1's cgroups."""
    readable = False
    clues: list[Clue] = []
    kube: list[Evidence] = []
    rows: list[Evidence] = []
    for rel in ("proc/self/cgroup", "proc/1/cgroup"):
        read = src.read(rel, limit=65536)
        if read.text is None:
            rows.append(ev(src.path(rel), "", UNKNOWN, None, read.reason or "unreadable"))
            continue
        readable = readable or rel == "proc/self/cgroup"
        lines = parse_cgroup(read.text)
        matched = False
        for line in lines:
            text = f"{line.hierarchy}:{line.controllers}:{line.path}"[:200]
            if is_kubepods(line.path) and not any(k.source == src.path(rel) for k in kube):
                kube.append(ev(src.path(rel), text, CONSIDERED, "kubernetes"))
            cid = classify_cgroup_path(line.path)
            if cid is not None and not matched:
                matched = True
                clues.append(Clue(cid, STRONG, ev(src.path(rel), text, CONSIDERED, cid, "the engine's cgroup")))
        if not matched:
            rows.append(ev(src.path(rel), _summ_cgroup(lines), CONSIDERED, None, "no container runtime's path"))
    return readable, clues, kube, rows


def read_mounts(src: Source) -> Mounts:
    mi = src.read("proc/self/mountinfo", limit=1024 * 1024)
    if mi.text is None:
        # /proc/mounts still shows the root's filesystem and an overlay's layer paths,
        # not the bind mounts' sources; the wsl probe reads it anyway.
        mounts = src.read("proc/mounts", limit=1024 * 1024)
        root = parse_mounts_root(mounts.text or "")
        if root is None:
            why = f"{mi.reason or 'unreadable'}; /proc/mounts: {mounts.reason or 'no root line'}"
            return Mounts(False, None, False, None, ev(src.path("proc/self/mountinfo"), "", UNKNOWN, None, why))
        text = f"/ is {root[0]} on {root[1]}"
        if root[0] in ("overlay", "fuse-overlayfs", "aufs"):
            found = engine_from_mountinfo(f"1 0 0:1 / / rw - {root[0]} {root[1]} {root[2]}")
            if found:
                e = ev(src.path("proc/mounts"), found[1], CONSIDERED, found[0], "the engine's overlay root")
                return Mounts(True, root, False, Clue(found[0], STRONG, e), None)
        note = f"no container runtime's root (/proc/self/mountinfo: {mi.reason or 'unreadable'})"
        return Mounts(True, root, False, None, ev(src.path("proc/mounts"), text, CONSIDERED, None, note))
    root = parse_mountinfo_root(mi.text)
    found = engine_from_mountinfo(mi.text)
    mounted = containerenv_mounted(mi.text)
    if found:
        e = ev(src.path("proc/self/mountinfo"), found[1], CONSIDERED, found[0], "the engine's own mounts")
        return Mounts(True, root, mounted, Clue(found[0], STRONG, e), None)
    desc = f"/ is {root[0]} on {root[1]}" if root else "no root mount line"
    row = ev(src.path("proc/self/mountinfo"), desc, CONSIDERED, None, "no container runtime's mounts")
    return Mounts(True, root, mounted, None, row)


def read_kernel(src: Source) -> tuple[list[Clue], list[Evidence]]:
    """Sandbox kernels that name themselves (gVisor), and OpenVZ's /proc/vz."""
    clues: list[Clue] = []
    rows: list[Evidence] = []
    version = src.read("proc/version", limit=4096)
    if version.text is not None and is_gvisor_version(version.text):
        note = "gVisor's sentry reports this fixed kernel identity; runsc is the runtime"
        clues.append(
            Clue("gvisor", STRONG, ev(src.path("proc/version"), version.text.strip(), CONSIDERED, "gvisor", note))
        )
        # Only inside gVisor, so the host path never pays for a subprocess.
        dmesg = src.command("dmesg")
        text = dmesg.value.decode("utf-8", "replace") if dmesg.ok else ""
        if all(line in text for line in GVISOR_DMESG):
            e = ev("command: dmesg", GVISOR_DMESG[0], CONSIDERED, "gvisor", "gVisor's own boot log")
            clues.append(Clue("gvisor", STRONG, e))
        else:
            rows.append(ev("command: dmesg", "", CONSIDERED, None, dmesg.reason or "no gVisor boot lines"))
    ids = parse_status_ids(src.derived("proc/self/status", status_ids).value or "")
    # OpenVZ/Virtuozzo: /proc/vz exists in both host and guest, /proc/bc only on the host (systemd's rule).
    # The kernel's own word is envID in /proc/self/status (0 on the host: virt-what reads it too).
    if src.exists("proc/vz") and not src.exists("proc/bc"):
        env_id = ids.get("envID")
        if env_id == "0":
            note = "envID 0 in /proc/self/status: this is the OpenVZ host, not a container"
            rows.append(ev(src.path("proc/self/status"), "envID: 0", CONSIDERED, None, note))
        else:
            seen = "exists, /proc/bc does not" + (f"; envID {env_id}" if env_id else "")
            e = ev(src.path("proc/vz"), seen, CONSIDERED, "openvz", "OpenVZ's kernel (systemd's rule)")
            clues.append(Clue("openvz", STRONG, e))
    vx_id = ids.get("VxID")
    if vx_id is not None and vx_id != "0":
        # Linux-VServer (virt-what's linux_vserver-guest); systemd has no id: container-other.
        note = f"a Linux-VServer guest (VxID {vx_id}; 0 would be the host)"
        clues.append(Clue("container-other", STRONG, ev(src.path("proc/self/status"), f"VxID: {vx_id}",
                                                        CONSIDERED, "container-other", note)))
    return clues, rows


def status_ids(text: str) -> str:
    """The only lines of /proc/self/status a snapshot keeps: OpenVZ's envID and Linux-VServer's VxID,
    as "envID: 0; VxID: 4" (the shell capture's derive_status writes the same)."""
    kept = []
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key in ("envID", "VxID"):
            kept.append(f"{key}: {value.strip()}")
    return "; ".join(kept)


def parse_status_ids(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.replace(";", "\n").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("envID", "VxID"):
            out[key.strip()] = value.strip()
    return out


def read_markers(src: Source) -> list[Clue]:
    if not src.exists(".dockerenv"):
        return []
    note = "Docker creates it in every container, and it stays in a root filesystem built from the image"
    return [Clue("docker", WEAK, ev(src.path(".dockerenv"), "exists", CONSIDERED, "docker", note))]


def read_kubernetes(src: Source) -> list[Evidence]:
    kube: list[Evidence] = []
    for rel in KUBE_TOKEN_PATHS:
        # Existence only: the token is a credential and is never read.
        if src.exists(rel):
            kube.append(ev(src.path(rel), "exists (not read)", CONSIDERED, "kubernetes", "service-account token"))
            break
    host = src.env.get("KUBERNETES_SERVICE_HOST")
    if host:
        kube.append(ev("env KUBERNETES_SERVICE_HOST", host, CONSIDERED, "kubernetes"))
    return kube


def read_cgroup_version(src: Source) -> tuple[int | None, Evidence]:
    """2 for the unified hierarchy alone, 1 when v1 controllers are mounted (hybrid counts as 1)."""
    if src.exists("sys/fs/cgroup/cgroup.controllers"):
        return 2, ev(
            src.path("sys/fs/cgroup/cgroup.controllers"), "exists", CONSIDERED, None, "cgroup v2 unified hierarchy"
        )
    names = src.listdir("sys/fs/cgroup")
    v1 = [n for n in names or () if n in ("memory", "cpu", "cpuacct", "pids", "blkio", "devices", "freezer", "cpuset")]
    if v1:
        note = "cgroup v1 controllers mounted (hybrid counts as v1)"
        return 1, ev(src.path("sys/fs/cgroup"), " ".join(names or ())[:160], CONSIDERED, None, note)
    read = src.read("proc/self/cgroup", limit=65536)
    lines = parse_cgroup(read.text or "")
    if lines and all(x.hierarchy == "0" and x.controllers == "" for x in lines):
        return 2, ev(src.path("proc/self/cgroup"), "only the 0:: line", CONSIDERED, None, "cgroup v2 only")
    if any(x.controllers and x.controllers != "name=systemd" for x in lines):
        return 1, ev(src.path("proc/self/cgroup"), "v1 controller lines", CONSIDERED, None, "cgroup v1 hierarchies")
    listed = "not listable" if names is None else ("empty" if not names else "no controller directories")
    cg = "unreadable" if read.text is None else ("empty" if not lines else "no controller lines")
    why = f"cannot tell the cgroup version: /sys/fs/cgroup {listed}, /proc/self/cgroup {cg}"
    return None, ev(src.path("sys/fs/cgroup"), "", UNKNOWN, None, why)


# The words of PID 1's command line that _pid1_note reads; a snapshot keeps argv[0]'s name and these.
PID1_WORDS = ("firecracker-init",)


def filter_pid1_cmdline(data: bytes) -> bytes:
    """/proc/1/cmdline as a snapshot keeps it: argv[0]'s file name and the arguments holding a word
    of PID1_WORDS, nothing else (other arguments may hold addresses, tokens or paths)."""
    args = [a for a in data.split(b"\0") if a]
    if not args:
        return b""
    keep = [args[0].rsplit(b"/", 1)[-1]]
    keep += [a for a in args[1:] if any(w.encode() in a for w in PID1_WORDS)]
    return b"".join(a + b"\0" for a in keep)


def _pid1_note(comm: str | None, cmd: str | None) -> str:
    text = f"{comm or ''} {cmd or ''}"
    if "firecracker-init" in text:
        return "PID 1 is a microVM's init (Firecracker guest agent)"
    if comm in ("systemd", "init"):
        return "PID 1 is a system init"
    if comm in ("sh", "bash", "sleep", "tini", "dumb-init", "conmon", "catatonit", "pause"):
        return "PID 1 looks like a container entrypoint"
    return "PID 1"


def _summ_cgroup(lines: tuple[CgroupLine, ...]) -> str:
    paths = sorted({x.path for x in lines})
    return ", ".join(paths)[:160] or "empty"
