"""`virtprobe snapshot OUT`: capture what detect reads from this machine into a root folder or .tar.gz.

PATHS is the one list of the files detect reads; a test checks that every file
a RootSource hands to detect on the fixtures is covered by it. What is not a
file (CPUID registers, command outputs, the KVM probe, the environment) goes
into virtprobe-snapshot.json, recorded from a live detect run so that it holds
exactly the leaves and commands detect asked for.

Privacy (issue 16 item 4): only detect's environment variables are stored, each as its
derived fact (machine/envfacts.py: a known word or "set"); /proc/1/environ keeps only
its `container=` entry, /proc/1/cmdline only argv[0]'s name and the words detect reads;
the Kubernetes service-account token is never read, only its existence kept (an empty
placeholder); DMI serial numbers and UUIDs, /sys/hypervisor/uuid, /proc/cmdline and
/proc/self/status are DERIVED: never copied, only the fact detect derives from them is
stored under "derived"; dmesg keeps only the lines detect reads (DMESG_KEEP); ACPI
tables keep only their 36-byte header (signature, OEM ID, OEM table ID, revisions).
"""

from __future__ import annotations

import base64
import errno
import fnmatch
import glob
import json
import os
import re
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

from virtprobe.detection.container_readers import filter_pid1_cmdline
from virtprobe.detection.run import detect
from virtprobe.detection.tables.clouds import LABELS, MARKER_FILES
from virtprobe.detection.tables.platforms import FILES as PLATFORM_FILES
from virtprobe.errors import InputError, shown
from virtprobe.lean_typing import TYPE_CHECKING, NamedTuple
from virtprobe.machine.archive import is_snapshot_archive
from virtprobe.machine.atomic import atomic_file, exchange, fsync_folder, new_folder_mode, rename_noreplace, write_bytes
from virtprobe.machine.bounded import MAX_SNAPSHOT_META_BYTES, load_json_file
from virtprobe.machine.scratch import make_folder, remove_folder
from virtprobe.machine.source import MAX_READ_BYTES, SNAPSHOT_FORMAT, SNAPSHOT_META, LiveSource, Lookup

if TYPE_CHECKING:
    from typing import Any

FILE = "file"  # copy the content
HEADER = "header"  # the first ACPI_HEADER_BYTES bytes only
EXISTS = "exists"  # an empty placeholder: detect only asks whether it exists
LINK = "link"  # a symlink holding the same target (namespace links)
DIR = "dir"  # the directory and the names of its subdirectories (listdir)
ENVIRON = "environ"  # /proc/1/environ, filtered to container=
PID1_CMDLINE = "pid1-cmdline"  # /proc/1/cmdline: argv[0]'s name and the words detect reads, nothing else
DERIVED = "derived"  # never copied: virtprobe-snapshot.json keeps only the fact detect derives from it

ACPI_HEADER_BYTES = 36  # the ACPI System Description Table Header (ACPI 6.5, section 5.2.6)


class Spec(NamedTuple):
    pattern: str  # relative glob, e.g. "sys/class/dmi/id/*"
    kind: str


# The files detect reads, by probe. Keep in step with the probes: the coverage
# test in tests/test_detect_capture.py fails when a probe reads a path not listed here.
PATHS: tuple[Spec, ...] = (
    # host (run.py)
    Spec("proc/sys/kernel/osrelease", FILE),
    Spec("proc/version", FILE),
    Spec("etc/os-release", FILE),
    Spec("usr/lib/os-release", FILE),
    # cpu.py, kvm.py
    Spec("proc/cpuinfo", FILE),
    Spec("dev/kvm", EXISTS),
    # /dev itself: a snapshot without it cannot say whether /dev/kvm exists.
    Spec("dev/null", EXISTS),
    Spec("sys/module", DIR),  # readable or not: a container may hide it (kvm.py)
    Spec("sys/module/kvm", DIR),
    Spec("sys/module/kvm_*", DIR),
    Spec("sys/module/kvm*/parameters/*", FILE),
    Spec("proc/modules", FILE),
    # hypervisor.py, cloud.py
    Spec("sys/class/dmi/id/sys_vendor", FILE),
    Spec("sys/class/dmi/id/product_name", FILE),
    Spec("sys/class/dmi/id/product_version", FILE),
    Spec("sys/class/dmi/id/product_family", FILE),
    Spec("sys/class/dmi/id/product_sku", FILE),
    Spec("sys/class/dmi/id/board_vendor", FILE),
    Spec("sys/class/dmi/id/board_name", FILE),
    Spec("sys/class/dmi/id/product_uuid", DERIVED),  # only "ec2" or "" (tables/clouds.py derive_prefix)
    Spec("sys/class/dmi/id/product_serial", DERIVED),  # only "ec2", "googlecloud", "brightbox" or ""
    Spec("proc/cmdline", DERIVED),  # only the words a cloud rule reads (cmdline_tokens)
    Spec("sys/class/dmi/id/bios_vendor", FILE),
    Spec("sys/class/dmi/id/bios_version", FILE),
    Spec("sys/class/dmi/id/chassis_vendor", FILE),
    Spec("sys/class/dmi/id/chassis_asset_tag", FILE),
    Spec("sys/class/dmi/id/chassis_type", FILE),
    Spec("sys/class/dmi/id/modalias", FILE),
    Spec("sys/firmware/acpi/tables", DIR),
    Spec("sys/firmware/acpi/tables/*", HEADER),
    Spec("sys/hypervisor", DIR),
    Spec("sys/hypervisor/type", FILE),
    Spec("sys/hypervisor/uuid", DERIVED),
    Spec("sys/hypervisor/properties/*", FILE),
    Spec("sys/hypervisor/version/*", FILE),
    Spec("proc/xen", DIR),
    Spec("proc/xen/capabilities", FILE),
    Spec("sys/firmware/devicetree/base/compatible", FILE),
    Spec("sys/firmware/devicetree/base/model", FILE),
    Spec("sys/firmware/devicetree/base/hypervisor/compatible", FILE),
    Spec("proc/device-tree/compatible", FILE),
    Spec("proc/device-tree/model", FILE),
    Spec("proc/device-tree/hypervisor/compatible", FILE),
    Spec("sys/bus/vmbus/devices", DIR),
    # hv_readers.py: more firmware trails (sysfs entries there are symlinks, so files name them)
    Spec("sys/bus/vmbus/devices/*/class_id", FILE),
    Spec("sys", DIR),  # a root without /sys and /dev is a partial copy (kvm.py)
    Spec("sys/firmware", DIR),  # an empty /sys/firmware is a container's mask
    Spec("sys/firmware/qemu_fw_cfg", DIR),
    Spec("sys/firmware/qemu_fw_cfg/rev", FILE),
    Spec("sys/bus/acpi/devices", DIR),
    Spec("sys/bus/pci/devices", DIR),
    Spec("sys/firmware/dmi/entries/0-0/raw", FILE),  # SMBIOS type 0 (root only): the VM bit
    Spec("sys/bus/acpi/devices/*/hid", FILE),
    Spec("sys/bus/pci/devices/*/vendor", FILE),
    Spec("sys/bus/pci/devices/*/device", FILE),
    Spec("sys/bus/pci/devices/*/subsystem_vendor", FILE),
    Spec("sys/bus/pci/devices/*/subsystem_device", FILE),
    Spec("proc/bus/pci/devices", FILE),
    Spec("proc/sysinfo", FILE),  # s390
    Spec("proc/ppc64/lparcfg", FILE),  # POWER
    Spec("proc/device-tree", DIR),
    Spec("proc/device-tree/ibm,partition-name", FILE),
    Spec("proc/device-tree/hmc-managed[?]", FILE),  # the property's name ends in "?"
    Spec("proc/device-tree/chosen/qemu,graphic-width", EXISTS),
    Spec("proc/device-tree/chosen/linux,pci-probe-only", EXISTS),  # kvmtool (hv_readers.DT_VMM_NODES)
    # hv_readers.read_guest_files: files only a hypervisor's guest has
    Spec("var/lib/hyperv/.kvp_pool_0", EXISTS),
    Spec("dev/xen/evtchn", EXISTS),
    Spec("dev/xvd*", EXISTS),
    # cloud.py and platform.py: providers' marker files and file-system labels
    # (tables/clouds.py, tables/platforms.py), existence only
    *(Spec(rel, EXISTS) for rel in dict.fromkeys((*MARKER_FILES, *PLATFORM_FILES))),
    Spec("dev/disk/by-label", DIR),
    *(Spec(f"dev/disk/by-label/{name}", EXISTS) for name in LABELS),
    # container.py
    Spec(".dockerenv", FILE),
    Spec("run/.containerenv", FILE),
    Spec("run/systemd/container", FILE),
    Spec("proc/1/environ", ENVIRON),
    Spec("proc/1/comm", FILE),
    Spec("proc/1/cmdline", PID1_CMDLINE),
    Spec("proc/1/cgroup", FILE),
    Spec("proc/self/cgroup", FILE),
    Spec("proc/self/mountinfo", FILE),
    Spec("proc/vz", EXISTS),
    Spec("proc/self/status", DERIVED),  # only its envID and VxID lines (container_readers.status_ids)
    Spec("proc/bc", EXISTS),
    Spec("proc/self/ns/*", LINK),
    Spec("var/run/secrets/kubernetes.io/serviceaccount/token", EXISTS),
    Spec("run/secrets/kubernetes.io/serviceaccount/token", EXISTS),
    Spec("sys/fs/cgroup", DIR),
    Spec("sys/fs/cgroup/cgroup.controllers", FILE),
    # cvm.py, checks.py
    Spec("dev", DIR),  # whether /dev was captured at all: a missing device proves nothing otherwise
    Spec("sys/firmware/uv/prot_virt_guest", FILE),
    Spec("sys/devices/platform", DIR),
    Spec("sys/devices/platform/arm-cca-dev", EXISTS),
    Spec("dev/sev", EXISTS),
    Spec("dev/sev-guest", EXISTS),
    Spec("dev/tdx_guest", EXISTS),
    Spec("dev/vhost-net", EXISTS),
    Spec("dev/vhost-vsock", EXISTS),
    Spec("dev/vsock", EXISTS),
    Spec("dev/net/tun", EXISTS),
    Spec("sys/module/tun", DIR),
    Spec("sys/module/vhost_net", DIR),
    Spec("sys/module/vhost_vsock", DIR),
    Spec("lib/modules/*", DIR),  # only whether the running kernel has a module tree
    Spec("sys/kernel/iommu_groups", DIR),
    Spec("sys/kernel/mm/ksm/run", FILE),
    Spec("sys/kernel/mm/ksm/pages_sharing", FILE),
    Spec("sys/kernel/mm/hugepages", DIR),
    Spec("sys/kernel/mm/transparent_hugepage/enabled", FILE),
    Spec("proc/meminfo", FILE),
    *(
        Spec(f"{d}/{b}", EXISTS)
        for d in ("usr/bin", "usr/sbin", "usr/local/bin", "bin", "sbin")
        for b in ("runsc", "qemu-system-x86_64", "qemu-system-aarch64", "qemu-system-s390x", "qemu-system-ppc64")
    ),
    Spec("usr/bin/kata-runtime", EXISTS),
    Spec("usr/local/bin/kata-runtime", EXISTS),
    Spec("opt/kata/bin/kata-runtime", EXISTS),
    # wsl.py
    Spec("run/WSL", DIR),
    Spec("proc/sys/fs/binfmt_misc/WSLInterop", FILE),
    Spec("proc/mounts", FILE),
)

# Never captured even if a pattern would match: identifiers of the machine or its owner.
NEVER = ("sys/class/dmi/id/*serial*", "sys/class/dmi/id/*uuid*")


# The kernel log lines detect reads (cpu.py, hypervisor, cvm.py, container_readers.py), as extended
# regular expressions (the shell capture greps with the same list). A snapshot keeps only these:
# the rest of dmesg holds the kernel command line, file-system UUIDs, MAC addresses and serials.
DMESG_KEEP = (
    "^(\\[[ 0-9.]*\\] *)?Linux version ",  # the first line: whether the log is whole (hv_readers)
    "Hypervisor detected",
    "VMX \\((outside|inside) TXT\\) disabled by BIOS",
    "[Kk][Vv][Mm]: disabled by [Bb][Ii][Oo][Ss]",
    "SVM disabled \\(by BIOS\\)",
    "Memory Encryption Features active",
    "Starting gVisor\\.\\.\\.",
    "^(\\[[ 0-9.]*\\] *)?Ready!$",
)


def keep_command_lines(name: str, out: bytes) -> bytes:
    """A command's output as a snapshot keeps it: dmesg only its DMESG_KEEP lines."""
    if name != "dmesg":
        return out
    keep = re.compile("|".join(f"(?:{p})" for p in DMESG_KEEP))
    lines = out.decode("utf-8", "replace").splitlines()
    return "".join(line + "\n" for line in lines if keep.search(line)).encode()


def covered(rel: str) -> bool:
    """Is this relative path one that capture writes (so detect on a capture sees it)?"""
    rel = rel.lstrip("/")
    return any(fnmatch.fnmatchcase(rel, s.pattern) for s in PATHS)


class _RecordingSource(LiveSource):
    """The live machine, remembering which CPUID leaves and commands detect asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.leaves: dict[tuple[int, int], Lookup] = {}
        self.commands: dict[str, Lookup] = {}
        self.kvm: Lookup | None = None
        self.msrs: dict[int, Lookup] = {}
        self.derived_facts: dict[str, str] = {}

    def msr(self, index: int) -> Lookup:
        got = super().msr(index)
        self.msrs[index] = got
        return got

    def cpuid(self, leaf: int, subleaf: int = 0) -> Lookup:
        got = super().cpuid(leaf, subleaf)
        self.leaves[(leaf, subleaf)] = got
        return got

    def command(self, name: str) -> Lookup:
        got = super().command(name)
        self.commands[name] = got
        return got

    def kvm_probe(self) -> Lookup:
        self.kvm = super().kvm_probe()
        return self.kvm

    def derived(self, rel: str, derive: Callable[[str], str]) -> Lookup:
        got = super().derived(rel, derive)
        if got.ok:
            self.derived_facts[rel] = str(got.value)
        return got


def _copy_specs(dest: Path) -> list[str]:
    """Copy every PATHS entry that exists on this machine into dest; return notes on what was skipped."""
    notes: list[str] = []
    for spec in PATHS:
        for host in (
            sorted(glob.glob("/" + spec.pattern))
            if any(c in spec.pattern for c in "*?[")
            else ["/" + spec.pattern]
        ):
            rel = host.lstrip("/")
            if any(fnmatch.fnmatchcase(rel, n) for n in NEVER):
                continue
            if not os.path.lexists(host):
                continue
            target = dest / rel
            try:
                _copy_one(spec.kind, host, target)
            except OSError as err:
                if err.errno in _WRITE_ERRNOS:
                    raise  # the snapshot's own disk failed (full): no half snapshot
                notes.append(f"{host}: {err.strerror or err}")
    return notes


def _copy_one(kind: str, host: str, target: Path) -> None:
    if kind == DERIVED:
        return  # the fact is in virtprobe-snapshot.json ("derived"), the file never is
    if kind == DIR:
        if not os.path.isdir(host):
            return
        target.mkdir(parents=True, exist_ok=True)
        for name in os.listdir(host):
            # Subdirectories only, as names: listdir and exists() need them, their contents are not read.
            if os.path.isdir(os.path.join(host, name)) and not os.path.islink(os.path.join(host, name)):
                (target / name).mkdir(exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if kind == LINK:
        link = os.readlink(host)
        if target.is_symlink() or target.exists():
            target.unlink()
        os.symlink(link, target)
        return
    if kind == EXISTS:
        if os.path.isdir(host):
            target.mkdir(exist_ok=True)
        else:
            target.write_bytes(b"")
        return
    if os.path.isdir(host):
        target.mkdir(exist_ok=True)
        return
    if kind == HEADER:
        data = _read(host, ACPI_HEADER_BYTES)
    elif kind == ENVIRON:
        raw = _read(host, MAX_READ_BYTES)
        data = b"".join(item + b"\0" for item in raw.split(b"\0") if item.startswith(b"container="))
    elif kind == PID1_CMDLINE:
        data = filter_pid1_cmdline(_read(host, 65536))
    else:
        data = _read(host, MAX_READ_BYTES)
    target.write_bytes(data)


def _read(host: str, limit: int) -> bytes:
    # In small chunks: proc sysctl files (proc/sys/kernel/osrelease) fail with
    # ENOMEM when asked for a multi-megabyte read in one call.
    chunks: list[bytes] = []
    total = 0
    with open(host, "rb") as fh:
        while total < limit:
            chunk = fh.read(min(65536, limit - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    return b"".join(chunks)


class SnapshotMeta(NamedTuple):
    """What `virtprobe snapshot` writes to virtprobe-snapshot.json."""

    platform: str
    machine: str
    env: dict[str, str]
    cpuid: dict[str, dict[str, int]] | None
    cpuid_reason: str | None
    commands: dict[str, str]  # name -> base64 stdout
    kvm_probe: dict[str, Any] | None
    msr: dict[str, int]  # "0xc0010131" -> value, only those detect read
    # Facts derived from identifiers that are never stored (capture.DERIVED paths): path -> fact.
    derived: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "format": SNAPSHOT_FORMAT,
            "platform": self.platform,
            "machine": self.machine,
            "env": dict(sorted(self.env.items())),
            "commands": dict(sorted(self.commands.items())),
        }
        if self.cpuid is not None:
            out["cpuid"] = self.cpuid
        if self.cpuid_reason:
            out["cpuid_reason"] = self.cpuid_reason
        if self.kvm_probe is not None:
            out["kvm_probe"] = self.kvm_probe
        if self.msr:
            out["msr"] = dict(sorted(self.msr.items()))
        if self.derived:
            out["derived"] = dict(sorted(self.derived.items()))
        return out


def _meta(src: _RecordingSource) -> SnapshotMeta:
    cpuid: dict[str, dict[str, int]] = {}
    reasons = []
    for (leaf, sub), got in sorted(src.leaves.items()):
        if got.ok:
            regs = got.value
            cpuid[f"0x{leaf:08x}/{sub}"] = {
                "eax": regs.eax,
                "ebx": regs.ebx,
                "ecx": regs.ecx,
                "edx": regs.edx,
            }
        elif got.reason:
            reasons.append(got.reason)
    commands = {
        name: base64.b64encode(keep_command_lines(name, got.value)).decode("ascii")
        for name, got in sorted(src.commands.items())
        if got.ok
    }
    kvm = src.kvm.value if src.kvm is not None and src.kvm.ok and isinstance(src.kvm.value, dict) else None
    return SnapshotMeta(
        platform=src.platform,
        machine=src.machine,
        env=dict(src.env),
        cpuid=cpuid if cpuid or not reasons else None,
        cpuid_reason=None if cpuid else (reasons[0] if reasons else None),
        commands=commands,
        kvm_probe=kvm,
        msr={f"0x{i:08x}": int(got.value) for i, got in sorted(src.msrs.items()) if got.ok},
        derived=dict(src.derived_facts),
    )


def capture_into(dest: Path, kvm_probe: bool) -> list[str]:
    """Write a snapshot root into the (existing, empty) folder dest."""
    src = _RecordingSource()
    detect(src, kvm_probe=kvm_probe)
    notes = _copy_specs(dest) if src.platform == "linux" else []
    meta = _meta(src).to_dict()
    if notes:
        meta["capture_notes"] = notes
    # Written last and durably: a folder with this file in it is a whole snapshot.
    write_bytes((json.dumps(meta, indent=2, sort_keys=True) + "\n").encode("utf-8"), str(dest / SNAPSHOT_META))
    return notes


# --- writing OUT: never over something virtprobe did not write, never half -----------------

# Errors of the disk we write to: a capture that hits one is not a snapshot, whatever it copied.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG})
_MAX_CHECKED_ENTRIES = 100_000


def _top_names() -> frozenset[str]:
    return frozenset({s.pattern.split("/", 1)[0] for s in PATHS} | {SNAPSHOT_META, ".keep"})


def _capture_may_have_made(rel: str, is_dir: bool) -> bool:
    """Could capture have written rel (a path inside a snapshot folder)?"""
    if not is_dir:
        return rel in (SNAPSHOT_META, ".keep") or rel.endswith("/.keep") or covered(rel)
    parts = rel.split("/")
    for spec in PATHS:
        pattern = spec.pattern.split("/")
        # A folder on the way to a captured path, or a captured folder itself.
        if len(parts) <= len(pattern) and all(fnmatch.fnmatchcase(p, q) for p, q in zip(parts, pattern, strict=False)):
            return True
        # DIR specs keep the names of their subfolders (empty folders).
        if (
            spec.kind == DIR
            and len(parts) == len(pattern) + 1
            and all(fnmatch.fnmatchcase(p, q) for p, q in zip(parts, pattern, strict=False))
        ):
            return True
    return False


def _foreign_entry(folder: Path) -> str | None:
    """The first entry of folder that capture would not have written, or None when all could be ours."""
    count = 0
    for top, dirs, files in os.walk(folder):
        for name in dirs + files:
            count += 1
            if count > _MAX_CHECKED_ENTRIES:
                return f"more than {_MAX_CHECKED_ENTRIES} entries"
            path = os.path.join(top, name)
            rel = os.path.relpath(path, folder).replace(os.sep, "/")
            is_dir = os.path.isdir(path) and not os.path.islink(path)
            if not _capture_may_have_made(rel, is_dir):
                return rel
    return None


def _check_replaceable(out: Path, as_tar: bool) -> None:
    """InputError unless out holds a virtprobe snapshot (a folder or an archive) and nothing else."""
    not_ours = (
        f"{out} is not a virtprobe snapshot, so --force will not replace it; remove it yourself or pick another OUT"
    )
    if out.is_symlink():
        raise InputError(f"{out} is a symlink; --force replaces only a snapshot virtprobe wrote")
    if as_tar:
        if not out.is_file() or not is_snapshot_archive(out):
            raise InputError(not_ours)
        return
    if not out.is_dir() or not (out / SNAPSHOT_META).is_file():
        raise InputError(not_ours)
    meta = load_json_file(out / SNAPSHOT_META, MAX_SNAPSHOT_META_BYTES, "snapshot description", str(out.resolve()))
    if not isinstance(meta, dict) or meta.get("format") != SNAPSHOT_FORMAT:
        raise InputError(not_ours)
    foreign = _foreign_entry(out)
    if foreign is not None:
        raise InputError(
            f"{out} holds {shown(foreign)}, which virtprobe did not write, so --force will not replace it; "
            "move it out or pick another OUT"
        )


def _capture_folder(out: Path, replace: bool, kvm_probe: bool) -> None:
    """Capture into a new folder beside out, then swap it in (replace) or rename it into place."""
    new = make_folder(f".{out.name}.new-", str(out.parent))
    try:
        capture_into(Path(new), kvm_probe)
        os.chmod(new, new_folder_mode())  # mkdtemp made it 0700
        if replace:
            exchange(new, str(out))  # new now holds the old snapshot, removed below
        else:
            rename_noreplace(new, str(out))
        fsync_folder(str(out.parent))
    except FileExistsError:
        remove_folder(new)
        raise InputError(f"{out} already exists; pass --force to replace it") from None
    except BaseException:
        remove_folder(new)
        raise
    remove_folder(new)


def _capture_archive(out: Path, replace: bool, kvm_probe: bool) -> None:
    """Capture into a scratch folder, then write the .tar.gz through an O_EXCL temp file and a rename."""
    scratch = make_folder("virtprobe-snapshot-")
    try:
        root = Path(scratch) / out.name.removesuffix(".tar.gz")
        root.mkdir()
        capture_into(root, kvm_probe)
        with atomic_file(str(out), force=replace) as fh, tarfile.open(fileobj=fh, mode="w:gz") as tar:
            tar.add(root, arcname=root.name)
    finally:
        remove_folder(scratch)


def capture(out: Path, force: bool, kvm_probe: bool) -> Path:
    """Capture this machine into OUT (a folder, or a .tar.gz file).

    Never overwrites without force; with force replaces only a virtprobe snapshot, and
    atomically: the new one is written beside it and swapped in, so OUT is always the
    old snapshot or the new one, never half of either (killed or out of disk space).
    """
    out = Path(out)
    as_tar = out.name.endswith(".tar.gz")
    exists = os.path.lexists(out)
    if exists and not force:
        raise InputError(f"{out} already exists; pass --force to replace it")
    if exists:
        _check_replaceable(out, as_tar)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if as_tar:
            _capture_archive(out, exists, kvm_probe)
        else:
            _capture_folder(out, exists, kvm_probe)
    except OSError as err:
        raise InputError(f"cannot write snapshot {out}: {err.strerror or err}") from err
    return out


def _debug_main() -> None:  # pragma: no cover - manual use: python -m virtprobe.detection.capture OUT
    print(capture(Path(sys.argv[1]), force=False, kvm_probe=True))


if __name__ == "__main__":  # pragma: no cover
    _debug_main()
