"""The guest kernel's boot protocol: PVH straight into an uncompressed vmlinux where possible.

Firecracker and Cloud Hypervisor boot an uncompressed vmlinux through its PVH
entry point (the Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY), so their published
boot times contain no decompression. A distribution ships a bzImage: a
real-mode setup, a decompressor, and the compressed vmlinux as its payload. To
time what those figures time, virtprobe takes the payload out of the bzImage
(located by the boot header, Documentation/arch/x86/boot.rst), decompresses
it, and boots that ELF through PVH when it carries the note. Where any step is
impossible (no PVH note, an unsupported compression), the bzImage is booted
as it is, and the report says which protocol was used and why.

Pure functions on bytes, so tests feed them fixture kernels.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

XEN_ELFNOTE_PHYS32_ENTRY = 18
ELF_MAGIC = b"\x7fELF"
PT_NOTE = 4

# The payload's first bytes name its compression (scripts/Makefile.lib's cmd_* rules).
MAGICS = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bzip2"),
    (b"\x02\x21\x4c\x18", "lz4"),  # LZ4 legacy frame (lz4 -l)
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\x89LZO", "lzo"),
    (b"\x5d\x00\x00", "lzma"),
)

LZ4_LEGACY_BLOCK = 8 << 20  # every block of the legacy format decompresses to at most 8 MiB


class KernelFormatError(ValueError):
    """The file is not what it must be for this step; the message says what was found."""


@dataclass(frozen=True)
class Payload:
    compression: str
    data: bytes


def bzimage_payload(image: bytes) -> Payload:
    """The compressed vmlinux inside a bzImage (boot protocol 2.08+ gives its offset and length)."""
    if len(image) < 0x250 or image[0x202:0x206] != b"HdrS":
        raise KernelFormatError("not a bzImage (no HdrS boot header)")
    (version,) = struct.unpack_from("<H", image, 0x206)
    if version < 0x208:
        raise KernelFormatError(f"boot protocol {version >> 8}.{version & 0xFF:02d} predates payload_offset (2.08)")
    setup_sects = image[0x1F1] or 4
    offset, length = struct.unpack_from("<II", image, 0x248)
    start = (setup_sects + 1) * 512 + offset
    data = image[start : start + length]
    if length == 0 or len(data) != length:
        raise KernelFormatError("the payload lies outside the file (truncated bzImage?)")
    for magic, name in MAGICS:
        if data.startswith(magic):
            return Payload(name, data)
    raise KernelFormatError(f"unknown payload compression (first bytes {data[:4].hex()})")


def _unlz4_legacy(data: bytes) -> bytes:
    """LZ4 legacy frames: magic, then blocks of <u32 compressed size><block>.

    Kbuild appends the uncompressed size as a final u32 (size_append), which is
    what is left once fewer than a block header and a block remain.
    """
    # lazy: lz4 is the [vm] extra, and only an LZ4-compressed kernel needs it; a bench without
    # --vm qemu, or with another kernel, runs without it.
    try:
        import lz4.block
    except ImportError as err:
        raise KernelFormatError("the kernel is LZ4-compressed and the lz4 module is missing") from err
    out = bytearray()
    pos = 4
    while pos + 4 < len(data):
        (size,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if size == 0x184C2102:  # a new legacy frame begins
            continue
        block = data[pos : pos + size]
        if len(block) != size:
            break  # the trailing size field, read as a block header
        try:
            out += lz4.block.decompress(block, uncompressed_size=LZ4_LEGACY_BLOCK)
        except lz4.block.LZ4BlockError as err:
            raise KernelFormatError(f"corrupt LZ4 block at payload offset {pos}: {err}") from err
        pos += size
    return bytes(out)


def decompress(payload: Payload) -> bytes:
    """The vmlinux ELF; KernelFormatError for compressions the standard library and lz4 cannot undo."""
    kind, data = payload.compression, payload.data
    try:
        if kind == "gzip":
            # One gzip member; the trailing size_append bytes stay in unused_data.
            return zlib.decompressobj(wbits=31).decompress(data)
        if kind == "xz":
            return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)
        if kind == "lzma":
            return lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(data)
        if kind == "bzip2":
            return bz2.BZ2Decompressor().decompress(data)
        if kind == "lz4":
            return _unlz4_legacy(data)
    except (OSError, EOFError, lzma.LZMAError, zlib.error) as err:
        raise KernelFormatError(f"corrupt {kind} payload: {err}") from err
    raise KernelFormatError(f"{kind}-compressed kernel: virtprobe cannot decompress {kind}")


def has_pvh_note(elf: bytes) -> bool:
    """Does this ELF64 carry a Xen note of type XEN_ELFNOTE_PHYS32_ENTRY (the PVH entry point)?"""
    if len(elf) < 64 or not elf.startswith(ELF_MAGIC) or elf[4] != 2 or elf[5] != 1:
        return False
    (phoff,) = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for i in range(phnum):
        base = phoff + i * phentsize
        if base + 56 > len(elf):
            return False
        (p_type,) = struct.unpack_from("<I", elf, base)
        if p_type != PT_NOTE:
            continue
        (p_offset,) = struct.unpack_from("<Q", elf, base + 8)
        (p_filesz,) = struct.unpack_from("<Q", elf, base + 32)
        if _notes_have(elf[p_offset : p_offset + p_filesz], b"Xen\x00", XEN_ELFNOTE_PHYS32_ENTRY):
            return True
    return False


def _notes_have(notes: bytes, name: bytes, note_type: int) -> bool:
    pos = 0
    while pos + 12 <= len(notes):
        namesz, descsz, ntype = struct.unpack_from("<III", notes, pos)
        pos += 12
        n = notes[pos : pos + namesz]
        pos += (namesz + 3) & ~3
        pos += (descsz + 3) & ~3
        if n == name and ntype == note_type:
            return True
    return False


@dataclass(frozen=True)
class BootKernel:
    """What QEMU is given, and how it will enter it."""

    path: Path
    protocol: str  # "pvh" or "bzimage"
    note: str  # for the report: where the image came from, or why PVH was not used


def prepare(kernel: Path, workdir: Path) -> BootKernel:
    """A vmlinux with a PVH note as is; a bzImage's vmlinux extracted into workdir; else the bzImage."""
    data = kernel.read_bytes()
    if data.startswith(ELF_MAGIC):
        if has_pvh_note(data):
            return BootKernel(kernel, "pvh", f"{kernel.name}: vmlinux booted through its PVH entry")
        return BootKernel(kernel, "elf", f"{kernel.name}: an ELF without a PVH note; QEMU may refuse it")
    try:
        payload = bzimage_payload(data)
        vmlinux = decompress(payload)
    except KernelFormatError as err:
        return BootKernel(kernel, "bzimage", f"{kernel.name}: bzImage booted as is ({err})")
    if not has_pvh_note(vmlinux):
        return BootKernel(kernel, "bzimage", f"{kernel.name}: bzImage booted as is (its vmlinux has no PVH note)")
    out = workdir / "vmlinux"
    out.write_bytes(vmlinux)
    return BootKernel(
        out,
        "pvh",
        f"{kernel.name}: vmlinux taken out of the bzImage ({payload.compression}) and booted through its "
        "PVH entry, as Firecracker boots; no decompression is timed",
    )
