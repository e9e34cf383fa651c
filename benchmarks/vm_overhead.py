"""virtprobe's VM measurements against reference tools: prints ratios and PASS/FAIL (issue #4).

1. QEMU launch to exit as virtprobe measures it (vm_qemu.boot_once) / the same
   QEMU command line timed by hyperfine: target <= 1.05. Both use the
   accelerator virtprobe settles on (TCG on hosts where KVM cannot boot a
   stock kernel), and runs alternate in ABBA order so drift and position
   effects hit both alike.
2. virtprobe's KVM floor (kvmapi.run_probe_guest: CREATE_VM -> memory ->
   vCPU -> first output) / a minimal ioctl sequence written inline below with
   no classes or decoding: information, expected close to 1.

Run: .venv/bin/python benchmarks/vm_overhead.py [--runs N] [--kernel PATH]   (exit 1 on a FAIL)
"""

from __future__ import annotations

import argparse
import ctypes
import fcntl
import json
import mmap
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from virtprobe.benchmark.guest import initramfs as vm_initramfs
from virtprobe.benchmark.vm import kernel as vm_kernel
from virtprobe.benchmark.vm import qemu as vm_qemu
from virtprobe.machine import kvmapi

QEMU_TARGET = 1.05


def qemu_ratio(runs: int, kernel: str | None) -> bool:
    exe = vm_qemu.find_qemu()
    kpath = vm_qemu.find_kernel(kernel, os.environ)
    hyperfine = shutil.which("hyperfine")
    if hyperfine is None:
        print("1. QEMU launch->exit: SKIP (hyperfine not installed)")
        return True
    with tempfile.TemporaryDirectory(prefix="virtprobe-vmbench-") as tmp:
        initrd = Path(tmp) / "initramfs.cpio"
        initrd.write_bytes(vm_initramfs.build_initramfs())
        # Decide the accelerator the way virtprobe does, then time that command line.
        probe = vm_qemu.measure(1, kpath, exe, try_kvm=vm_qemu.kvm_usable() is None)
        booted = vm_kernel.prepare(kpath, Path(tmp))  # the same vmlinux (PVH) or bzImage virtprobe boots
        cmd = vm_qemu.build_command(exe, booted.path, initrd, probe.accel, tsc_khz=vm_qemu.read_tsc_khz())
        ours: list[float] = []
        theirs: list[float] = []
        out = Path(tmp) / "hf.json"

        def virtprobe_boot() -> str | None:
            b = vm_qemu.boot_once(cmd, vm_qemu.BOOT_TIMEOUT_S)
            if not b.ok or b.exit_s is None:
                return b.error or "no exit time"
            ours.append(b.exit_s)
            return None

        def hyperfine_boot() -> str | None:
            subprocess.run(
                # --output=pipe: virtprobe must read the serial console through a pipe to
                # see the ready marker; with hyperfine's default (/dev/null) QEMU's
                # writes cost less, and the two would not time the same thing.
                [hyperfine, "-N", "--output=pipe", "--runs", "1", "--export-json", str(out), "--", shlex.join(cmd)],
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            theirs.extend(json.loads(out.read_text())["results"][0]["times"])
            return None

        for i in range(runs):
            # Counterbalanced order: here the first boot of each pair ran about 5%
            # slower than the second (seen by rotating four variants), so a fixed
            # order measured the position, not virtprobe's overhead.
            for step in (virtprobe_boot, hyperfine_boot) if i % 2 == 0 else (hyperfine_boot, virtprobe_boot):
                failed = step()
                if failed:
                    print(f"1. QEMU launch->exit: FAIL (boot failed: {failed})")
                    return False
    a, h = statistics.median(ours), statistics.median(theirs)
    ratio = a / h
    verdict = "PASS" if ratio <= QEMU_TARGET else "FAIL"
    print(
        f"1. QEMU launch->exit ({probe.accel}, n={runs}): virtprobe median {a * 1000:.1f} ms, "
        f"hyperfine median {h * 1000:.1f} ms, ratio {ratio:.3f} (target <= {QEMU_TARGET}) {verdict}"
    )
    return verdict == "PASS"


def inline_floor(kvm_fd: int) -> float:
    """The minimal sequence: CREATE_VM, one page, SET_USER_MEMORY_REGION, CREATE_VCPU, sregs/regs, KVM_RUN."""
    t0 = time.perf_counter()
    vm_fd = fcntl.ioctl(kvm_fd, kvmapi.KVM_CREATE_VM, 0)
    mem = mmap.mmap(-1, 0x1000)
    mem[: len(kvmapi.PROBE_CODE)] = kvmapi.PROBE_CODE
    view = ctypes.c_char.from_buffer(mem)
    region = kvmapi.KvmUserspaceMemoryRegion(0, 0, 0, 0x1000, ctypes.addressof(view))
    fcntl.ioctl(vm_fd, kvmapi.KVM_SET_USER_MEMORY_REGION, region)
    vcpu_fd = fcntl.ioctl(vm_fd, kvmapi.KVM_CREATE_VCPU, 0)
    size = fcntl.ioctl(kvm_fd, kvmapi.KVM_GET_VCPU_MMAP_SIZE, 0)
    run_map = mmap.mmap(vcpu_fd, size, flags=mmap.MAP_SHARED)
    sregs = kvmapi.KvmSregs()
    fcntl.ioctl(vcpu_fd, kvmapi.KVM_GET_SREGS, sregs, True)
    sregs.cs.base = 0
    sregs.cs.selector = 0
    fcntl.ioctl(vcpu_fd, kvmapi.KVM_SET_SREGS, sregs)
    regs = kvmapi.KvmRegs()
    regs.rip = 0
    regs.rflags = 2
    fcntl.ioctl(vcpu_fd, kvmapi.KVM_SET_REGS, regs)
    fcntl.ioctl(vcpu_fd, kvmapi.KVM_RUN, 0)  # the first exit is the `out`: first output
    elapsed = time.perf_counter() - t0
    reason = int.from_bytes(run_map[8:12], "little")
    assert reason == kvmapi.KVM_EXIT_IO, reason
    del view
    run_map.close()
    mem.close()
    os.close(vcpu_fd)
    os.close(vm_fd)
    return elapsed


def floor_ratio(runs: int) -> bool:
    if kvmapi.probe_guest().value["ok"] is not True:
        print("2. KVM floor: SKIP (/dev/kvm unusable)")
        return True
    ours: list[float] = []
    theirs: list[float] = []
    with kvmapi.open_kvm() as fd:
        inline_floor(fd)
        kvmapi.run_probe_guest(fd)  # warm both paths
        for _ in range(runs):
            ours.append(kvmapi.run_probe_guest(fd)[1])
            theirs.append(inline_floor(fd))
    a, b = statistics.median(ours), statistics.median(theirs)
    print(
        f"2. KVM floor (n={runs}): virtprobe median {a * 1e6:.0f} us, inline ioctl loop median "
        f"{b * 1e6:.0f} us, ratio {a / b:.3f} (information)"
    )
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # TCG boots here vary by about 10% run to run: 5 runs per side left the ratio
    # wandering between 1.00 and 1.10 with no real difference between the two sides.
    ap.add_argument("--runs", type=int, default=15, help="QEMU boots per side (each about 1.5-3.5 s)")
    ap.add_argument("--floor-runs", type=int, default=200)
    ap.add_argument("--kernel", default=None)
    args = ap.parse_args()
    ok = qemu_ratio(args.runs, args.kernel)
    ok = floor_ratio(args.floor_runs) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
