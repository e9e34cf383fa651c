"""A live host mounted somewhere (`detect --host-root /host`): its files from the mount, CPUID and KVM live.

This is how a Kubernetes DaemonSet (deploy/kubernetes/) looks at its node: the
node's /proc and /sys are bind-mounted read-only at /host/proc and /host/sys,
and /dev/kvm is passed in as a device. It differs from `RootSource` (a captured
snapshot) in three ways:

- CPUID and the KVM probe are live. Both describe the CPU and the kernel, which
  a container shares with its host, so the reader's own view is the host's.
- `proc/self/...` is read as `proc/1/...`. The host's procfs mounted at
  /host/proc resolves /host/proc/self to the *reader* (the container process,
  seen under its host pid), so its namespaces, cgroup and mountinfo would
  describe the container. PID 1 of the host's procfs is the host's init, whose
  view is the host's. proc(5): "/proc/self ... refers to the process
  accessing the proc filesystem".
- The environment is not the reader's (a pod always has KUBERNETES_SERVICE_HOST):
  it is the DETECT_ENV_VARS subset of the host init's /proc/1/environ, when readable.

Paths under dev/ that the mount does not hold (the DaemonSet passes /dev/kvm as
a device at its usual place, not under /host) are looked up in the reader's /dev,
which is where the live KVM probe opens it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from virtprobe.errors import InputError
from virtprobe.machine.cpuid import machine_name
from virtprobe.machine.envfacts import derive
from virtprobe.machine.facts import FileRead, Lookup
from virtprobe.machine.source import DETECT_ENV_VARS, MAX_READ_BYTES, LiveSource, _read_file


def _host_rel(rel: str) -> str:
    """proc/self/... and proc/thread-self/... -> proc/1/...: the host's init, not the reader."""
    rel = rel.lstrip("/")
    for prefix in ("proc/self", "proc/thread-self"):
        if rel == prefix:
            return "proc/1"
        if rel.startswith(prefix + "/"):
            return "proc/1" + rel[len(prefix) :]
    return rel


def parse_environ(data: bytes) -> dict[str, str]:
    """/proc/PID/environ: NUL-separated KEY=value entries, only the variables detect looks at."""
    out: dict[str, str] = {}
    for entry in data.split(b"\0"):
        key, sep, value = entry.partition(b"=")
        name = key.decode("utf-8", errors="replace")
        if sep and name in DETECT_ENV_VARS:
            out[name] = derive(name, value.decode("utf-8", errors="replace"))
    return out


class HostRootSource(LiveSource):
    """Files of a live host mounted at `root`; CPUID, the KVM probe and commands from the live reader."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        super().__init__()
        self.root = Path(root)
        if not self.root.is_dir():
            raise InputError(f"host root {self.root} does not exist or is not a directory")
        # Without a procfs there is nothing of the host to read: say so now rather
        # than report a machine made of unknowns.
        if not (self.root / "proc" / "1").is_dir():
            raise InputError(
                f"{self.root}/proc/1 not found: mount the host's /proc there "
                f"(e.g. docker run -v /proc:{self.root}/proc:ro)"
            )
        self._root_str = os.path.abspath(self.root)
        self.platform = sys.platform if sys.platform in ("linux", "win32", "darwin") else "unknown"
        self.machine = machine_name() or "unknown"
        environ = _read_file(self._host("proc/1/environ"), "/proc/1/environ", 1024 * 1024)
        # Unreadable (another uid, no CAP_SYS_PTRACE): no environment rather than the reader's.
        self.env = parse_environ(environ.data) if environ.data is not None else {}

    def describe(self) -> str:
        return f"live host mounted at {self._root_str}"

    def _host(self, rel: str) -> str:
        return os.path.join(self._root_str, _host_rel(rel))

    def _where(self, rel: str) -> str:
        """The reader's path for rel: under the mount, or for dev/ the reader's own /dev as a fallback."""
        host = self._host(rel)
        norm = rel.lstrip("/")
        if (norm == "dev" or norm.startswith("dev/")) and not os.path.lexists(host):
            return "/" + norm
        return host

    def path(self, rel: str) -> str:
        # Evidence names the host's own path (/proc/1/ns/pid), which is what was read.
        return "/" + _host_rel(rel)

    def read(self, rel: str, limit: int = MAX_READ_BYTES) -> FileRead:
        return _read_file(self._where(rel), self.path(rel), limit)

    def listdir(self, rel: str) -> list[str] | None:
        try:
            return sorted(os.listdir(self._where(rel)))
        except OSError:
            return None

    def exists(self, rel: str) -> bool:
        if os.path.lexists(self._where(rel)):
            return True
        norm = rel.lstrip("/")
        if norm.startswith("dev/"):
            # The host's devtmpfs has a node for every registered device, and sysfs
            # lists them under class/: a DaemonSet mounts the host's /sys but need
            # not hostPath /dev/kvm (which would create it as a directory on nodes
            # without KVM). Documentation/admin-guide/devices.txt: kvm is misc 232.
            name = norm[len("dev/") :]
            if "/" not in name and name:
                return os.path.lexists(os.path.join(self._root_str, "sys/class/misc", name))
        return False

    def readlink(self, rel: str) -> str | None:
        try:
            return os.readlink(self._where(rel))
        except OSError:
            return None

    def command(self, name: str) -> Lookup:
        # Commands would run in the reader's namespaces and see the container
        # (dmesg is the one Linux uses, and is root-only anyway): do not pretend.
        return Lookup(None, f"not run with --host-root: {name!r} would describe the reader, not the host")
