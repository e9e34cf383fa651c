"""`detect --root X.tar.gz`: archives unpack safely (no escape, no devices, bounded) and read like the folder."""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ROOTS
from virtprobe.detection.run import detect
from virtprobe.errors import InputError
from virtprobe.machine import archive as archive_mod
from virtprobe.machine.archive import ArchiveSource, is_archive
from virtprobe.machine.roots import open_source
from virtprobe.machine.source import RootSource


def _tar(path: Path, members: Sequence[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path


def _file(name: str) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), b"x"


def _special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None


def _pack_folder(folder: Path, out: Path, top: str | None = "snap") -> Path:
    with tarfile.open(out, "w:gz") as tar:
        if top is None:
            for child in sorted(folder.iterdir()):
                tar.add(child, arcname=child.name)
        else:
            tar.add(folder, arcname=top)
    return out


@pytest.mark.parametrize("top", ["snap", None])
def test_archive_reads_like_the_folder(tmp_path: Path, top: str | None) -> None:
    root = ROOTS / "qemu_tcg"
    archive = _pack_folder(root, tmp_path / "qemu_tcg.tar.gz", top)
    from_folder = detect(RootSource(root), kvm_probe=True).sections()
    source = open_source(archive)
    assert isinstance(source, ArchiveSource)
    from_archive = detect(source, kvm_probe=True).sections()
    assert from_archive["host"]["source"] == f"snapshot {archive}"
    # Apart from naming what was read (host.source, and reasons that quote it), nothing differs.
    same_folder = json.dumps(from_folder, sort_keys=True).replace(f"snapshot {root}", "SOURCE")
    same_archive = json.dumps(from_archive, sort_keys=True).replace(f"snapshot {archive}", "SOURCE")
    assert same_archive == same_folder


def test_unpacked_folder_is_removed_with_the_source(tmp_path: Path) -> None:
    source = ArchiveSource(_pack_folder(ROOTS / "qemu_tcg", tmp_path / "a.tar.gz"))
    unpacked = Path(source._real_root)
    assert unpacked.is_dir()
    del source
    gc.collect()
    assert not unpacked.exists()


@pytest.mark.parametrize(
    ("member", "why"),
    [
        (_file("../evil"), "leaves the snapshot root"),
        (_file("/etc/evil"), "leaves the snapshot root"),
        (_file("snap/../../evil"), "leaves the snapshot root"),
        (_special("snap/proc/x", tarfile.SYMTYPE, "/etc/shadow"), "points outside"),
        (_special("snap/proc/x", tarfile.SYMTYPE, "../../../etc/shadow"), "points outside"),
        (_special("snap/dev/sda", tarfile.BLKTYPE), "a device"),
        (_special("snap/dev/null", tarfile.CHRTYPE), "a device"),
        (_special("snap/fifo", tarfile.FIFOTYPE), "a FIFO"),
        (_special("snap/hard", tarfile.LNKTYPE, "snap/other"), "hard link"),
    ],
)
def test_hostile_members_are_refused(tmp_path: Path, member: tuple[tarfile.TarInfo, bytes | None], why: str) -> None:
    archive = _tar(tmp_path / "bad.tar.gz", [_file("snap/proc/cpuinfo"), member])
    with pytest.raises(InputError, match=why):
        open_source(archive)
    assert not (tmp_path / "evil").exists()


def test_member_through_a_symlink_is_refused(tmp_path: Path) -> None:
    # "snap/a" -> ".." stays inside (it is the unpack folder), but "snap/a/b" -> ".." then
    # resolves above it, though its name alone ("snap/b/..") looks harmless.
    outside = tmp_path / "outside"
    outside.mkdir()
    first = _special("snap/a", tarfile.SYMTYPE, "..")
    second = _special("snap/a/b", tarfile.SYMTYPE, "..")
    archive = _tar(tmp_path / "bad.tar.gz", [first, second, _file("snap/a/b/outside/evil")])
    with pytest.raises(InputError, match="points outside"):
        open_source(archive)
    assert not (outside / "evil").exists()
    # And a file written through an in-root link lands inside.
    inside = _tar(tmp_path / "ok.tar.gz", [first, _file("snap/a/snap/proc/cpuinfo")])
    assert open_source(inside).read("proc/cpuinfo").data == b"x"


def test_link_made_to_escape_by_a_later_link_is_refused(tmp_path: Path) -> None:
    # "snap/l" -> "y/.." is inside while y does not exist; "snap/y" -> ".." then makes l lead above.
    first = _special("snap/l", tarfile.SYMTYPE, "y/..")
    second = _special("snap/y", tarfile.SYMTYPE, "..")
    with pytest.raises(InputError, match="points outside"):
        open_source(_tar(tmp_path / "bad.tar.gz", [first, second]))


def test_namespace_links_survive(tmp_path: Path) -> None:
    link = _special("snap/proc/self/ns/pid", tarfile.SYMTYPE, "pid:[4026531836]")
    source = open_source(_tar(tmp_path / "ns.tar.gz", [link]))
    assert source.readlink("proc/self/ns/pid") == "pid:[4026531836]"


def test_size_and_count_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    big = (tarfile.TarInfo("snap/big"), b"y" * 1000)
    monkeypatch.setattr(archive_mod, "MAX_TOTAL_BYTES", 1500)
    with pytest.raises(InputError, match="unpacks to more than 1500 bytes"):
        open_source(_tar(tmp_path / "big.tar.gz", [big, (tarfile.TarInfo("snap/big2"), b"y" * 1000)]))
    monkeypatch.setattr(archive_mod, "MAX_MEMBER_BYTES", 500)
    with pytest.raises(InputError, match="larger than 500 bytes"):
        open_source(_tar(tmp_path / "one.tar.gz", [big]))
    monkeypatch.setattr(archive_mod, "MAX_MEMBERS", 3)
    many = [_file(f"snap/f{i}") for i in range(5)]
    with pytest.raises(InputError, match="more than 3 members"):
        open_source(_tar(tmp_path / "many.tar.gz", many))


def test_truncated_archive_is_one_input_error(tmp_path: Path) -> None:
    good = _pack_folder(ROOTS / "qemu_tcg", tmp_path / "good.tar.gz").read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good[: len(good) // 2])
    assert is_archive(cut)
    with pytest.raises(InputError, match="not a readable snapshot archive"):
        open_source(cut)


def test_plain_file_is_still_not_a_directory(tmp_path: Path) -> None:
    f = tmp_path / "notes.txt"
    f.write_text("hello")
    assert not is_archive(f)
    with pytest.raises(InputError, match="not a directory"):
        open_source(f)


def test_cli_bad_archive_is_one_line_exit_1(tmp_path: Path) -> None:
    archive = _tar(tmp_path / "bad.tar.gz", [_special("snap/dev/sda", tarfile.BLKTYPE)])
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.run(
        [sys.executable, "-m", "virtprobe", "detect", "--json", "--root", str(archive)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "refusing member 'snap/dev/sda'" in proc.stderr


_NAME_PARTS = st.sampled_from(["snap", "proc", "..", ".", "a", "b", "", "x y", "ns:[1]"])
_NAMES = st.lists(_NAME_PARTS, min_size=1, max_size=5).map("/".join) | st.text(max_size=20)
_MEMBERS = st.lists(
    st.tuples(st.sampled_from(["file", "dir", "link"]), _NAMES, _NAMES | st.just("/etc/passwd")),
    max_size=8,
)


@settings(max_examples=200)
@given(members=_MEMBERS)
def test_unpack_never_writes_outside_or_crashes(members: list[tuple[str, str, str]]) -> None:
    """Whatever the member names and link targets, unpacking stays inside its folder or refuses."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        dest = base / "dest"
        dest.mkdir()
        entries: list[tuple[tarfile.TarInfo, bytes | None]] = []
        for kind, name, target in members:
            if kind == "file":
                entries.append((tarfile.TarInfo(name), b"data"))
            elif kind == "dir":
                entries.append(_special(name, tarfile.DIRTYPE))
            else:
                entries.append(_special(name, tarfile.SYMTYPE, target))
        try:
            archive = _tar(base / "a.tar.gz", entries)
        except (ValueError, UnicodeEncodeError, tarfile.TarError):
            return  # tarfile itself cannot write such a member
        with contextlib.suppress(InputError):
            archive_mod.unpack(archive, dest)
        # Nothing appeared next to dest, and every link inside resolves inside.
        assert sorted(p.name for p in base.iterdir()) == ["a.tar.gz", "dest"]
        real = os.path.realpath(dest)
        for path in dest.rglob("*"):
            if path.is_symlink():
                target = os.path.realpath(path)
                assert target == real or target.startswith(real + os.sep), (path, target)
