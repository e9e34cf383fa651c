"""The generated probe ELF: header fields, the image build context, and a native run on x86_64."""

from __future__ import annotations

import io
import os
import platform
import shutil
import struct
import subprocess
import tarfile
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import live_skip
from virtprobe.bench.guest import probe_image


def parse_elf_header(data: bytes) -> dict[str, int]:
    assert data[:4] == b"\x7fELF"
    assert data[4] == 2, "ELFCLASS64"
    assert data[5] == 1, "little endian"
    e_type, e_machine, e_version, e_entry, e_phoff, e_shoff, e_flags, e_ehsize, e_phentsize, e_phnum = (
        struct.unpack_from("<HHIQQQIHHH", data, 16)
    )
    p_type, p_flags, p_offset, p_vaddr, _p_paddr, p_filesz, p_memsz, _p_align = struct.unpack_from(
        "<IIQQQQQQ", data, e_phoff
    )
    return {
        "type": e_type,
        "machine": e_machine,
        "version": e_version,
        "entry": e_entry,
        "phoff": e_phoff,
        "shoff": e_shoff,
        "flags": e_flags,
        "ehsize": e_ehsize,
        "phentsize": e_phentsize,
        "phnum": e_phnum,
        "p_type": p_type,
        "p_flags": p_flags,
        "p_offset": p_offset,
        "p_vaddr": p_vaddr,
        "p_filesz": p_filesz,
        "p_memsz": p_memsz,
    }


@pytest.mark.parametrize(
    ("arch", "machine"), [("x86_64", 62), ("aarch64", 183), ("amd64", 62), ("arm64", 183)]
)
def test_elf_header(arch: str, machine: int) -> None:
    data = probe_image.build_elf(arch)
    h = parse_elf_header(data)
    assert h["type"] == 2  # ET_EXEC
    assert h["machine"] == machine
    assert h["version"] == 1
    assert h["ehsize"] == 64 and h["phentsize"] == 56 and h["phnum"] == 1
    assert h["p_type"] == 1 and h["p_flags"] == 5  # PT_LOAD, R+X
    assert h["p_offset"] == 0 and h["p_filesz"] == h["p_memsz"] == len(data)
    # The entry point is the first code byte, right after the headers, inside the segment.
    assert h["entry"] == h["p_vaddr"] + 120
    assert h["p_vaddr"] <= h["entry"] < h["p_vaddr"] + len(data)
    assert len(data) < 400


def test_aarch64_code_is_whole_instructions_and_uses_the_right_syscalls() -> None:
    code = probe_image.build_elf("aarch64")[120:]
    assert len(code) % 4 == 0
    words = [struct.unpack_from("<I", code, i)[0] for i in range(0, len(code), 4)]
    svc = 0xD4000001
    assert words.count(svc) == 4  # clock_gettime, write, ppoll, exit_group
    movz_x8 = {w for w in words if w & 0xFFE0001F == 0xD2800008}  # movz x8, #imm
    assert {(w >> 5) & 0xFFFF for w in movz_x8} == {113, 64, 73, 94}


def test_unknown_arch_rejected() -> None:
    assert probe_image.normalize_arch("riscv64") is None
    with pytest.raises(ValueError):
        probe_image.build_elf("riscv64")


def test_tag_is_content_hash_and_context_holds_the_probe() -> None:
    a = probe_image.probe_image("x86_64")
    b = probe_image.probe_image("amd64")
    assert a.tag == b.tag and a.tag.startswith("virtprobe/probe:x86_64-")
    assert probe_image.probe_image("aarch64").tag != a.tag
    assert a.context_tar() == b.context_tar()  # reproducible
    with tarfile.open(fileobj=io.BytesIO(a.context_tar())) as tar:
        names = tar.getnames()
        assert names == ["Dockerfile", "probe"]
        probe = tar.getmember("probe")
        assert probe.mode == 0o755
        dockerfile = tar.extractfile("Dockerfile")
        assert dockerfile is not None
        text = dockerfile.read().decode()
        assert "FROM scratch" in text and 'ENTRYPOINT ["/probe"]' in text
        member = tar.extractfile("probe")
        assert member is not None and member.read() == a.elf


def test_parse_probe_output() -> None:
    assert probe_image.parse_probe_output(b"477.226697045\n") == 477_226_697_045
    assert probe_image.parse_probe_output(b"0.000000001\n") == 1
    assert probe_image.parse_probe_output(b"") is None
    assert probe_image.parse_probe_output(b"12.34\n") is None
    assert probe_image.parse_probe_output(b"hello\n") is None


@given(st.binary(max_size=64))
def test_parse_probe_output_never_raises(data: bytes) -> None:
    result = probe_image.parse_probe_output(data)
    assert result is None or result >= 0


@given(st.integers(min_value=0, max_value=2**40), st.integers(min_value=0, max_value=999_999_999))
def test_parse_probe_output_roundtrip(sec: int, nsec: int) -> None:
    assert probe_image.parse_probe_output(f"{sec}.{nsec:09d}\n".encode()) == sec * 10**9 + nsec


def _native(tmp_path: Path) -> Path:
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("the native run needs an x86_64 host")
    exe = tmp_path / "probe"
    exe.write_bytes(probe_image.build_elf("x86_64"))
    os.chmod(exe, 0o755)
    return exe


def test_x86_64_probe_runs_and_prints_monotonic_time(tmp_path: Path) -> None:
    exe = _native(tmp_path)
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    proc = subprocess.run([str(exe)], capture_output=True, check=False, timeout=10)
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    assert proc.returncode == 0
    assert proc.stderr == b""
    assert proc.stdout.endswith(b"\n")
    value = probe_image.parse_probe_output(proc.stdout)
    assert value is not None
    assert before <= value <= after


def test_x86_64_probe_pauses_with_argument(tmp_path: Path) -> None:
    exe = _native(tmp_path)
    proc = subprocess.Popen([str(exe), "pause"], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert probe_image.parse_probe_output(line) is not None
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=0.3)
    finally:
        proc.kill()
        proc.wait()
    # Any other argument still exits.
    assert subprocess.run([str(exe), "x"], capture_output=True, check=False, timeout=10).returncode == 0


def _aarch64(tmp_path: Path) -> list[str]:
    """argv prefix that runs the aarch64 probe: natively on arm64, else under QEMU user mode."""
    exe = tmp_path / "probe-aarch64"
    exe.write_bytes(probe_image.build_elf("aarch64"))
    os.chmod(exe, 0o755)
    if platform.machine() in ("aarch64", "arm64"):
        return [str(exe)]
    qemu = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")
    if qemu is None:
        live_skip("no aarch64 host and no qemu-aarch64 (Debian: apt-get install qemu-user)")
    return [str(qemu), str(exe)]


@pytest.mark.qemu
def test_aarch64_probe_runs_and_prints_monotonic_time(tmp_path: Path) -> None:
    """The aarch64 bytes really execute: raw clock_gettime, write, exit (QEMU user mode passes the
    syscalls to this kernel, so the clock read is the host's CLOCK_MONOTONIC)."""
    argv = _aarch64(tmp_path)
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    proc = subprocess.run(argv, capture_output=True, check=False, timeout=30)
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    assert proc.returncode == 0 and proc.stderr == b""
    value = probe_image.parse_probe_output(proc.stdout)
    assert value is not None and before <= value <= after


@pytest.mark.qemu
def test_aarch64_probe_pauses_with_argument(tmp_path: Path) -> None:
    argv = _aarch64(tmp_path)
    proc = subprocess.Popen([*argv, "pause"], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        assert probe_image.parse_probe_output(proc.stdout.readline()) is not None
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=0.5)
    finally:
        proc.kill()
        proc.wait()
    assert subprocess.run([*argv, "x"], capture_output=True, check=False, timeout=30).returncode == 0
