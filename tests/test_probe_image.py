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
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import live_skip
from virtprobe.benchmark.docker_backend import build_image
from virtprobe.benchmark.guest import probe_image


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
    # Tiny on purpose: the whole image is this file (x86_64 435 bytes, aarch64 512 today).
    assert len(data) <= 600


def test_both_probes_end_with_the_boot_id_path() -> None:
    for arch in ("x86_64", "aarch64"):
        assert probe_image.build_elf(arch).endswith(probe_image.BOOT_ID_PATH)
    assert probe_image.BOOT_ID_PATH == b"/proc/sys/kernel/random/boot_id\0"


def test_aarch64_code_is_whole_instructions_and_uses_the_right_syscalls() -> None:
    code = probe_image.build_elf("aarch64")[120 : -len(probe_image.BOOT_ID_PATH)]
    assert len(code) % 4 == 0
    words = [struct.unpack_from("<I", code, i)[0] for i in range(0, len(code), 4)]
    svc = 0xD4000001
    # clock_gettime x2, openat, read, close, write (boot id line), write (in put_ts), ppoll, exit_group
    assert words.count(svc) == 9
    movz_x8 = {w for w in words if w & 0xFFE0001F == 0xD2800008}  # movz x8, #imm
    assert {(w >> 5) & 0xFFFF for w in movz_x8} == {113, 56, 63, 57, 64, 73, 94}


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
        assert names == ["Dockerfile", "probe", "spin"]
        spin = tar.extractfile("spin")
        assert spin is not None and spin.read() == a.spin and tar.getmember("spin").mode == 0o755
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
    # The current three-line output still gives the monotonic reading.
    assert probe_image.parse_probe_output(b"477.226697045\n" + BOOT + b"\n1796109639.478658237\n") == (
        477_226_697_045
    )
    assert probe_image.parse_probe_output(b"0.000000001\n") == 1
    assert probe_image.parse_probe_output(b"") is None
    assert probe_image.parse_probe_output(b"12.34\n") is None
    assert probe_image.parse_probe_output(b"hello\n") is None


# Real outputs of this probe image through Docker on the development VM (2026-12-01):
# runc shares the host kernel; gVisor's runsc (release 20221219) has no
# /proc/sys/kernel/random/boot_id and its own CLOCK_MONOTONIC.
BOOT = b"36caab33-baea-463b-9927-1c49a22d756b"
RUNC_OUTPUT = b"737.520863690\n" + BOOT + b"\n1796109639.478658237\n"
RUNSC_OUTPUT = b"0.104806775\n-\n1796109639.790921290\n"


def test_parse_probe_report_current_and_old_output() -> None:
    runc = probe_image.parse_probe_report(RUNC_OUTPUT)
    assert runc == probe_image.ProbeReport(
        737_520_863_690, BOOT.decode(), probe_image.BOOT_ID_READ, 1_796_109_639_478_658_237
    )
    runsc = probe_image.parse_probe_report(RUNSC_OUTPUT)
    assert runsc == probe_image.ProbeReport(
        104_806_775, None, probe_image.BOOT_ID_UNREADABLE, 1_796_109_639_790_921_290
    )
    old = probe_image.parse_probe_report(b"477.226697045\n")
    assert old == probe_image.ProbeReport(477_226_697_045, None, probe_image.BOOT_ID_NOT_REPORTED, None)
    # A malformed boot id line is not a boot id.
    bad = probe_image.parse_probe_report(b"1.000000000\nnot-a-uuid\n")
    assert bad is not None and bad.boot_id is None and bad.boot_id_status == probe_image.BOOT_ID_UNREADABLE
    assert probe_image.parse_probe_report(b"hello\n" + BOOT + b"\n") is None
    assert probe_image.parse_probe_report(b"") is None


def test_parse_boot_id() -> None:
    assert probe_image.parse_boot_id(BOOT.decode().upper() + "\n") == BOOT.decode()
    assert probe_image.parse_boot_id("-") is None
    assert probe_image.parse_boot_id("36caab33baea463b99271c49a22d756b") is None
    assert probe_image.parse_boot_id("36caab33-baea-463b-9927-1c49a22d756g") is None


@given(st.binary(max_size=64))
def test_parse_probe_output_never_raises(data: bytes) -> None:
    result = probe_image.parse_probe_output(data)
    assert result is None or result >= 0
    report = probe_image.parse_probe_report(data)
    assert report is None or (report.monotonic_ns == result and report.boot_id_status in STATUSES)


STATUSES = {probe_image.BOOT_ID_READ, probe_image.BOOT_ID_UNREADABLE, probe_image.BOOT_ID_NOT_REPORTED}


@given(st.integers(min_value=0, max_value=2**40), st.integers(min_value=0, max_value=999_999_999), st.uuids())
def test_parse_probe_report_roundtrip(sec: int, nsec: int, boot: uuid.UUID) -> None:
    data = f"{sec}.{nsec:09d}\n{boot}\n{nsec}.{sec % 10**9:09d}\n".encode()
    report = probe_image.parse_probe_report(data)
    assert report == probe_image.ProbeReport(
        sec * 10**9 + nsec, str(boot), probe_image.BOOT_ID_READ, nsec * 10**9 + sec % 10**9
    )


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


def host_boot_id() -> str:
    with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
        return fh.read().strip()


def run_and_check_same_kernel(argv: list[str], timeout: float) -> None:
    """The probe's clocks fall inside the window around its run, and its boot id is this kernel's."""
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    real_before = time.clock_gettime_ns(time.CLOCK_REALTIME)
    proc = subprocess.run(argv, capture_output=True, check=False, timeout=timeout)
    real_after = time.clock_gettime_ns(time.CLOCK_REALTIME)
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    assert proc.returncode == 0 and proc.stderr == b""
    assert proc.stdout.endswith(b"\n") and proc.stdout.count(b"\n") == 3
    report = probe_image.parse_probe_report(proc.stdout)
    assert report is not None
    assert before <= report.monotonic_ns <= after
    assert report.boot_id_status == probe_image.BOOT_ID_READ and report.boot_id == host_boot_id()
    assert report.realtime_ns is not None and real_before <= report.realtime_ns <= real_after


def test_x86_64_probe_runs_and_prints_monotonic_time_and_boot_id(tmp_path: Path) -> None:
    run_and_check_same_kernel([str(_native(tmp_path))], timeout=10)


def _chroot_without_proc(tmp_path: Path, exe: Path) -> Path:
    """An empty root holding only the probe, so that boot_id cannot be opened."""
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(exe, root / "probe")
    return root


def test_x86_64_probe_prints_absent_marker_without_proc(tmp_path: Path) -> None:
    root = _chroot_without_proc(tmp_path, _native(tmp_path))
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    proc = subprocess.run(["chroot", str(root), "/probe"], capture_output=True, check=False, timeout=10)
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split(b"\n")[1] == b"-"
    report = probe_image.parse_probe_report(proc.stdout)
    assert report is not None and report.boot_id is None
    assert report.boot_id_status == probe_image.BOOT_ID_UNREADABLE
    assert before <= report.monotonic_ns <= after and report.realtime_ns is not None


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
    """The aarch64 bytes really execute: raw clock_gettime, openat/read/close, write, exit (QEMU
    user mode passes the syscalls to this kernel, so the clocks and the boot id are the host's)."""
    run_and_check_same_kernel(_aarch64(tmp_path), timeout=30)


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


@pytest.mark.qemu
@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
@pytest.mark.parametrize(
    ("setup", "why"),
    [("", "boot_id missing: open fails"), ("echo short > /proc/sys/kernel/random/boot_id", "short read")],
)
def test_probe_prints_absent_marker_when_boot_id_cannot_be_read(
    tmp_path: Path, arch: str, setup: str, why: str
) -> None:
    """Both branches to "-": open() failing, and a read shorter than a boot id. A tmpfs over
    /proc/sys/kernel/random in a private mount namespace hides the real file (needs root)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) for a private mount namespace")
    argv = _aarch64(tmp_path) if arch == "aarch64" else [str(_native(tmp_path))]
    script = f"mount -t tmpfs none /proc/sys/kernel/random && {setup or 'true'} && exec {' '.join(argv)}"
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, check=False, timeout=30)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.split(b"\n")
    assert lines[1] == b"-", why
    report = probe_image.parse_probe_report(proc.stdout)
    assert report is not None and report.boot_id_status == probe_image.BOOT_ID_UNREADABLE
    assert report.realtime_ns is not None


def test_tag_changes_when_the_elf_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    before = probe_image.probe_image("x86_64").tag
    machine, code = probe_image.ARCHES["x86_64"]
    monkeypatch.setitem(probe_image.ARCHES, "x86_64", (machine, code[:-1] + b"\x01"))
    after = probe_image.probe_image("x86_64").tag
    assert after != before and after.startswith("virtprobe/probe:x86_64-")


# --- live, through the engine: runc shares this kernel, gVisor's runsc does not ----------


@pytest.fixture(scope="module")
def docker_api() -> Any:
    docker = pytest.importorskip("docker")
    try:
        api = docker.from_env(timeout=60).api
        api.ping()
    except (docker.errors.DockerException, OSError) as err:  # requests' errors are OSErrors
        live_skip(f"Docker engine unreachable: {err}")
    image = probe_image.probe_image("x86_64")
    build_image(api, image)
    return api


def run_in_engine(api: Any, runtime: str) -> tuple[int, int, bytes]:
    """(monotonic ns before start, after exit, stdout) of one probe container under a runtime."""
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("the live engine test builds the x86_64 probe")
    offered = api.info().get("Runtimes") or {}
    if runtime not in offered:
        live_skip(f"the engine offers no {runtime!r} runtime (it offers {', '.join(sorted(offered))})")
    host_config = api.create_host_config(network_mode="none", runtime=runtime, cap_drop=["ALL"], read_only=True)
    cid = api.create_container(
        probe_image.probe_image("x86_64").tag, host_config=host_config, labels={"io.virtprobe.run": "test-probe"}
    )["Id"]
    try:
        before = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        api.start(cid)
        status = api.wait(cid, timeout=60)["StatusCode"]
        after = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        out = bytes(api.logs(cid, stdout=True, stderr=False))
        assert status == 0, out
        return before, after, out
    finally:
        api.remove_container(cid, force=True)


@pytest.mark.docker
def test_probe_under_runc_reports_this_kernel(docker_api: Any) -> None:
    before, after, out = run_in_engine(docker_api, "runc")
    report = probe_image.parse_probe_report(out)
    assert report is not None
    assert report.boot_id_status == probe_image.BOOT_ID_READ and report.boot_id == host_boot_id()
    assert before <= report.monotonic_ns <= after


@pytest.mark.docker
def test_probe_under_runsc_reports_another_kernel_and_clock(docker_api: Any) -> None:
    """gVisor is a kernel of its own: not this boot id (20221219 has none at all), and its
    CLOCK_MONOTONIC is not the host's (MEASURED.md: 0.12 s against the host's 1974 s)."""
    before, _after, out = run_in_engine(docker_api, "runsc")
    report = probe_image.parse_probe_report(out)
    assert report is not None
    assert report.boot_id != host_boot_id()
    assert report.boot_id_status in (probe_image.BOOT_ID_READ, probe_image.BOOT_ID_UNREADABLE)
    assert report.monotonic_ns < before


# --- the function probe (/spin) -----------------------------------------------------------


def _spin_argv(tmp_path: Path, arch: str) -> list[str]:
    exe = tmp_path / f"spin-{arch}"
    exe.write_bytes(probe_image.build_spin_elf(arch))
    os.chmod(exe, 0o755)
    if probe_image.normalize_arch(platform.machine()) == arch:
        return [str(exe)]
    qemu = shutil.which("qemu-aarch64") or shutil.which("qemu-aarch64-static")
    if arch != "aarch64" or qemu is None:
        live_skip(f"cannot run the {arch} function probe here (no {arch} host, no qemu user mode)")
    return [str(qemu), str(exe)]


def _cpu_ns(usage: Any) -> int:
    return round((usage.ru_utime + usage.ru_stime) * 1e9)


@pytest.mark.qemu
@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_function_probe_spins_for_its_cpu_time_and_reports_start_and_end(tmp_path: Path, arch: str) -> None:
    import resource

    argv = _spin_argv(tmp_path, arch)
    cpu_before = _cpu_ns(resource.getrusage(resource.RUSAGE_CHILDREN))
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    proc = subprocess.run([*argv, "40"], capture_output=True, check=False, timeout=30)
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
    cpu_ns = _cpu_ns(resource.getrusage(resource.RUSAGE_CHILDREN)) - cpu_before
    assert proc.returncode == 0 and proc.stderr == b""
    got = probe_image.parse_spin_output(proc.stdout)
    assert got is not None, proc.stdout
    start, end = got
    assert before <= start <= end <= after
    # It spun on CPU, not on the wall clock: its own CPU time covers the 40 ms asked for.
    assert cpu_ns >= 40_000_000
    if len(argv) == 1:
        # Natively the process has one thread, so 40 ms of its CPU time take at least 40 ms of wall
        # time. (QEMU user mode's own threads add to the process's CPU time, so not there.)
        assert end - start >= 40_000_000


def test_parse_spin_output() -> None:
    assert probe_image.parse_spin_output(b"5.000000001\n5.100000001\n") == (5_000_000_001, 5_100_000_001)
    assert probe_image.parse_spin_output(b"5.100000001\n5.000000001\n") is None  # end before start
    assert probe_image.parse_spin_output(b"5.000000001\n") is None
    assert probe_image.parse_spin_output(b"garbage\n5.1\n") is None


@given(st.binary(max_size=80))
def test_parse_spin_output_never_raises(data: bytes) -> None:
    got = probe_image.parse_spin_output(data)
    assert got is None or got[0] <= got[1]
