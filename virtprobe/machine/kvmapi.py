"""The Linux KVM ioctl API in pure Python (ctypes + fcntl.ioctl + mmap), and a tiny live guest probe.

Layouts and numbers follow include/uapi/linux/kvm.h and
Documentation/virt/kvm/api.rst (x86). Nothing here needs a compiler or QEMU:
`probe_guest()` creates a VM, gives it one page of RAM, runs a few real-mode
instructions (`mov al, 'K'; mov dx, 0x3f8; out dx, al; hlt`) and reports what
happened. It never raises: a missing /dev/kvm, EACCES or a failed ioctl comes
back as `ok: False` with the stage it reached and the error.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import mmap
import os
import struct
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from virtprobe.lean_typing import TYPE_CHECKING, NamedTuple
from virtprobe.machine.facts import Lookup

if TYPE_CHECKING:
    from typing import Any

KVM_DEVICE = "/dev/kvm"
KVM_API_VERSION = 12  # the only stable version since Linux 2.6.22 (api.rst, "KVM_GET_API_VERSION")

# --- ioctl numbers: _IOC(dir, type, nr, size) from include/uapi/asm-generic/ioctl.h ---
_IOC_NONE, _IOC_WRITE, _IOC_READ = 0, 1, 2
KVMIO = 0xAE


def _ioc(direction: int, nr: int, size: int) -> int:
    return (direction << 30) | (size << 16) | (KVMIO << 8) | nr


# --- struct layouts (x86_64) ---
class KvmUserspaceMemoryRegion(ctypes.Structure):
    _fields_ = [
        ("slot", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("guest_phys_addr", ctypes.c_uint64),
        ("memory_size", ctypes.c_uint64),
        ("userspace_addr", ctypes.c_uint64),
    ]


_REG_NAMES = (
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp",
    "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags",
)  # fmt: skip


class KvmRegs(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in _REG_NAMES]


class KvmSegment(ctypes.Structure):
    _fields_ = [
        ("base", ctypes.c_uint64),
        ("limit", ctypes.c_uint32),
        ("selector", ctypes.c_uint16),
        ("type", ctypes.c_uint8),
        ("present", ctypes.c_uint8),
        ("dpl", ctypes.c_uint8),
        ("db", ctypes.c_uint8),
        ("s", ctypes.c_uint8),
        ("l", ctypes.c_uint8),
        ("g", ctypes.c_uint8),
        ("avl", ctypes.c_uint8),
        ("unusable", ctypes.c_uint8),
        ("padding", ctypes.c_uint8),
    ]


class KvmDtable(ctypes.Structure):
    _fields_ = [
        ("base", ctypes.c_uint64),
        ("limit", ctypes.c_uint16),
        ("padding", ctypes.c_uint16 * 3),
    ]


class KvmSregs(ctypes.Structure):
    _fields_ = [
        ("cs", KvmSegment), ("ds", KvmSegment), ("es", KvmSegment), ("fs", KvmSegment),
        ("gs", KvmSegment), ("ss", KvmSegment), ("tr", KvmSegment), ("ldt", KvmSegment),
        ("gdt", KvmDtable), ("idt", KvmDtable),
        ("cr0", ctypes.c_uint64), ("cr2", ctypes.c_uint64), ("cr3", ctypes.c_uint64),
        ("cr4", ctypes.c_uint64), ("cr8", ctypes.c_uint64), ("efer", ctypes.c_uint64),
        ("apic_base", ctypes.c_uint64),
        ("interrupt_bitmap", ctypes.c_uint64 * 4),  # (KVM_NR_INTERRUPTS + 63) / 64, 256 interrupts
    ]  # fmt: skip


class KvmRunIo(ctypes.Structure):
    """kvm_run.io, valid when exit_reason == KVM_EXIT_IO."""

    _fields_ = [
        ("direction", ctypes.c_uint8),  # 0 in, 1 out
        ("size", ctypes.c_uint8),
        ("port", ctypes.c_uint16),
        ("count", ctypes.c_uint32),
        ("data_offset", ctypes.c_uint64),  # from the start of kvm_run
    ]


class KvmRunMmio(ctypes.Structure):
    _fields_ = [
        ("phys_addr", ctypes.c_uint64),
        ("data", ctypes.c_uint8 * 8),
        ("len", ctypes.c_uint32),
        ("is_write", ctypes.c_uint8),
    ]


class KvmRunInternal(ctypes.Structure):
    _fields_ = [
        ("suberror", ctypes.c_uint32),
        ("ndata", ctypes.c_uint32),
        ("data", ctypes.c_uint64 * 16),
    ]


class KvmRunFailEntry(ctypes.Structure):
    _fields_ = [
        ("hardware_entry_failure_reason", ctypes.c_uint64),
        ("cpu", ctypes.c_uint32),
    ]


class KvmRunExit(ctypes.Union):
    _fields_ = [
        ("io", KvmRunIo),
        ("mmio", KvmRunMmio),
        ("internal", KvmRunInternal),
        ("fail_entry", KvmRunFailEntry),
        ("padding", ctypes.c_char * 256),
    ]


class KvmRun(ctypes.Structure):
    """The head of the shared kvm_run page (the union starts at offset 32)."""

    _fields_ = [
        ("request_interrupt_window", ctypes.c_uint8),
        ("immediate_exit", ctypes.c_uint8),
        ("padding1", ctypes.c_uint8 * 6),
        ("exit_reason", ctypes.c_uint32),
        ("ready_for_interrupt_injection", ctypes.c_uint8),
        ("if_flag", ctypes.c_uint8),
        ("flags", ctypes.c_uint16),
        ("cr8", ctypes.c_uint64),
        ("apic_base", ctypes.c_uint64),
        ("exit", KvmRunExit),
    ]


KVM_GET_API_VERSION = _ioc(_IOC_NONE, 0x00, 0)
KVM_CREATE_VM = _ioc(_IOC_NONE, 0x01, 0)
KVM_CHECK_EXTENSION = _ioc(_IOC_NONE, 0x03, 0)
KVM_GET_VCPU_MMAP_SIZE = _ioc(_IOC_NONE, 0x04, 0)
KVM_CREATE_VCPU = _ioc(_IOC_NONE, 0x41, 0)
KVM_SET_USER_MEMORY_REGION = _ioc(_IOC_WRITE, 0x46, ctypes.sizeof(KvmUserspaceMemoryRegion))
KVM_RUN = _ioc(_IOC_NONE, 0x80, 0)
KVM_GET_REGS = _ioc(_IOC_READ, 0x81, ctypes.sizeof(KvmRegs))
KVM_SET_REGS = _ioc(_IOC_WRITE, 0x82, ctypes.sizeof(KvmRegs))
KVM_GET_SREGS = _ioc(_IOC_READ, 0x83, ctypes.sizeof(KvmSregs))
KVM_SET_SREGS = _ioc(_IOC_WRITE, 0x84, ctypes.sizeof(KvmSregs))

KVM_CAP_USER_MEMORY = 3

# KVM_CHECK_EXTENSION capability numbers (include/uapi/linux/kvm.h) that the VMMs
# virtprobe checks for require; detect.checks says which VMM needs which.
KVM_CAPS: dict[str, int] = {
    "KVM_CAP_IRQCHIP": 0,
    "KVM_CAP_USER_MEMORY": 3,
    "KVM_CAP_SET_TSS_ADDR": 4,
    "KVM_CAP_EXT_CPUID": 7,
    "KVM_CAP_MP_STATE": 14,
    "KVM_CAP_DESTROY_MEMORY_REGION_WORKS": 21,
    "KVM_CAP_IRQ_ROUTING": 25,
    "KVM_CAP_JOIN_MEMORY_REGIONS_WORKS": 30,
    "KVM_CAP_IRQFD": 32,
    "KVM_CAP_PIT2": 33,
    "KVM_CAP_PIT_STATE2": 35,
    "KVM_CAP_IOEVENTFD": 36,
    "KVM_CAP_ADJUST_CLOCK": 39,
    "KVM_CAP_VCPU_EVENTS": 41,
    "KVM_CAP_DEBUGREGS": 50,
    "KVM_CAP_XSAVE": 55,
    "KVM_CAP_XCRS": 56,
    "KVM_CAP_TSC_DEADLINE_TIMER": 72,
    "KVM_CAP_SIGNAL_MSI": 77,
    "KVM_CAP_SPLIT_IRQCHIP": 121,
    "KVM_CAP_IMMEDIATE_EXIT": 136,
}

# Control register bits (Intel SDM vol. 3A, 2.5) for the long-mode setup.
CR0_PE = 1 << 0
CR0_ET = 1 << 4
CR0_PG = 1 << 31
CR4_PAE = 1 << 5
EFER_LME = 1 << 8
EFER_LMA = 1 << 10
PAGE_TABLES_ADDR = 0x1000
LONG_MODE_CODE_ADDR = 0x10000
LONG_MODE_MEM_BYTES = 0x200000

# kvm_run.exit_reason values (include/uapi/linux/kvm.h).
EXIT_REASONS: dict[int, str] = {
    0: "KVM_EXIT_UNKNOWN",
    1: "KVM_EXIT_EXCEPTION",
    2: "KVM_EXIT_IO",
    3: "KVM_EXIT_HYPERCALL",
    4: "KVM_EXIT_DEBUG",
    5: "KVM_EXIT_HLT",
    6: "KVM_EXIT_MMIO",
    7: "KVM_EXIT_IRQ_WINDOW_OPEN",
    8: "KVM_EXIT_SHUTDOWN",
    9: "KVM_EXIT_FAIL_ENTRY",
    10: "KVM_EXIT_INTR",
    11: "KVM_EXIT_SET_TPR",
    12: "KVM_EXIT_TPR_ACCESS",
    16: "KVM_EXIT_NMI",
    17: "KVM_EXIT_INTERNAL_ERROR",
    18: "KVM_EXIT_OSI",
    21: "KVM_EXIT_WATCHDOG",
    24: "KVM_EXIT_SYSTEM_EVENT",
    26: "KVM_EXIT_IOAPIC_EOI",
    27: "KVM_EXIT_HYPERV",
    29: "KVM_EXIT_X86_RDMSR",
    30: "KVM_EXIT_X86_WRMSR",
    31: "KVM_EXIT_DIRTY_RING_FULL",
    33: "KVM_EXIT_X86_BUS_LOCK",
    37: "KVM_EXIT_NOTIFY",
    39: "KVM_EXIT_MEMORY_FAULT",
}
KVM_EXIT_IO = 2
KVM_EXIT_HLT = 5
KVM_EXIT_MMIO = 6
KVM_EXIT_SHUTDOWN = 8
KVM_EXIT_FAIL_ENTRY = 9
KVM_EXIT_INTERNAL_ERROR = 17
KVM_EXIT_IO_OUT = 1

# KVM_INTERNAL_ERROR_* suberrors: the "Suberror: 1" QEMU prints is EMULATION.
INTERNAL_SUBERRORS = {
    1: "emulation failure",
    2: "simultaneous exception",
    3: "delivery event",
    4: "unexpected exit",
}


def exit_reason_name(code: int) -> str:
    """'KVM_EXIT_HLT' for 5; unknown codes keep their number so nothing is lost."""
    return EXIT_REASONS.get(code, f"KVM_EXIT_{code}")


class KvmError(Exception):
    """An ioctl or mmap on /dev/kvm failed; `stage` says which step, `errno` why."""

    def __init__(self, stage: str, message: str, err: int | None = None) -> None:
        super().__init__(message)
        self.stage = stage
        self.errno = err


class VcpuExit(NamedTuple):
    """One decoded KVM_RUN return."""

    reason: str  # "KVM_EXIT_IO", ...
    code: int
    io_port: int | None = None
    io_out: bool | None = None
    io_data: bytes | None = None
    detail: str | None = None  # suberror / hardware reason, for the failure exits

    def to_dict(self) -> dict[str, Any]:
        return {
            "reason": self.reason,
            "code": self.code,
            "io_port": self.io_port,
            "io_out": self.io_out,
            "io_data": None if self.io_data is None else self.io_data.hex(),
            "detail": self.detail,
        }


def decode_exit(run: KvmRun, page: bytes | mmap.mmap | None = None) -> VcpuExit:
    """Decode kvm_run after KVM_RUN returned (pure: reads only the structure and the page)."""
    code = int(run.exit_reason)
    name = exit_reason_name(code)
    if code == KVM_EXIT_IO:
        io = run.exit.io
        data = None
        if page is not None:
            n = int(io.size) * int(io.count)
            off = int(io.data_offset)
            data = bytes(page[off : off + n])
        return VcpuExit(name, code, int(io.port), int(io.direction) == KVM_EXIT_IO_OUT, data)
    if code == KVM_EXIT_INTERNAL_ERROR:
        sub = int(run.exit.internal.suberror)
        return VcpuExit(name, code, detail=f"suberror {sub} ({INTERNAL_SUBERRORS.get(sub, 'unknown')})")
    if code == KVM_EXIT_FAIL_ENTRY:
        reason = int(run.exit.fail_entry.hardware_entry_failure_reason)
        return VcpuExit(name, code, detail=f"hardware_entry_failure_reason 0x{reason:x}")
    if code == KVM_EXIT_MMIO:
        m = run.exit.mmio
        rw = "write" if m.is_write else "read"
        return VcpuExit(name, code, detail=f"mmio {rw} at 0x{int(m.phys_addr):x} len {int(m.len)}")
    return VcpuExit(name, code)


def _ioctl_int(fd: int, request: int, arg: int, stage: str) -> int:
    try:
        return fcntl.ioctl(fd, request, arg)
    except OSError as err:
        raise KvmError(stage, f"ioctl 0x{request:x} failed: {err.strerror or err}", err.errno) from err


def _ioctl_struct(fd: int, request: int, obj: ctypes.Structure, stage: str) -> None:
    try:
        # A ctypes object is a writable buffer: the kernel's answer lands in it in place.
        fcntl.ioctl(fd, request, obj, True)
    except OSError as err:
        raise KvmError(stage, f"ioctl 0x{request:x} failed: {err.strerror or err}", err.errno) from err


class Vm:
    """One VM with one memory slot at guest physical 0 and one vCPU. Close it (or use `with`).

    `backing` is guest memory the caller mapped (a snapshot's memory file mapped
    MAP_PRIVATE, as Firecracker restores one); the VM then owns and closes it.
    """

    def __init__(self, kvm_fd: int, mem_bytes: int = 0x1000, backing: mmap.mmap | None = None) -> None:
        self.kvm_fd = kvm_fd
        self.vm_fd = -1
        self.vcpu_fd = -1
        self.mem: mmap.mmap | None = None
        self.run_map: mmap.mmap | None = None
        self.run: KvmRun | None = None
        self.mem_bytes = mem_bytes
        try:
            self.vm_fd = _ioctl_int(kvm_fd, KVM_CREATE_VM, 0, "create_vm")
            try:
                self.mem = backing or mmap.mmap(-1, mem_bytes, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
            except OSError as err:
                raise KvmError("memory", f"mmap of guest memory failed: {err}", err.errno) from err
            region = KvmUserspaceMemoryRegion(
                slot=0, flags=0, guest_phys_addr=0, memory_size=mem_bytes, userspace_addr=self._mem_addr()
            )
            _ioctl_struct(self.vm_fd, KVM_SET_USER_MEMORY_REGION, region, "memory")
            self.vcpu_fd = _ioctl_int(self.vm_fd, KVM_CREATE_VCPU, 0, "vcpu")
            size = _ioctl_int(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0, "vcpu")
            try:
                self.run_map = mmap.mmap(self.vcpu_fd, size, flags=mmap.MAP_SHARED)
            except OSError as err:
                raise KvmError("vcpu", f"mmap of kvm_run failed: {err}", err.errno) from err
            self.run = KvmRun.from_buffer(self.run_map)
        except BaseException:
            self.close()
            raise

    def _mem_addr(self) -> int:
        assert self.mem is not None
        # The address of an mmap's buffer: take a one-byte ctypes view and release it at once,
        # because an exported buffer would stop mmap.close() later.
        view = ctypes.c_char.from_buffer(self.mem)
        addr = ctypes.addressof(view)
        del view
        return addr

    def load(self, code: bytes, at: int) -> None:
        assert self.mem is not None
        self.mem[at : at + len(code)] = code

    def get_sregs(self) -> KvmSregs:
        s = KvmSregs()
        _ioctl_struct(self.vcpu_fd, KVM_GET_SREGS, s, "vcpu")
        return s

    def set_sregs(self, s: KvmSregs) -> None:
        _ioctl_struct(self.vcpu_fd, KVM_SET_SREGS, s, "vcpu")

    def get_regs(self) -> KvmRegs:
        r = KvmRegs()
        _ioctl_struct(self.vcpu_fd, KVM_GET_REGS, r, "run")
        return r

    def set_regs(self, r: KvmRegs) -> None:
        _ioctl_struct(self.vcpu_fd, KVM_SET_REGS, r, "vcpu")

    def setup_real_mode(self, rip: int, **regs: int) -> None:
        """Flat real mode: CS base 0 selector 0, execution starts at `rip`."""
        s = self.get_sregs()
        s.cs.base = 0
        s.cs.selector = 0
        self.set_sregs(s)
        r = KvmRegs()
        r.rip = rip
        r.rflags = 0x2  # bit 1 is reserved and must be set
        for name, value in regs.items():
            setattr(r, name, value)
        self.set_regs(r)

    def setup_long_mode(self, rip: int, *, user: bool, iopl: int = 3) -> None:
        """64-bit long mode, identity-mapping the first 2 MiB with one large page.

        The page tables live at guest physical PAGE_TABLES_ADDR..+0x3000, so code
        must go elsewhere (e.g. LONG_MODE_CODE_ADDR) and the VM needs 2 MiB of
        memory. No GDT or IDT in guest memory: KVM_SET_SREGS loads the hidden
        segment state directly, and the guest never reloads a segment or takes
        an exception (an exception would end in KVM_EXIT_SHUTDOWN).

        `user` runs the code at CPL 3 with IOPL `iopl` so that `out` still exits
        to us. Under kvm_pvm that matters: PVM runs guest user mode directly on
        the CPU, while ring-0 code not written for PVM is emulated.
        """
        if self.mem_bytes < LONG_MODE_MEM_BYTES:
            raise KvmError("memory", f"long mode needs {LONG_MODE_MEM_BYTES} bytes of guest memory")
        flags = 0x7 if user else 0x3  # present | writable | (user)
        pt = PAGE_TABLES_ADDR
        self.load(struct.pack("<Q", (pt + 0x1000) | flags), pt)  # PML4[0] -> PDPT
        self.load(struct.pack("<Q", (pt + 0x2000) | flags), pt + 0x1000)  # PDPT[0] -> PD
        self.load(struct.pack("<Q", 0x0 | flags | 0x80), pt + 0x2000)  # PD[0] -> 2 MiB page at 0 (PS)
        dpl = 3 if user else 0

        def seg(selector: int, type_: int, long_: int) -> KvmSegment:
            return KvmSegment(
                base=0, limit=0xFFFFFFFF, selector=selector | dpl, type=type_, present=1,
                dpl=dpl, db=0, s=1, l=long_, g=1,
            )  # fmt: skip

        s = self.get_sregs()
        s.cs = seg(0x18, 0xB, 1)  # execute/read, accessed; L=1: 64-bit code
        for name in ("ds", "es", "fs", "gs", "ss"):
            setattr(s, name, seg(0x20, 0x3, 0))  # read/write, accessed
        s.cr3 = pt
        s.cr4 = CR4_PAE
        s.efer = EFER_LME | EFER_LMA
        s.cr0 = CR0_PE | CR0_ET | CR0_PG
        self.set_sregs(s)
        r = KvmRegs()
        r.rip = rip
        r.rflags = 0x2 | ((iopl & 3) << 12)
        self.set_regs(r)

    def run_once(self) -> VcpuExit:
        try:
            fcntl.ioctl(self.vcpu_fd, KVM_RUN, 0)
        except OSError as err:
            raise KvmError("run", f"KVM_RUN failed: {err.strerror or err}", err.errno) from err
        assert self.run is not None and self.run_map is not None
        return decode_exit(self.run, self.run_map)

    def complete_pending(self) -> None:
        """KVM_RUN with immediate_exit set: the kernel finishes a pending I/O exit and returns at once
        (EINTR) without running the guest, so the vCPU state read next is complete (api.rst,
        "immediate_exit"; Firecracker does this before it saves a snapshot)."""
        assert self.run is not None
        self.run.immediate_exit = 1
        try:
            fcntl.ioctl(self.vcpu_fd, KVM_RUN, 0)
        except OSError as err:
            if err.errno != errno.EINTR:
                raise KvmError("run", f"KVM_RUN (immediate exit) failed: {err.strerror or err}", err.errno) from err
        finally:
            self.run.immediate_exit = 0

    def close(self) -> None:
        # The ctypes view into kvm_run must go before the mmap can close.
        self.run = None
        if self.run_map is not None:
            self.run_map.close()
            self.run_map = None
        for attr in ("vcpu_fd", "vm_fd"):
            fd = getattr(self, attr)
            if fd >= 0:
                os.close(fd)
                setattr(self, attr, -1)
        if self.mem is not None:
            self.mem.close()
            self.mem = None

    def __enter__(self) -> Vm:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def open_kvm(path: str = KVM_DEVICE) -> Iterator[int]:
    """The /dev/kvm fd, closed on exit. Raises KvmError(stage="open") when it cannot be opened."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError as err:
        raise KvmError("open", f"cannot open {path}: {err.strerror or err}", err.errno) from err
    try:
        yield fd
    finally:
        os.close(fd)


def api_version(kvm_fd: int) -> int:
    return _ioctl_int(kvm_fd, KVM_GET_API_VERSION, 0, "api_version")


def check_extensions(kvm_fd: int, caps: dict[str, int] | None = None) -> dict[str, int | None]:
    """KVM_CHECK_EXTENSION on the system fd for each named capability: 0 = absent, >0 = present
    (some return a count or a bit mask), None = the ioctl itself failed. Never raises."""
    out: dict[str, int | None] = {}
    for name, cap in (KVM_CAPS if caps is None else caps).items():
        try:
            out[name] = fcntl.ioctl(kvm_fd, KVM_CHECK_EXTENSION, cap)
        except OSError:
            out[name] = None
    return out


# mov al, 'K' ; mov dx, 0x3f8 ; out dx, al ; hlt  (16-bit real mode)
PROBE_CODE = bytes([0xB0, ord("K"), 0xBA, 0xF8, 0x03, 0xEE, 0xF4])
PROBE_CODE_ADDR = 0x0  # one 4 KiB page; code at its start
SERIAL_PORT = 0x3F8
MAX_EXITS = 16  # a 4-instruction guest needs 2 exits; more means something is wrong


def _result(stage: str, **kw: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "ok": False,
        "stage": stage,
        "api_version": None,
        "exit_reason": None,
        "elapsed_s": None,
        "guest_output": None,
        "error": None,
        "capabilities": None,  # {"KVM_CAP_...": KVM_CHECK_EXTENSION answer}, once /dev/kvm opened
    }
    out.update(kw)
    return out


def _hint(err: KvmError) -> str:
    if err.errno in (errno.EACCES, errno.EPERM):
        return f"{err}; add the user to the 'kvm' group or run as root"
    if err.errno == errno.ENOENT:
        return f"{err}; the kvm module is not loaded or this is not a KVM-capable host"
    return str(err)


def run_probe_guest(kvm_fd: int, clock: Any = time.perf_counter) -> tuple[str, float, str, VcpuExit]:
    """CREATE_VM -> memory -> vCPU -> run until HLT.

    Returns (stage, seconds from CREATE_VM to the first output, output, last exit).
    """
    t0 = clock()
    first_output_s: float | None = None
    out = bytearray()
    with Vm(kvm_fd) as vm:
        vm.load(PROBE_CODE, PROBE_CODE_ADDR)
        vm.setup_real_mode(PROBE_CODE_ADDR)
        last: VcpuExit | None = None
        for _ in range(MAX_EXITS):
            last = vm.run_once()
            if last.code == KVM_EXIT_IO and last.io_out and last.io_port == SERIAL_PORT:
                if first_output_s is None:
                    first_output_s = clock() - t0
                out += last.io_data or b""
                continue
            break
    assert last is not None
    elapsed = first_output_s if first_output_s is not None else clock() - t0
    return ("done" if last.code == KVM_EXIT_HLT else "run"), elapsed, out.decode("latin-1"), last


def probe_guest(path: str = KVM_DEVICE) -> Lookup:
    """Run a 4-instruction real-mode guest on /dev/kvm; never raises.

    The value is {"ok", "stage", "api_version", "exit_reason", "elapsed_s",
    "guest_output", "error", "capabilities"}; elapsed_s is KVM_CREATE_VM to the guest's first
    byte on the serial port. ok is True only when the guest wrote "K" and halted.
    """
    if not sys.platform.startswith("linux"):
        r = _result("open", error=f"KVM is a Linux interface; this is {sys.platform}")
        return Lookup(r, r["error"])
    version: int | None = None
    caps: dict[str, int | None] | None = None
    try:
        with open_kvm(path) as fd:
            version = api_version(fd)
            if version != KVM_API_VERSION:
                r = _result(
                    "api_version",
                    api_version=version,
                    error=f"KVM_GET_API_VERSION returned {version}, expected {KVM_API_VERSION}",
                )
                return Lookup(r, r["error"])
            caps = check_extensions(fd)
            stage, elapsed, output, last = run_probe_guest(fd)
    except KvmError as err:
        r = _result(err.stage, api_version=version, error=_hint(err), capabilities=caps)
        return Lookup(r, r["error"])
    ok = stage == "done" and output == "K"
    error = None
    if not ok:
        error = f"guest stopped with {last.reason}" + (f": {last.detail}" if last.detail else "")
        if stage == "done":
            error = f"guest halted but wrote {output!r}, expected 'K'"
    r = _result(
        stage if ok else "run",
        ok=ok,
        api_version=version,
        exit_reason=last.reason,
        elapsed_s=elapsed,
        guest_output=output,
        error=error,
        capabilities=caps,
    )
    return Lookup(r, error)
