"""Finding the vmlinux inside a bzImage and its PVH entry note.

The small kernels here are built by the test from the x86 boot protocol
(Documentation/arch/x86/boot.rst: HdrS at 0x202, setup_sects at 0x1f1,
payload_offset/payload_length at 0x248) and the Xen ELF note ABI
(XEN_ELFNOTE_PHYS32_ENTRY = 18): reconstructed from documentation, not
captured. The real Debian cloud kernel that .ci/run downloads is checked live.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import struct
from pathlib import Path

import lz4.block
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import live_skip
from virtprobe.benchmark.vm import kernel as vm_kernel


def _note(name: bytes, ntype: int, desc: bytes) -> bytes:
    pad = lambda b: b + bytes(-len(b) % 4)  # noqa: E731
    return struct.pack("<III", len(name), len(desc), ntype) + pad(name) + pad(desc)


def fake_vmlinux(pvh: bool = True) -> bytes:
    """An ELF64 header, one PT_NOTE program header, and Xen notes (with or without PHYS32_ENTRY)."""
    notes = _note(b"Xen\x00", 6, b"linux\x00")  # XEN_ELFNOTE_GUEST_OS, as vmlinux has
    if pvh:
        notes += _note(b"Xen\x00", 18, struct.pack("<Q", 0x1000850))
    phoff, body_off = 64, 64 + 56
    ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    ehdr += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0x1000000, phoff, 0, 0, 64, 56, 1, 64, 0, 0)
    phdr = struct.pack("<IIQQQQQQ", 4, 4, body_off, 0, 0, len(notes), len(notes), 4)
    return ehdr + phdr + notes + b"\x90" * 4096


def _lz4_legacy(data: bytes) -> bytes:
    out = b"\x02\x21\x4c\x18"
    for i in range(0, len(data), 8 << 20):
        block = lz4.block.compress(data[i : i + (8 << 20)], store_size=False)
        out += struct.pack("<I", len(block)) + block
    return out


COMPRESS = {
    "gzip": gzip.compress,
    "xz": lambda d: lzma.compress(d, format=lzma.FORMAT_XZ),
    "lzma": lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE),
    "bzip2": bz2.compress,
    "lz4": _lz4_legacy,
}


def fake_bzimage(payload: bytes, version: int = 0x020F, setup_sects: int = 4) -> bytes:
    """Setup sectors with the boot header, then the payload (plus kbuild's size_append u32)."""
    payload += struct.pack("<I", 12345)  # size_append: the uncompressed size
    setup = bytearray((setup_sects + 1) * 512)
    setup[0x1F1] = setup_sects
    setup[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", setup, 0x206, version)
    struct.pack_into("<II", setup, 0x248, 0x40, len(payload))
    return bytes(setup) + bytes(0x40) + payload + b"decompressor code after the payload"


@pytest.mark.parametrize("kind", sorted(COMPRESS))
def test_every_supported_compression_round_trips(kind: str) -> None:
    elf = fake_vmlinux()
    image = fake_bzimage(COMPRESS[kind](elf))
    payload = vm_kernel.bzimage_payload(image)
    assert payload.compression == kind
    assert vm_kernel.decompress(payload) == elf


def test_pvh_note_found_only_when_present() -> None:
    assert vm_kernel.has_pvh_note(fake_vmlinux(pvh=True))
    assert not vm_kernel.has_pvh_note(fake_vmlinux(pvh=False))
    assert not vm_kernel.has_pvh_note(b"MZ not an elf")


def test_zstd_and_unknown_payloads_are_refused_with_the_reason() -> None:
    zstd = vm_kernel.bzimage_payload(fake_bzimage(b"\x28\xb5\x2f\xfd" + bytes(64)))
    with pytest.raises(vm_kernel.KernelFormatError, match="zstd"):
        vm_kernel.decompress(zstd)
    with pytest.raises(vm_kernel.KernelFormatError, match="unknown payload compression"):
        vm_kernel.bzimage_payload(fake_bzimage(b"\x00\x11\x22\x33" + bytes(64)))
    with pytest.raises(vm_kernel.KernelFormatError, match="predates"):
        vm_kernel.bzimage_payload(fake_bzimage(gzip.compress(b"x"), version=0x0204))


def test_prepare_chooses_the_protocol(tmp_path: Path) -> None:
    pvh = tmp_path / "vmlinuz-pvh"
    pvh.write_bytes(fake_bzimage(gzip.compress(fake_vmlinux(pvh=True))))
    got = vm_kernel.prepare(pvh, tmp_path)
    assert got.protocol == "pvh" and got.path == tmp_path / "vmlinux"
    assert got.path.read_bytes() == fake_vmlinux(pvh=True)
    assert "gzip" in got.note and str(tmp_path) not in got.note

    no_note = tmp_path / "vmlinuz-old"
    no_note.write_bytes(fake_bzimage(gzip.compress(fake_vmlinux(pvh=False))))
    got = vm_kernel.prepare(no_note, tmp_path / "unused")
    assert got.protocol == "bzimage" and got.path == no_note and "no PVH note" in got.note

    elf = tmp_path / "vmlinux-given"
    elf.write_bytes(fake_vmlinux())
    got = vm_kernel.prepare(elf, tmp_path / "unused")
    assert got.protocol == "pvh" and got.path == elf

    zstd = tmp_path / "vmlinuz-zstd"
    zstd.write_bytes(fake_bzimage(b"\x28\xb5\x2f\xfd" + bytes(64)))
    got = vm_kernel.prepare(zstd, tmp_path / "unused")
    assert got.protocol == "bzimage" and "cannot decompress zstd" in got.note


@given(st.binary(max_size=2048), st.sampled_from(sorted(COMPRESS)), st.integers(0, 2047))
def test_damaged_kernels_raise_only_kernel_format_error(noise: bytes, kind: str, cut: int) -> None:
    image = fake_bzimage(COMPRESS[kind](fake_vmlinux()))
    for damaged in (noise, image[:cut], image[:0x300] + noise + image[0x300 + len(noise) :]):
        try:
            vmlinux = vm_kernel.decompress(vm_kernel.bzimage_payload(damaged))
        except vm_kernel.KernelFormatError:
            continue
        vm_kernel.has_pvh_note(vmlinux)  # whatever came out, reading its notes never raises


def test_the_real_debian_kernel_boots_through_pvh(tmp_path: Path) -> None:
    """The kernel .ci/run downloads: its config says CONFIG_PVH=y, so its vmlinux must carry the note."""
    kernel = os.environ.get("VIRTPROBE_KERNEL")
    if not kernel or not Path(kernel).is_file():
        live_skip("no guest kernel (set VIRTPROBE_KERNEL)")
    path = Path(kernel)
    config = path.with_name(path.name.replace("vmlinuz-", "config-"))
    if not config.is_file():
        # Debian ships config-<version> beside vmlinuz-<version>; without it the test
        # cannot know which boot protocol is right for this kernel.
        live_skip(f"no {config.name} beside {path.name}: cannot tell whether it was built with CONFIG_PVH")
    got = vm_kernel.prepare(path, tmp_path)
    if "CONFIG_PVH=y" in config.read_text(errors="replace"):
        assert got.protocol == "pvh", got.note
        assert got.path.read_bytes()[:4] == b"\x7fELF"
    else:
        # Without PVH the vmlinux has no entry QEMU can take: the bzImage itself boots.
        assert got.protocol == "bzimage", got.note
        assert got.path == path
