"""`virtprobe snapshot`: it captures every path detect reads, and nothing private."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOTS
from virtprobe.detection import capture as capture_mod
from virtprobe.detection.run import detect
from virtprobe.errors import InputError
from virtprobe.machine.source import DETECT_ENV_VARS, SNAPSHOT_META, RootSource

ALL_ROOTS = sorted(p for p in ROOTS.iterdir() if p.is_dir()) if ROOTS.exists() else []


def test_every_path_detect_reads_is_captured(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: set[str] = set()
    for name in ("read", "exists", "readlink", "listdir"):
        orig = getattr(RootSource, name)

        def spy(self: RootSource, rel: str, *a: Any, _orig: Any = orig, **kw: Any) -> Any:
            asked.add(rel.lstrip("/"))
            return _orig(self, rel, *a, **kw)

        monkeypatch.setattr(RootSource, name, spy)
    for root in ALL_ROOTS:
        detect(RootSource(root))
    assert asked
    missing = sorted(p for p in asked if not capture_mod.covered(p))
    assert missing == [], f"detect reads paths capture.PATHS does not list: {missing}"


def test_capture_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "snap").mkdir()
    with pytest.raises(InputError, match="--force"):
        capture_mod.capture(tmp_path / "snap", force=False, kvm_probe=False)


def test_capture_filters_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIRTPROBE_TEST_SECRET", "hunter2")
    monkeypatch.setenv("WSL_DISTRO_NAME", "TestDistro")
    out = capture_mod.capture(tmp_path / "snap", force=False, kvm_probe=False)
    meta = json.loads((out / SNAPSHOT_META).read_text())
    assert set(meta["env"]) <= set(DETECT_ENV_VARS)
    assert meta["env"].get("WSL_DISTRO_NAME") == "set"  # the derived fact only, never the name
    blob = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file() and not p.is_symlink())
    assert b"hunter2" not in blob
    environ = out / "proc/1/environ"
    if environ.exists():
        assert all(item.startswith(b"container=") for item in environ.read_bytes().split(b"\0") if item)


def test_capture_of_this_machine_gives_the_live_verdict(tmp_path: Path) -> None:
    from tests.test_detect_fixtures import verdict
    from virtprobe.machine.source import LiveSource

    out = capture_mod.capture(tmp_path / "snap", force=False, kvm_probe=True)
    live = verdict(detect(LiveSource(), kvm_probe=True).sections())
    replay = verdict(detect(RootSource(out), kvm_probe=True).sections())
    assert replay == live
    for table in (out / "sys/firmware/acpi/tables").glob("*") if (out / "sys/firmware/acpi/tables").exists() else ():
        if table.is_file():
            assert table.stat().st_size <= capture_mod.ACPI_HEADER_BYTES


def test_capture_tar_gz(tmp_path: Path) -> None:
    out = capture_mod.capture(tmp_path / "snap.tar.gz", force=False, kvm_probe=False)
    with tarfile.open(out) as tar:
        names = tar.getnames()
    assert f"snap/{SNAPSHOT_META}" in names
    with pytest.raises(InputError):
        capture_mod.capture(out, force=False, kvm_probe=False)
    assert capture_mod.capture(out, force=True, kvm_probe=False) == out


def test_capture_copy_kinds(tmp_path: Path) -> None:
    """Tokens become empty placeholders, PID 1's environ keeps only container=, ACPI keeps 36 bytes."""
    host = tmp_path / "host"
    host.mkdir()
    (host / "token").write_text("eyJhbGciOiJSUzI1NiJ9.SECRET")
    (host / "environ").write_bytes(b"PATH=/bin\0container=podman\0AWS_SECRET_ACCESS_KEY=x\0")
    (host / "FACP").write_bytes(b"FACP" + b"\x00" * 6 + b"FIRECK" + b"\xaa" * 200)
    out = tmp_path / "out"
    capture_mod._copy_one(capture_mod.EXISTS, str(host / "token"), out / "token")
    capture_mod._copy_one(capture_mod.ENVIRON, str(host / "environ"), out / "environ")
    capture_mod._copy_one(capture_mod.HEADER, str(host / "FACP"), out / "FACP")
    assert (out / "token").read_bytes() == b""
    assert (out / "environ").read_bytes() == b"container=podman\0"
    assert (out / "FACP").read_bytes()[10:16] == b"FIRECK" and (out / "FACP").stat().st_size == 36
    assert capture_mod.covered("var/run/secrets/kubernetes.io/serviceaccount/token")
    assert not capture_mod.covered("home/user/.ssh/id_rsa")
