"""Host-side memory of containers: cgroup usage, the per-container process's PSS, /proc/meminfo figures.

Any engine backend can use these: they read through a `Source`, so they work
for Docker (containerd-shim) and Podman (conmon) alike and are tested on
captured files. The per-container process is found as the parent of the
container's init and is named from its own `comm`, so a row never claims
"containerd-shim" for a process that is something else.

Host-wide figures (the drop of MemAvailable, the growth of kernel + anonymous
memory) are differences of two readings of a machine that never stands still.
A per-container figure below zero, or smaller than the noise of idle readings
taken just before the containers started, is "not measurable on this host";
the raw readings stay in the result so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from virtprobe.benchmark.engine import EngineInfo
from virtprobe.errors import ReportFormatError
from virtprobe.machine.source import Source

MIB = 1024 * 1024

# The host-wide cost of a container beyond its own cgroup: page tables, kernel
# stacks, slab and vmalloc (namespaces, cgroups, mounts) plus anonymous memory of
# its shim (MEASURED.md measured about 3.3 MiB per container this way).
KERNEL_ANON_FIELDS = ("AnonPages", "PageTables", "KernelStack", "Slab", "VmallocUsed")


# --- /proc/meminfo --------------------------------------------------------------------------


def parse_meminfo(text: str) -> dict[str, int]:
    """Pure: /proc/meminfo as {field: bytes} ("kB" lines are KiB; lines without a unit are counts)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        fields = rest.split()
        if not sep or not fields or not fields[0].isdigit():
            continue
        unit = fields[1].lower() if len(fields) > 1 else ""
        out[key.strip()] = int(fields[0]) * (1024 if unit == "kb" else 1)
    return out


def read_meminfo(src: Source) -> dict[str, int] | None:
    text = src.read("proc/meminfo").text
    return None if text is None else parse_meminfo(text)


def kernel_anon_bytes(meminfo: Mapping[str, int]) -> int | None:
    """The sum of KERNEL_ANON_FIELDS, or None when one of them is missing."""
    if any(f not in meminfo for f in KERNEL_ANON_FIELDS):
        return None
    return sum(meminfo[f] for f in KERNEL_ANON_FIELDS)


# --- cgroup memory of a process ---------------------------------------------------------------


def parse_proc_cgroup(text: str) -> tuple[str | None, str | None]:
    """Pure: (v1 memory controller path, v2 unified path) from /proc/<pid>/cgroup."""
    v1 = v2 = None
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hid, controllers, path = parts
        if hid == "0" and controllers == "":
            v2 = path
        elif "memory" in controllers.split(","):
            v1 = path
    return v1, v2


def cgroup_memory_bytes(src: Source, pid: int) -> tuple[int | None, str]:
    """Memory charged to a process's cgroup, and the file it came from (or why there is none).

    v1: memory/<path>/memory.usage_in_bytes. v2: <path>/memory.current, at the
    top of /sys/fs/cgroup (pure v2) or under unified/ (hybrid, where the v2
    hierarchy usually has no memory controller and the v1 file wins).
    """
    text = src.read(f"proc/{pid}/cgroup").text
    if text is None:
        return None, f"/proc/{pid}/cgroup unreadable"
    v1, v2 = parse_proc_cgroup(text)
    candidates = []
    if v1 is not None:
        candidates.append(f"sys/fs/cgroup/memory/{v1.strip('/')}/memory.usage_in_bytes")
    if v2 is not None:
        candidates.append(f"sys/fs/cgroup/{v2.strip('/')}/memory.current")
        candidates.append(f"sys/fs/cgroup/unified/{v2.strip('/')}/memory.current")
    for rel in candidates:
        value = src.read(rel.replace("//", "/")).text
        if value is not None and value.strip().isdigit():
            return int(value.strip()), src.path(rel.replace("//", "/"))
    return None, f"no memory cgroup file found for pid {pid}"


# --- the per-container process ----------------------------------------------------------------


def parse_stat_ppid(text: str) -> int | None:
    """Pure: field 4 of /proc/<pid>/stat (the parent pid), counted after the last ')' of the name."""
    _, sep, rest = text.rpartition(")")
    fields = rest.split()
    if not sep or len(fields) < 2 or not fields[1].isdigit():
        return None
    return int(fields[1])


def parse_pss_bytes(text: str) -> int | None:
    """Pure: the PSS of /proc/<pid>/smaps_rollup (one Pss line) or smaps (summed), in bytes."""
    total = None
    for line in text.splitlines():
        key, sep, rest = line.partition(":")
        fields = rest.split()
        if sep and key.strip() == "Pss" and fields and fields[0].isdigit():
            total = (total or 0) + int(fields[0]) * 1024
    return total


@dataclass(frozen=True)
class ContainerProcess:
    """The host process that holds one container (its init's parent), named from its comm."""

    pid: int | None
    name: str | None  # /proc/<pid>/comm: "containerd-shim" (truncated by the kernel to 15 bytes), "conmon"
    pss_bytes: int | None
    reason: str | None  # why pid, name or PSS is missing


def container_process(src: Source, init_pid: int) -> ContainerProcess:
    """The parent of a container's init and its PSS (smaps_rollup, Linux 4.14+; else smaps)."""
    stat = src.read(f"proc/{init_pid}/stat").text
    ppid = parse_stat_ppid(stat) if stat is not None else None
    if ppid is None or ppid <= 1:
        # A parent of 0 or 1 means the holder is gone (reparented to init): nothing to name.
        return ContainerProcess(None, None, None, f"no parent process found for container init {init_pid}")
    comm = src.read(f"proc/{ppid}/comm").text
    name = comm.strip() or None if comm is not None else None
    rollup = src.read(f"proc/{ppid}/smaps_rollup").text
    if rollup is None:
        rollup = src.read(f"proc/{ppid}/smaps").text
    pss = parse_pss_bytes(rollup) if rollup is not None else None
    reason = None if pss is not None else f"/proc/{ppid}/smaps_rollup unreadable"
    return ContainerProcess(ppid, name, pss, reason)


# --- where host-side figures mean something ----------------------------------------------------


def host_side_available(engine: EngineInfo) -> tuple[bool, str]:
    """Whether readings of THIS machine describe the engine's containers, and why (not)."""
    if engine.on_this_machine is True:
        return True, "the engine runs on this machine"
    if engine.on_this_machine is False:
        return False, f"host-side memory is unavailable: {engine.location_reason}"
    return False, f"host-side memory is unavailable: it is not known where the engine runs ({engine.location_reason})"


# --- host-wide figures per container ------------------------------------------------------------


def idle_spread_bytes(readings: Sequence[int]) -> int | None:
    """The noise of a host-wide reading: the spread (max - min) of idle readings, None with fewer than 2.

    Take them a short interval apart (e.g. 5 readings 0.2 s apart) just before
    the containers start: nothing virtprobe does changes memory between them, so
    anything the before/after difference does not exceed could be this noise.
    """
    if len(readings) < 2:
        return None
    return max(readings) - min(readings)


@dataclass(frozen=True)
class HostMemFigure:
    """One host-wide figure per container, or why it is not measurable; the raw readings always."""

    what: str  # "MemAvailable drop" or "kernel+anon growth"
    per_container_bytes: int | None  # None when not measurable: never pass None to compare as 0
    raw_per_container_bytes: float  # (after - before) / n in the direction of the cost; may be negative
    noise_bytes: float | None  # per container: the idle spread / n
    before_bytes: int
    after_bytes: int
    idle_bytes: tuple[int, ...]
    n: int
    reason: str | None  # set when per_container_bytes is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "what": self.what,
            "per_container_bytes": self.per_container_bytes,
            "raw_per_container_bytes": self.raw_per_container_bytes,
            "noise_bytes": self.noise_bytes,
            "before_bytes": self.before_bytes,
            "after_bytes": self.after_bytes,
            "idle_bytes": list(self.idle_bytes),
            "n": self.n,
            "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HostMemFigure:
        try:
            per = data["per_container_bytes"]
            noise = data["noise_bytes"]
            reason = data["reason"]
            fig = cls(
                what=str(data["what"]),
                per_container_bytes=None if per is None else int(per),
                raw_per_container_bytes=float(data["raw_per_container_bytes"]),
                noise_bytes=None if noise is None else float(noise),
                before_bytes=int(data["before_bytes"]),
                after_bytes=int(data["after_bytes"]),
                idle_bytes=tuple(int(x) for x in data["idle_bytes"]),
                n=int(data["n"]),
                reason=None if reason is None else str(reason),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise ReportFormatError(f"host memory figure: missing or malformed field ({err})") from err
        if (fig.per_container_bytes is None) == (fig.reason is None):
            raise ReportFormatError("host memory figure: exactly one of per_container_bytes and reason must be set")
        return fig


def _mib(value: float) -> str:
    return f"{value / MIB:.2f}"


def per_container_figure(
    what: str, before: int, after: int, n: int, idle: Sequence[int], cost_is_drop: bool
) -> HostMemFigure:
    """Pure: (after - before) / n as a cost per container, or "not measurable" with its noise.

    cost_is_drop: MemAvailable falls as containers cost memory (cost = before -
    after); kernel+anon memory grows (cost = after - before).
    """
    if n < 1:
        raise ValueError("n must be at least 1")
    total = (before - after) if cost_is_drop else (after - before)
    raw = total / n
    spread = idle_spread_bytes(idle)
    noise = None if spread is None else spread / n
    reason = None
    if noise is None:
        reason = "not measurable on this host (noise not estimated: fewer than 2 idle readings)"
    elif raw < 0:
        # A container cannot give memory back: other work on the host moved the reading.
        moved = f"the reading moved {_mib(raw)} MiB per container, below zero"
        reason = f"not measurable on this host (noise ±{_mib(noise)} MiB; {moved})"
    elif raw <= noise:
        reason = f"not measurable on this host (noise ±{_mib(noise)} MiB)"
    return HostMemFigure(
        what=what,
        per_container_bytes=None if reason else round(raw),
        raw_per_container_bytes=raw,
        noise_bytes=noise,
        before_bytes=before,
        after_bytes=after,
        idle_bytes=tuple(idle),
        n=n,
        reason=reason,
    )


def memavailable_figure(before: int, after: int, n: int, idle: Sequence[int]) -> HostMemFigure:
    """MemAvailable (bytes) before the n containers, with them running, and idle readings before."""
    return per_container_figure("MemAvailable drop", before, after, n, idle, cost_is_drop=True)


def kernel_anon_figure(
    before: Mapping[str, int], after: Mapping[str, int], n: int, idle: Sequence[Mapping[str, int]]
) -> HostMemFigure | None:
    """The same for kernel + anonymous memory, from parsed /proc/meminfo readings (None if fields are missing)."""
    b, a = kernel_anon_bytes(before), kernel_anon_bytes(after)
    idle_sums = [kernel_anon_bytes(m) for m in idle]
    if b is None or a is None or any(s is None for s in idle_sums):
        return None
    return per_container_figure(
        "kernel+anon growth", b, a, n, [s for s in idle_sums if s is not None], cost_is_drop=False
    )
