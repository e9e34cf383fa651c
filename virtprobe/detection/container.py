"""Container detection: gather every hint (container_readers), then decide by the written rules below.

Identifiers follow systemd-detect-virt (src/basic/virt.c) where it has one:
docker, podman, lxc, lxc-libvirt, systemd-nspawn, rkt, openvz, proot, pouch,
container-other. virtprobe adds three that systemd lacks:
- "cri-o": a cgroup path with a `crio-<id>` scope, or container=crio (systemd says container-other);
- "containerd": a `cri-containerd-<id>` cgroup scope (Kubernetes via the CRI plugin), or an
  overlay root from containerd's own snapshotter with no Docker path anywhere;
- "gvisor": gVisor's sandbox kernel names itself in /proc/version (systemd says docker there).

The trap this module exists for: a root filesystem built from a Docker image keeps
/.dockerenv, so systemd-detect-virt and virt-what say "docker" on a host that merely
booted it, and on `unshare` namespaces made on that host. The rules, also in
docs/detection.md ("Container"):
1. Strong evidence about this process (its root mount, its cgroup, PID 1's container=,
   a runtime's own files, the sandbox kernel) decides, whatever the namespaces are
   (`--pid host --ipc host --userns host --cgroupns host` leave every namespace initial).
2. Otherwise, namespaces that are not the kernel's initial ones mean a container.
   This process's own container= may name it. A weak marker may name it only when
   the root mount, which would show the engine, could not be read.
3. Otherwise, the kernel's initial PID, user, IPC and cgroup namespaces mean no
   container: variables and markers are leftovers.
4. Otherwise (namespaces unreadable), Kubernetes signs mean a container of unknown
   engine, and "none" needs readable cgroups and mounts that named nobody; else unknown.
"""

from __future__ import annotations

from collections import Counter

from virtprobe.detection.container_readers import (
    HOST_NS,
    NS_NAMES,
    PATHS,
    STRONG,
    SUPPORT,
    TOPIC,
    WEAK,
    Clue,
    Mounts,
    Namespaces,
    ev,
    read_cgroup_version,
    read_cgroups,
    read_declarations,
    read_kernel,
    read_kubernetes,
    read_markers,
    read_mounts,
    read_namespaces,
    read_pid1,
)
from virtprobe.detection.model import (
    CONSIDERED,
    DECISIVE,
    NONE,
    OVERRULED,
    SUPPORTING,
    UNKNOWN,
    ContainerResult,
    Evidence,
)
from virtprobe.lean_typing import NamedTuple
from virtprobe.machine.source import Source

__all__ = ["PATHS", "TOPIC", "Gathered", "decide", "gather", "probe_container"]

# The engines that start a gVisor sandbox: their clues support a gvisor verdict.
_SANDBOX_ENGINES = ("docker", "podman", "containerd", "cri-o")


class Gathered(NamedTuple):
    ns: Namespaces
    mounts: Mounts
    cgroup_readable: bool
    clues: tuple[Clue, ...]  # in order of authority: a tie goes to the earlier one
    kube: tuple[Evidence, ...]
    rows: tuple[Evidence, ...]  # what was read and named nobody, or could not be read
    pid1: str | None
    cgroup_version: int | None


def gather(src: Source) -> Gathered:
    ns = read_namespaces(src)
    mounts = read_mounts(src)
    pid1, rows, pid1_clues = read_pid1(src)
    kernel_clues, kernel_rows = read_kernel(src)
    cg_readable, cg_clues, kube, cg_rows = read_cgroups(src)
    version, version_row = read_cgroup_version(src)
    clues = [*kernel_clues, *pid1_clues, *read_declarations(src, mounts), *cg_clues]
    clues += [mounts.clue] if mounts.clue else []
    clues += read_markers(src)
    rows += [*kernel_rows, *cg_rows, *([mounts.row] if mounts.row else []), version_row]
    kube += read_kubernetes(src)
    return Gathered(ns, mounts, cg_readable, tuple(clues), tuple(kube), tuple(rows), pid1, version)


def decide(g: Gathered) -> tuple[ContainerResult, list[Evidence]]:
    """The rules of the module docstring, in order."""
    strong = [c for c in g.clues if c.strength == STRONG]
    named = [c for c in g.clues if c.strength == SUPPORT]
    weak = [c for c in g.clues if c.strength == WEAK]
    cid: str | None
    if strong:
        cid = _best(strong, g.kube)
    elif g.ns.unshared:
        namers = named or ([] if g.mounts.readable else weak)
        cid = _best(namers, g.kube) if namers else "container-other"
    elif g.ns.initial:
        cid = NONE
    elif g.kube:
        cid = "container-other"
    elif g.cgroup_readable and g.mounts.readable and not (named or weak):
        cid = NONE
    else:
        cid = None
    in_container = cid not in (NONE, None)
    orchestrator = ("kubernetes" if g.kube else NONE) if in_container else cid
    runtime = "runsc" if cid == "gvisor" else None
    result = ContainerResult(id=cid, orchestrator=orchestrator, cgroup_version=g.cgroup_version, runtime=runtime)
    return result, _weigh(g, cid)


def probe_container(src: Source) -> tuple[ContainerResult, list[Evidence]]:
    """Weigh every container hint; never raises."""
    return decide(gather(src))


def _best(clues: list[Clue], kube: tuple[Evidence, ...]) -> str:
    if any(c.id == "gvisor" for c in clues):
        return "gvisor"  # the sandbox kernel; the engine's own clues only say who started it
    votes = Counter(c.id for c in clues)
    order = {cid: i for i, cid in reversed(list(enumerate(c.id for c in clues)))}
    best = max(votes, key=lambda k: (votes[k], -order[k]))
    # containers/storage is shared by podman and CRI-O: with Kubernetes and no podman file, it is CRI-O.
    if (
        best == "podman"
        and kube
        and all(c.ev.source.endswith(("mountinfo", "mounts")) for c in clues if c.id == "podman")
    ):
        return "cri-o"
    return best


def _agrees(clue: Clue, cid: str) -> bool:
    return clue.id == cid or (cid == "cri-o" and clue.id == "podman")


def _weigh(g: Gathered, cid: str | None) -> list[Evidence]:
    """Every row, weighed as the verdict used it; each note says why."""
    out: list[Evidence] = []
    stale = f"{g.mounts.root_desc()}, and no engine's cgroup or mount" if g.mounts.readable else ""
    initial = f"PID, user, IPC and cgroup namespaces are the kernel's initial ones; PID 1 is {g.pid1 or 'unknown'}"
    decided = False
    for c in sorted(g.clues, key=lambda c: (c.strength != STRONG, c.strength != SUPPORT)):
        if cid is None:
            out.append(_re(c.ev, CONSIDERED, "cannot be checked against namespaces, cgroups or mounts"))
        elif cid == NONE:
            what = "stale marker" if c.strength == WEAK else "inherited or leftover"
            out.append(_re(c.ev, OVERRULED, f"{what}: {initial}"))
        elif _agrees(c, cid):
            # A variable of this process only names what the namespaces showed: it never decides.
            out.append(_re(c.ev, SUPPORTING if decided or c.strength == SUPPORT else DECISIVE, c.ev.note, cid))
            decided = decided or c.strength != SUPPORT
        elif cid == "gvisor" and c.id in _SANDBOX_ENGINES:
            out.append(_re(c.ev, SUPPORTING, f"{c.id} started the gVisor sandbox", c.id))
        elif c.strength == WEAK and stale:
            out.append(_re(c.ev, OVERRULED, f"stale marker: {stale}"))
        else:
            out.append(_re(c.ev, OVERRULED, f"weaker than the evidence for {cid}"))
    for name in NS_NAMES:
        row = g.ns.rows[name]
        if cid == NONE and name in HOST_NS and g.ns.initial:
            row = _re(row, DECISIVE, "the kernel's initial namespace: not a container", NONE)
        elif name in g.ns.unshared and cid not in (NONE, None):
            if decided:
                row = _re(row, SUPPORTING, "not the initial namespace: a runtime unshared it", cid)
            else:
                named = any(_agrees(c, cid) for c in g.clues)
                note = "a runtime unshared this namespace" + ("" if named else "; no source names which")
                row = _re(row, DECISIVE, note, cid)
        out.append(row)
    kube_weight = {NONE: OVERRULED, None: CONSIDERED}.get(cid, SUPPORTING)
    for i, k in enumerate(g.kube):
        w = DECISIVE if i == 0 and kube_weight == SUPPORTING else kube_weight
        out.append(_re(k, w, "not in a container" if cid == NONE else k.note))
    if cid is None:
        missing = [what for what, ok in (("cgroups", g.cgroup_readable), ("mounts", g.mounts.readable)) if not ok]
        why = f"namespaces and {' and '.join(missing)} could not be read" if missing else "namespaces could not be read"
        why += "; " + ("the markers found cannot be checked" if g.clues else "absence of markers proves nothing")
        out.append(ev("container", "", UNKNOWN, None, why))
    elif cid == NONE and not g.ns.initial:
        why = "namespaces could not be read; the readable cgroups and mounts name no engine (this rests on absence)"
        out.append(ev("container", "cgroups and mounts", DECISIVE, NONE, why))
    if cid not in (NONE, None, "gvisor"):
        why = "no source inside the container names its OCI runtime (runc and crun leave no mark)"
        out.append(ev("container runtime", "", UNKNOWN, None, why))
    return out + list(g.rows)


def _re(e: Evidence, weight: str, note: str, points_to: str | None = None) -> Evidence:
    return Evidence(e.topic, e.source, e.value, weight, points_to or e.points_to, note)
