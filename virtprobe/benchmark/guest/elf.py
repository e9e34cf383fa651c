"""Minimal static ELF64 executables, for the code virtprobe generates itself.

Used by the container probe (bench/probe_image.py) and the guest's /init
(bench/vm_initramfs.py): neither needs a compiler on the user's machine.
"""

from __future__ import annotations

import struct

EM_X86_64 = 62
EM_AARCH64 = 183
ELF_HEADER_SIZE = 64
PHDR_SIZE = 56


def static_elf(code: bytes, machine: int, base: int) -> bytes:
    """Header, one PT_LOAD segment (R+X) mapping the whole file at `base`, then the code.

    The entry point is the first byte of `code`, right after the two headers.
    """
    entry_off = ELF_HEADER_SIZE + PHDR_SIZE
    size = entry_off + len(code)
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)  # ELFCLASS64, little endian, version 1, SysV
    ehdr = ident + struct.pack(
        "<HHIQQQIHHHHHH",
        2,  # e_type ET_EXEC
        machine,  # e_machine
        1,  # e_version
        base + entry_off,  # e_entry
        ELF_HEADER_SIZE,  # e_phoff
        0,  # e_shoff: no sections needed to run
        0,  # e_flags
        ELF_HEADER_SIZE,  # e_ehsize
        PHDR_SIZE,  # e_phentsize
        1,  # e_phnum
        0,  # e_shentsize
        0,  # e_shnum
        0,  # e_shstrndx
    )
    phdr = struct.pack(
        "<IIQQQQQQ",
        1,  # PT_LOAD
        5,  # PF_R | PF_X
        0,  # p_offset
        base,  # p_vaddr
        base,  # p_paddr
        size,  # p_filesz
        size,  # p_memsz
        0x1000,  # p_align
    )
    assert len(ehdr) == ELF_HEADER_SIZE and len(phdr) == PHDR_SIZE
    return ehdr + phdr + code
