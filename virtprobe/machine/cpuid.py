"""Read CPUID registers of the live machine, fast and without crashing the caller.

How: a forked child maps a few bytes of x86-64 machine code executable, calls
it through ctypes for every leaf detect needs, writes the registers to a pipe
and `os._exit`s. The parent waits with a timeout. Fork without exec costs about
1 ms, where a Python subprocess costs 20+ ms (py-cpuinfo does the latter, and
takes over a second in total on this machine). The fork is the safety net: if
executable memory is refused or the code faults, only the child dies.

Fallback: /dev/cpu/0/cpuid (the `cpuid` kernel module, root only), where
`pread` at offset `leaf | subleaf << 32` returns the 16 register bytes
(Documentation/x86/... and arch/x86/kernel/cpuid.c).

One fork reads every leaf detect asks for (`WANTED_LEAVES`), and `live_cpuid`
fills a module-level cache with that batch on first use, so LiveSource's
per-leaf calls cost one fork in total.
"""

from __future__ import annotations

import errno
import faulthandler
import os
import select
import struct
import sys
import time

from virtprobe.machine.facts import CpuidRegs, Lookup

# Leaves detect reads: vendor, feature bits (hypervisor bit = leaf 1 ECX[31]),
# the hypervisor bases 0x40000000..0x40000F00 in steps of 0x100, and the
# extended-leaf maximum and features (svm = 0x80000001 ECX[2]).
# A hypervisor may publish a second interface above its first: KVM or Xen behind
# Hyper-V enlightenments answer at 0x40000100 (Linux's hypervisor_cpuid_base() in
# arch/x86/include/asm/processor.h finds them by that scan). Linux scans up to
# 0x40010000, but every CPUID in a guest is a VM exit (about 25 us here under
# kvm_pvm), so 256 leaves cost 6 ms of detect's time; the first 16 bases cover
# every hypervisor that stacks interfaces (they use 0x40000000-0x40000200).
HYPERVISOR_LEAVES = tuple(range(0x40000000, 0x40001000, 0x100))
# detect.cvm adds Intel TDX (0x21), AMD memory encryption (0x8000001F) and the
# Hyper-V feature and isolation leaves (0x40000003, 0x4000000C).
CVM_LEAVES = (0x21, 0x40000003, 0x4000000C, 0x8000001F)
WANTED_LEAVES: tuple[int, ...] = (0x0, 0x1, *HYPERVISOR_LEAVES, 0x80000000, 0x80000001, *CVM_LEAVES)

CHILD_TIMEOUT_S = 2.0

# System V x86-64: void f(uint32 leaf /*edi*/, uint32 subleaf /*esi*/, uint32 out[4] /*rdx*/)
_CPUID_CODE = bytes.fromhex(
    "53"  # push rbx (callee-saved; cpuid clobbers it)
    "4989d0"  # mov r8, rdx
    "89f8"  # mov eax, edi
    "89f1"  # mov ecx, esi
    "0fa2"  # cpuid
    "418900"  # mov [r8], eax
    "41895804"  # mov [r8+4], ebx
    "41894808"  # mov [r8+8], ecx
    "4189500c"  # mov [r8+12], edx
    "5b"  # pop rbx
    "c3"  # ret
)

_REC = struct.Struct("<IIIIII")  # leaf, subleaf, eax, ebx, ecx, edx

_cache: dict[tuple[int, int], Lookup] = {}
_batch_done = False


def machine_name() -> str:
    """platform.machine() without importing platform (it costs a millisecond on detect's path)."""
    uname = getattr(os, "uname", None)
    if uname is not None:
        return str(uname().machine)
    # lazy: Windows only (no os.uname); platform costs a millisecond (`detect --json` <= 1.0x virt-what).
    import platform

    return platform.machine()


def is_x86(machine: str | None = None) -> bool:
    m = (machine or machine_name()).lower()
    return m in ("x86_64", "amd64", "i386", "i486", "i586", "i686", "x86")


def execute_cpuid(keys: list[tuple[int, int]]) -> list[tuple[tuple[int, int], tuple[int, int, int, int]]]:
    """Execute CPUID in this process for each (leaf, subleaf): ((leaf, subleaf), (eax, ebx, ecx, edx)).

    Only ever called in a forked child (here and in machine/prefetch.py): if executable
    memory is refused or the code faults, that child dies, not detect.
    """
    # lazy: only the child imports ctypes (2.4 ms), while detect reads files (`detect --json` <= 1.0x virt-what).
    import ctypes
    import mmap

    buf = mmap.mmap(-1, mmap.PAGESIZE, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    buf.write(_CPUID_CODE)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    fn = ctypes.CFUNCTYPE(None, ctypes.c_uint32, ctypes.c_uint32, ctypes.c_void_p)(addr)
    out = (ctypes.c_uint32 * 4)()
    got = []
    for leaf, sub in keys:
        fn(leaf, sub, ctypes.addressof(out))
        got.append(((leaf, sub), (out[0], out[1], out[2], out[3])))
    return got


def _child_run(leaves: list[tuple[int, int]], wfd: int) -> None:  # pragma: no cover - runs in the fork
    code = 1
    try:
        # A fault here is the case the fork exists for, and the parent reports it;
        # no traceback dump from an inherited faulthandler (pytest enables one).
        faulthandler.disable()
        data = b"".join(_REC.pack(leaf, sub, *regs) for (leaf, sub), regs in execute_cpuid(leaves))
        while data:
            n = os.write(wfd, data)
            data = data[n:]
        code = 0
    finally:
        os._exit(code)


def _read_all(rfd: int, deadline: float) -> bytes | None:
    chunks: list[bytes] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        ready, _, _ = select.select([rfd], [], [], left)
        if not ready:
            return None
        chunk = os.read(rfd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def reap(pid: int, kill: bool) -> str | None:
    """Wait for a child (killed first when it did not answer): how it ended ("killed by signal 11"), or None if well."""
    if kill:
        try:  # noqa: SIM105 - contextlib is one more import on detect's path
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return None
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    return f"killed by signal {sig}" if sig else f"exit status {os.WEXITSTATUS(status)}"


def cpuid_failure(ended: str) -> str:
    """Why CPUID has no answer, from how the child that executed it ended (`reap`)."""
    return f"executing CPUID from Python failed ({ended}; executable memory may be refused)"


def _fork_cpuid(leaves: list[tuple[int, int]]) -> tuple[dict[tuple[int, int], CpuidRegs] | None, str]:
    """Run CPUID for every (leaf, subleaf) in a forked child; (results, "") or (None, reason)."""
    if not hasattr(os, "fork"):
        return None, "os.fork is not available"
    # lazy: only this fallback (no answer from machine/prefetch.py's child) loads ctypes in detect's
    # own process (`detect --json` <= 1.0x virt-what); here, before the fork, so every child inherits it.
    import ctypes  # noqa: F401
    import mmap  # noqa: F401

    rfd, wfd = os.pipe()
    try:
        pid = os.fork()
    except OSError as err:
        os.close(rfd)
        os.close(wfd)
        return None, f"fork failed: {err.strerror}"
    if pid == 0:  # pragma: no cover - child
        os.close(rfd)
        _child_run(leaves, wfd)
    os.close(wfd)
    try:
        data = _read_all(rfd, time.monotonic() + CHILD_TIMEOUT_S)
    finally:
        os.close(rfd)
    ended = reap(pid, kill=data is None)
    if data is None:
        return None, f"CPUID child did not answer within {CHILD_TIMEOUT_S:.0f} s"
    if ended:
        return None, cpuid_failure(ended)
    if len(data) != _REC.size * len(leaves):
        return None, "CPUID child returned a truncated answer"
    out = {}
    for i in range(len(leaves)):
        leaf, sub, a, b, c, d = _REC.unpack_from(data, i * _REC.size)
        out[(leaf, sub)] = CpuidRegs(a, b, c, d)
    return out, ""


def _devcpu_cpuid(leaf: int, subleaf: int) -> Lookup:
    try:
        fd = os.open("/dev/cpu/0/cpuid", os.O_RDONLY)
    except OSError as err:
        return Lookup(None, f"/dev/cpu/0/cpuid: {err.strerror}")
    try:
        raw = os.pread(fd, 16, leaf | (subleaf << 32))
    except OSError as err:
        return Lookup(None, f"/dev/cpu/0/cpuid: {err.strerror}")
    finally:
        os.close(fd)
    if len(raw) != 16:
        return Lookup(None, "/dev/cpu/0/cpuid returned a short read")
    return Lookup(CpuidRegs(*struct.unpack("<IIII", raw)))


def live_cpuid_many(leaves: list[int] | tuple[int, ...], subleaf: int = 0) -> dict[tuple[int, int], Lookup]:
    """CPUID registers for many leaves with one fork; each value a Lookup of CpuidRegs."""
    keys = [(leaf, subleaf) for leaf in leaves]
    if not is_x86():
        return {k: Lookup(None, "CPUID exists only on x86") for k in keys}
    if sys.platform != "linux" or machine_name().lower() not in ("x86_64", "amd64"):
        # The machine code above is x86-64 System V; elsewhere only /dev/cpu remains.
        return {k: _devcpu_cpuid(*k) for k in keys}
    regs, why = _fork_cpuid(keys)
    if regs is not None:
        return {k: Lookup(regs[k]) for k in keys}
    out = {}
    for k in keys:
        dev = _devcpu_cpuid(*k)
        out[k] = dev if dev.ok else Lookup(None, f"{why}; and {dev.reason}")
    return out


def seed_batch(regs: dict[tuple[int, int], CpuidRegs]) -> None:
    """Registers the prefetch child read (machine/prefetch.py): the batch live_cpuid would fork for."""
    global _batch_done
    _batch_done = True
    _cache.update({k: Lookup(v) for k, v in regs.items()})


def live_cpuid(leaf: int, subleaf: int = 0) -> Lookup:
    """The CPUID registers of one leaf (Lookup of CpuidRegs, or None and why)."""
    global _batch_done
    if not _batch_done:
        _batch_done = True
        _cache.update(live_cpuid_many(WANTED_LEAVES))
    key = (leaf, subleaf)
    if key not in _cache:
        _cache.update(live_cpuid_many([leaf], subleaf))
    return _cache[key]


def live_msr(index: int, cpu: int = 0) -> Lookup:
    """A model-specific register through /dev/cpu/N/msr (the `msr` module, root only).

    The device is read at the register number as the offset, 8 bytes
    (arch/x86/kernel/msr.c); an MSR the CPU does not implement answers EIO.
    """
    path = f"/dev/cpu/{cpu}/msr"
    if not is_x86():
        return Lookup(None, "MSRs are read only on x86")
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as err:
        if err.errno == errno.ENOENT:
            return Lookup(None, f"{path} not found (needs root and the msr module: modprobe msr)")
        if err.errno in (errno.EACCES, errno.EPERM):
            return Lookup(None, f"{path}: permission denied (needs root)")
        return Lookup(None, f"{path}: {err.strerror}")
    try:
        raw = os.pread(fd, 8, index)
    except OSError as err:
        return Lookup(None, f"{path} at 0x{index:x}: {err.strerror}")
    finally:
        os.close(fd)
    if len(raw) != 8:
        return Lookup(None, f"{path} returned a short read")
    value: int = struct.unpack("<Q", raw)[0]
    return Lookup(value)
