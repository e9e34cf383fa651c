"""`--hwvirt`: hardware virtualization measured directly on /dev/kvm, with no QEMU in the way.

Three figures test the common claim that guests "run at near-native speed,
only trapping back to the hypervisor for sensitive resources":
1. the VM floor: KVM_CREATE_VM -> memory -> vCPU -> the guest's first output;
2. the VM-exit round trip: a guest doing M port writes, each one a trap to us,
   with a null-ioctl loop measured alongside so the Python cost can be taken
   out (raw and net figures);
3. near-native speed: the same bytes of machine code (a register-only loop
   whose encoding means the same in 32- and 64-bit mode) run natively through
   ctypes and inside a 64-bit guest, timed from KVM_RUN to the exit that ends
   the loop. It runs twice in the guest: at CPL 3 (guest user mode) and CPL 0
   (guest kernel mode), because some KVM implementations (kvm_pvm) run the
   first directly on the CPU and emulate the second.
"""

from __future__ import annotations

import ctypes
import fcntl
import mmap
import struct
import time
from collections.abc import Callable
from pathlib import Path

from virtprobe import stats
from virtprobe.benchmark.result import ExitRoundTrip, HwvirtSection, NearNative, VmFloor
from virtprobe.detection.model import KvmResult
from virtprobe.machine import kvmapi

EXIT_PORT = 0xE9  # the loop's trap port
DONE_PORT = 0x3F9  # "finished": the guest's last write
EXITS_PER_SAMPLE = 5000
TARGET_S = 0.05  # grow the compute loop until one run takes about this long
MAX_ITERATIONS = 400_000_000
START_ITERATIONS = 20_000

# The compute loop, identical bytes in the guest and natively:
#   xor eax, eax ; xor edx, edx ; mov ecx, N
#   1: add eax, ecx ; xor edx, eax ; dec ecx ; jnz 1b
# Registers only, so the only difference between the two runs is where it runs.
LOOP_PROLOGUE = bytes.fromhex("31c0 31d2")
LOOP_BODY = bytes.fromhex("01c8 31c2 ffc9 75f8")  # jnz -8: back to `add`
NATIVE_EPILOGUE = bytes.fromhex("c3")  # ret (eax is the return value)
# mov dx, DONE_PORT ; out dx, al -> the guest's final exit
GUEST_EPILOGUE = b"\x66\xba" + struct.pack("<H", DONE_PORT) + b"\xee"

MEANINGS = {
    "vm_floor": (
        "What hardware virtualization itself costs to start: a VM with 4 KiB of RAM and one vCPU, "
        "from KVM_CREATE_VM to its first output. Everything a real VM takes beyond this (VMM process, "
        "firmware, kernel boot, init) is software on top, not the hardware."
    ),
    "exit_round_trip": (
        "What one trap to the hypervisor costs: the guest writes to an I/O port, the CPU exits to the "
        "kernel, KVM returns to this Python VMM, which resumes the guest. 'net' takes out the cost of "
        "a null ioctl from Python. This is the price paid on every access to an emulated device "
        "(disk, network), the 'sensitive resources' of the claim."
    ),
    "near_native": (
        "Whether guest code that touches no device runs at the CPU's own speed: ratio = time per loop "
        "iteration in the guest / natively (1.00 = native). User mode (CPL 3) is where application "
        "code runs; kernel mode (CPL 0) is where a guest kernel runs."
    ),
}


def kvm_module(root: Path = Path("/")) -> str | None:
    """Which KVM implementation backs /dev/kvm: kvm_intel, kvm_amd, kvm_pvm, or None."""
    for name in ("kvm_pvm", "kvm_intel", "kvm_amd"):
        if (root / "sys/module" / name).exists():
            return name
    return None


def compute_code(iterations: int, epilogue: bytes) -> bytes:
    if not 0 < iterations < 2**32:
        raise ValueError("iterations must fit in ecx")
    return LOOP_PROLOGUE + b"\xb9" + struct.pack("<I", iterations) + LOOP_BODY + epilogue


def expected_checksum(iterations: int) -> int:
    """eax after the loop, computed in Python: proves both runs did the same work."""
    eax = edx = 0
    for ecx in range(iterations, 0, -1):
        eax = (eax + ecx) & 0xFFFFFFFF
        edx ^= eax
    return eax


def exit_loop_code_real_mode(exits: int) -> bytes:
    """16-bit real-mode code: `exits` writes to EXIT_PORT, then one to DONE_PORT (exits < 65536)."""
    if not 0 < exits < 0x10000:
        raise ValueError("a real-mode loop counts in cx")
    return (
        b"\xb9" + struct.pack("<H", exits)  # mov cx, exits
        + b"\xba" + struct.pack("<H", EXIT_PORT)  # mov dx, EXIT_PORT
        + b"\xee"  # 1: out dx, al
        + b"\x49"  # dec cx
        + b"\x75\xfc"  # jnz 1b (-4)
        + b"\xba" + struct.pack("<H", DONE_PORT)  # mov dx, DONE_PORT
        + b"\xee"  # out dx, al
    )  # fmt: skip


def exit_loop_code(exits: int) -> bytes:
    """64-bit code: `exits` writes to EXIT_PORT, then one to DONE_PORT."""
    return (
        b"\xb9" + struct.pack("<I", exits)  # mov ecx, exits
        + b"\x66\xba" + struct.pack("<H", EXIT_PORT)  # mov dx, EXIT_PORT
        + b"\xee"  # 1: out dx, al
        + b"\xff\xc9"  # dec ecx
        + b"\x75\xfb"  # jnz 1b (-5)
        + GUEST_EPILOGUE
    )  # fmt: skip


class NativeCode:
    """Machine code in an executable anonymous mapping, callable through ctypes."""

    def __init__(self, code: bytes) -> None:
        prot = mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC
        self._map = mmap.mmap(-1, max(4096, len(code)), prot=prot)
        self._map[: len(code)] = code
        view = ctypes.c_char.from_buffer(self._map)
        addr = ctypes.addressof(view)
        del view
        self.fn = ctypes.CFUNCTYPE(ctypes.c_uint32)(addr)

    def close(self) -> None:
        del self.fn
        self._map.close()


def time_native(iterations: int, clock: Callable[[], float] = time.perf_counter) -> tuple[float, int]:
    code = NativeCode(compute_code(iterations, NATIVE_EPILOGUE))
    try:
        t0 = clock()
        result = code.fn()
        return clock() - t0, int(result)
    finally:
        code.close()


def time_guest(
    kvm_fd: int, iterations: int, user: bool, clock: Callable[[], float] = time.perf_counter
) -> tuple[float, int, str]:
    """Seconds from KVM_RUN to the guest's DONE_PORT exit, eax, and how it ended."""
    with kvmapi.Vm(kvm_fd, kvmapi.LONG_MODE_MEM_BYTES) as vm:
        vm.load(compute_code(iterations, GUEST_EPILOGUE), kvmapi.LONG_MODE_CODE_ADDR)
        vm.setup_long_mode(kvmapi.LONG_MODE_CODE_ADDR, user=user)
        t0 = clock()
        ex = vm.run_once()
        elapsed = clock() - t0
        ended = ex.reason if not (ex.code == kvmapi.KVM_EXIT_IO and ex.io_port == DONE_PORT) else "done"
        if ended != "done":
            detail = f": {ex.detail}" if ex.detail else ""
            raise kvmapi.KvmError("run", f"compute guest stopped with {ex.reason}{detail}")
        return elapsed, int(vm.get_regs().rax) & 0xFFFFFFFF, ended


def _calibrate(run: Callable[[int], float], target_s: float = TARGET_S) -> int:
    """Grow the iteration count until one run takes about target_s (emulated code needs far fewer)."""
    n = START_ITERATIONS
    while True:
        t = run(n)
        if t >= target_s / 4 or n >= MAX_ITERATIONS:
            scale = target_s / t if t > 0 else 1.0
            return max(START_ITERATIONS // 10, min(MAX_ITERATIONS, int(n * scale)))
        n = min(MAX_ITERATIONS, n * 8)


def measure_floor(kvm_fd: int, samples: int) -> list[float]:
    out = []
    for _ in range(samples):
        stage, elapsed, output, last = kvmapi.run_probe_guest(kvm_fd)
        if stage != "done" or output != "K":
            raise kvmapi.KvmError("run", f"probe guest stopped with {last.reason}")
        out.append(elapsed)
    return out


REAL_MODE_CODE_ADDR = 0x8000  # real-mode IP is 16 bits: the code must sit below 64 KiB


def measure_exits(
    kvm_fd: int, exits: int, clock: Callable[[], float] = time.perf_counter, real_mode: bool = False
) -> tuple[float, float]:
    """(raw seconds per exit, seconds per null ioctl), one sample each."""
    with kvmapi.Vm(kvm_fd, kvmapi.LONG_MODE_MEM_BYTES) as vm:
        if real_mode:
            vm.load(exit_loop_code_real_mode(exits), REAL_MODE_CODE_ADDR)
            vm.setup_real_mode(REAL_MODE_CODE_ADDR)
        else:
            vm.load(exit_loop_code(exits), kvmapi.LONG_MODE_CODE_ADDR)
            vm.setup_long_mode(kvmapi.LONG_MODE_CODE_ADDR, user=True)
        return _exit_loops(vm, exits, clock)


def _exit_loops(vm: kvmapi.Vm, exits: int, clock: Callable[[], float]) -> tuple[float, float]:
    assert vm.run is not None
    run = vm.run
    try:
        ioctl = fcntl.ioctl
        fd = vm.vcpu_fd
        req = kvmapi.KVM_RUN
        bad = 0
        # The tightest VMM loop Python allows: resume, check why it exited.
        t0 = clock()
        for _ in range(exits):
            ioctl(fd, req, 0)
            if run.exit_reason != kvmapi.KVM_EXIT_IO:
                bad += 1
        raw = (clock() - t0) / exits
        last = vm.run_once()
        if bad or last.io_port != DONE_PORT:
            detail = f": {last.detail}" if last.detail else ""
            raise kvmapi.KvmError("run", f"exit loop misbehaved: {bad} non-I/O exits, last {last.reason}{detail}")
        # The same loop around an ioctl that does no work: what Python alone costs.
        req_null = kvmapi.KVM_CHECK_EXTENSION
        cap = kvmapi.KVM_CAP_USER_MEMORY
        vm_fd = vm.vm_fd
        t0 = clock()
        for _ in range(exits):
            ioctl(vm_fd, req_null, cap)
            if run.exit_reason != kvmapi.KVM_EXIT_IO:
                bad += 1
        null = (clock() - t0) / exits
        return raw, null
    finally:
        del run  # a live ctypes view into kvm_run would stop its mmap from closing


def _exit_round_trip(kvm_fd: int, samples: int, real_mode: bool) -> ExitRoundTrip:
    raw: list[float] = []
    null: list[float] = []
    for _ in range(samples):
        r, n = measure_exits(kvm_fd, EXITS_PER_SAMPLE, real_mode=real_mode)
        raw.append(r)
        null.append(n)
    net = [r - n for r, n in zip(raw, null, strict=True)]
    guest = (
        "16-bit real mode (the VM floor's guest): out dx, al in a loop"
        if real_mode
        else "64-bit user mode (CPL 3, IOPL 3): out dx, al in a loop"
    )
    return ExitRoundTrip(
        exits_per_sample=EXITS_PER_SAMPLE,
        guest=guest,
        meaning=MEANINGS["exit_round_trip"],
        raw_per_exit_s=tuple(raw),
        null_ioctl_per_call_s=tuple(null),
        net_per_exit_s=tuple(net),
    )


def _near_native(kvm_fd: int, samples: int) -> NearNative:
    n_native = _calibrate(lambda n: time_native(n)[0])
    n_user = _calibrate(lambda n: time_guest(kvm_fd, n, user=True)[0])
    n_kernel = _calibrate(lambda n: time_guest(kvm_fd, n, user=False)[0])
    native: list[float] = []
    user: list[float] = []
    kernel: list[float] = []
    checks: set[bool] = set()
    for _ in range(samples):
        t, r = time_native(n_native)
        native.append(t / n_native)
        checks.add(r == expected_checksum_fast(n_native))
        t, r, _ = time_guest(kvm_fd, n_user, user=True)
        user.append(t / n_user)
        checks.add(r == expected_checksum_fast(n_user))
        t, r, _ = time_guest(kvm_fd, n_kernel, user=False)
        kernel.append(t / n_kernel)
        checks.add(r == expected_checksum_fast(n_kernel))
    med_native = stats.summarize(native).median
    ratio_user = (stats.summarize(user).median or 0) / med_native if med_native else None
    ratio_kernel = (stats.summarize(kernel).median or 0) / med_native if med_native else None
    return NearNative(
        iterations={"native": n_native, "guest_user": n_user, "guest_kernel": n_kernel},
        native_per_iteration_s=tuple(native),
        guest_user_per_iteration_s=tuple(user),
        guest_kernel_per_iteration_s=tuple(kernel),
        ratio_user=ratio_user,
        ratio_kernel=ratio_kernel,
        same_result=checks == {True},
        meaning=MEANINGS["near_native"],
        verdict=_near_native_verdict(ratio_user, ratio_kernel),
    )


def expected_checksum_fast(iterations: int) -> int:
    """expected_checksum without the loop: eax = sum(1..N) mod 2^32 (edx is not checked)."""
    return (iterations * (iterations + 1) // 2) & 0xFFFFFFFF


def _near_native_verdict(ratio_user: float | None, ratio_kernel: float | None) -> str:
    def word(r: float | None) -> str:
        if r is None:
            return "unknown"
        if r <= 1.10:
            return f"{r:.2f}x native: near-native"
        if r <= 2.0:
            return f"{r:.2f}x native: slower than native"
        return f"{r:.0f}x native: not near-native (emulated or heavily trapped)"

    return f"guest user mode {word(ratio_user)}; guest kernel mode {word(ratio_kernel)}"


PVM_NOTE = (
    "kvm_pvm (Pagetable-based Virtual Machine) provides /dev/kvm here, on a host that has no "
    "VMX/SVM of its own: guest user mode runs on the CPU, while guest kernel-mode code not "
    "written for PVM is emulated instruction by instruction; compare ratio_user and ratio_kernel, "
    "and the exit cost from 64-bit user mode against that from (emulated) real mode"
)


def hwvirt(
    samples: int,
    *,
    device: str = kvmapi.KVM_DEVICE,
    kvm: KvmResult | None = None,
    progress: Callable[[str], None] | None = None,
) -> HwvirtSection:
    """The `hwvirt` report section. A missing or broken KVM gives available False and a reason.

    `kvm` is detect's verdict when the caller has one (bench does): then /dev/kvm is not
    probed a second time, and detect's module name is the one reported.
    """
    say = progress or (lambda _m: None)
    samples = max(1, samples)
    module = kvm.module if kvm is not None else kvm_module()

    def unavailable(reason: str) -> HwvirtSection:
        return HwvirtSection(available=False, reason=reason, kvm_module=module)

    if kvm is not None and not kvm.usable:
        return unavailable(f"/dev/kvm unusable: {kvm.reason or 'detect could not run a guest'}")
    if kvm is None:
        probe = kvmapi.probe_guest(device)
        if not probe.value["ok"]:
            return unavailable(f"/dev/kvm unusable at stage {probe.value['stage']}: {probe.value['error']}")
    try:
        with kvmapi.open_kvm(device) as fd:
            say("hwvirt: VM floor")
            kvmapi.run_probe_guest(fd)  # warm-up: first-use costs (page faults, module paths)
            floor = VmFloor(
                samples_s=tuple(measure_floor(fd, samples)),
                guest="16-bit real mode, 4 KiB RAM: mov al,'K'; out 0x3f8,al; hlt",
                meaning=MEANINGS["vm_floor"],
            )
            say("hwvirt: VM-exit round trip")
            exits = _exit_round_trip(fd, samples, real_mode=False)
            exits_real = _exit_round_trip(fd, samples, real_mode=True)
            say("hwvirt: near-native speed")
            near = _near_native(fd, samples)
    except kvmapi.KvmError as err:
        return unavailable(f"KVM failed at stage {err.stage}: {err}")
    except OSError as err:  # PROT_EXEC mmap refused (a hardened kernel), or similar
        return unavailable(f"cannot run native code for the comparison: {err}")
    return HwvirtSection(
        available=True,
        reason=None,
        kvm_module=module,
        vm_floor=floor,
        exit_round_trip=exits,
        exit_round_trip_real_mode=exits_real,
        near_native=near,
        notes=(PVM_NOTE,) if module == "kvm_pvm" else (),
    )
