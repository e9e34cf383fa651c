"""Sources: reads never raise, and a root never leaks to the live machine."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest

from virtprobe.errors import InputError
from virtprobe.machine.roots import open_source
from virtprobe.machine.source import SNAPSHOT_META, CpuidRegs, LiveSource, RootSource


def test_missing_root_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        RootSource(tmp_path / "nope")


def test_root_that_is_a_file_is_an_input_error(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        open_source(f)


def test_reads_degrade_with_reasons(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc" / "cpuinfo").write_text("flags : vmx\n")
    src = RootSource(tmp_path)
    ok = src.read("/proc/cpuinfo")
    assert ok.ok and ok.text == "flags : vmx\n" and ok.path == "/proc/cpuinfo"
    missing = src.read("proc/nothing")
    assert not missing.ok and missing.reason == "not found"
    isdir = src.read("proc")
    assert not isdir.ok and isdir.reason == "is a directory"
    assert src.cpuid(0x40000000).reason == "no CPUID registers in the snapshot"
    assert not src.kvm_probe().ok


def test_symlink_out_of_root_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.write_text("s3cret")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink(outside, root / "etc" / "os-release")
    r = RootSource(root).read("etc/os-release")
    assert r.data is None and r.reason == "points outside the snapshot root"


def test_namespace_links_are_readable_as_links(tmp_path: Path) -> None:
    ns = tmp_path / "proc" / "self" / "ns"
    ns.mkdir(parents=True)
    os.symlink("pid:[4026531836]", ns / "pid")
    src = RootSource(tmp_path)
    assert src.exists("proc/self/ns/pid")
    assert src.readlink("proc/self/ns/pid") == "pid:[4026531836]"


def test_meta_gives_cpuid_commands_and_env(tmp_path: Path) -> None:
    meta = {
        "format": 1,
        "platform": "win32",
        "machine": "AMD64",
        "env": {"WSL_INTEROP": "/run/WSL/1_interop"},
        "cpuid": {"0x40000000": {"eax": 0x40000001, "ebx": 0x4B4D564B, "ecx": 0x564B4D56, "edx": 0x4D}},
        "commands": {"systeminfo": base64.b64encode(b"Host Name: X\r\n").decode()},
    }
    (tmp_path / SNAPSHOT_META).write_text(json.dumps(meta))
    src = RootSource(tmp_path)
    assert src.platform == "win32" and src.machine == "AMD64"
    assert src.env == {"WSL_INTEROP": "set"}  # only the derived fact, never the value
    assert src.cpuid(0x40000000).value == CpuidRegs(0x40000001, 0x4B4D564B, 0x564B4D56, 0x4D)
    assert src.command("systeminfo").value == b"Host Name: X\r\n"
    assert src.command("sysctl").reason == "no output of 'sysctl' in the snapshot"


@pytest.mark.parametrize("content", ["", "{", "[1]", '{"format": 9}'])
def test_bad_meta_is_one_input_error(tmp_path: Path, content: str) -> None:
    (tmp_path / SNAPSHOT_META).write_text(content)
    with pytest.raises(InputError):
        RootSource(tmp_path)


def test_live_source_reads_only_listed_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "hunter2hunter2")
    monkeypatch.setenv("WSL_DISTRO_NAME", "Ubuntu")
    src = LiveSource()
    assert "AWS_SECRET_ACCESS_KEY" not in src.env
    assert src.env.get("WSL_DISTRO_NAME") == "set"  # a distribution name is the user's: only "set" is kept
    assert src.command("rm -rf /").reason is not None
