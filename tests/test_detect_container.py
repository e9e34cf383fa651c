"""Container detection: parsers, the rules of docs/detection.md ("Container"), and one test per container fixture."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import ROOTS
from tests.rootmaker import make_root, ns_links
from virtprobe.detection.container import probe_container
from virtprobe.detection.container_readers import (
    INIT_NS_INODES,
    classify_cgroup_path,
    engine_from_mountinfo,
    parse_cgroup,
    parse_containerenv,
    parse_environ,
    parse_mountinfo_root,
    parse_ns_inode,
)
from virtprobe.detection.model import OVERRULED
from virtprobe.detection.run import detect
from virtprobe.machine.source import RootSource


def _platform(root: Path) -> str:
    meta = root / "virtprobe-snapshot.json"
    return str(json.loads(meta.read_text()).get("platform", "linux")) if meta.exists() else "linux"


def test_ns_inode_parsing() -> None:
    assert parse_ns_inode("pid:[4026531836]", "pid") == 4026531836 == INIT_NS_INODES["pid"]
    assert parse_ns_inode("user:[4026531837]", "pid") is None
    assert parse_ns_inode("pid:[abc]", "pid") is None
    assert parse_ns_inode(None, "pid") is None
    # include/linux/proc_ns.h
    assert INIT_NS_INODES == {
        "ipc": 4026531839,
        "uts": 4026531838,
        "user": 4026531837,
        "pid": 4026531836,
        "cgroup": 4026531835,
        "time": 4026531834,
    }


@pytest.mark.parametrize(
    ("path", "want"),
    [
        ("/docker/" + "a" * 64, "docker"),
        ("/system.slice/docker-" + "b" * 64 + ".scope", "docker"),
        ("/system.slice/docker.service", None),  # dockerd itself, on the host
        ("/machine.slice/libpod-" + "c" * 64 + ".scope/container", "podman"),
        ("/kubepods/besteffort/pod1/crio-" + "d" * 64, "cri-o"),
        ("/kubepods.slice/x.slice/cri-containerd-" + "e" * 64 + ".scope", "containerd"),
        ("/lxc.payload.web1/init.scope", "lxc"),
        ("/lxc/web1", "lxc"),
        ("/machine.slice/systemd-nspawn@deb.service/payload", "systemd-nspawn"),
        ("/machine.slice/machine-deb.scope", "systemd-nspawn"),
        ("/process_api/e8c17ea51c62bee0704cd715d1d29a38", None),  # this VM's own agent
        ("/user.slice/user-1000.slice/session-2.scope", None),
        ("/", None),
    ],
)
def test_classify_cgroup_path(path: str, want: str | None) -> None:
    assert classify_cgroup_path(path) == want


def test_parse_cgroup_and_environ() -> None:
    lines = parse_cgroup("12:memory:/docker/x\n0::/\ngarbage\n")
    assert [(x.hierarchy, x.controllers, x.path) for x in lines] == [
        ("12", "memory", "/docker/x"),
        ("0", "", "/"),
    ]
    assert parse_environ(b"container=lxc\0TERM=linux\0junk\0") == {"container": "lxc", "TERM": "linux"}
    assert parse_containerenv('engine="podman-4.3.1"\nrootless=0\n') == {
        "engine": "podman-4.3.1",
        "rootless": "0",
    }


def test_mountinfo_root_and_engines() -> None:
    mi = (ROOTS / "docker_in_vm" / "proc/self/mountinfo").read_text()
    assert parse_mountinfo_root(mi)[0] == "overlay"  # type: ignore[index]
    assert engine_from_mountinfo(mi)[0] == "docker"  # type: ignore[index]
    live_like = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard\n"
    assert parse_mountinfo_root(live_like) == ("ext4", "/dev/vda", "rw,discard")
    assert engine_from_mountinfo(live_like) is None


@given(st.text())
def test_container_parsers_total(text: str) -> None:
    parse_cgroup(text)
    parse_mountinfo_root(text)
    engine_from_mountinfo(text)
    parse_containerenv(text)
    classify_cgroup_path(text)
    parse_ns_inode(text, "pid")


@given(st.binary())
def test_parse_environ_total(data: bytes) -> None:
    parse_environ(data)


def test_stale_dockerenv_is_overruled(tmp_path: Path) -> None:
    src = make_root(
        tmp_path,
        {
            ".dockerenv": "",
            "proc/1/comm": "process_api\n",
            "proc/self/cgroup": "4:memory:/process_api/e8c1\n0::/\n",
        },
        ns_links(),
    )
    result, ev = probe_container(src)
    assert result.id == "none" and result.orchestrator == "none"
    stale = [e for e in ev if e.source == "/.dockerenv"]
    assert len(stale) == 1 and stale[0].weight == OVERRULED
    assert "stale marker" in stale[0].note and "PID 1 is process_api" in stale[0].note
    decisive = {e.source for e in ev if e.weight == "decisive"}
    assert decisive == {f"/proc/self/ns/{n}" for n in ("pid", "user", "ipc", "cgroup")}


def test_dockerenv_names_the_container_when_the_mounts_cannot_be_read(tmp_path: Path) -> None:
    # Namespaces show a container; with no mountinfo to contradict it, the marker may name it.
    src = make_root(tmp_path, {".dockerenv": ""}, ns_links(pid=4026532180, ipc=4026532179))
    result, _ = probe_container(src)
    assert result.id == "docker"


def test_unshared_ns_without_marker_is_container_other(tmp_path: Path) -> None:
    src = make_root(tmp_path, {"proc/self/cgroup": "0::/\n"}, ns_links(pid=4026532999))
    assert probe_container(src)[0].id == "container-other"


def test_nothing_readable_is_unknown(tmp_path: Path) -> None:
    result, ev = probe_container(make_root(tmp_path, {}))
    assert result.id is None and result.orchestrator is None
    assert any(e.weight == "unknown" for e in ev)


def test_kubernetes_from_env_and_cri_o_from_cgroup(tmp_path: Path) -> None:
    src = make_root(
        tmp_path,
        {"proc/self/cgroup": "0::/kubepods.slice/kubepods-besteffort.slice/crio-" + "f" * 64 + ".scope\n"},
        ns_links(pid=4026532999),
        meta={"env": {"KUBERNETES_SERVICE_HOST": "10.0.0.1"}},
    )
    result, _ = probe_container(src)
    assert (result.id, result.orchestrator, result.cgroup_version) == ("cri-o", "kubernetes", 2)


def test_kubernetes_token_is_never_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = make_root(
        tmp_path, {"var/run/secrets/kubernetes.io/serviceaccount/token": "SECRET"}, ns_links(pid=4026532999)
    )
    reads: list[str] = []
    orig = RootSource.read

    def spy(self: RootSource, rel: str, limit: int = 1 << 22) -> Any:
        reads.append(rel)
        return orig(self, rel, limit)

    monkeypatch.setattr(RootSource, "read", spy)
    result, ev = probe_container(src)
    assert result.orchestrator == "kubernetes"
    assert not any("token" in r for r in reads)
    assert all("SECRET" not in e.value for e in ev)


def test_explicit_container_env_wins_over_stale_looking_files(tmp_path: Path) -> None:
    src = make_root(
        tmp_path,
        {"run/systemd/container": "systemd-nspawn\n", ".dockerenv": ""},
        ns_links(pid=4026532999),
        meta={"env": {"container": "systemd-nspawn"}},
    )
    result, ev = probe_container(src)
    assert result.id == "systemd-nspawn"
    assert [e.weight for e in ev if e.source == "/.dockerenv"] == [OVERRULED]


# --- the rules of docs/detection.md ("Container") -------------------------------------------

# Lines seen inside `podman run --runtime runc` on this development VM (Podman 4.3, cgroup v1).
PODMAN_ID = "e24a1c48a0d2a9d90fcbf31ea8c227bde9797e40f7d329bb48b3f114f67f51c8"
PODMAN_MOUNTINFO = (
    "75 49 0:40 / / rw,relatime - overlay overlay rw,lowerdir=/var/lib/containers/storage/overlay/l/QSIDSE5S4AZ5"
    f",upperdir=/var/lib/containers/storage/overlay/{'f' * 64}/diff,workdir=/var/lib/containers/storage/overlay/"
    f"{'f' * 64}/work\n"
    f"84 75 254:0 /run/containers/storage/overlay-containers/{PODMAN_ID}/userdata/.containerenv /run/.containerenv "
    "rw,relatime - ext4 /dev/vda rw,discard\n"
)
HOST_MOUNTINFO = "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534\n"
HOST_CGROUP_V1 = "9:name=systemd:/\n4:memory:/process_api/c65c806689dc81c500e1e0029a21fe6f\n1:cpu:/\n0::/\n"


def _decisive(ev: list[Any]) -> set[str]:
    return {e.source for e in ev if e.weight == "decisive"}


def test_pid_host_docker_is_docker_from_its_own_cgroup(tmp_path: Path) -> None:
    """`docker run --pid host --ipc host` on cgroup v1: every namespace initial, the cgroup still says docker."""
    cid = "a" * 64
    src = make_root(
        tmp_path,
        {
            ".dockerenv": "",
            "proc/self/cgroup": f"9:name=systemd:/docker/{cid}\n4:memory:/docker/{cid}\n0::/\n",
            "proc/self/mountinfo": HOST_MOUNTINFO,
            "proc/1/comm": "process_api\n",
        },
        ns_links(),
    )
    result, ev = probe_container(src)
    assert (result.id, result.orchestrator, result.runtime) == ("docker", "none", None)
    assert _decisive(ev) == {"/proc/self/cgroup"}
    assert [e.weight for e in ev if e.source == "/.dockerenv"] == ["supporting"]
    assert any(e.source == "container runtime" and e.weight == "unknown" and e.note for e in ev)


def test_all_host_namespaces_podman_is_podman_from_its_mounts(tmp_path: Path) -> None:
    """`podman run --pid host --ipc host --userns host --cgroupns host`: root mount and .containerenv decide."""
    src = make_root(
        tmp_path,
        {"run/.containerenv": "", "proc/self/mountinfo": PODMAN_MOUNTINFO, "proc/self/cgroup": "0::/\n"},
        ns_links(),
    )
    result, ev = probe_container(src)
    assert result.id == "podman"
    assert _decisive(ev) == {"/run/.containerenv"}
    assert all(e.weight != "overruled" for e in ev)


def test_empty_containerenv_nobody_mounts_is_a_weak_leftover(tmp_path: Path) -> None:
    src = make_root(
        tmp_path,
        {"run/.containerenv": "", "proc/self/mountinfo": HOST_MOUNTINFO, "proc/self/cgroup": "0::/\n"},
        ns_links(),
    )
    result, ev = probe_container(src)
    assert result.id == "none"
    assert [e.weight for e in ev if e.source == "/run/.containerenv"] == [OVERRULED]


def test_unshare_on_a_root_with_a_stale_dockerenv_is_container_other(tmp_path: Path) -> None:
    """`unshare --pid --fork --mount-proc` on this VM: only the marker names an engine, and the mounts contradict it."""
    src = make_root(
        tmp_path,
        {".dockerenv": "", "proc/self/mountinfo": HOST_MOUNTINFO, "proc/self/cgroup": HOST_CGROUP_V1},
        ns_links(pid=4026532180, user=4026532177),
    )
    result, ev = probe_container(src)
    assert result.id == "container-other"
    stale = next(e for e in ev if e.source == "/.dockerenv")
    assert stale.weight == OVERRULED and "/ is ext4 on /dev/vda" in stale.note
    assert _decisive(ev) == {"/proc/self/ns/pid", "/proc/self/ns/user"}


def test_container_crio_in_pid1_environment_is_cri_o(tmp_path: Path) -> None:
    src = make_root(tmp_path, {"proc/1/environ": b"container=crio\0"}, ns_links(pid=4026532999))
    result, ev = probe_container(src)
    assert result.id == "cri-o"
    assert _decisive(ev) == {"/proc/1/environ"}


@pytest.mark.parametrize(
    ("pid_ns", "want"),
    [(None, "none"), (4026532999, "docker")],
    ids=["host-namespaces", "unshared-pid"],
)
def test_container_variable_of_this_process_only_supports(tmp_path: Path, pid_ns: int | None, want: str) -> None:
    """container= in our own environment can leak from a parent: it never decides, but may name."""
    links = ns_links(pid=pid_ns) if pid_ns else ns_links()
    files = {"proc/self/mountinfo": HOST_MOUNTINFO, "proc/self/cgroup": HOST_CGROUP_V1}
    src = make_root(tmp_path, files, links, meta={"env": {"container": "docker"}})
    result, ev = probe_container(src)
    assert result.id == want
    row = next(e for e in ev if e.source == "env container")
    assert row.weight == (OVERRULED if want == "none" else "supporting")
    assert "env container" not in _decisive(ev)


def test_gvisor_names_itself_and_the_engine_supports(tmp_path: Path) -> None:
    from virtprobe.detection.container_readers import GVISOR_VERSION

    dmesg = "[    0.000000] Starting gVisor...\n[    3.671604] Ready!\n"
    src = make_root(
        tmp_path,
        {".dockerenv": "", "proc/version": GVISOR_VERSION + "\n"},
        {"proc/self/ns/pid": "pid:[252]", "proc/self/ns/user": "user:[253]"},
        meta={"commands": {"dmesg": base64.b64encode(dmesg.encode()).decode()}},
    )
    result, ev = probe_container(src)
    assert (result.id, result.runtime) == ("gvisor", "runsc")
    assert _decisive(ev) == {"/proc/version"}
    weights = {e.source: e.weight for e in ev}
    assert weights["command: dmesg"] == "supporting" and weights["/.dockerenv"] == "supporting"


def test_a_real_kernel_version_is_not_gvisor(tmp_path: Path) -> None:
    text = "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0) #1 SMP"
    src = make_root(tmp_path, {"proc/version": text, "proc/self/mountinfo": HOST_MOUNTINFO}, ns_links())
    assert probe_container(src)[0].id == "none"


def test_unreadable_namespaces_with_readable_cgroups_and_mounts_is_none(tmp_path: Path) -> None:
    src = make_root(tmp_path, {"proc/self/mountinfo": HOST_MOUNTINFO, "proc/self/cgroup": HOST_CGROUP_V1})
    assert probe_container(src)[0].id == "none"


def test_marker_alone_with_nothing_else_readable_is_unknown_and_says_why(tmp_path: Path) -> None:
    """A chroot without /proc: the marker cannot be checked, so the answer is unknown, not docker."""
    result, ev = probe_container(make_root(tmp_path, {".dockerenv": ""}))
    assert (result.id, result.orchestrator) == (None, None)
    why = next(e for e in ev if e.source == "container" and e.weight == "unknown")
    assert "namespaces and cgroups and mounts could not be read" in why.note
    assert [e.weight for e in ev if e.source == "/.dockerenv"] == ["considered"]


def test_proc_mounts_stands_in_for_mountinfo(tmp_path: Path) -> None:
    overlay = (
        "overlay / overlay rw,lowerdir=/var/lib/docker/overlay2/l/ABC,upperdir=/var/lib/docker/overlay2/x/diff 0 0\n"
    )
    src = make_root(tmp_path, {"proc/mounts": overlay})
    result, ev = probe_container(src)
    assert result.id == "docker" and _decisive(ev) == {"/proc/mounts"}


# --- one whole container verdict per fixture root ---------------------------------------

# (id, orchestrator, cgroup_version, runtime): the truth for each root, from its SOURCE.md.
CONTAINER_VERDICTS: dict[str, tuple[str | None, str | None, int | None, str | None]] = {
    # Captured live on this machine by scripts/envs.py (each SOURCE.md has the command line).
    "chroot_noproc": (None, None, None, None),  # no /proc: nothing to check the stale marker against
    "chroot_proc": ("none", "none", 1, None),  # a chroot is not a container runtime
    "docker_all": ("docker", "none", 1, None),
    "docker_default": ("docker", "none", 1, None),
    "docker_pid_host": ("docker", "none", 1, None),
    "gvisor_runsc": ("gvisor", "none", None, "runsc"),
    "lxc_execute": ("lxc", "none", 1, None),
    "nspawn": ("systemd-nspawn", "none", 1, None),
    "podman_all": ("podman", "none", 1, None),
    "podman_default": ("podman", "none", 1, None),
    "podman_pid_host": ("podman", "none", 1, None),
    "unshare_pid_hostroot": ("container-other", "none", 1, None),
    "unshare_pid_rootfs": ("container-other", "none", 1, None),
    "unshare_user_pid_hostroot": ("container-other", "none", 1, None),
    "unshare_user_pid_rootfs": ("container-other", "none", 1, None),
    # Reconstructed or captured earlier.
    "crio_pod": ("cri-o", "kubernetes", 2, None),
    "docker_cgroup_v1": ("docker", "none", 1, None),
    "docker_cgroup_v2": ("docker", "none", 2, None),
    "docker_in_vm": ("docker", "none", 1, None),
    "firecracker_this_machine": ("none", "none", 1, None),
    "kubernetes": ("containerd", "kubernetes", 1, None),
    "lxc": ("lxc", "none", 2, None),
    "podman": ("podman", "none", 2, None),
    "systemd_nspawn": ("systemd-nspawn", "none", 2, None),
    "wsl1": ("none", "none", None, None),
    "wsl2": ("none", "none", 2, None),
}
# Roots named like these are container environments and must have a row above.
CONTAINER_PREFIXES = ("crio", "docker", "podman", "gvisor", "unshare", "nspawn", "lxc", "chroot", "kubernetes")
LINUX_ROOTS = (
    sorted(p.name for p in ROOTS.iterdir() if p.is_dir() and _platform(p) == "linux") if ROOTS.exists() else []
)


def _null_reasons(root: Path) -> list[str]:
    """The container fields that are null without an evidence row saying why."""
    result = detect(RootSource(root), kvm_probe=True)
    rows = [e for e in result.evidence if e.topic == "container"]
    unknown = [e for e in rows if e.weight == "unknown" and e.note]
    ct = result.container
    missing = []
    if ct.id is None and not any(e.source == "container" for e in unknown):
        missing.append("id")
    if ct.cgroup_version is None and not any("cgroup" in e.note for e in unknown):
        missing.append("cgroup_version")
    if ct.runtime is None and ct.id not in ("none", None) and not any(e.source == "container runtime" for e in unknown):
        missing.append("runtime")
    return missing


@pytest.mark.parametrize("name", sorted(CONTAINER_VERDICTS))
def test_container_verdict_of_each_fixture(name: str) -> None:
    root = ROOTS / name
    assert (root / "SOURCE.md").exists(), "every fixture says where its strings come from"
    ct = detect(RootSource(root), kvm_probe=True).container
    assert (ct.id, ct.orchestrator, ct.cgroup_version, ct.runtime) == CONTAINER_VERDICTS[name]


def test_every_container_fixture_has_a_verdict_row() -> None:
    unlisted = [n for n in LINUX_ROOTS if n.startswith(CONTAINER_PREFIXES) and n not in CONTAINER_VERDICTS]
    assert unlisted == []


@pytest.mark.parametrize("name", LINUX_ROOTS)
def test_every_null_in_the_container_section_has_a_reason(name: str) -> None:
    assert _null_reasons(ROOTS / name) == []


def test_the_readers_paths_are_all_captured() -> None:
    from virtprobe.detection import capture, container_readers, wsl

    missing = [p for p in (*container_readers.PATHS, *wsl.PATHS) if not capture.covered(p)]
    assert missing == []


@pytest.mark.parametrize("name", ["unshare_pid_hostroot", "unshare_user_pid_hostroot"])
def test_unshare_on_this_machines_root_overrules_its_stale_dockerenv(name: str) -> None:
    """The captured row of the issue: systemd-detect-virt says docker here; the marker is stale."""
    result = detect(RootSource(ROOTS / name), kvm_probe=True)
    stale = [e for e in result.evidence if e.source == "/.dockerenv"]
    assert [e.weight for e in stale] == [OVERRULED]
    assert "stale marker: / is ext4 on /dev/vda" in stale[0].note
