"""systemd-detect-virt's answers from a DetectResult: its identifiers, its modes, its chroot and user-namespace tests.

`virtprobe detect --vm|--container|--cvm|--chroot|--private-users` is a drop-in for
systemd-detect-virt(1): the same identifiers (its `--list` and `--list-cvm`), the same
"innermost first" rule, exit 0 when virtualized and non-zero when not. Each answer is
(identifier, reason): identifier None means virtprobe cannot know, and the reason says why.
The mapping is pure; the two live readers (chroot, user namespace) follow systemd's
src/basic/virt.c `running_in_chroot()` and `running_in_userns()` (systemd 252).
"""

from __future__ import annotations

import os

from virtprobe.detection.model import NONE, DetectResult
from virtprobe.lean_typing import NamedTuple
from virtprobe.machine.source import Source

# systemd-detect-virt --list (systemd 252, src/basic/virt.c virtualization_table), in its order.
VM_IDS = (
    "kvm", "amazon", "qemu", "bochs", "xen", "uml", "vmware", "oracle", "microsoft", "zvm", "parallels",
    "bhyve", "qnx", "acrn", "powervm", "apple", "sre", "google", "vm-other",
)  # fmt: skip
CONTAINER_IDS = (
    "systemd-nspawn", "lxc-libvirt", "lxc", "openvz", "docker", "podman", "rkt", "wsl", "proot", "pouch",
    "container-other",
)  # fmt: skip
VIRT_IDS = (NONE, *VM_IDS, *CONTAINER_IDS)
# systemd-detect-virt --list-cvm (systemd 254+, src/basic/confidential-virt.c; "cca" since 257).
CVM_IDS = (NONE, "sev", "sev-es", "sev-snp", "tdx", "protvirt", "cca")

# The modes, as systemd-detect-virt's options name them; "virt" is systemd-detect-virt with no option.
MODES = ("virt", "vm", "container", "cvm", "chroot", "private-users")
# Modes whose answer is only the exit code: systemd-detect-virt prints nothing for them.
SILENT_MODES = ("chroot", "private-users")


class Answer(NamedTuple):
    """One drop-in answer: the identifier to print (None: cannot know), or a yes/no for the silent modes."""

    id: str | None
    yes: bool | None
    reason: str | None = None  # why id/yes is None

    @property
    def exit_code(self) -> int:
        """0 when virtualized (or in a chroot / user namespace), 1 otherwise, as systemd-detect-virt."""
        return 0 if self.yes else 1


def _known(ident: str, ids: tuple[str, ...], other: str) -> str:
    """An id systemd-detect-virt knows, else its catch-all ("vm-other", "container-other")."""
    return ident if ident in ids else other


def vm_answer(result: DetectResult) -> Answer:
    """--vm: the hypervisor this system runs under; "none" on bare metal and in Xen dom0 (a host)."""
    hv = result.hypervisor
    if hv.role in ("host", "dom0"):
        return Answer(NONE, False)
    if hv.id is None:
        return Answer(None, None, "the hypervisor could not be determined (run `virtprobe detect -e` for why)")
    if hv.id == NONE:
        return Answer(NONE, False)
    return Answer(_known(hv.id, VM_IDS, "vm-other"), True)


def container_answer(result: DetectResult) -> Answer:
    """--container: the container manager; WSL counts as a container, as systemd-detect-virt says."""
    if result.wsl.id == "wsl":
        return Answer("wsl", True)
    cid = result.container.id
    if cid is None:
        return Answer(None, None, "whether this is a container could not be determined")
    if cid == NONE:
        return Answer(NONE, False)
    return Answer(_known(cid, CONTAINER_IDS, "container-other"), True)


def virt_answer(result: DetectResult) -> Answer:
    """No mode: the innermost layer, the container when there is one, else the VM."""
    inner = container_answer(result)
    if inner.yes:
        return inner
    outer = vm_answer(result)
    if inner.id is None and not outer.yes:
        return inner  # no VM, and the container question is open: cannot say "none"
    return outer


def cvm_answer(result: DetectResult) -> Answer:
    """--cvm: the confidential-computing technology protecting this guest."""
    cvm = result.cvm
    if cvm.id is None:
        return Answer(None, None, cvm.reason or "whether this is a confidential VM could not be determined")
    if cvm.id == NONE:
        return Answer(NONE, False)
    return Answer(_known(cvm.id, CVM_IDS, cvm.id), True)


def chroot_answer() -> Answer:
    """--chroot: is our / another than PID 1's? systemd compares the two inodes (running_in_chroot)."""
    try:
        root, init_root = os.stat("/"), os.stat("/proc/1/root")
    except OSError as err:
        return Answer(None, None, f"cannot stat /proc/1/root: {err.strerror or err}")
    return Answer(None, (root.st_dev, root.st_ino) != (init_root.st_dev, init_root.st_ino))


def _has_mapping(text: str | None) -> bool:
    """A uid_map/gid_map other than the initial namespace's "0 0 4294967295" (systemd userns_has_mapping)."""
    fields = (text or "").split()[:3]
    if len(fields) < 3 or not all(f.isdigit() for f in fields):
        return False  # systemd: "Failed to parse, ignoring"
    return fields != ["0", "0", "4294967295"]


def private_users_answer(src: Source) -> Answer:
    """--private-users: inside a user namespace? uid_map, gid_map, then setgroups (systemd running_in_userns)."""
    for name in ("proc/self/uid_map", "proc/self/gid_map"):
        read = src.read(name)
        if read.data is None and read.reason != "not found":
            return Answer(None, None, f"/{name}: {read.reason}")
        if _has_mapping(read.text):
            return Answer(None, True)
    setgroups = src.read("proc/self/setgroups")
    if setgroups.data is None:
        if setgroups.reason == "not found":
            return Answer(None, False)  # a kernel without user namespaces (systemd: false)
        return Answer(None, None, f"/proc/self/setgroups: {setgroups.reason}")
    return Answer(None, (setgroups.text or "").strip() == "deny")


def answer(mode: str, result: DetectResult) -> Answer:
    """The answer of one of the modes that need a detect result (virt, vm, container, cvm)."""
    return {"virt": virt_answer, "vm": vm_answer, "container": container_answer, "cvm": cvm_answer}[mode](result)
