"""Where probes read from: the live system, or a captured root folder.

Every probe takes a `Source` and reads `src.read("proc/cpuinfo")`, never
`open("/proc/cpuinfo")`. A `LiveSource` reads the real machine; a `RootSource`
reads only below a folder that mirrors the real paths, plus the facts that are
not files (CPUID registers, command outputs, the KVM probe, the environment)
from `virtprobe-snapshot.json` at its top. This is python-distro's `root_dir`
idea: one test can point at a whole captured machine, and a user can attach a
snapshot to a bug report.

Reads never raise. A missing, unreadable or oversized file comes back as a
`FileRead` whose `text` is None and whose `reason` says why, so a probe can
degrade to "unknown" and record the reason.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping

from virtprobe.errors import InputError, shown
from virtprobe.lean_typing import TYPE_CHECKING
from virtprobe.machine.bounded import (
    MAX_FILE_BYTES,
    MAX_SNAPSHOT_META_BYTES,
    Refused,
    load_json_file,
    os_reason,
    read_limited,
)
from virtprobe.machine.cpuid import WANTED_LEAVES, live_cpuid, live_msr, machine_name, seed_batch
from virtprobe.machine.envfacts import NAMES as ENV_NAMES
from virtprobe.machine.envfacts import derive_all
from virtprobe.machine.facts import CpuidRegs, FileRead, Lookup

if TYPE_CHECKING:
    from typing import Any, TypeVar

    _T = TypeVar("_T")

    from pathlib import Path

    from virtprobe.machine.prefetch import Prefetch

SNAPSHOT_META = "virtprobe-snapshot.json"
KEEP_FILE = ".keep"
SNAPSHOT_FORMAT = 1

# Files larger than this are not system files we care about; refuse rather than
# read a runaway file (a fixture with random bytes, /proc/kcore...). FIFOs and
# devices are refused by type (machine/bounded.py), so no read can block.
MAX_READ_BYTES = MAX_FILE_BYTES

# The only environment variables detect ever looks at, each reduced to one fact at the door
# (machine/envfacts.py): a snapshot and a report keep only the derived fact, never the value.
DETECT_ENV_VARS = ENV_NAMES


def _reason_for(err: OSError) -> str:
    return os_reason(err)


def _read_file(host_path: str, shown_path: str, limit: int, real_root: str | None = None) -> FileRead:
    """Read at most limit bytes of the regular file host_path (inside real_root when given); shown as shown_path."""
    try:
        return FileRead(shown_path, read_limited(host_path, limit, real_root))
    except Refused as why:
        return FileRead(shown_path, None, why.reason)


def _norm(rel: str) -> str:
    return rel.lstrip("/")


class Source:
    """The interface every probe reads through. Subclasses implement the I/O."""

    platform: str  # sys.platform style: "linux", "win32", "darwin", or "unknown"
    machine: str  # platform.machine() style: "x86_64", "aarch64", "arm64", "AMD64", ...
    env: Mapping[str, str]
    is_live: bool

    def once(self, key: str, make: Callable[[], _T]) -> _T:
        """make(), run once per source and key: a parsed read that several readers share (the
        fields of /proc/cpuinfo, the DMI strings). It lives and dies with the source, as a
        WeakKeyDictionary keyed by the source would, without weakref's import on detect's path."""
        memo: dict[str, Any] = vars(self).setdefault("_once", {})
        if key not in memo:
            memo[key] = make()
        return memo[key]

    def read(self, rel: str, limit: int = MAX_READ_BYTES) -> FileRead:
        raise NotImplementedError

    def listdir(self, rel: str) -> list[str] | None:
        """Sorted names in a directory, or None when it cannot be listed."""
        raise NotImplementedError

    def exists(self, rel: str) -> bool:
        raise NotImplementedError

    def readlink(self, rel: str) -> str | None:
        """The target of a symlink (e.g. proc/self/ns/pid -> 'pid:[4026531836]')."""
        raise NotImplementedError

    def cpuid(self, leaf: int, subleaf: int = 0) -> Lookup:
        """The CPUID registers for a leaf, as a Lookup of CpuidRegs."""
        raise NotImplementedError

    def command(self, name: str) -> Lookup:
        """The captured stdout (bytes) of a known command, e.g. 'systeminfo'."""
        raise NotImplementedError

    def kvm_probe(self) -> Lookup:
        """The result dict of the live KVM probe (see detect.kvm)."""
        raise NotImplementedError

    def msr(self, index: int) -> Lookup:
        """The 64-bit value of a model-specific register of CPU 0 (int), or None and why.

        Only detect.cvm asks, for the SEV status MSR; it is not a file read because
        /dev/cpu/0/msr is read at the register's number as the offset (arch/x86/kernel/msr.c).
        """
        return Lookup(None, "this source has no model-specific registers")

    def describe(self) -> str:
        raise NotImplementedError

    def derived(self, rel: str, derive: Callable[[str], str]) -> Lookup:
        """One fact derived from a file that holds an identifier (a UUID, a serial, the kernel command
        line): read it here and derive; a snapshot stores only the derived value (RootSource)."""
        read = self.read(rel, limit=4096)
        if read.text is None:
            return Lookup(None, read.reason or "unreadable")
        return Lookup(derive(read.text))

    def prefetch(self, kvm: bool) -> None:
        """Start slow live probes early (LiveSource does); a snapshot has nothing to start."""

    def close(self) -> None:
        """Release what prefetch started."""

    def path(self, rel: str) -> str:
        """The path as it is named on the machine being described."""
        return "/" + _norm(rel)


# ---------------------------------------------------------------------------
# Live machine

# Commands detect may run on a live host, by logical name. Each is run with a
# short timeout and its stdout captured as bytes. Only names listed here run.
LIVE_COMMANDS: dict[str, list[str]] = {
    "wsl.exe -l -v": ["wsl.exe", "-l", "-v"],
    "systeminfo": ["systeminfo"],
    "sysctl": [
        "sysctl",
        "kern.hv_support",
        "kern.hv_vmm_present",
        "machdep.cpu.brand_string",
        "machdep.cpu.vendor",
        "machdep.cpu.features",
        "hw.model",
        "kern.osproductversion",
    ],
    "sw_vers": ["sw_vers"],
    # The kernel log is the only place Linux says "VMX (outside TXT) disabled by BIOS";
    # detect asks for it only in the rare case that needs it (often root-only).
    "dmesg": ["dmesg"],
    "wmic computersystem": ["wmic", "computersystem", "get", "Manufacturer,Model,HypervisorPresent", "/format:list"],
    "sc.exe query cexecsvc": ["sc.exe", "query", "cexecsvc"],
}

COMMAND_TIMEOUT_S = 10.0


class LiveSource(Source):
    """Reads the running machine."""

    is_live = True

    def __init__(
        self,
        cpuid_fn: Callable[[int, int], Lookup] | None = None,
        kvm_fn: Callable[[], Lookup] | None = None,
    ) -> None:
        self.platform = sys.platform if sys.platform in ("linux", "win32", "darwin") else "unknown"
        self.machine = machine_name() or "unknown"
        self.env = derive_all(os.environ)
        self._cpuid_fn = cpuid_fn
        self._kvm_fn = kvm_fn
        self._cpuid_cache: dict[tuple[int, int], Lookup] = {}
        self._cmd_cache: dict[str, Lookup] = {}
        self._kvm_cache: Lookup | None = None
        self._prefetch: Prefetch | None = None

    def describe(self) -> str:
        return "live machine"

    def prefetch(self, kvm: bool) -> None:
        """Start the KVM probe (when kvm) and the CPUID batch in a child now, in parallel with the
        file reads (machine/prefetch.py). Only where the CPUID machine code runs: Linux x86-64."""
        if self._prefetch is not None or self._cpuid_fn is not None or not hasattr(os, "fork"):
            return
        if sys.platform != "linux" or self.machine.lower() not in ("x86_64", "amd64"):
            return
        # lazy: Windows, macOS and snapshot roots never start the child, and load no more than
        # they did (detect's import set must not grow, benchmarks/detect_speed.py).
        from virtprobe.machine.prefetch import Prefetch

        self._prefetch = Prefetch(WANTED_LEAVES, kvm=kvm and self._kvm_fn is None)

    def close(self) -> None:
        """Reap the prefetch child, whatever it still had to say."""
        if self._prefetch is not None:
            self._prefetch.close()

    def read(self, rel: str, limit: int = MAX_READ_BYTES) -> FileRead:
        path = self.path(rel)
        return _read_file(path, path, limit)

    def listdir(self, rel: str) -> list[str] | None:
        try:
            return sorted(os.listdir(self.path(rel)))
        except OSError:
            return None

    def exists(self, rel: str) -> bool:
        return os.path.lexists(self.path(rel))

    def readlink(self, rel: str) -> str | None:
        try:
            return os.readlink(self.path(rel))
        except OSError:
            return None

    def cpuid(self, leaf: int, subleaf: int = 0) -> Lookup:
        key = (leaf, subleaf)
        if key not in self._cpuid_cache:
            if self._cpuid_fn is None:
                if self._prefetch is not None:
                    regs, _why = self._prefetch.cpuid()
                    if regs is not None:  # else live_cpuid forks again, then falls back to /dev/cpu
                        seed_batch(regs)
                self._cpuid_fn = live_cpuid
            self._cpuid_cache[key] = self._cpuid_fn(leaf, subleaf)
        return self._cpuid_cache[key]

    def command(self, name: str) -> Lookup:
        if name not in self._cmd_cache:
            self._cmd_cache[name] = _run_command(name)
        return self._cmd_cache[name]

    def kvm_probe(self) -> Lookup:
        if self._kvm_cache is None and self._prefetch is not None and self._kvm_fn is None:
            self._kvm_cache = self._prefetch.kvm()  # None when the child gave no answer
        if self._kvm_cache is None:
            if self._kvm_fn is None:
                # lazy: detect's own process loads ctypes and the KVM structures only when the
                # prefetch child gave no answer (`detect --json` <= 1.0x virt-what).
                from virtprobe.machine.kvmapi import probe_guest

                self._kvm_fn = probe_guest
            self._kvm_cache = self._kvm_fn()
        return self._kvm_cache

    def msr(self, index: int) -> Lookup:
        return live_msr(index)


def _run_command(name: str) -> Lookup:
    # lazy: detect runs a command only where a reader needs one (dmesg, Windows, macOS); subprocess
    # and shutil cost about 10 ms to import here (`detect --json` <= 1.0x virt-what).
    import shutil
    import subprocess

    argv = LIVE_COMMANDS.get(name)
    if argv is None:
        return Lookup(None, f"virtprobe does not run {name!r}")
    exe = shutil.which(argv[0])
    if exe is None:
        return Lookup(None, f"{argv[0]} not found on PATH")
    try:
        proc = subprocess.run(
            [exe, *argv[1:]],
            capture_output=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return Lookup(None, f"{name} timed out after {COMMAND_TIMEOUT_S:.0f} s")
    except OSError as err:
        return Lookup(None, f"{name} could not run: {_reason_for(err)}")
    if proc.returncode != 0 and not proc.stdout:
        return Lookup(None, f"{name} exited {proc.returncode}")
    return Lookup(proc.stdout)


# ---------------------------------------------------------------------------
# Captured root


def _text_field(meta: dict[str, Any], key: str, default: str) -> str:
    """A short string field of the snapshot description; anything else is its default."""
    value = meta.get(key)
    return value if isinstance(value, str) and value and len(value) <= 64 and value.isprintable() else default


class RootSource(Source):
    """Reads only below `root`; never from the live machine."""

    is_live = False

    def __init__(self, root: str | os.PathLike[str]) -> None:
        # lazy: only a snapshot root needs pathlib; the live `detect --json` (<= 1.0x virt-what) does not.
        from pathlib import Path

        self.root: Path = Path(root)
        if not self.root.exists():
            raise InputError(f"snapshot root {self.root} does not exist")
        if not self.root.is_dir():
            raise InputError(f"snapshot root {self.root} is not a directory")
        self._real_root = os.path.realpath(self.root)
        meta = self._load_meta()
        self.platform = _text_field(meta, "platform", "linux")
        self.machine = _text_field(meta, "machine", "unknown")
        env = meta.get("env")
        self.env = derive_all({k: v for k, v in env.items() if isinstance(v, str)}) if isinstance(env, dict) else {}
        self._cpuid = meta.get("cpuid") if isinstance(meta.get("cpuid"), dict) else None
        self._commands = meta.get("commands") if isinstance(meta.get("commands"), dict) else {}
        self._kvm = meta.get("kvm_probe")
        reason = meta.get("cpuid_reason")
        self._cpuid_reason = reason if isinstance(reason, str) else None
        msr = meta.get("msr")
        self._msr: dict[str, Any] = msr if isinstance(msr, dict) else {}
        derived = meta.get("derived")
        self._derived: dict[str, Any] = derived if isinstance(derived, dict) else {}

    def _load_meta(self) -> dict[str, Any]:
        """virtprobe-snapshot.json through the bounded door: a regular file inside the root, JSON within limits."""
        path = os.path.join(self._real_root, SNAPSHOT_META)
        if not os.path.lexists(path):
            return {}
        meta = load_json_file(path, MAX_SNAPSHOT_META_BYTES, "snapshot description", self._real_root)
        if not isinstance(meta, dict):
            raise InputError(f"snapshot description {path}: not a valid snapshot description (expected a JSON object)")
        fmt = meta.get("format", SNAPSHOT_FORMAT)
        if fmt != SNAPSHOT_FORMAT or isinstance(fmt, bool):
            raise InputError(
                f"snapshot description {path}: snapshot format {shown(fmt, 40)}; "
                f"this virtprobe reads format {SNAPSHOT_FORMAT}"
            )
        return meta

    def describe(self) -> str:
        return f"snapshot {self.root}"

    def _inside(self, rel: str) -> tuple[str | None, str | None]:
        """The host path for rel, refusing anything that resolves outside the root."""
        host = os.path.join(self._real_root, _norm(rel))
        real = os.path.realpath(host)
        if real != self._real_root and not real.startswith(self._real_root + os.sep):
            return None, "points outside the snapshot root"
        return real, None

    def read(self, rel: str, limit: int = MAX_READ_BYTES) -> FileRead:
        path = self.path(rel)
        host, why = self._inside(rel)
        if host is None:
            return FileRead(path, None, why)
        return _read_file(host, path, limit, self._real_root)

    def listdir(self, rel: str) -> list[str] | None:
        host, _ = self._inside(rel)
        if host is None:
            return None
        try:
            # `.keep` holds an empty folder of a captured root in git; the machine had no such entry.
            return sorted(n for n in os.listdir(host) if n != KEEP_FILE)
        except OSError:
            return None

    def exists(self, rel: str) -> bool:
        # lexists on the unresolved path: a dangling symlink (a namespace link) exists.
        host = os.path.join(self._real_root, _norm(rel))
        if not os.path.lexists(host):
            return False
        return os.path.islink(host) or self._inside(rel)[0] is not None

    def readlink(self, rel: str) -> str | None:
        host = os.path.join(self._real_root, _norm(rel))
        try:
            return os.readlink(host)
        except OSError:
            pass
        # Namespace links may also be stored as plain files holding the target,
        # for filesystems (and archives) that lose symlinks.
        read = self.read(rel, limit=256)
        return read.text.strip() if read.text else None

    def cpuid(self, leaf: int, subleaf: int = 0) -> Lookup:
        if self._cpuid is None:
            return Lookup(None, str(self._cpuid_reason or "no CPUID registers in the snapshot"))
        keys = [f"0x{leaf:08x}/{subleaf}"] + ([f"0x{leaf:08x}", f"0x{leaf:x}"] if subleaf == 0 else [])
        for key in keys:
            regs = self._cpuid.get(key)
            if isinstance(regs, dict):
                try:
                    return Lookup(CpuidRegs(*(int(regs[r]) & 0xFFFFFFFF for r in ("eax", "ebx", "ecx", "edx"))))
                except (KeyError, TypeError, ValueError, OverflowError):
                    return Lookup(None, f"CPUID leaf {key} in the snapshot is malformed")
        return Lookup(None, f"CPUID leaf 0x{leaf:08x} not in the snapshot")

    def command(self, name: str) -> Lookup:
        raw = self._commands.get(name) if isinstance(self._commands, dict) else None
        if raw is None:
            return Lookup(None, f"no output of {name!r} in the snapshot")
        # lazy: only a snapshot's commands are base64; the live `detect --json` never loads it.
        import base64
        import binascii

        try:
            return Lookup(base64.b64decode(str(raw), validate=True))
        except (binascii.Error, ValueError):
            return Lookup(None, f"output of {name!r} in the snapshot is not valid base64")

    def derived(self, rel: str, derive: Callable[[str], str]) -> Lookup:
        """The stored derived fact; a fixture may hold the file itself instead."""
        stored = self._derived.get(rel)
        if isinstance(stored, str):
            return Lookup(stored[:256])
        return super().derived(rel, derive)

    def kvm_probe(self) -> Lookup:
        if isinstance(self._kvm, dict):
            return Lookup(self._kvm)
        return Lookup(None, "no live KVM probe result in the snapshot")

    def msr(self, index: int) -> Lookup:
        raw = self._msr.get(f"0x{index:08x}")
        if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw < 2**64:
            return Lookup(raw)
        if raw is not None:
            return Lookup(None, f"MSR 0x{index:x} in the snapshot is malformed")
        return Lookup(None, f"MSR 0x{index:x} not in the snapshot")
