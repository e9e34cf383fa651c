"""The engine's processes on this machine, found with psutil: the daemon behind the socket, its children,
and the per-container process of one container.

The daemon is the process listening on the engine's unix socket (so a second
dockerd on another socket, as the tests start, is never mistaken for it); its
descendants are containerd under Docker. The per-container process (containerd's
shim, Podman's conmon) is reparented away from the daemon, so it is found by the
container id on its command line (`-id ID` for the shim, `-c ID` for conmon).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import psutil

PER_CONTAINER_NAMES = ("containerd-shim", "conmon")


def socket_path(host: str | None) -> str | None:
    """The filesystem path of a unix:// engine URL, symlinks resolved; None for other schemes."""
    if not host or not host.startswith("unix://"):
        return None
    return os.path.realpath(host.removeprefix("unix://"))


@dataclass(frozen=True)
class Daemon:
    process: psutil.Process | None
    reason: str | None  # why it was not found


def find_daemon(host: str | None) -> Daemon:
    """The process listening on the engine's unix socket, or why it cannot be known."""
    path = socket_path(host)
    if path is None:
        return Daemon(None, f"the engine is reached at {host}, not a local unix socket")
    try:
        conns = psutil.net_connections(kind="unix")
    except psutil.AccessDenied:
        return Daemon(None, "psutil may not list unix sockets here (root is needed)")
    for conn in conns:
        laddr = conn.laddr if isinstance(conn.laddr, str) else ""
        if conn.pid and laddr and os.path.realpath(laddr) == path:
            try:
                return Daemon(psutil.Process(conn.pid), None)
            except psutil.Error:
                continue
    return Daemon(None, f"no process of this machine listens on {path}")


def name_of(proc: psutil.Process) -> str:
    """The process's kind: its comm, with containerd's shim named once however it is versioned."""
    try:
        name = proc.name()
    except psutil.Error:
        return "gone"
    return "containerd-shim" if name.startswith("containerd-shim") else name


def engine_processes(daemon: psutil.Process) -> list[psutil.Process]:
    """The daemon and every descendant it has now."""
    try:
        return [daemon, *daemon.children(recursive=True)]
    except psutil.Error:
        return [daemon]


def per_container_process(cid: str) -> psutil.Process | None:
    """The shim or conmon whose command line names this container id."""
    for proc in psutil.process_iter(["name", "cmdline"]):
        name = proc.info.get("name") or ""
        if not name.startswith(PER_CONTAINER_NAMES):
            continue
        cmdline = proc.info.get("cmdline") or []
        if cid in cmdline or any(cid in arg for arg in cmdline):
            return proc
    return None


def cpu_s(proc: psutil.Process) -> float | None:
    """User + system CPU seconds of a process and of its children it has waited for; None once it is gone."""
    try:
        t = proc.cpu_times()
    except psutil.Error:
        return None
    return t.user + t.system + t.children_user + t.children_system


def pss_bytes(proc: psutil.Process) -> int | None:
    try:
        return int(proc.memory_full_info().pss)
    except (psutil.Error, AttributeError):
        return None
