"""Boot a real Linux kernel under QEMU with a generated initramfs; time launch to ready and exit, and memory.

One boot: QEMU starts in its own session (so its whole process group can be
killed), the guest's /init writes READY_MARKER to the serial port (QEMU's
stdout) and powers off. virtprobe times launch -> marker and launch -> exit,
reads the QEMU process's RSS and PSS when the marker arrives
(/proc/<pid>/smaps_rollup), and its peak RSS from wait4()'s ru_maxrss, which
the kernel keeps exactly, unlike any sampling.

Acceleration: KVM is tried first. Some hosts expose /dev/kvm but cannot run a
stock kernel: under kvm_pvm the guest's kernel mode is emulated, the boot
crawls for about a minute, then QEMU prints "KVM internal error. Suberror: 1 /
emulation failure" and hangs instead of exiting (MEASURED.md). So stderr is
watched for those lines, the boot has a timeout, and on either the process
group is killed, the reason is recorded, and the run falls back to TCG, whose
rows are labelled as software emulation.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from virtprobe.benchmark.guest.initramfs import READY_MARKER, build_initramfs
from virtprobe.benchmark.result import MEASURED, VmBaseline, VmMemory
from virtprobe.benchmark.vm import kernel as vm_kernel
from virtprobe.detection.kvm import PVM_GUEST_NOTE
from virtprobe.detection.model import KvmResult
from virtprobe.errors import UnrunnableError

QEMU_BINARY = "qemu-system-x86_64"
GUEST_RAM_MIB = 128
KVM_TIMEOUT_S = 6.0  # a working KVM boot of this guest takes well under a second; a hung one spins forever
BOOT_TIMEOUT_S = 60.0  # TCG takes 1.4-3.5 s here; generous for a loaded CI machine
KILL_GRACE_S = 0.3  # after a fatal stderr line, let QEMU finish printing the register dump
TCG_NOTE = "software emulation (TCG): not representative of hardware virtualization"

KERNEL_HELP = (
    "no readable guest kernel: pass --kernel PATH or set VIRTPROBE_KERNEL; on Debian: "
    "apt-get download linux-image-cloud-amd64 && dpkg-deb -x linux-image-cloud-amd64_*.deb kernel/ "
    "(the kernel is then kernel/boot/vmlinuz-*)"
)

# Lines on QEMU's stderr that mean the KVM guest is dead even if QEMU keeps running.
KVM_FATAL_PATTERNS = (
    re.compile(rb"KVM internal error"),
    re.compile(rb"emulation failure"),
    re.compile(rb"failed to initialize kvm", re.IGNORECASE),
    re.compile(rb"Could not access KVM kernel module"),
    re.compile(rb"KVM: entry failed"),
)


def parse_tsc_khz(cpuinfo: str) -> int | None:
    """The host TSC frequency in kHz from /proc/cpuinfo's first "cpu MHz", or None.

    The guest's early TSC calibration against the PIT can hang under microvm
    (there is no PIT to speak of; MEASURED.md saw 1 boot in 10 hang), so we hand
    it the host figure with tsc_early_khz=. Only meaningful with constant_tsc.
    """
    mhz: float | None = None
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "cpu MHz" and mhz is None:
            try:
                mhz = float(value.strip())
            except ValueError:
                return None
        elif key == "flags" and not flags:
            flags = set(value.split())
    if mhz is None or mhz <= 0 or "constant_tsc" not in flags:
        return None
    return round(mhz * 1000)


def read_tsc_khz(root: Path = Path("/")) -> int | None:
    try:
        return parse_tsc_khz((root / "proc/cpuinfo").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None


def find_kernel(kernel: str | None, env: Mapping[str, str], boot_dir: Path = Path("/boot")) -> Path:
    """--kernel, else $VIRTPROBE_KERNEL, else the newest readable /boot/vmlinuz-*, else UnrunnableError."""
    for given, what in ((kernel, "--kernel"), (env.get("VIRTPROBE_KERNEL"), "VIRTPROBE_KERNEL")):
        if given:
            p = Path(given)
            if not p.is_file():
                raise UnrunnableError(f"{what} {p}: not a file. {KERNEL_HELP}")
            if not os.access(p, os.R_OK):
                raise UnrunnableError(f"{what} {p}: not readable (try as root). {KERNEL_HELP}")
            return p
    try:
        candidates = sorted(boot_dir.glob("vmlinuz-*"), reverse=True)
    except OSError:
        candidates = []
    for p in candidates:
        if p.is_file() and os.access(p, os.R_OK):
            return p
    raise UnrunnableError(KERNEL_HELP)


def find_qemu(qemu: str | None = None) -> str:
    exe = qemu or shutil.which(QEMU_BINARY)
    if exe is None or not os.access(exe, os.X_OK):
        raise UnrunnableError(
            f"{qemu or QEMU_BINARY} not found: install it, e.g. apt-get install --no-install-recommends qemu-system-x86"
        )
    return exe


def build_command(
    qemu: str,
    kernel: Path,
    initrd: Path,
    accel: str,
    machine: str = "microvm",
    mem_mib: int = GUEST_RAM_MIB,
    tsc_khz: int | None = None,
) -> list[str]:
    append = "console=ttyS0 panic=-1 quiet"
    if tsc_khz:
        append += f" tsc_early_khz={tsc_khz}"
    return [
        qemu,
        "-M", machine,
        "-accel", accel,
        "-m", str(mem_mib),
        "-kernel", str(kernel),
        "-initrd", str(initrd),
        "-append", append,
        "-nographic", "-nodefaults",
        "-serial", "stdio",
        "-no-reboot",
        "-nic", "none",
    ]  # fmt: skip


@dataclass(frozen=True)
class BootResult:
    ok: bool
    ready_s: float | None  # launch -> marker on the serial port
    exit_s: float | None  # launch -> QEMU exited (or was killed)
    peak_rss_bytes: int | None  # wait4 ru_maxrss
    rss_at_ready_bytes: int | None
    pss_at_ready_bytes: int | None
    returncode: int | None
    killed: bool
    error: str | None  # why it failed: the fatal stderr line, or the timeout
    stderr_tail: str = ""


def _smaps_rollup(pid: int) -> tuple[int | None, int | None]:
    """(Rss, Pss) in bytes from /proc/<pid>/smaps_rollup (Linux 4.14+), or Nones."""
    rss = pss = None
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1]) * 1024
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None, None
    return rss, pss


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    # start_new_session=True made QEMU a session and group leader: pgid == pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _reap(proc: subprocess.Popen[bytes]) -> tuple[int | None, int | None]:
    """Wait for the process with wait4 to get its peak RSS; returns (returncode, maxrss_bytes)."""
    try:
        _, status, ru = os.wait4(proc.pid, 0)
    except ChildProcessError:
        proc.wait()
        return proc.returncode, None
    proc.returncode = os.waitstatus_to_exitcode(status)
    # Linux reports ru_maxrss in KiB (getrusage(2)).
    return proc.returncode, ru.ru_maxrss * 1024


def boot_once(
    cmd: list[str],
    timeout_s: float,
    marker: bytes = READY_MARKER.rstrip(b"\n"),  # the guest tty turns "\n" into "\r\n" (onlcr)
    watch_kvm_errors: bool = False,
    clock: Callable[[], float] = time.perf_counter,
) -> BootResult:
    """Run one QEMU boot to exit; kill its process group on a fatal stderr line, a timeout or Ctrl-C."""
    out = bytearray()
    err = bytearray()
    ready_s: float | None = None
    rss = pss = None
    error: str | None = None
    killed = False
    t0 = clock()
    try:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as e:
        raise UnrunnableError(f"cannot start {cmd[0]}: {e.strerror or e}") from e
    assert proc.stdout is not None and proc.stderr is not None
    sel = selectors.DefaultSelector()
    reaped = False
    try:
        sel.register(proc.stdout, selectors.EVENT_READ, out)
        sel.register(proc.stderr, selectors.EVENT_READ, err)
        deadline = t0 + timeout_s
        kill_at: float | None = None
        while sel.get_map():
            now = clock()
            if kill_at is not None and now >= kill_at:
                break
            if now >= deadline:
                error = f"timed out after {timeout_s:g} s" + (
                    " without the ready marker" if ready_s is None else " after the ready marker"
                )
                break
            wait = min(deadline, kill_at or deadline) - now
            for key, _ in sel.select(timeout=max(0.0, wait)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                buf: bytearray = key.data
                buf += chunk
                if buf is out and ready_s is None and marker in out:
                    ready_s = clock() - t0
                    rss, pss = _smaps_rollup(proc.pid)
                if buf is err and watch_kvm_errors and kill_at is None:
                    for pat in KVM_FATAL_PATTERNS:
                        m = pat.search(err)
                        if m:
                            line_end = err.find(b"\n", m.start())
                            line = err[m.start() : line_end if line_end >= 0 else len(err)]
                            error = "QEMU stderr: " + line.decode("utf-8", "replace").strip()
                            kill_at = clock() + KILL_GRACE_S
                            break
        # Still running (hung after an error, or past the deadline): kill the whole group.
        if (sel.get_map() or error is not None) and proc.poll() is None:
            _kill_group(proc)
            killed = True
        returncode, peak = _reap(proc)
        reaped = True
        exit_s = clock() - t0
    finally:
        sel.close()
        if not reaped:
            # Ctrl-C or a bug mid-boot: leave nothing running.
            _kill_group(proc)
            with contextlib.suppress(ChildProcessError):
                proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    if error is None and ready_s is None:
        error = f"QEMU exited with code {returncode} without the ready marker"
    ok = error is None and ready_s is not None
    tail = err[-2000:].decode("utf-8", "replace")
    return BootResult(ok, ready_s, exit_s, peak, rss, pss, returncode, killed, error, tail)


def _unusable_reason(kvm: KvmResult) -> str | None:
    """None when detect proved /dev/kvm runs a guest, else why QEMU will not try it."""
    if kvm.usable:
        return None
    return f"detect found /dev/kvm unusable: {kvm.reason or 'no reason recorded'}"


def kvm_usable(dev: str = "/dev/kvm") -> str | None:
    """None when /dev/kvm can be opened read-write, else the reason it cannot."""
    if not os.path.exists(dev):
        return f"{dev} not present"
    if not os.access(dev, os.R_OK | os.W_OK):
        return f"{dev} not accessible to this user"
    return None


@dataclass(frozen=True)
class QemuRun:
    accel: str
    machine: str
    kvm_fallback_reason: str | None
    boots: tuple[BootResult, ...]
    command: tuple[str, ...]  # with placeholders for the generated initramfs and the kernel's path
    kernel_path: str = ""
    kernel_note: str = ""  # vm_kernel.BootKernel.note: which image booted, through which entry


def measure(
    runs: int,
    kpath: Path,
    exe: str,
    *,
    kvm_timeout_s: float = KVM_TIMEOUT_S,
    boot_timeout_s: float = BOOT_TIMEOUT_S,
    try_kvm: bool = True,
    kvm: KvmResult | None = None,
    progress: Callable[[str], None] | None = None,
) -> QemuRun:
    """Boot the guest kernel `kpath` with the QEMU binary `exe` `runs` times (KVM if it works, else TCG).

    Both were found beforehand (find_kernel and find_qemu: bench's VM preflight, vm/baselines.py).
    `kvm` is detect's verdict on /dev/kvm when the caller has one (bench does): a KVM
    that detect proved unusable is not tried again, and its reason is the fallback's.
    """
    if runs < 1:
        raise ValueError("runs must be at least 1")
    say = progress or (lambda _msg: None)
    tsc_khz = read_tsc_khz()
    with tempfile.TemporaryDirectory(prefix="virtprobe-vm-") as tmp:
        initrd = Path(tmp) / "initramfs.cpio"
        initrd.write_bytes(build_initramfs())
        boot_kernel = vm_kernel.prepare(kpath, Path(tmp))
        say(f"qemu: {boot_kernel.note}")
        kboot = boot_kernel.path
        accel = "tcg"
        reason: str | None = None
        first: BootResult | None = None
        if try_kvm:
            reason = kvm_usable() if kvm is None else _unusable_reason(kvm)
            if reason is None:
                cmd = build_command(exe, kboot, initrd, "kvm", tsc_khz=tsc_khz)
                say("qemu: trying KVM")
                first = boot_once(cmd, kvm_timeout_s, watch_kvm_errors=True)
                if first.ok:
                    accel = "kvm"
                else:
                    reason = f"KVM boot failed: {first.error}" + (" (QEMU killed)" if first.killed else "")
                    pvm = kvm.module == "kvm_pvm" if kvm is not None else os.path.isdir("/sys/module/kvm_pvm")
                    if pvm:
                        reason += f"; /dev/kvm is kvm_pvm here: {PVM_GUEST_NOTE}"
                    first = None
                    say(f"qemu: {reason}; falling back to TCG")
        else:
            reason = "KVM not tried"
        timeout = kvm_timeout_s if accel == "kvm" else boot_timeout_s
        machine = "microvm"
        command = build_command(exe, kboot, initrd, accel, tsc_khz=tsc_khz)
        boots: list[BootResult] = [] if first is None else [first]
        while len(boots) < runs:
            say(f"qemu: boot {len(boots) + 1}/{runs} ({accel})")
            b = boot_once(command, timeout)
            if not b.ok and not boots and machine == "microvm":
                # The kernel (bzImage or PVH vmlinux) also boots on the pc machine type;
                # try it once before giving up.
                say(f"qemu: microvm boot failed ({b.error}); trying the pc machine type")
                machine = "pc"
                command = build_command(exe, kboot, initrd, accel, machine="pc", tsc_khz=tsc_khz)
                b = boot_once(command, timeout)
            if not b.ok:
                last = b.stderr_tail.strip().splitlines()
                raise UnrunnableError(
                    f"QEMU boot of {kpath} failed under {accel.upper()}: {b.error}"
                    + (f"; last stderr: {last[-1]}" if last else "")
                )
            boots.append(b)
        # The command keeps a temporary initrd path, and the kernel's path may name a
        # user's home directory: reports record neither, only the kernel's file name.
        placeholders = {
            str(initrd): "<generated initramfs>",
            str(kpath): f"<kernel {kpath.name}>",
            str(kboot): f"<vmlinux from {kpath.name}>" if kboot != kpath else f"<kernel {kpath.name}>",
        }
    return QemuRun(
        accel=accel,
        machine=machine,
        kvm_fallback_reason=reason,
        boots=tuple(boots),
        command=tuple(placeholders.get(a, a) for a in command),
        kernel_path=str(kpath),
        kernel_note=boot_kernel.note,
    )


def _median_int(xs: list[int]) -> int | None:
    return int(statistics.median(xs)) if xs else None


def baseline(run: QemuRun, kernel_name: str | None = None) -> VmBaseline:
    """The measured `vm.baselines[]` entry (docs/report-format.md)."""
    peaks = [b.peak_rss_bytes for b in run.boots if b.peak_rss_bytes is not None]
    psses = [b.pss_at_ready_bytes for b in run.boots if b.pss_at_ready_bytes is not None]
    machine = "microvm" if run.machine == "microvm" else "pc"
    label = f"QEMU {machine} (measured, {run.accel.upper()})"
    notes: list[str] = []
    if run.accel == "tcg":
        notes.append(TCG_NOTE)
    if run.kvm_fallback_reason:
        notes.append(f"KVM not used: {run.kvm_fallback_reason}")
    notes.append(
        "boot = QEMU launch to the ready marker on the serial port; memory = QEMU process "
        "peak RSS (wait4) and PSS at ready, which include the guest pages QEMU touched"
    )
    notes.append("command: " + " ".join(run.command))
    kernel_name = kernel_name or (Path(run.kernel_path).name if run.kernel_path else None)
    if run.kernel_note:
        notes.append(f"kernel: {run.kernel_note}")
    elif kernel_name:
        notes.append(f"kernel: {kernel_name}")
    guest_ram = GUEST_RAM_MIB * 1024 * 1024
    peak = _median_int(peaks)
    return VmBaseline(
        name=f"qemu-{machine}-{run.accel}",
        label=label,
        kind=MEASURED,
        boot_samples_s=tuple(b.ready_s for b in run.boots if b.ready_s is not None),
        exit_samples_s=tuple(b.exit_s for b in run.boots if b.exit_s is not None),
        memory=VmMemory(
            guest_ram_bytes=guest_ram,
            # QEMU's RSS mixes its own memory with the guest pages it touched, so
            # the VMM overhead alone cannot be separated here.
            overhead_bytes=None,
            committed_bytes=peak,
            peak_rss_bytes=peak,
            pss_bytes=_median_int(psses),
            peak_rss_samples_bytes=tuple(float(x) for x in peaks),
            pss_samples_bytes=tuple(float(x) for x in psses),
        ),
        source=None,
        accel=run.accel,
        notes=tuple(notes),
        seed=None,
    )
