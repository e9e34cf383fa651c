"""Tests of the generated initramfs: newc cpio layout, /init ELF headers, a native run of the exit variant."""

from __future__ import annotations

import os
import platform
import stat
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from virtprobe.benchmark.guest import initramfs as vi


def parse_newc(data: bytes) -> list[dict[str, object]]:
    """An independent newc reader (buffer-format.rst) used only to check the writer."""
    out: list[dict[str, object]] = []
    pos = 0
    while True:
        assert pos % 4 == 0
        hdr = data[pos : pos + 110]
        assert hdr[:6] == b"070701", hdr[:6]
        f = [int(hdr[6 + 8 * i : 14 + 8 * i], 16) for i in range(13)]
        namesize, filesize = f[11], f[6]
        name_start = pos + 110
        name = data[name_start : name_start + namesize]
        assert name.endswith(b"\0")
        pos = name_start + namesize
        pos += (4 - pos % 4) % 4
        body = data[pos : pos + filesize]
        pos += filesize
        pos += (4 - pos % 4) % 4
        entry = {
            "name": name[:-1].decode(),
            "mode": f[1],
            "nlink": f[4],
            "rdev": (f[9], f[10]),
            "data": body,
            "check": f[12],
        }
        out.append(entry)
        if entry["name"] == "TRAILER!!!":
            assert pos == len(data)
            return out


def test_archive_holds_dev_console_and_init_and_ends_with_trailer() -> None:
    data = vi.build_initramfs()
    assert len(data) % 4 == 0
    entries = parse_newc(data)
    names = [e["name"] for e in entries]
    assert names == ["dev", "dev/console", "init", "TRAILER!!!"]
    by = {e["name"]: e for e in entries}
    assert stat.S_ISDIR(by["dev"]["mode"])  # type: ignore[arg-type]
    assert stat.S_ISCHR(by["dev/console"]["mode"])  # type: ignore[arg-type]
    assert by["dev/console"]["rdev"] == (5, 1)
    assert stat.S_ISREG(by["init"]["mode"]) and by["init"]["mode"] & 0o111  # type: ignore[arg-type,operator]
    assert by["init"]["data"] == vi.init_elf()
    assert all(e["check"] == 0 for e in entries)


def test_archive_is_reproducible() -> None:
    assert vi.build_initramfs() == vi.build_initramfs()


@given(
    st.lists(
        st.tuples(st.text(alphabet="abcdefgh/._-", min_size=1, max_size=20), st.binary(max_size=50)),
        max_size=6,
    )
)
def test_writer_round_trips_any_files(files: list[tuple[str, bytes]]) -> None:
    entries = [vi.CpioEntry(name, vi.S_IFREG | 0o644, body) for name, body in files]
    parsed = parse_newc(vi.write_newc(entries))
    assert [(e["name"], e["data"]) for e in parsed[:-1]] == files


def test_init_elf_headers() -> None:
    elf = vi.init_elf()
    assert elf[:4] == b"\x7fELF"
    assert elf[4] == 2 and elf[5] == 1  # 64-bit, little endian
    e_type, e_machine, _ver, e_entry, e_phoff = struct.unpack_from("<HHIQQ", elf, 16)
    assert (e_type, e_machine) == (2, 0x3E)
    assert e_phoff == 64
    p_type, p_flags, p_offset, p_vaddr, _pa, p_filesz, p_memsz, _al = struct.unpack_from("<IIQQQQQQ", elf, 64)
    assert (p_type, p_flags, p_offset, p_vaddr) == (1, 5, 0, vi.ELF_BASE)
    assert p_filesz == p_memsz == len(elf)
    assert e_entry == vi.ELF_BASE + 120
    assert elf.endswith(vi.READY_MARKER)


def test_init_code_calls_reboot_power_off() -> None:
    code = vi.init_code()
    assert b"\xb8" + struct.pack("<I", 169) in code  # mov eax, SYS_reboot
    assert struct.pack("<I", 0xFEE1DEAD) in code
    assert struct.pack("<I", 0x28121969) in code
    assert struct.pack("<I", 0x4321FEDC) in code
    no_reboot = vi.init_code(power_off=False)
    assert struct.pack("<I", 0xFEE1DEAD) not in no_reboot


@pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() == "x86_64"), reason="x86_64 Linux ELF"
)
def test_exit_variant_runs_natively(tmp_path: Path) -> None:
    # The power-off variant is never run here: as root it would power the machine off.
    exe = tmp_path / "init-exit"
    exe.write_bytes(vi.init_elf(b"hello from init\n", power_off=False))
    os.chmod(exe, 0o755)
    proc = subprocess.run([str(exe)], capture_output=True, timeout=10)
    assert proc.returncode == 0
    assert proc.stdout == b"hello from init\n"
