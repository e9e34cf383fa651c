"""Container detection: weigh every marker, and let the kernel's namespaces overrule stale files.

Identifiers follow systemd-detect-virt (src/basic/virt.c) where it has one:
docker, podman, lxc, lxc-libvirt, systemd-nspawn, rkt, openvz, proot, pouch,
container-other. virtprobe adds two that systemd lacks:
- "cri-o": a cgroup path with a `crio-<id>` scope (systemd calls it container-other);
- "containerd": a cgroup path with a `cri-containerd-<id>` scope (Kubernetes via
  the CRI plugin), or an overlay root served from containerd's own snapshotter
  (/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs) with no Docker
  path anywhere. A bare `/<namespace>/<id>` cgroup path from `ctr run` is not
  recognised on its own: it is indistinguishable from any user-made cgroup.

The trap this module exists for: a root filesystem built from a Docker image
keeps /.dockerenv, so systemd-detect-virt and virt-what say "docker" on a VM or
host that merely booted it. The kernel's initial namespaces have fixed inode
numbers (include/linux/proc_ns.h); when the PID, user, IPC and cgroup namespaces
are all initial, no container runtime set this process up, whatever the files say.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from virtprobe.detect.model import (
    CONSIDERED,
    DECISIVE,
    NONE,
    OVERRULED,
    SUPPORTING,
    UNKNOWN,
    ContainerResult,
    Evidence,
)
from virtprobe.machine.source import Source

TOPIC = "container"

# include/linux/proc_ns.h: the inode numbers of the namespaces the kernel boots with.
INIT_NS_INODES: dict[str, int] = {
    "ipc": 0xEFFFFFFF,  # 4026531839
    "uts": 0xEFFFFFFE,  # 4026531838
    "user": 0xEFFFFFFD,  # 4026531837
    "pid": 0xEFFFFFFC,  # 4026531836
    "cgroup": 0xEFFFFFFB,  # 4026531835
    "time": 0xEFFFFFFA,  # 4026531834
}
# A process in all four of these initial namespaces was not set up by a container
# runtime. (uts and time are shared by `--uts=host`-style options, and cgroup
# namespaces are not unshared by Docker on cgroup v1, so the decision rests on
# pid and user as well.)
HOST_NS = ("pid", "user", "ipc", "cgroup")
NS_NAMES = ("pid", "user", "ipc", "cgroup", "uts", "time")

# The values of `container=` (env of PID 1, /run/systemd/container) that systemd
# knows, mapped to our ids. systemd's convention: https://systemd.io/CONTAINER_INTERFACE/
CONTAINER_ENV_IDS = {
    "docker": "docker",
    "podman": "podman",
    "lxc": "lxc",
    "lxc-libvirt": "lxc-libvirt",
    "systemd-nspawn": "systemd-nspawn",
    "rkt": "rkt",
    "wsl": None,  # WSL sets container=wsl in some distributions; the wsl probe owns it
    "oci": "container-other",
    "proot": "proot",
    "pouch": "pouch",
}

KUBE_TOKEN_PATHS = (
    "var/run/secrets/kubernetes.io/serviceaccount/token",
    "run/secrets/kubernetes.io/serviceaccount/token",
)

# The files this probe reads; capture.PATHS includes them.
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
    "proc/vz",
    "proc/bc",
    *(f"proc/self/ns/{n}" for n in NS_NAMES),
    *KUBE_TOKEN_PATHS,
    "sys/fs/cgroup",
    "sys/fs/cgroup/cgroup.controllers",
)

_HEX64 = r"[0-9a-f]{64}"
# Ordered: the first match wins for one path. Each pattern names the engine that
# lays out cgroups that way (docker's cgroupfs and systemd drivers, podman's
# libpod scopes, CRI-O and containerd's CRI scopes, LXC 4+ and older LXC,
# systemd-nspawn machines).
_CGROUP_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("cri-o", re.compile(r"crio-(?:conmon-)?" + _HEX64)),
    ("containerd", re.compile(r"cri-containerd-" + _HEX64)),
    ("podman", re.compile(r"libpod-(?:conmon-)?" + _HEX64)),
    ("docker", re.compile(r"(?:^|/)docker[-/]" + _HEX64)),
    ("lxc", re.compile(r"(?:^|/)lxc\.payload[./]|(?:^|/)lxc/[^/]+")),
    ("systemd-nspawn", re.compile(r"machine\.slice/(?:systemd-nspawn@|machine-)")),
)


@dataclass(frozen=True)
class CgroupLine:
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
    for cid, pattern in _CGROUP_PATTERNS:
        if pattern.search(path):
            return cid
    return None


def is_kubepods(path: str) -> bool:
    return "kubepods" in path


def parse_ns_inode(link: str | None, name: str) -> int | None:
    """The inode number from a namespace link target like 'pid:[4026531836]'."""
    if not link:
        return None
    m = re.fullmatch(rf"\s*{re.escape(name)}:\[(\d+)\]\s*", link)
    return int(m.group(1)) if m else None


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
            # podman and CRI-O share containers/storage; the caller refines with Kubernetes signs.
            return "podman", _fragment(opts, "/containers/storage/")
    # Docker bind-mounts /etc/hostname, /etc/hosts and /etc/resolv.conf from
    # /var/lib/docker/containers/<id>/ even with a cgroup namespace (cgroup v2).
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[4] in ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf"):
            if "/docker/containers/" in fields[3]:
                return "docker", f"{fields[4]} from {fields[3]}"
            if "/containers/storage/" in fields[3] or "/userdata/" in fields[3]:
                return "podman", f"{fields[4]} from {fields[3]}"
    return None


def _fragment(opts: str, needle: str) -> str:
    for part in opts.split(","):
        if needle in part:
            return part[:160]
    return opts[:160]


@dataclass
class _Hint:
    id: str
    strength: int  # 3 explicit (env, systemd file), 2 structural (cgroup, mounts), 1 marker file
    ev: Evidence


def probe_container(src: Source) -> tuple[ContainerResult, list[Evidence]]:
    """Weigh every container marker; never raises."""
    evidence: list[Evidence] = []
    hints: list[_Hint] = []
    kube: list[Evidence] = []
    informative = False  # did we read anything that could tell a host from a container?

    def ev(source: str, value: str, weight: str, points_to: str | None = None, note: str = "") -> Evidence:
        return Evidence(TOPIC, source, value, weight, points_to, note)

    # --- namespaces: the kernel's own word ----------------------------------
    ns: dict[str, int | None] = {}
    ns_rows: dict[str, Evidence] = {}
    for name in NS_NAMES:
        rel = f"proc/self/ns/{name}"
        link = src.readlink(rel)
        ino = parse_ns_inode(link, name)
        ns[name] = ino
        if ino is None:
            ns_rows[name] = ev(
                src.path(rel),
                link or "",
                UNKNOWN,
                None,
                "unreadable link" if link is None else "not a namespace link",
            )
        else:
            initial = ino == INIT_NS_INODES[name]
            ns_rows[name] = ev(
                src.path(rel),
                link or "",
                CONSIDERED,
                None,
                "the kernel's initial namespace" if initial else "not the initial namespace",
            )
    host_ns = all(ns[n] is not None and ns[n] == INIT_NS_INODES[n] for n in HOST_NS)
    pid_unshared = ns["pid"] is not None and ns["pid"] != INIT_NS_INODES["pid"]
    user_unshared = ns["user"] is not None and ns["user"] != INIT_NS_INODES["user"]
    if any(v is not None for v in ns.values()):
        informative = True

    cid: str | None
    hint: str | None
    # --- PID 1 ---------------------------------------------------------------
    comm_read = src.read("proc/1/comm", limit=256)
    pid1_comm = comm_read.text.strip() if comm_read.text else None
    cmd_read = src.read("proc/1/cmdline", limit=4096)
    pid1_cmd = (
        cmd_read.data.replace(b"\0", b" ").decode("utf-8", "replace").strip() if cmd_read.data else None
    )
    pid1_desc = pid1_comm or (pid1_cmd.split(" ", 1)[0] if pid1_cmd else None)
    if pid1_comm is not None or pid1_cmd:
        evidence.append(
            ev(
                src.path("proc/1/cmdline" if pid1_cmd else "proc/1/comm"),
                (pid1_cmd or pid1_comm or "")[:160],
                CONSIDERED,
                None,
                _pid1_note(pid1_comm, pid1_cmd),
            )
        )
    else:
        evidence.append(ev(src.path("proc/1/comm"), "", UNKNOWN, None, comm_read.reason or "empty"))

    # --- explicit declarations ----------------------------------------------
    env_val = src.env.get("container")
    if env_val:
        hint = CONTAINER_ENV_IDS.get(env_val.strip(), "container-other")
        if hint:
            hints.append(
                _Hint(
                    hint, 3, ev("env container", env_val, CONSIDERED, hint, "systemd's container interface")
                )
            )

    pid1_env = src.read("proc/1/environ", limit=65536)
    if pid1_env.data is not None:
        informative = True
        val = parse_environ(pid1_env.data).get("container")
        if val:
            hint = CONTAINER_ENV_IDS.get(val.strip(), "container-other")
            if hint:
                hints.append(
                    _Hint(hint, 3, ev(src.path("proc/1/environ"), f"container={val}", CONSIDERED, hint))
                )
        else:
            evidence.append(ev(src.path("proc/1/environ"), "no container=", CONSIDERED))
    else:
        evidence.append(ev(src.path("proc/1/environ"), "", UNKNOWN, None, pid1_env.reason or "unreadable"))

    sd = src.read("run/systemd/container", limit=256)
    if sd.text and sd.text.strip():
        val = sd.text.strip()
        hint = CONTAINER_ENV_IDS.get(val, "container-other")
        if hint:
            hints.append(_Hint(hint, 3, ev(src.path("run/systemd/container"), val, CONSIDERED, hint)))

    if src.exists("run/.containerenv"):
        cenv = src.read("run/.containerenv", limit=65536)
        fields = parse_containerenv(cenv.text or "")
        engine = fields.get("engine", "")
        value = f'engine="{engine}"' if engine else "exists (empty)"
        note = "podman writes this file; buildah too (its engine field says so)"
        hints.append(
            _Hint(
                "podman",
                3,
                ev(src.path("run/.containerenv"), value, CONSIDERED, "podman", note),
            )
        )

    # --- cgroups and mounts: how the runtime laid the process out -----------
    for rel in ("proc/self/cgroup", "proc/1/cgroup"):
        read = src.read(rel, limit=65536)
        if read.text is None:
            evidence.append(ev(src.path(rel), "", UNKNOWN, None, read.reason or "unreadable"))
            continue
        informative = True
        lines = parse_cgroup(read.text)
        matched = False
        for line in lines:
            if is_kubepods(line.path) and not any(k.source == src.path(rel) for k in kube):
                kube.append(
                    ev(
                        src.path(rel),
                        f"{line.hierarchy}:{line.controllers}:{line.path}"[:200],
                        CONSIDERED,
                        "kubernetes",
                    )
                )
            hint = classify_cgroup_path(line.path)
            if hint is not None and not matched:
                matched = True
                hints.append(
                    _Hint(
                        hint,
                        2,
                        ev(
                            src.path(rel),
                            f"{line.hierarchy}:{line.controllers}:{line.path}"[:200],
                            CONSIDERED,
                            hint,
                        ),
                    )
                )
        if not matched:
            evidence.append(
                ev(src.path(rel), _summ_cgroup(lines), CONSIDERED, None, "no container runtime's path")
            )

    mi = src.read("proc/self/mountinfo", limit=1024 * 1024)
    if mi.text is None:
        evidence.append(ev(src.path("proc/self/mountinfo"), "", UNKNOWN, None, mi.reason or "unreadable"))
    else:
        informative = True
        found = engine_from_mountinfo(mi.text)
        root = parse_mountinfo_root(mi.text)
        if found:
            hints.append(
                _Hint(found[0], 2, ev(src.path("proc/self/mountinfo"), found[1], CONSIDERED, found[0]))
            )
        else:
            desc = f"/ is {root[0]} on {root[1]}" if root else "no root mount line"
            evidence.append(
                ev(src.path("proc/self/mountinfo"), desc, CONSIDERED, None, "no container runtime's mounts")
            )

    # OpenVZ/Virtuozzo: /proc/vz exists in both host and guest, /proc/bc only on the host (systemd's rule).
    if src.exists("proc/vz") and not src.exists("proc/bc"):
        hints.append(
            _Hint("openvz", 2, ev(src.path("proc/vz"), "exists, /proc/bc does not", CONSIDERED, "openvz"))
        )

    dockerenv = src.exists(".dockerenv")
    if dockerenv:
        hints.append(_Hint("docker", 1, ev(src.path(".dockerenv"), "exists", CONSIDERED, "docker")))

    # --- Kubernetes -------------------------------------------------------------
    for rel in KUBE_TOKEN_PATHS:
        # Existence only: the token is a credential and is never read.
        if src.exists(rel):
            kube.append(
                ev(src.path(rel), "exists (not read)", CONSIDERED, "kubernetes", "service-account token")
            )
            break
    if src.env.get("KUBERNETES_SERVICE_HOST"):
        kube.append(
            ev("env KUBERNETES_SERVICE_HOST", src.env["KUBERNETES_SERVICE_HOST"], CONSIDERED, "kubernetes")
        )

    cgroup_version, cg_ev = _cgroup_version(src)
    evidence.append(cg_ev)

    # --- the verdict ----------------------------------------------------------------
    weighted: list[Evidence] = []
    orchestrator: str | None
    if host_ns:
        cid = NONE
        who = pid1_desc or "unknown"
        for h in hints:
            note = (
                "stale marker: the root filesystem was built from a Docker image; namespaces are the "
                f"kernel's initial ones and PID 1 is {who}"
                if h.ev.source == src.path(".dockerenv")
                else "overruled: PID, user, IPC and cgroup namespaces are the kernel's initial ones; "
                f"PID 1 is {who}"
            )
            weighted.append(_reweigh(h.ev, OVERRULED, note))
        for name in HOST_NS:
            weighted.append(
                _reweigh(ns_rows[name], DECISIVE, "the kernel's initial namespace: not a container")
            )
        for name in ("uts", "time"):
            weighted.append(ns_rows[name])
        weighted.extend(_reweigh(k, OVERRULED, "not in a container") for k in kube)
        orchestrator = NONE
    elif hints:
        score: dict[str, int] = {}
        for h in hints:
            score[h.id] = score.get(h.id, 0) + h.strength
        best = max(score, key=lambda k: (score[k], max(h.strength for h in hints if h.id == k)))
        # containers/storage is shared by podman and CRI-O; Kubernetes with a
        # storage-only podman hint means CRI-O.
        if (
            best == "podman"
            and kube
            and all(h.ev.source.endswith("mountinfo") for h in hints if h.id == "podman")
        ):
            best = "cri-o"
        cid = best
        decided = False
        for h in sorted(hints, key=lambda h: -h.strength):
            if h.id == best or (best == "cri-o" and h.id == "podman"):
                weighted.append(_reweigh(h.ev, SUPPORTING if decided else DECISIVE, h.ev.note, best))
                decided = True
            else:
                weighted.append(_reweigh(h.ev, OVERRULED, f"weaker than the evidence for {best}"))
        for name in NS_NAMES:
            row = ns_rows[name]
            if name in ("pid", "user") and row.weight == CONSIDERED and "not the initial" in row.note:
                row = _reweigh(row, SUPPORTING, row.note, best)
            weighted.append(row)
        orchestrator = "kubernetes" if kube else NONE
        weighted.extend(_reweigh(k, DECISIVE if i == 0 else SUPPORTING, k.note) for i, k in enumerate(kube))
    elif pid_unshared or user_unshared:
        # Some runtime unshared our namespaces, but none left a marker we know.
        cid = "container-other"
        for name in NS_NAMES:
            row = ns_rows[name]
            if name in ("pid", "user") and "not the initial" in row.note:
                row = _reweigh(
                    row,
                    DECISIVE,
                    "a runtime unshared this namespace; no known marker names it",
                    "container-other",
                )
            weighted.append(row)
        orchestrator = "kubernetes" if kube else NONE
        weighted.extend(_reweigh(k, DECISIVE if i == 0 else SUPPORTING, k.note) for i, k in enumerate(kube))
    elif kube:
        # A pod whose runtime left no trace we know (cgroup namespace, unknown layout).
        cid = "container-other"
        orchestrator = "kubernetes"
        weighted.extend(ns_rows.values())
        weighted.extend(
            _reweigh(k, DECISIVE if i == 0 else SUPPORTING, k.note, "kubernetes") for i, k in enumerate(kube)
        )
    elif informative:
        # No marker anywhere, and what we could read looks like a host. The
        # namespaces could not be read, so this rests on absence (as systemd's does).
        cid = NONE
        orchestrator = NONE
        weighted.extend(ns_rows.values())
    else:
        cid = None
        orchestrator = None
        weighted.extend(ns_rows.values())
        weighted.append(
            ev("container", "", UNKNOWN, None, "neither namespaces, cgroups nor mounts could be read")
        )

    return ContainerResult(
        id=cid, orchestrator=orchestrator, cgroup_version=cgroup_version
    ), weighted + evidence


def _reweigh(e: Evidence, weight: str, note: str, points_to: str | None = None) -> Evidence:
    return Evidence(e.topic, e.source, e.value, weight, points_to or e.points_to, note)


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


def _cgroup_version(src: Source) -> tuple[int | None, Evidence]:
    """2 for the unified hierarchy alone, 1 when v1 controllers are mounted (hybrid counts as 1)."""
    if src.exists("sys/fs/cgroup/cgroup.controllers"):
        return 2, Evidence(
            TOPIC,
            "/sys/fs/cgroup/cgroup.controllers",
            "exists",
            CONSIDERED,
            None,
            "cgroup v2 unified hierarchy",
        )
    names = src.listdir("sys/fs/cgroup") or []
    v1 = [
        n for n in names if n in ("memory", "cpu", "cpuacct", "pids", "blkio", "devices", "freezer", "cpuset")
    ]
    if v1:
        return 1, Evidence(
            TOPIC,
            "/sys/fs/cgroup",
            " ".join(names)[:160],
            CONSIDERED,
            None,
            "cgroup v1 controllers mounted (hybrid counts as v1)",
        )
    read = src.read("proc/self/cgroup", limit=65536)
    if read.text:
        lines = parse_cgroup(read.text)
        if lines and all(x.hierarchy == "0" and x.controllers == "" for x in lines):
            return 2, Evidence(
                TOPIC, src.path("proc/self/cgroup"), "only the 0:: line", CONSIDERED, None, "cgroup v2 only"
            )
        if any(x.controllers and x.controllers != "name=systemd" for x in lines):
            return 1, Evidence(
                TOPIC,
                src.path("proc/self/cgroup"),
                "v1 controller lines",
                CONSIDERED,
                None,
                "cgroup v1 hierarchies",
            )
    return None, Evidence(TOPIC, "/sys/fs/cgroup", "", UNKNOWN, None, "cannot tell the cgroup version")
