"""A tiny initramfs built in Python: a newc cpio archive holding a generated static x86_64 /init.

The /init is machine code assembled by hand below (no compiler needed). It
writes a ready marker to fd 1 and powers the guest off with
reboot(LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, LINUX_REBOOT_CMD_POWER_OFF)
(syscall 169). The kernel opens /dev/console as init's fd 0/1/2
(init/main.c, console_on_rootfs), so the archive carries a /dev/console
character node (5:1, Documentation/admin-guide/devices.txt); with
console=ttyS0 the marker lands on the serial port QEMU gives us on stdio.

Should the power-off fail, /init exits, the kernel panics ("Attempted to kill
init") and `panic=-1` plus QEMU's `-no-reboot` still end the run.

The newc format is described in the kernel's
Documentation/driver-api/early-userspace/buffer-format.rst: a 110-byte ASCII
header ("070701" then 13 eight-digit hex fields), the NUL-terminated name, and
the data, each padded to 4 bytes, closed by an entry named "TRAILER!!!".
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from virtprobe.benchmark.guest.elf import EM_X86_64, static_elf

READY_MARKER = b"VIRTPROBE-READY\n"

NEWC_MAGIC = b"070701"
TRAILER = "TRAILER!!!"

S_IFDIR = 0o040000
S_IFREG = 0o100000
S_IFCHR = 0o020000

SYS_WRITE = 1
SYS_EXIT = 60
SYS_REBOOT = 169
LINUX_REBOOT_MAGIC1 = 0xFEE1DEAD
LINUX_REBOOT_MAGIC2 = 0x28121969  # 672274793
LINUX_REBOOT_CMD_POWER_OFF = 0x4321FEDC

ELF_BASE = 0x400000


def _mov_eax(imm: int) -> bytes:
    return b"\xb8" + struct.pack("<I", imm)


def _mov_edi(imm: int) -> bytes:
    return b"\xbf" + struct.pack("<I", imm)


def _mov_esi(imm: int) -> bytes:
    return b"\xbe" + struct.pack("<I", imm)


def _mov_edx(imm: int) -> bytes:
    return b"\xba" + struct.pack("<I", imm)


SYSCALL = b"\x0f\x05"
XOR_R10D = b"\x45\x31\xd2"
XOR_EDI = b"\x31\xff"


def init_code(marker: bytes = READY_MARKER, power_off: bool = True) -> bytes:
    """x86_64 code: write(1, marker), then reboot(POWER_OFF) (or skip it), then exit(0).

    The marker follows the code; `lea rsi, [rip + disp32]` finds it wherever the
    code is loaded.
    """
    head = _mov_eax(SYS_WRITE) + _mov_edi(1)
    lea_len = 7  # 48 8d 35 disp32
    tail = _mov_edx(len(marker)) + SYSCALL
    if power_off:
        tail += (
            _mov_eax(SYS_REBOOT)
            + _mov_edi(LINUX_REBOOT_MAGIC1)
            + _mov_esi(LINUX_REBOOT_MAGIC2)
            + _mov_edx(LINUX_REBOOT_CMD_POWER_OFF)
            + XOR_R10D
            + SYSCALL
        )
    tail += _mov_eax(SYS_EXIT) + XOR_EDI + SYSCALL
    # disp32 is relative to the end of the lea instruction; the marker starts after `tail`.
    lea = b"\x48\x8d\x35" + struct.pack("<i", len(tail))
    assert len(lea) == lea_len
    return head + lea + tail + marker


def init_elf(marker: bytes = READY_MARKER, power_off: bool = True) -> bytes:
    return static_elf(init_code(marker, power_off), EM_X86_64, ELF_BASE)


@dataclass(frozen=True)
class CpioEntry:
    name: str
    mode: int  # file type bits | permissions
    data: bytes = b""
    rdev_major: int = 0
    rdev_minor: int = 0


def _pad4(n: int) -> bytes:
    return b"\0" * ((4 - n % 4) % 4)


def newc_header(ino: int, entry: CpioEntry, nlink: int) -> bytes:
    name = entry.name.encode() + b"\0"
    fields = (
        ino,
        entry.mode,
        0,  # uid
        0,  # gid
        nlink,
        0,  # mtime: fixed, so the archive is reproducible
        len(entry.data),
        0,  # devmajor
        0,  # devminor
        entry.rdev_major,
        entry.rdev_minor,
        len(name),
        0,  # check: only for the "070702" crc format
    )
    return NEWC_MAGIC + b"".join(b"%08X" % f for f in fields) + name


def write_newc(entries: list[CpioEntry]) -> bytes:
    """A newc archive of the entries, in order, closed by TRAILER!!!."""
    out = bytearray()
    for ino, e in enumerate([*entries, CpioEntry(TRAILER, 0)], start=1):
        nlink = 2 if e.mode & 0o170000 == S_IFDIR else 1
        if e.name == TRAILER:
            ino, nlink = 0, 1
        hdr = newc_header(ino, e, nlink)
        out += hdr + _pad4(len(hdr))
        out += e.data + _pad4(len(e.data))
    return bytes(out)


def build_initramfs(marker: bytes = READY_MARKER, power_off: bool = True) -> bytes:
    """The guest's whole initramfs: /dev, /dev/console (char 5:1) and /init."""
    return write_newc(
        [
            CpioEntry("dev", S_IFDIR | 0o755),
            CpioEntry("dev/console", S_IFCHR | 0o600, rdev_major=5, rdev_minor=1),
            CpioEntry("init", S_IFREG | 0o755, init_elf(marker, power_off)),
        ]
    )
