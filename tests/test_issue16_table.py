"""Issue 16's table, one test per row: what was tried, and that it is now one line with its exit code, or handled.

Every case runs the real CLI in a subprocess with a timeout (a hang fails the
test), and the cases with big inputs measure the child's peak RSS with wait4:
it must stay under 256 MiB for any input of 64 MiB or less on disk.

Rows owned elsewhere and not tested here: "terminal output" and the writer
half of "Markdown and CI logs" (escaping in each writer: the section-model
work), and "privacy" (snapshot --script: the detect work). The engine rows that
need an engine to die or a running container to be kept run against a private
dockerd in tests/test_bench_daemon_dies.py.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import gzip
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOTS, live_skip, without_progress
from virtprobe.benchmark import connect
from virtprobe.errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_REGRESSION, EXIT_USAGE, InputError
from virtprobe.machine import archive as archive_mod
from virtprobe.report.write import write_text

REPO = Path(__file__).resolve().parent.parent
FIX = Path(__file__).parent / "fixtures" / "reports"
MIB = 1024 * 1024
PEAK_RSS_LIMIT = 256 * MIB


@dataclass
class Run:
    code: int
    out: str
    err: str
    peak_rss: int  # bytes, of the virtprobe process alone (wait4)
    seconds: float


def virtprobe(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> Run:
    """Run the CLI in a child: its exit code and output; a hang past timeout fails the test."""
    t0 = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "virtprobe", *args],
            cwd=REPO,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"virtprobe {' '.join(args)} hung for {timeout} s")
    out, err = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    return Run(proc.returncode, out, err, 0, time.monotonic() - t0)


# The child writes its own VmHWM (the peak RSS of its address space after exec) at exit:
# wait4's ru_maxrss would also count the pages of this test process it was forked from.
_PEAK_MAIN = """
import atexit, os, sys
def _peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            with open(os.environ["VP_PEAK_FILE"], "w") as fh:
                fh.write(line.split()[1])
atexit.register(_peak)
sys.argv = ["virtprobe", *sys.argv[1:]]
from virtprobe.cli.main import main
main()
"""


def virtprobe_peak(*args: str, timeout: float = 120, env: dict[str, str] | None = None) -> Run:
    """As virtprobe(), with the child's own peak RSS (VmHWM, in bytes)."""
    with _tmpfile() as peak_f:
        t0 = time.monotonic()
        try:
            proc = subprocess.run(
                [sys.executable, "-c", _PEAK_MAIN, *args],
                cwd=REPO,
                env={**os.environ, **(env or {}), "VP_PEAK_FILE": f"/proc/{os.getpid()}/fd/{peak_f.fileno()}"},
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(f"virtprobe {' '.join(args)} hung for {timeout} s")
        peak_f.seek(0)
        text = peak_f.read().decode().strip()
    assert text, "the child did not report its peak RSS"
    out, err = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    return Run(proc.returncode, out, err, int(text) * 1024, time.monotonic() - t0)


@contextlib.contextmanager
def _tmpfile() -> Iterator[Any]:
    import tempfile

    with tempfile.TemporaryFile() as fh:
        yield fh


def one_line_error(run: Run, code: int, needle: str = "") -> str:
    """The run failed with exactly one stderr line, the exit code given, and no traceback."""
    assert run.code == code, (run.code, run.err[-2000:])
    assert "Traceback" not in run.err, run.err[-3000:]
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err[-3000:]
    line = lines[0]
    assert line.startswith("virtprobe: error: "), line
    assert not line.startswith("::") and line.isprintable(), repr(line)
    assert len(line) < 1200
    assert needle in line, line
    return line


def _gz_of_zeros(size: int) -> bytes:
    """gzip members of 1 MiB of zeros, concatenated: `size` bytes inflated from about size/1000 on disk."""
    one = gzip.compress(b"\0" * MIB, compresslevel=9)
    return one * (size // MIB) + gzip.compress(b"\0" * (size % MIB))


def _header_bomb(path: Path, typ: bytes, size: int) -> Path:
    """A .tar.gz whose first header claims `size` bytes of long name (GNU) or pax records."""
    info = tarfile.TarInfo("././@LongLink" if typ != tarfile.XHDTYPE else "./PaxHeaders/x")
    info.type = typ
    info.size = size
    head = gzip.compress(info.tobuf(format=tarfile.USTAR_FORMAT if typ == tarfile.XHDTYPE else tarfile.GNU_FORMAT))
    body = gzip.compress(b"a" * MIB, compresslevel=9) * (size // MIB)
    path.write_bytes(head + body + gzip.compress(b"\0" * 1024))
    return path


def _tar(path: Path, members: Sequence[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def _member(name: str, typ: bytes = tarfile.DIRTYPE, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = typ
    info.size = size
    return info


# --- row: archive limits --------------------------------------------------------------


ARCHIVES: dict[str, tuple[Callable[[Path], Path], str]] = {
    "1,500 nested folders, one member each": (
        lambda t: _tar(t / "deep.tar.gz", [(_member("/".join(["d"] * (i + 1))), None) for i in range(1500)]),
        "folders deep",
    ),
    "500 nested folders in one name": (
        lambda t: _tar(t / "deep2.tar.gz", [(_member("/".join(["d"] * 500)), None)]),
        "folders deep",
    ),
    "1,500 nested folders in one name": (
        lambda t: _tar(t / "deep3.tar.gz", [(_member("/".join(["d"] * 1500)), None)]),
        "longer than 1024 characters",
    ),
    "GNU long-name header of 256 MiB": (
        lambda t: _header_bomb(t / "longname.tar.gz", tarfile.GNUTYPE_LONGNAME, 256 * MIB),
        "an extended header of 268435456 bytes",
    ),
    "pax header of 256 MiB": (
        lambda t: _header_bomb(t / "pax.tar.gz", tarfile.XHDTYPE, 256 * MIB),
        "an extended header of 268435456 bytes",
    ),
    "60,000 './' members": (
        lambda t: _tar(t / "dots.tar.gz", [(_member("./"), None)] * 60_000),
        "more than 50000 members",
    ),
    "a './' file of 4 GiB of zeros": (
        lambda t: _dot_file_bomb(t / "dotfile.tar.gz"),
        "the root itself",
    ),
}


def _dot_file_bomb(path: Path) -> Path:
    # A regular member named "./" claiming 4 GiB: its data was skipped uncounted (inflating all of it).
    head = gzip.compress(_member("./", tarfile.REGTYPE, 4096 * MIB).tobuf(format=tarfile.GNU_FORMAT))
    path.write_bytes(head + _gz_of_zeros(64 * MIB))  # the bomb need not be whole to be refused
    return path


@pytest.mark.parametrize("case", sorted(ARCHIVES))
def test_row_archive_limits(case: str, tmp_path: Path) -> None:
    make, needle = ARCHIVES[case]
    archive = make(tmp_path)
    env = {"TMPDIR": str(tmp_path / "tmp")}
    (tmp_path / "tmp").mkdir()
    run = virtprobe_peak("detect", "--json", "--root", str(archive), env=env)
    one_line_error(run, EXIT_ERROR, needle)
    assert run.peak_rss < PEAK_RSS_LIMIT, run.peak_rss
    assert os.listdir(tmp_path / "tmp") == []  # the unpack folder is gone


def test_row_archive_decompressed_stream_is_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the headers claim, inflating stops at MAX_STREAM_BYTES (here made small to test it)."""
    monkeypatch.setattr(archive_mod, "MAX_STREAM_BYTES", 2 * MIB)
    members = [(_member(f"snap/f{i}", tarfile.REGTYPE, MIB), os.urandom(MIB)) for i in range(4)]
    archive = _tar(tmp_path / "big.tar.gz", members)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(InputError, match="expands to more than 2097152 bytes"):
        archive_mod.unpack(archive, dest)
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_row_archive_sigterm_during_unpack_removes_the_folder(tmp_path: Path, sig: signal.Signals) -> None:
    # 15 members of 4 MiB of random bytes: long enough to unpack that SIGTERM lands during it.
    members = [(_member(f"snap/sys/f{i}", tarfile.REGTYPE, 4 * MIB), os.urandom(4 * MIB)) for i in range(15)]
    archive = _tar(tmp_path / "slow.tar.gz", members)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "virtprobe", "detect", "--json", "--root", str(archive)],
        cwd=REPO,
        env={**os.environ, "TMPDIR": str(tmp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        folders = list(tmp.iterdir())
        if folders and any(folders[0].rglob("*")):
            break
        time.sleep(0.005)
    assert proc.poll() is None, "the unpack ended before the signal could be sent"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert len(err.decode().strip().splitlines()) == 1 and b"Traceback" not in err, err
    assert list(tmp.iterdir()) == []


# --- row: snapshot JSON ---------------------------------------------------------------


def _meta_with(raw: bytes) -> Callable[[Path], Path]:
    def make(t: Path) -> Path:
        root = t / "root"
        root.mkdir()
        (root / "virtprobe-snapshot.json").write_bytes(raw)
        return root

    return make


def _meta_link(target: str) -> Callable[[Path], Path]:
    def make(t: Path) -> Path:
        root = t / "root"
        root.mkdir()
        (t / "outside.json").write_text('{"format": 1, "machine": "OUTSIDE"}')
        (root / "virtprobe-snapshot.json").symlink_to(target if target != "outside" else t / "outside.json")
        return root

    return make


SNAPSHOT_JSON: dict[str, tuple[Callable[[Path], Path], str]] = {
    "nested 200,000 deep": (_meta_with(b"[" * 200_000 + b"]" * 200_000), "nested too deeply"),
    "a 5,000-digit integer": (_meta_with(b'{"format": 1, "msr": {"0xc0010131": ' + b"9" * 5000 + b"}}"), "digits"),
    "NaN in kvm_probe": (_meta_with(b'{"format": 1, "kvm_probe": {"probe_s": NaN}}'), "NaN is not a JSON number"),
    "a symlink leaving the root": (_meta_link("outside"), "points outside the snapshot root"),
    "a symlink to /dev/zero": (_meta_link("/dev/zero"), "outside the snapshot root"),
}


@pytest.mark.parametrize("case", sorted(SNAPSHOT_JSON))
def test_row_snapshot_json(case: str, tmp_path: Path) -> None:
    make, needle = SNAPSHOT_JSON[case]
    run = virtprobe_peak("detect", "--json", "--root", str(make(tmp_path)), timeout=60)
    one_line_error(run, EXIT_ERROR, needle)
    assert "OUTSIDE" not in run.out + run.err
    assert run.peak_rss < PEAK_RSS_LIMIT


def test_row_snapshot_json_a_device_inside_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    os.mkfifo(root / "virtprobe-snapshot.json")  # the device case: not a regular file either
    one_line_error(virtprobe("detect", "--json", "--root", str(root), timeout=60), EXIT_ERROR, "FIFO")


# --- row: special files in --root DIR ---------------------------------------------------


def test_row_special_files_fifo_as_proc_cpuinfo(tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(ROOTS / "firecracker_this_machine", root, symlinks=True)
    (root / "proc" / "cpuinfo").unlink()
    os.mkfifo(root / "proc" / "cpuinfo")  # nobody ever writes to it: a read would wait forever
    run = virtprobe("detect", "--json", "--evidence", "--root", str(root), timeout=60)
    assert run.code == 0, run.err
    evidence = json.loads(run.out)["evidence"]
    assert any(e["source"] == "/proc/cpuinfo" and "FIFO" in (e["note"] or "") for e in evidence), evidence


def test_row_special_files_fifo_as_snapshot_json(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    os.mkfifo(root / "virtprobe-snapshot.json")
    one_line_error(virtprobe("detect", "--json", "--root", str(root), timeout=60), EXIT_ERROR, "not a regular file")


# --- row: Markdown and CI logs (the error half: compare's "different environments") ---------


def test_row_ci_logs_compare_different_environments_is_one_line(tmp_path: Path) -> None:
    doc = json.loads((FIX / "bench-base.json").read_text())
    hostile = copy.deepcopy(doc)
    hostile["environment"]["kernel"] = "6.1\n::error::pwned\n::add-mask::x\n<script>alert(1)</script>"
    hostile["environment"]["cpu_model"] = "\x1b]8;;http://evil/\x07cpu\x1b]8;;\x07\n# Heading"
    (tmp_path / "new.json").write_text(json.dumps(hostile))
    run = virtprobe("compare", str(FIX / "bench-base.json"), str(tmp_path / "new.json"))
    line = one_line_error(run, EXIT_ERROR, "different environments")
    assert "\x1b" not in line and "::error" in line  # kept as text, never at the start of a line


# --- row: numbers -------------------------------------------------------------------------


def test_row_numbers_samples_of_1e308(tmp_path: Path) -> None:
    doc = json.loads((FIX / "bench-base.json").read_text())
    huge = copy.deepcopy(doc)
    for i, sample in enumerate(huge["container"]["samples"]):
        for key in ("start_s", "cycle_s", "create_s", "first_instruction_s"):
            if sample.get(key) is not None:
                sample[key] = 1e308 if i % 2 else 1.7e308
    (tmp_path / "huge.json").write_text(json.dumps(huge))
    shown = virtprobe("report", str(tmp_path / "huge.json"))
    assert shown.code == 0 and "Traceback" not in shown.err, shown.err
    for pair in ((FIX / "bench-base.json", tmp_path / "huge.json"), (tmp_path / "huge.json", FIX / "bench-base.json")):
        run = virtprobe("compare", str(pair[0]), str(pair[1]))
        assert run.code in (0, EXIT_REGRESSION), run.err
        assert "Traceback" not in run.err and "Overflow" not in run.err, run.err


def test_row_numbers_infinity_is_refused_at_the_door(tmp_path: Path) -> None:
    text = (FIX / "bench-base.json").read_text().replace('"start_s": 0.', '"start_s": 1e999, "x": 0.', 1)
    (tmp_path / "inf.json").write_text(text)
    one_line_error(virtprobe("compare", str(FIX / "bench-base.json"), str(tmp_path / "inf.json")), EXIT_ERROR, "range")


# --- row: size ----------------------------------------------------------------------------


def _report_of(size: int) -> Callable[[Path], str]:
    def make(t: Path) -> str:
        path = t / "big.json"
        with open(path, "wb") as fh:
            fh.write(b'{"kind": "bench", "schema_version": "1.1", "pad": "')
            fh.write(b"x" * (size - 60))
            fh.write(b'"}')
        return str(path)

    return make


def _fifo(t: Path) -> str:
    os.mkfifo(t / "r.json")
    return str(t / "r.json")


def _many_values(t: Path) -> str:
    # Just inside the limits: about 490,000 small objects in 7 MiB, the most a report may make.
    path = t / "values.json"
    path.write_text('{"kind": "bench", "schema_version": "1.1", "x": [' + ",".join(['{"k":1}'] * 490_000) + "]}")
    return str(path)


SIZES: dict[str, tuple[Callable[[Path], str], str]] = {
    "/dev/zero": (lambda t: "/dev/zero", "not a regular file (a device)"),
    "a FIFO": (_fifo, "not a regular file (a FIFO)"),
    "a 119 MB report": (_report_of(119 * 1000 * 1000), "larger than 16777216 bytes"),
    "a 64 MiB report": (_report_of(64 * MIB), "larger than 16777216 bytes"),
    "a report of 490,000 objects": (_many_values, "does not match the bench"),
}


@pytest.mark.parametrize("case", sorted(SIZES))
def test_row_size(case: str, tmp_path: Path) -> None:
    make, needle = SIZES[case]
    run = virtprobe_peak("report", make(tmp_path), timeout=120)
    one_line_error(run, EXIT_ERROR, needle)
    assert run.peak_rss < PEAK_RSS_LIMIT, f"{run.peak_rss / MIB:.0f} MiB"


def test_row_size_every_file_under_a_root_is_capped(tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(ROOTS / "firecracker_this_machine", root, symlinks=True)
    with open(root / "proc" / "cpuinfo", "wb") as fh:
        fh.truncate(64 * MIB)  # 64 MiB on disk as far as st_size says
    run = virtprobe_peak("detect", "--json", "--evidence", "--root", str(root), timeout=120)
    assert run.code == 0, run.err
    assert run.peak_rss < PEAK_RSS_LIMIT
    notes = [e["note"] for e in json.loads(run.out)["evidence"] if e["source"] == "/proc/cpuinfo"]
    assert any("larger than" in (n or "") for n in notes), notes


# --- row: writing files: a planted symlink ---------------------------------------------------


def test_row_writing_a_planted_symlink_is_never_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    dest = tmp_path / "out.json"
    # Every name the old code could have used (OUT.tmp-PID, .OUT.tmp-PID) for a range of pids.
    for pid in range(max(1, os.getpid() - 50), os.getpid() + 50):
        for name in (f"{dest.name}.tmp-{pid}", f".{dest.name}.tmp-{pid}"):
            (tmp_path / name).symlink_to(victim)
    write_text("{}\n", str(dest))
    write_text("{}\n", str(dest), force=True)
    assert victim.read_text() == "precious\n"
    assert dest.read_text() == "{}\n" and not dest.is_symlink()
    out = tmp_path / "detect.json"
    (tmp_path / f"{out.name}.tmp-{os.getpid()}").symlink_to(victim)
    run = virtprobe("detect", "--json", "--root", str(ROOTS / "firecracker_this_machine"), "-o", str(out))
    assert run.code == 0, run.err
    assert victim.read_text() == "precious\n"
    assert json.loads(out.read_text())["kind"] == "detect"


def test_row_writing_a_file_made_meanwhile_is_not_overwritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from virtprobe.machine import atomic

    dest = tmp_path / "out.json"
    real_put = atomic._put_in_place

    def racing(tmp: str, target: str, force: bool) -> None:
        Path(target).write_text("someone else's\n")  # appears between the check and the rename
        real_put(tmp, target, force)

    monkeypatch.setattr(atomic, "_put_in_place", racing)
    with pytest.raises(InputError, match="already exists"):
        write_text("{}\n", str(dest))
    assert dest.read_text() == "someone else's\n"
    assert os.listdir(tmp_path) == ["out.json"]


# --- row: snapshot DIR --force ---------------------------------------------------------------


def test_row_snapshot_force_never_deletes_a_folder_virtprobe_did_not_make(tmp_path: Path) -> None:
    user = tmp_path / "photos"
    user.mkdir()
    (user / "holiday.jpg").write_bytes(b"\xff\xd8 not ours")
    one_line_error(
        virtprobe("snapshot", str(user), "--force", "--no-kvm-probe"), EXIT_ERROR, "is not a virtprobe snapshot"
    )
    assert (user / "holiday.jpg").read_bytes() == b"\xff\xd8 not ours"
    # A real snapshot with a user's file put inside it: not replaced either.
    snap = tmp_path / "snap"
    assert virtprobe("snapshot", str(snap), "--no-kvm-probe").code == 0
    (snap / "proc" / "my-notes.txt").write_text("mine")
    one_line_error(virtprobe("snapshot", str(snap), "--force", "--no-kvm-probe"), EXIT_ERROR, "proc/my-notes.txt")
    assert (snap / "proc" / "my-notes.txt").read_text() == "mine"
    # A file that is not a snapshot archive is not replaced by --force either.
    notes = tmp_path / "notes.tar.gz"
    notes.write_text("not an archive")
    one_line_error(virtprobe("snapshot", str(notes), "--force", "--no-kvm-probe"), EXIT_ERROR, "not a virtprobe")
    assert notes.read_text() == "not an archive"


def test_row_snapshot_force_replaces_a_snapshot_whole(tmp_path: Path) -> None:
    snap = tmp_path / "snap"
    assert virtprobe("snapshot", str(snap), "--no-kvm-probe").code == 0
    inode = snap.stat().st_ino
    run = virtprobe("snapshot", str(snap), "--force", "--no-kvm-probe")
    assert run.code == 0, run.err
    assert snap.stat().st_ino != inode  # a new folder swapped in, not the old one emptied and refilled
    assert json.loads((snap / "virtprobe-snapshot.json").read_text())["format"] == 1
    assert sorted(os.listdir(tmp_path)) == ["snap"]  # nothing left beside it
    archive = tmp_path / "snap.tar.gz"
    assert virtprobe("snapshot", str(archive), "--no-kvm-probe").code == 0
    assert virtprobe("snapshot", str(archive), "--force", "--no-kvm-probe").code == 0
    assert archive_mod.is_snapshot_archive(archive)


# --- row: snapshot --force killed mid-way; snapshot DIR on a full disk --------------------------


def _old_snapshot(tmp_path: Path) -> Path:
    snap = tmp_path / "snap"
    assert virtprobe("snapshot", str(snap), "--no-kvm-probe").code == 0
    return snap


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
@pytest.mark.parametrize("delay_s", [0.05, 0.15, 0.3])
def test_row_snapshot_force_killed_mid_way(tmp_path: Path, sig: signal.Signals, delay_s: float) -> None:
    """Killed at any moment, OUT is the old snapshot or the new one, whole; SIGTERM leaves nothing beside it."""
    snap = _old_snapshot(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "virtprobe", "snapshot", str(snap), "--force", "--no-kvm-probe"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(delay_s)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert b"Traceback" not in err, err
    meta = json.loads((snap / "virtprobe-snapshot.json").read_text())
    assert meta["format"] == 1
    from virtprobe.machine.source import RootSource

    RootSource(snap)  # whole, old or new: it loads (the new one is swapped in only once written)
    if proc.returncode == EXIT_INTERRUPTED:
        # Caught before the swap, OUT is the old one, untouched; caught after it, while the old
        # copy (swapped aside) was being removed, OUT is the new one, which loaded whole above,
        # and the old copy is gone (below).
        assert len(err.decode().strip().splitlines()) == 1
    if sig == signal.SIGTERM:
        assert sorted(os.listdir(tmp_path)) == ["snap"], os.listdir(tmp_path)  # the half-made new one went


@contextlib.contextmanager
def small_disk(tmp_path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` mounted for this test (root only), unmounted after."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        live_skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip()}); the ENOSPC test below covers it")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_row_snapshot_on_a_full_disk_leaves_nothing_half_written(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        live_skip("mounting a small tmpfs needs root; the ENOSPC test below covers it elsewhere")
    snap = _old_snapshot(tmp_path)
    with small_disk(tmp_path, "4m") as disk:
        old = disk / "old"
        shutil.copytree(snap, old, symlinks=True)
        before = sorted(str(p.relative_to(old)) for p in old.rglob("*"))
        # Fill the disk but for 64 KiB: the old snapshot fits, a new one beside it does not.
        free = shutil.disk_usage(disk).free
        fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            os.write(fd, b"\0" * max(0, free - 64 * 1024))
        finally:
            os.close(fd)
        for out, args in ((old, ["--force"]), (disk / "new", []), (disk / "new.tar.gz", [])):
            run = virtprobe("snapshot", str(out), *args, "--no-kvm-probe")
            if run.code == 0:  # the .tar.gz can fit in 64 KiB; then it is whole
                assert archive_mod.is_snapshot_archive(out)
                continue
            one_line_error(run, EXIT_ERROR, "No space left on device")
        assert sorted(str(p.relative_to(old)) for p in old.rglob("*")) == before
        assert sorted(p.name for p in disk.iterdir() if not p.name.startswith("new.tar")) == ["filler", "old"]


def test_row_snapshot_enospc_injected_leaves_out_as_it_was(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same, on any machine: every write of the capture fails with ENOSPC after a few files."""
    from virtprobe.detection import capture

    snap = tmp_path / "snap"
    capture.capture(snap, force=False, kvm_probe=False)
    before = {p: p.read_bytes() for p in snap.rglob("*") if p.is_file() and not p.is_symlink()}
    real_write = Path.write_bytes
    count = {"n": 0}

    def full(self: Path, data: Any) -> int:
        count["n"] += 1
        if count["n"] > 20:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(InputError, match="No space left on device"):
        capture.capture(snap, force=True, kvm_probe=False)
    assert {p: p.read_bytes() for p in snap.rglob("*") if p.is_file() and not p.is_symlink()} == before
    assert sorted(os.listdir(tmp_path)) == ["snap"]


# --- rows: addresses ---------------------------------------------------------------------------


ADDRESSES: dict[str, tuple[list[str], str]] = {
    "-H unix:// with no path": (["-H", "unix://"], "names no socket"),
    "ssh://host:-o...": (["-H", "ssh://host:-oProxyCommand=id"], "a port is 1 to 65535"),
    "ssh://-o... as the host": (["-H", "ssh://-oProxyCommand=id"], "not a host name"),
    "port 99999": (["-H", "tcp://127.0.0.1:99999"], "a port is 1 to 65535"),
    "a newline in a host": (["-H", "tcp://127.0.0.1:2375\n::error::pwned"], "control character"),
    "a newline in a context name": (["--context", "box\n::error::pwned"], "control character"),
}


@pytest.mark.parametrize("case", sorted(ADDRESSES))
@pytest.mark.parametrize("command", ["bench", "clean"])
def test_row_addresses(case: str, command: str) -> None:
    args, needle = ADDRESSES[case]
    extra = ["-n", "1", "--memory", "0"] if command == "bench" else []
    line = one_line_error(virtprobe(command, *extra, *args, timeout=60), EXIT_USAGE, needle)
    assert "::error" not in line.split("error: ", 1)[1][:2]


def test_row_address_plain_tcp_to_another_host_warns_once() -> None:
    # Parsing only: nothing connects to 192.0.2.1 (TEST-NET-1, RFC 5737).
    [target] = connect.resolve_targets(["tcp://192.0.2.1:2375"], env={})
    assert len(target.warnings) == 1 and "plain TCP" in target.warnings[0]
    assert "\n" not in target.warnings[0]
    for loopback in ("tcp://127.0.0.2:2375", "tcp://[::1]:2375", "tcp://localhost:2375"):
        assert connect.resolve_targets([loopback], env={})[0].warnings == ()
    tls = connect.TlsFiles("ca.pem", "cert.pem", "key.pem", verify=True)
    assert connect._address_warnings("tcp://192.0.2.1:2376", tls, "x") == ()


def test_row_address_plain_tcp_warning_is_printed_once_by_the_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CLI says it once, then goes on (here to a scripted engine: nothing connects to 192.0.2.1)."""
    from tests.scripted import RealClock, ScriptedBackend
    from virtprobe.cli.main import main

    backend = ScriptedBackend(RealClock())
    monkeypatch.setattr("virtprobe.benchmark.docker_backend.DockerBackend", lambda **kw: backend)
    monkeypatch.setattr("sys.argv", ["virtprobe", "clean", "-H", "tcp://192.0.2.1:2375"])
    with pytest.raises(SystemExit) as done:
        main()
    err = capsys.readouterr().err
    assert done.value.code in (0, None), err
    assert err.count("plain TCP") == 1 and err.count("\n") == 2, err  # the warning, then clean's own line


def _context(tmp_path: Path, name: str, meta: bytes) -> dict[str, str]:
    folder = tmp_path / "contexts" / "meta" / connect.context_id(name)
    folder.mkdir(parents=True)
    (folder / "meta.json").write_bytes(meta)
    (tmp_path / "contexts" / "tls" / connect.context_id(name) / "docker").mkdir(parents=True)
    return {"DOCKER_CONFIG": str(tmp_path)}


def test_row_address_skip_tls_verify_as_a_string(tmp_path: Path) -> None:
    meta = b'{"Name": "box", "Endpoints": {"docker": {"Host": "tcp://127.0.0.1:2376", "SkipTLSVerify": "false"}}}'
    env = _context(tmp_path, "box", meta)
    with pytest.raises(InputError, match="SkipTLSVerify is 'false'; it must be true or false"):
        connect.context_target("box", env)
    one_line_error(virtprobe("clean", "--context", "box", env=env, timeout=60), EXIT_ERROR, "SkipTLSVerify")


def test_row_address_skip_tls_verify_warns_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import docker
    import urllib3.exceptions

    meta = b'{"Name": "box", "Endpoints": {"docker": {"Host": "tcp://127.0.0.1:2376", "SkipTLSVerify": true}}}'
    target = connect.context_target("box", _context(tmp_path, "box", meta))
    assert target.tls is not None and target.tls.verify is False
    assert [w for w in target.warnings if "verification is off" in w] and len(target.warnings) == 1

    class NoEngine:  # client_for without an engine: the version call is all it makes
        def __init__(self, **kw: Any) -> None:
            self.api = self

        def version(self, api_version: bool = True) -> dict[str, str]:
            for _ in range(20):  # what 20 requests with verify=False used to print
                warnings.warn("Unverified HTTPS request", urllib3.exceptions.InsecureRequestWarning, stacklevel=1)
            return {"ApiVersion": "1.41"}

    from virtprobe.benchmark import docker_backend

    monkeypatch.setattr(docker, "DockerClient", NoEngine)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("default")
        docker_backend.client_for(target)
    assert [w for w in seen if issubclass(w.category, urllib3.exceptions.InsecureRequestWarning)] == []


@pytest.mark.parametrize(
    ("meta", "needle"),
    [
        (b"[" * 200_000 + b"]" * 200_000, "nested too deeply"),
        (b'{"Endpoints": {"docker": {"Host": "unix:///x.sock", "N": ' + b"7" * 5000 + b"}}}", "digits"),
        (b'{"Endpoints": {"docker": {"Host": "unix:///x.sock", "SkipTLSVerify": NaN}}}', "NaN"),
    ],
)
def test_row_address_context_meta_json_nested_or_huge(tmp_path: Path, meta: bytes, needle: str) -> None:
    env = _context(tmp_path, "box", meta)
    one_line_error(virtprobe("clean", "--context", "box", env=env, timeout=60), EXIT_ERROR, needle)


# --- rows: clean and engine death (scripted here; the live engine in test_bench_daemon_dies.py) ---


def test_row_clean_keeps_a_running_container_that_only_carries_the_run_label() -> None:
    from tests.scripted import FakeClock, ScriptedBackend
    from virtprobe.benchmark.clean import clean

    backend = ScriptedBackend(FakeClock())
    running = backend.create("img", "vp-x")
    backend.start(running)  # running, with the run label and no owner label
    stopped = backend.create("img", "vp-y")
    removed, kept, _ = clean(backend)
    assert removed == [stopped] and kept == [running] and running in backend.containers
    removed, kept, _ = clean(backend, include_running=True)
    assert removed == [running] and backend.containers == {}


def test_row_engine_death_writes_the_partial_report_and_names_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.scripted import RealClock, ScriptedBackend
    from tests.test_bench_run import DETECTED
    from virtprobe.benchmark import memory
    from virtprobe.cli.main import main
    from virtprobe.report.load import load_report

    backend = ScriptedBackend(RealClock(), fail_at=("start", 5))
    monkeypatch.setattr("virtprobe.benchmark.docker_backend.DockerBackend", lambda **kw: backend)
    monkeypatch.setattr("virtprobe.detection.run.detect", lambda src, kvm_probe=True: DETECTED)
    monkeypatch.setattr(memory, "MEMORY_SETTLE_S", 0.0)
    out = tmp_path / "partial.json"
    monkeypatch.setattr("sys.argv", ["virtprobe", "bench", "-n", "10", "--warmup", "1", "--json", str(out)])
    with pytest.raises(SystemExit) as done:
        main()
    err = capsys.readouterr().err
    assert done.value.code == 4, err
    assert len(without_progress(err)) == 1 and "stopped answering mid-run" in without_progress(err)[0]
    report = load_report(out)
    result = report.result
    assert result.container is not None and len(result.container.samples) == 4  # type: ignore[union-attr]
    assert any(w.startswith("partial report: the engine died mid-run after 3 measured") for w in result.warnings)  # type: ignore[union-attr]
    assert backend.containers == {}
