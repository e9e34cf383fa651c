"""Snapshot restore on /dev/kvm, as Firecracker restores a microVM: guest memory mapped from a file, vCPU
state set back, and the time until the restored guest runs its first instructions.

The guest (16-bit real mode) does a little work, then signals "ready" on port 0xE9.
The VMM then completes the pending exit (KVM_RUN with immediate_exit), saves its
memory to a file and its registers and special registers to another: the snapshot.
A restore opens both, maps the memory file MAP_PRIVATE (lazily, copy-on-write, as
Firecracker's `LoadSnapshot` maps guest memory from its memory file), creates a VM
and a vCPU, sets the state, and runs: the guest resumes after its `out`, reads a byte
it had stored in memory before the snapshot, adds a register it had set, and writes
the sum to the serial port. That exit ends the timing; the byte proves that memory
and vCPU state both came back (a wrong value fails the row). The same guest started
from nothing to the same point is timed beside it (`kvm-boot`).
"""

from __future__ import annotations

import mmap
import os
import struct
import tempfile
import time
from collections.abc import Callable

from virtprobe.benchmark.result import MEASURED, RestoreRow
from virtprobe.machine import kvmapi

CODE_ADDR = 0x8000
DATA_ADDR = 0x9000
READY_PORT = 0xE9
MEMORY_BYTE = 0x5A
REGISTER_BYTE = 0x11
EXPECTED = (MEMORY_BYTE + REGISTER_BYTE) & 0xFF
# Guest memory restored from the file: enough that mapping it is not free (Firecracker's
# smallest guests have 128 MiB), small enough to write quickly.
MEM_BYTES = 64 * 1024 * 1024

GUEST = (
    b"\xb3" + bytes([REGISTER_BYTE])  # mov bl, 0x11
    + b"\xc6\x06" + struct.pack("<H", DATA_ADDR) + bytes([MEMORY_BYTE])  # mov byte [0x9000], 0x5a
    + b"\xe6" + bytes([READY_PORT])  # out 0xe9, al: ready for the snapshot
    # --- resumed here after a restore ---
    + b"\xa0" + struct.pack("<H", DATA_ADDR)  # mov al, [0x9000]
    + b"\x00\xd8"  # add al, bl
    + b"\xba" + struct.pack("<H", kvmapi.SERIAL_PORT)  # mov dx, 0x3f8
    + b"\xee"  # out dx, al
    + b"\xf4"  # hlt
)  # fmt: skip

MEANINGS = {
    "kvm-snapshot": (
        "Restore to first instruction: open the snapshot's memory and vCPU files, map the memory "
        "MAP_PRIVATE, KVM_CREATE_VM, memory slot, vCPU, KVM_SET_SREGS/KVM_SET_REGS, KVM_RUN until the "
        "restored guest's first output (three instructions after it resumes), on /dev/kvm from Python"
    ),
    "kvm-boot": (
        "The same guest started from nothing to the point where the snapshot was taken: KVM_CREATE_VM, "
        "anonymous memory, code loaded, real-mode setup, KVM_RUN until its 'ready' exit. A real guest's "
        "boot (firmware, kernel, init) is what a snapshot saves; this guest has none, so here the two "
        "are close"
    ),
}


def _boot(kvm_fd: int, clock: Callable[[], float]) -> tuple[float, kvmapi.Vm]:
    """Start the guest and run it to its ready exit: (seconds, the running VM)."""
    t0 = clock()
    vm = kvmapi.Vm(kvm_fd, MEM_BYTES)
    try:
        vm.load(GUEST, CODE_ADDR)
        vm.setup_real_mode(CODE_ADDR)
        ex = vm.run_once()
        elapsed = clock() - t0
        if not (ex.code == kvmapi.KVM_EXIT_IO and ex.io_port == READY_PORT):
            raise kvmapi.KvmError("run", f"the guest stopped with {ex.reason} before its ready exit")
        return elapsed, vm
    except BaseException:
        vm.close()
        raise


def save_snapshot(vm: kvmapi.Vm, folder: str) -> tuple[str, str]:
    """Complete the pending exit, then write guest memory and vCPU state: (memory file, state file)."""
    vm.complete_pending()
    regs, sregs = vm.get_regs(), vm.get_sregs()
    assert vm.mem is not None
    mem_path, state_path = os.path.join(folder, "memory"), os.path.join(folder, "vcpu")
    with open(mem_path, "wb") as fh:
        fh.write(vm.mem[:])
    with open(state_path, "wb") as fh:
        fh.write(bytes(regs) + bytes(sregs))
    return mem_path, state_path


def restore(kvm_fd: int, mem_path: str, state_path: str, clock: Callable[[], float]) -> tuple[float, bytes]:
    """Restore the snapshot and run to the guest's first output: (seconds, what it wrote)."""
    t0 = clock()
    with open(state_path, "rb") as fh:
        state = fh.read()
    n_regs = len(bytes(kvmapi.KvmRegs()))
    regs = kvmapi.KvmRegs.from_buffer_copy(state[:n_regs])
    sregs = kvmapi.KvmSregs.from_buffer_copy(state[n_regs:])
    fd = os.open(mem_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        backing = mmap.mmap(fd, MEM_BYTES, flags=mmap.MAP_PRIVATE, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    finally:
        os.close(fd)
    with kvmapi.Vm(kvm_fd, MEM_BYTES, backing=backing) as vm:
        vm.set_sregs(sregs)
        vm.set_regs(regs)
        ex = vm.run_once()
        elapsed = clock() - t0
    if not (ex.code == kvmapi.KVM_EXIT_IO and ex.io_out and ex.io_port == kvmapi.SERIAL_PORT):
        raise kvmapi.KvmError("run", f"the restored guest stopped with {ex.reason}, not its first output")
    return elapsed, ex.io_data or b""


def measure(
    samples: int, device: str = kvmapi.KVM_DEVICE, clock: Callable[[], float] = time.perf_counter
) -> tuple[RestoreRow, RestoreRow]:
    """(kvm-snapshot, kvm-boot) rows, `samples` each: one snapshot, restored `samples` times."""
    boot: list[float] = []
    restored: list[float] = []
    with kvmapi.open_kvm(device) as kvm_fd, tempfile.TemporaryDirectory(prefix="virtprobe-snap-") as tmp:
        elapsed, vm = _boot(kvm_fd, clock)  # a first boot warms the module's paths and is not kept
        with vm:
            mem_path, state_path = save_snapshot(vm, tmp)
        restore(kvm_fd, mem_path, state_path, clock)  # likewise, a first restore
        for _ in range(samples):
            elapsed, vm = _boot(kvm_fd, clock)
            vm.close()
            boot.append(elapsed)
            elapsed, out = restore(kvm_fd, mem_path, state_path, clock)
            if out != bytes([EXPECTED]):
                raise kvmapi.KvmError(
                    "run",
                    f"the restored guest wrote {out!r}, expected {bytes([EXPECTED])!r}: its state did not come back",
                )
            restored.append(elapsed)
    mem = MEM_BYTES
    return (
        RestoreRow(
            "kvm-snapshot",
            "KVM snapshot restore (this machine)",
            MEASURED,
            tuple(restored),
            MEANINGS["kvm-snapshot"],
            memory_bytes=mem,
        ),
        RestoreRow(
            "kvm-boot",
            "The same guest, booted (this machine)",
            MEASURED,
            tuple(boot),
            MEANINGS["kvm-boot"],
            memory_bytes=mem,
        ),
    )
