"""HostRootSource: a live host mounted somewhere; proc/self is the host's PID 1, the environment is PID 1's."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from virtprobe.errors import InputError
from virtprobe.machine.hostroot import HostRootSource, _host_rel, parse_environ
from virtprobe.machine.source import DETECT_ENV_VARS


def _mounted(tmp: Path) -> Path:
    """A tree shaped like a host's /proc mounted at tmp/proc (the layout, not a capture of values)."""
    (tmp / "proc/1/ns").mkdir(parents=True)
    (tmp / "proc/1/cgroup").write_text("0::/init.scope\n")
    (tmp / "proc/1/environ").write_bytes(b"HOME=/\0container=lxc\0KUBERNETES_SERVICE_HOST=10.0.0.1\0junk\0")
    os.symlink("pid:[4026531836]", tmp / "proc/1/ns/pid")
    # What the reader's own proc/self would hold if it were not redirected.
    (tmp / "proc/4242").mkdir()
    (tmp / "proc/4242/cgroup").write_text("0::/kubepods/pod1234/abc\n")
    os.symlink("4242", tmp / "proc/self")
    return tmp


def test_proc_self_reads_the_hosts_pid_1(tmp_path: Path) -> None:
    src = HostRootSource(_mounted(tmp_path))
    read = src.read("proc/self/cgroup")
    assert read.text == "0::/init.scope\n"
    assert read.path == "/proc/1/cgroup"
    assert src.readlink("proc/self/ns/pid") == "pid:[4026531836]"
    assert src.path("proc/thread-self/ns/pid") == "/proc/1/ns/pid"
    assert src.read("proc/4242/cgroup").text == "0::/kubepods/pod1234/abc\n"  # other pids stay as they are


def test_environment_is_pid_1s_not_the_readers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WSL_DISTRO_NAME", "reader-only")
    src = HostRootSource(_mounted(tmp_path))
    assert src.env == {"container": "lxc", "KUBERNETES_SERVICE_HOST": "set"}  # an address is never kept


def test_unreadable_environ_gives_no_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _mounted(tmp_path)
    (root / "proc/1/environ").unlink()
    monkeypatch.setenv("container", "docker")
    assert HostRootSource(root).env == {}


def test_dev_falls_back_to_the_readers_dev_only_when_the_mount_lacks_it(tmp_path: Path) -> None:
    root = _mounted(tmp_path)
    src = HostRootSource(root)
    assert src.exists("dev") == os.path.isdir("/dev")
    assert src.exists("dev/null")
    (root / "dev").mkdir()
    (root / "dev/marker").write_text("mounted\n")
    assert src.read("dev/marker").text == "mounted\n"
    assert not src.exists("sys/nothing-here")  # only dev/ falls back, never proc or sys


def test_commands_are_not_run(tmp_path: Path) -> None:
    look = HostRootSource(_mounted(tmp_path)).command("dmesg")
    assert look.value is None and "reader" in (look.reason or "")


@pytest.mark.parametrize("make", ["nothing", "no_proc"])
def test_refuses_a_root_without_the_hosts_proc(tmp_path: Path, make: str) -> None:
    target = tmp_path / "missing" if make == "nothing" else tmp_path
    with pytest.raises(InputError):
        HostRootSource(target)


@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\0"), max_size=30), max_size=10))
def test_parse_environ_keeps_only_detect_variables(entries: list[str]) -> None:
    env = parse_environ(b"\0".join(e.encode("utf-8", "surrogatepass") for e in entries))
    assert set(env) <= set(DETECT_ENV_VARS)


@given(st.text(max_size=40))
def test_host_rel_never_leaves_proc_self_in_place(rel: str) -> None:
    out = _host_rel(rel)
    assert not out.startswith("proc/self/") and out != "proc/self"
    assert not out.startswith("proc/thread-self/")
