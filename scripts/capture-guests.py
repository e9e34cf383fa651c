#!/usr/bin/env python3
"""Capture real QEMU TCG guests (aarch64, ppc64le, s390x, x86 pc/q35/microvm) into tests/fixtures/roots/qemu_*.

Each guest boots that architecture's real Debian kernel with a tiny initramfs:
busybox-static of the same architecture, and an /init that mounts /proc, /sys,
/dev and the cgroup2 hierarchy, loads qemu_fw_cfg where the kernel has it as a
module (udev would load it for the fw_cfg device on an installed system), runs
the shell capture script (`virtprobe snapshot --script`, generated from
capture.PATHS), and prints the archive on the console as base64 between
markers. The host decodes it, checks it unpacks under the same rules as
`detect --root`, and writes the fixture folder and its SOURCE.md.

Re-run by hand (not in CI) after PATHS grows:
    .venv/bin/python scripts/capture-guests.py            # every guest
    .venv/bin/python scripts/capture-guests.py aarch64_virt x86_64_q35
Kernels and busybox are downloaded once with apt-get (needs
`dpkg --add-architecture arm64 ppc64el s390x` and `apt-get update`) and cached
under .cache/guests/; QEMU comes from qemu-system-x86/-arm/-ppc/-misc.
Every guest runs with `-nic none`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import gzip
import io
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from virtprobe import __version__  # noqa: E402
from virtprobe.detection.shell_capture import render_script  # noqa: E402
from virtprobe.machine.archive import snapshot_top, unpack  # noqa: E402

CACHE = REPO / ".cache" / "guests"
ROOTS = REPO / "tests" / "fixtures" / "roots"
X86_KERNEL_DIR = REPO / ".cache" / "kernel"
BEGIN = "VIRTPROBE-ARCHIVE-BEGIN"
END = "VIRTPROBE-ARCHIVE-END"
TIMEOUT_S = 180.0  # the slowest guest (aarch64 -cpu max) takes 10-30 s; a hung boot is retried


@dataclass(frozen=True)
class Guest:
    name: str  # fixture folder is qemu_<name>
    deb_arch: str  # Debian architecture of the kernel and busybox
    kernel_flavour: str  # linux-image-<abi>-<flavour>
    qemu: str
    machine: str
    cpu: str | None  # None: QEMU's default for the machine
    console: str
    memory_mb: int
    title: str


GUESTS = (
    Guest(
        "aarch64_virt",
        "arm64",
        "arm64",
        "qemu-system-aarch64",
        "virt",
        "max",
        "ttyAMA0",
        512,
        "an aarch64 guest of QEMU `-machine virt` (device tree boot, no ACPI/DMI) under TCG",
    ),
    Guest(
        "ppc64le_pseries",
        "ppc64el",
        "powerpc64le",
        "qemu-system-ppc64",
        "pseries",
        None,
        "hvc0",
        1024,
        "a ppc64le guest of QEMU `-machine pseries` (SLOF firmware, device tree) under TCG",
    ),
    Guest(
        "s390x_ccw",
        "s390x",
        "s390x",
        "qemu-system-s390x",
        "s390-ccw-virtio",
        None,
        "ttysclp0",
        512,
        "an s390x guest of QEMU `-machine s390-ccw-virtio` under TCG",
    ),
    Guest(
        "x86_64_pc",
        "amd64",
        "cloud-amd64",
        "qemu-system-x86_64",
        "pc",
        None,
        "ttyS0",
        512,
        "an x86_64 guest of QEMU `-machine pc` (i440FX, SeaBIOS) under TCG",
    ),
    Guest(
        "x86_64_q35",
        "amd64",
        "cloud-amd64",
        "qemu-system-x86_64",
        "q35",
        None,
        "ttyS0",
        512,
        "an x86_64 guest of QEMU `-machine q35` (ICH9, SeaBIOS) under TCG",
    ),
    Guest(
        "x86_64_microvm",
        "amd64",
        "cloud-amd64",
        "qemu-system-x86_64",
        "microvm,pit=on,pic=on,rtc=on",
        None,
        "ttyS0",
        512,
        "an x86_64 guest of QEMU `-machine microvm` (no PCI, no SMBIOS/DMI, ACPI tables only) under TCG",
    ),
)

INIT = """#!/bin/busybox sh
# virtprobe guest capture: mount what an init mounts, capture, print the archive, power off.
/bin/busybox mkdir -p /proc /sys /dev /tmp /run /usr/bin /usr/sbin /sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t cgroup2 cgroup2 /sys/fs/cgroup 2>/dev/null
mount -t tmpfs tmpfs /tmp
for m in /modules/*.ko; do [ -e "$m" ] && insmod "$m"; done
sh /capture.sh /tmp/snapshot.tar.gz
echo
echo @BEGIN@
base64 /tmp/snapshot.tar.gz
echo @END@
poweroff -f
""".replace("@BEGIN@", BEGIN).replace("@END@", END)


def _run(argv: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"capture-guests: {' '.join(argv)} failed: {proc.stderr.strip()[-400:]}")
    return proc.stdout


def _version_of(pkg: str) -> str:
    out = _run(["apt-cache", "policy", pkg])
    m = re.search(r"Candidate:\s*(\S+)", out)
    if not m or m.group(1) == "(none)":
        raise SystemExit(f"capture-guests: no candidate for {pkg}; run dpkg --add-architecture and apt-get update")
    return m.group(1)


def _download(pkg: str, dest: Path) -> tuple[Path, str]:
    """apt-get download pkg once into the cache; extract it; return (folder, package version)."""
    version = _version_of(pkg)
    debs = CACHE / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    name, _, arch = pkg.partition(":")
    found = sorted(debs.glob(f"{name}_*_{arch}.deb"))
    found = [d for d in found if version.replace(":", "%3a") in d.name]
    if not found:
        _run(["apt-get", "download", pkg], cwd=debs)
        found = [d for d in sorted(debs.glob(f"{name}_*_{arch}.deb")) if version.replace(":", "%3a") in d.name]
    if not dest.exists():
        tmp = dest.with_name(dest.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        _run(["dpkg-deb", "-x", str(found[0]), str(tmp)])
        tmp.rename(dest)
    return dest, version


@dataclass(frozen=True)
class Parts:
    kernel: Path
    kernel_pkg: str
    kernel_version: str
    busybox: Path
    busybox_version: str
    modules: tuple[Path, ...]


def _parts(guest: Guest) -> Parts:
    arch = guest.deb_arch
    if guest.kernel_flavour == "cloud-amd64":
        boot = sorted((X86_KERNEL_DIR / "boot").glob("vmlinuz-*-cloud-amd64"))
        if not boot:
            raise SystemExit(f"capture-guests: no cloud kernel under {X86_KERNEL_DIR}/boot")
        kernel = boot[-1]
        abi = kernel.name.removeprefix("vmlinuz-")
        pkg = f"linux-image-{abi}"
        version = _installed_or_candidate(pkg)
        kroot = X86_KERNEL_DIR
    else:
        meta = f"linux-image-{guest.kernel_flavour}:{arch}"
        dep = re.search(r"Depends: (linux-image-\S+)", _run(["apt-cache", "depends", meta]))
        if dep is None:
            raise SystemExit(f"capture-guests: cannot resolve {meta}")
        pkg = dep.group(1).split(":")[0]
        kroot, version = _download(f"{pkg}:{arch}", CACHE / arch / "kernel")
        abi = pkg.removeprefix("linux-image-")
        names = [f"vmlinuz-{abi}", f"vmlinux-{abi}"]
        kernel = next((kroot / "boot" / n for n in names if (kroot / "boot" / n).exists()), kroot / "boot" / names[0])
    bb_root, bb_version = _download(f"busybox-static:{arch}", CACHE / arch / "busybox")
    firmware_drivers = kroot / "lib" / "modules" / abi / "kernel" / "drivers" / "firmware"
    modules = tuple(sorted(firmware_drivers.glob("qemu_fw_cfg.ko")))
    return Parts(kernel, pkg, version, bb_root / "bin" / "busybox", bb_version, modules)


def _installed_or_candidate(pkg: str) -> str:
    out = subprocess.run(["apt-cache", "policy", pkg], capture_output=True, text=True, check=False).stdout
    m = re.search(r"Candidate:\s*(\S+)", out)
    return m.group(1) if m and m.group(1) != "(none)" else "unknown"


def _cpio(entries: list[tuple[str, int, bytes, int]]) -> bytes:
    """A newc cpio archive of (name, mode, data, rdev) entries (rdev: (major << 8) | minor)."""
    out = io.BytesIO()
    for ino, (name, mode, data, rdev) in enumerate([*entries, ("TRAILER!!!", 0, b"", 0)], start=1):
        raw = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev >> 8, rdev & 0xFF, len(raw), 0]
        out.write(b"070701" + b"".join(f"{f:08x}".encode() for f in fields) + raw)
        out.write(b"\0" * (-out.tell() % 4))
        out.write(data)
        out.write(b"\0" * (-out.tell() % 4))
    return out.getvalue()


def _initramfs(parts: Parts, script: str) -> bytes:
    entries: list[tuple[str, int, bytes, int]] = [
        ("bin", stat.S_IFDIR | 0o755, b"", 0),
        ("dev", stat.S_IFDIR | 0o755, b"", 0),
        ("dev/console", stat.S_IFCHR | 0o600, b"", (5 << 8) | 1),
        ("modules", stat.S_IFDIR | 0o755, b"", 0),
        ("bin/busybox", stat.S_IFREG | 0o755, parts.busybox.read_bytes(), 0),
        ("init", stat.S_IFREG | 0o755, INIT.encode(), 0),
        ("capture.sh", stat.S_IFREG | 0o644, script.encode(), 0),
    ]
    for mod in parts.modules:
        entries.append((f"modules/{mod.name}", stat.S_IFREG | 0o644, mod.read_bytes(), 0))
    return gzip.compress(_cpio(entries), mtime=0)


def _argv(guest: Guest, parts: Parts, initrd: Path) -> list[str]:
    argv = [guest.qemu, "-machine", guest.machine, "-accel", "tcg", "-m", str(guest.memory_mb), "-smp", "1"]
    if guest.cpu:
        argv += ["-cpu", guest.cpu]
    argv += [
        "-nographic",
        "-no-reboot",
        "-nic",
        "none",
        "-kernel",
        str(parts.kernel),
        "-initrd",
        str(initrd),
        "-append",
        f"console={guest.console} quiet panic=-1",
    ]
    return argv


def _archive_from(console: str) -> bytes:
    """The base64 archive between the markers of a console log."""
    lines = console.replace("\r", "").split("\n")
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == BEGIN)
        end = next(i for i, line in enumerate(lines) if i > start and line.strip() == END)
    except StopIteration:
        raise ValueError("no archive markers on the console") from None
    body = [line.strip() for line in lines[start + 1 : end]]
    bad = [line for line in body if not re.fullmatch(r"[A-Za-z0-9+/=]*", line)]
    if bad:
        raise ValueError(f"console noise inside the archive: {bad[0][:80]!r}")
    try:
        data = base64.b64decode("".join(body), validate=True)
        gzip.decompress(data)
    except (binascii.Error, OSError, EOFError) as err:
        raise ValueError(f"archive does not decode: {err}") from err
    return data


def _qemu_version(qemu: str) -> str:
    return _run([qemu, "--version"]).splitlines()[0].strip()


def capture(guest: Guest, script: str, keep_log: Path) -> dict[str, object]:
    parts = _parts(guest)
    with tempfile.TemporaryDirectory(prefix="virtprobe-guest-") as tmp:
        initrd = Path(tmp) / "initrd.gz"
        initrd.write_bytes(_initramfs(parts, script))
        argv = _argv(guest, parts, initrd)
        # TCG guests very rarely hang early (MEASURED.md: "tsc: Unable to calibrate against PIT"),
        # and a stray kernel line can land inside the base64: try twice before giving up.
        for attempt in (1, 2):
            started = datetime.now(UTC)
            t0 = time.monotonic()
            try:
                proc = subprocess.run(
                    argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT_S, check=False
                )
            except subprocess.TimeoutExpired as err:
                if attempt == 2:
                    raise
                print(f"capture-guests: {guest.name}: {err}; retrying", file=sys.stderr)
                continue
            took = time.monotonic() - t0
            console = proc.stdout.decode("utf-8", "replace")
            keep_log.write_text(console, encoding="utf-8")
            try:
                archive = _archive_from(console)
                break
            except ValueError as err:
                if attempt == 2:
                    raise
                print(f"capture-guests: {guest.name}: {err}; retrying", file=sys.stderr)
        unpacked = Path(tmp) / "unpacked"
        unpacked.mkdir()
        (Path(tmp) / "snapshot.tar.gz").write_bytes(archive)
        unpack(Path(tmp) / "snapshot.tar.gz", unpacked)
        top = snapshot_top(unpacked)
        dest = ROOTS / f"qemu_{guest.name}"
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(top, dest, symlinks=True)
    # git keeps no empty folders: mark them, as the other fixture roots do.
    for folder, dirs, files in os.walk(dest):
        if not dirs and not files:
            (Path(folder) / ".keep").write_bytes(b"")
    info = {
        "guest": guest,
        "parts": parts,
        "argv": argv,
        "started": started,
        "took_s": took,
        "qemu_version": _qemu_version(guest.qemu),
        "archive_bytes": len(archive),
        "rc": proc.returncode,
    }
    _write_source(dest, info)
    return info


def _write_source(dest: Path, info: dict[str, object]) -> None:
    guest = info["guest"]
    parts = info["parts"]
    argv = info["argv"]
    assert isinstance(guest, Guest) and isinstance(parts, Parts) and isinstance(argv, list)
    started = info["started"]
    assert isinstance(started, datetime)
    shown = [Path(a).name if a.startswith("/") else a for a in argv]
    cpu = f"`-cpu {guest.cpu}`" if guest.cpu else "QEMU's default for the machine (no -cpu)"
    cpuinfo = (dest / "proc" / "cpuinfo").read_text(errors="replace") if (dest / "proc/cpuinfo").exists() else ""
    cpu_line = next(
        (
            " ".join(line.split())
            for line in cpuinfo.splitlines()
            if re.match(r"(model name|cpu|CPU part|processor 0)\s*:", line)
        ),
        "(no /proc/cpuinfo)",
    )
    modules = ", ".join(m.name for m in parts.modules) or "none (this kernel package has no qemu_fw_cfg module)"
    text = f"""# qemu_{guest.name}: {guest.title}

Captured, not reconstructed: a real boot of QEMU under TCG on the virtprobe dev
machine (Debian 12, x86_64 host), by `scripts/capture-guests.py {guest.name}`.

- QEMU: {info["qemu_version"]}
- machine: `-machine {guest.machine}`, CPU: {cpu}, accelerator TCG, `-nic none`;
  the guest's /proc/cpuinfo says `{cpu_line}`
- kernel: Debian package {parts.kernel_pkg} {parts.kernel_version} ({parts.kernel.name})
- initramfs: busybox-static {parts.busybox_version} ({guest.deb_arch}) and the shell capture
  script of virtprobe {__version__} (`virtprobe snapshot --script`); modules loaded: {modules}
- captured: {started.strftime("%Y-%m-%d %H:%M:%S")} UTC; launch to power-off took {info["took_s"]:.1f} s
  (archive {info["archive_bytes"]} bytes, printed as base64 on the console)

Command line (paths shortened):

    {shlex.join(shown)}

The guest's /init (scripts/capture-guests.py, INIT) mounts proc, sysfs,
devtmpfs, cgroup2 on /sys/fs/cgroup and a tmpfs on /tmp, loads the modules
named above with insmod (on an installed system udev loads qemu_fw_cfg for the
fw_cfg device's modalias), runs the capture script as a child of PID 1 (the
/init shell: proc/1/comm is "init", proc/1/cmdline "/bin/busybox sh /init"),
prints the archive and powers off. This is a minimal initramfs, not an installed system: there is no
/etc/os-release, no systemd, no udev (so no other modules are loaded and
/dev/kvm exists only if the kernel has KVM built in and the CPU supports it).

The shell capture has no CPUID registers (virtprobe-snapshot.json says so in
cpuid_reason) and no live KVM probe; dmesg is captured in `commands`. Empty
folders hold an empty `.keep` file, because git keeps no empty folders.
"""
    (dest / "SOURCE.md").write_text(text, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("guests", nargs="*", help=f"among: {', '.join(g.name for g in GUESTS)} (default: all)")
    args = parser.parse_args()
    wanted = args.guests or [g.name for g in GUESTS]
    unknown = sorted(set(wanted) - {g.name for g in GUESTS})
    if unknown:
        print(f"capture-guests: unknown guest(s): {', '.join(unknown)}", file=sys.stderr)
        return 2
    script = render_script(__version__)
    logs = CACHE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    failed = 0
    for guest in GUESTS:
        if guest.name not in wanted:
            continue
        print(f"capture-guests: {guest.name} ...", file=sys.stderr, flush=True)
        try:
            info = capture(guest, script, logs / f"{guest.name}.log")
        except (ValueError, subprocess.TimeoutExpired) as err:
            failed += 1
            log = logs / f"{guest.name}.log"
            print(f"capture-guests: {guest.name} failed: {err} (console in {log})", file=sys.stderr)
            continue
        print(
            f"capture-guests: {guest.name} done in {info['took_s']:.1f} s -> tests/fixtures/roots/qemu_{guest.name}",
            file=sys.stderr,
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
