"""Property: damage any one file of any fixture root, and detect still answers without a traceback.

Damage is: random bytes, an empty file, a missing file, or an unreadable one.
We run as root, so chmod 000 would not stop a read; unreadable is made by
replacing the file with a directory (EISDIR) or with a dangling symlink.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import ROOTS
from virtprobe.detection.run import detect
from virtprobe.errors import InputError
from virtprobe.machine.source import SNAPSHOT_META, RootSource
from virtprobe.report.document import detect_document as to_document
from virtprobe.report.sections.detect import build_detect_page
from virtprobe.report.writers import terminal

ROOT_DIRS = sorted(p for p in ROOTS.iterdir() if p.is_dir()) if ROOTS.exists() else []
DAMAGE = ("random", "empty", "delete", "directory", "dangling")


def _files(root: Path) -> list[str]:
    out = []
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            rel = os.path.relpath(os.path.join(dirpath, name), root)
            if rel not in ("SOURCE.md", "expected.json"):
                out.append(rel)
    return sorted(out)


def _damage(path: Path, how: str, data: bytes) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    if how == "random":
        path.write_bytes(data)
    elif how == "empty":
        path.write_bytes(b"")
    elif how == "directory":
        path.mkdir()
    elif how == "dangling":
        os.symlink("/nonexistent/virtprobe-dangling", path)


@pytest.mark.skipif(not ROOT_DIRS, reason="no fixture roots")
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    root_i=st.integers(min_value=0, max_value=max(len(ROOT_DIRS) - 1, 0)),
    file_i=st.integers(min_value=0, max_value=10_000),
    how=st.sampled_from(DAMAGE),
    data=st.binary(max_size=512),
)
def test_damaged_root_never_raises(root_i: int, file_i: int, how: str, data: bytes) -> None:
    src_root = ROOT_DIRS[root_i]
    files = _files(src_root)
    rel = files[file_i % len(files)]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        shutil.copytree(src_root, root, symlinks=True)
        _damage(root / rel, how, data)
        try:
            src = RootSource(root)
        except InputError:
            # Only the snapshot description itself may be refused, and with a clear message.
            assert rel == SNAPSHOT_META
            return
        result = detect(src, kvm_probe=True)
        json.dumps(to_document(result))
        terminal.write([build_detect_page(result, all_evidence=True)])


@pytest.mark.parametrize("root", ROOT_DIRS, ids=[p.name for p in ROOT_DIRS])
def test_every_file_damaged_every_way(root: Path, tmp_path: Path) -> None:
    """The exhaustive version, per root: each file, each kind of damage (random bytes fixed)."""
    dest = tmp_path / "root"
    shutil.copytree(root, dest, symlinks=True)
    for rel in _files(root):
        for how in DAMAGE:
            _damage(dest / rel, how, b"\xff\xfe\x00garbage\n:::\0" * 3)
            try:
                src = RootSource(dest)
            except InputError:
                assert rel == SNAPSHOT_META
            else:
                detect(src, kvm_probe=True)
            _restore(root / rel, dest / rel)


def _restore(orig: Path, dest: Path) -> None:
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.is_dir():
        shutil.rmtree(dest)
    if orig.is_symlink():
        os.symlink(os.readlink(orig), dest)
    else:
        shutil.copy2(orig, dest)
