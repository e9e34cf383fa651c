"""`detect --host-root /host` from inside a container, mounted the way deploy/kubernetes/daemonset.yaml mounts the node.

The image is built here, offline: `docker import` of a rootfs holding this
machine's Debian python3.11 (binary, the shared libraries ldd names, the
standard library), typer and its two dependencies from the venv, and the
virtprobe source tree. No registry is touched. The container gets what the
DaemonSet gives its pod: /proc and /sys read-only under /host, /dev/kvm as a
device, no network, a read-only root, every capability dropped, no new
privileges, the default seccomp profile.

The expected verdict is this development VM's (tests/devvm/ is collected only
here): a Firecracker microVM whose /dev/kvm is kvm_pvm, not itself a container.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import live_skip

pytestmark = [pytest.mark.docker, pytest.mark.live, pytest.mark.kvm]

REPO = Path(__file__).resolve().parents[2]
PYTHON = "/usr/bin/python3.11"
STDLIB = Path("/usr/lib/python3.11")
SITE = REPO / ".venv/lib/python3.11/site-packages"
# What `virtprobe detect` imports beyond the standard library (checked with sys.modules
# after a --host-root run): the CLI's typer and what typer imports at start.
SITE_PACKAGES = ("typer", "shellingham", "annotated_doc")
STDLIB_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data", "__pycache__"}


def _ldd(paths: list[str]) -> set[str]:
    """The shared libraries (resolved paths) that the given ELF files need."""
    out = subprocess.run(["ldd", *paths], capture_output=True, text=True, check=False).stdout
    libs: set[str] = set()
    for line in out.splitlines():
        parts = line.split()
        for p in parts:
            if p.startswith("/") and os.path.exists(p):
                libs.add(p)
    return libs


def _add_tree(tar: tarfile.TarFile, src: Path, arc: str, skip: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if d not in skip and d != "__pycache__")
        rel = os.path.relpath(dirpath, src)
        for name in sorted(filenames):
            if name.endswith(".pyc"):
                continue
            full = os.path.join(dirpath, name)
            tar.add(full, arcname=os.path.normpath(os.path.join(arc, rel, name)), recursive=False)


def _rootfs_tar() -> bytes:
    dynload = sorted(str(p) for p in (STDLIB / "lib-dynload").glob("*.so"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("tmp", "host", "dev", "proc", "sys", "etc"):
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if d == "tmp" else 0o755
            tar.addfile(info)
        tar.add(PYTHON, arcname="usr/bin/python3", recursive=False)
        for lib in sorted(_ldd([PYTHON, *dynload])):
            tar.add(os.path.realpath(lib), arcname=lib.lstrip("/"), recursive=False)
        _add_tree(tar, STDLIB, "usr/lib/python3.11", STDLIB_SKIP)
        for pkg in SITE_PACKAGES:
            _add_tree(tar, SITE / pkg, f"usr/lib/python3/dist-packages/{pkg}")
        _add_tree(tar, REPO / "virtprobe", "usr/lib/python3/dist-packages/virtprobe")
    return buf.getvalue()


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    try:
        import docker

        client = docker.from_env()
        client.ping()
    except Exception as err:  # any failure to reach the engine means: no live test here
        live_skip(f"Docker engine not reachable: {err}")
    if not os.path.exists(PYTHON) or not SITE.is_dir():
        live_skip(f"{PYTHON} or the venv is missing: cannot build the test image offline")
    data = _rootfs_tar()
    tag = "virtprobe-hostroot-test:" + hashlib.sha256(data).hexdigest()[:12]
    t0 = time.monotonic()
    client.api.import_image_from_data(data, repository=tag.split(":")[0], tag=tag.split(":")[1])
    print(f"imported {tag} ({len(data) >> 20} MiB) in {time.monotonic() - t0:.1f} s", file=sys.stderr)
    try:
        yield tag
    finally:
        client.images.remove(tag, force=True)
        client.close()


def _run(
    image: str,
    *extra: str,
    args: tuple[str, ...] = ("--json",),
    device: tuple[str, ...] = ("--device", "/dev/kvm"),
) -> subprocess.CompletedProcess[str]:
    """docker run, as the DaemonSet runs its pod: read-only mounts of /proc and /sys, /dev/kvm, no privilege."""
    cmd = [
        "docker", "run", "--rm", "--network", "none", "--read-only", "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges", "--tmpfs", "/tmp",
        "-v", "/proc:/host/proc:ro", "-v", "/sys:/host/sys:ro", *device,
        *extra, image, "python3", "-m", "virtprobe", "detect", "--host-root", "/host", *args,
    ]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)


def test_host_root_gives_the_hosts_verdict_from_inside_a_container(image: str) -> None:
    proc = _run(image)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["host"]["source"] == "live host mounted at /host"
    # The host is a Firecracker microVM whose /dev/kvm is kvm_pvm, and not a container:
    # the reader IS in a Docker container, so "docker" here would mean we read our own view.
    assert doc["hypervisor"]["id"] == "kvm"
    assert doc["hypervisor"]["vmm"] == "firecracker"
    assert doc["kvm"]["device_present"] is True
    assert doc["kvm"]["module"] == "kvm_pvm"
    assert doc["kvm"]["usable"] is True, doc["kvm"]
    assert doc["container"]["id"] == "none", [e for e in doc["evidence"] if e["topic"] == "container"]
    sources = {e["source"] for e in doc["evidence"]}
    assert not any(s.startswith("/proc/self") for s in sources), "proc/self must be read as the host's proc/1"


def test_without_host_root_the_same_container_says_docker(image: str) -> None:
    """The control: the same container read without --host-root describes itself."""
    cmd = [
        "docker", "run", "--rm", "--network", "none", "--read-only", "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges", image, "python3", "-m", "virtprobe", "detect", "--json",
        "--no-kvm-probe",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["container"]["id"] == "docker"


def test_host_root_nfd_feature_file_as_the_daemonset_runs_it(image: str) -> None:
    """uid 0 with every capability dropped: the feature file carries the host's labels."""
    proc = _run(image, args=("--format", "nfd", "--expiry-s", "3600"))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("# +expiry-time=")
    labels = dict(line.split("=", 1) for line in lines if not line.startswith("#"))
    assert labels["virtprobe.io/hypervisor"] == "kvm"
    assert labels["virtprobe.io/vmm"] == "firecracker"
    assert labels["virtprobe.io/kvm.usable"] == "true"
    assert labels["virtprobe.io/container"] == "none"


def test_kvm_by_hostpath_only_is_present_but_not_labelled_usable(image: str) -> None:
    """A hostPath mount of /dev/kvm without a device plugin: the node exists in the pod, but
    the device cgroup refuses open() (EPERM). That says nothing about the node, so no
    kvm.usable label, where a naive reading would label a KVM host "usable=false"."""
    proc = _run(image, args=("--format", "nfd"), device=("-v", "/dev/kvm:/dev/kvm"))
    assert proc.returncode == 0, proc.stderr
    labels = dict(line.split("=", 1) for line in proc.stdout.splitlines() if not line.startswith("#"))
    assert labels["virtprobe.io/kvm.present"] == "true"
    assert "virtprobe.io/kvm.usable" not in labels


def test_host_root_as_non_root_leaves_out_what_it_cannot_read(image: str) -> None:
    """Why the DaemonSet runs as uid 0 (without capabilities): as uid 65534, /dev/kvm
    (0600 root here) cannot be opened and the ACPI tables (0400) that name Firecracker
    cannot be read. The labels must then say "not usable" or nothing, never invent."""
    proc = _run(image, "--user", "65534:65534", args=("--format", "nfd"))
    assert proc.returncode == 0, proc.stderr
    labels = dict(line.split("=", 1) for line in proc.stdout.splitlines() if not line.startswith("#"))
    assert labels["virtprobe.io/hypervisor"] == "kvm"  # CPUID is live and needs no privilege
    assert labels.get("virtprobe.io/kvm.usable") != "true"
    assert "virtprobe.io/vmm" not in labels
