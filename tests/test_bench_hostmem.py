"""Host-side memory: cgroup usage, the per-container process named for what it is, figures that cannot go negative."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import FIXTURES, live_skip
from tests.engines import PODMAN_SOCK
from virtprobe.benchmark import hostmem
from virtprobe.benchmark.docker_backend import build_image
from virtprobe.benchmark.engine import LocalMachine, parse_engine
from virtprobe.benchmark.guest import probe_image
from virtprobe.errors import ReportFormatError
from virtprobe.machine.source import LiveSource, RootSource

HOSTMEM = FIXTURES / "hostmem"
MIB = 1024 * 1024


def capture(name: str) -> tuple[RootSource, dict[str, Any]]:
    folder = HOSTMEM / name
    return RootSource(folder), json.loads((folder / "capture.json").read_text())


def test_docker_container_is_held_by_containerd_shim() -> None:
    src, meta = capture("docker_runc")
    proc = hostmem.container_process(src, meta["init_pid"])
    assert proc.pid == meta["holder_pid"] and proc.name == "containerd-shim"
    assert proc.pss_bytes == 12032 * 1024 and proc.reason is None
    used, where = hostmem.cgroup_memory_bytes(src, meta["init_pid"])
    assert used == 557056
    assert where == "/sys/fs/cgroup/memory/docker/" + "f" * 64 + "/memory.usage_in_bytes"


def test_podman_container_is_held_by_conmon() -> None:
    src, meta = capture("podman_conmon")
    proc = hostmem.container_process(src, meta["init_pid"])
    assert proc.pid == meta["holder_pid"] and proc.name == "conmon"
    assert proc.pss_bytes == 807 * 1024
    used, where = hostmem.cgroup_memory_bytes(src, meta["init_pid"])
    assert used == 622592 and "/libpod_parent/libpod-" in where


def test_missing_files_give_reasons_not_errors() -> None:
    src, _ = capture("docker_runc")
    assert hostmem.container_process(src, 1) == hostmem.ContainerProcess(
        None, None, None, "no parent process found for container init 1"
    )
    assert hostmem.cgroup_memory_bytes(src, 1) == (None, "/proc/1/cgroup unreadable")
    assert hostmem.read_meminfo(src) is not None and hostmem.read_meminfo(RootSource(HOSTMEM)) is None


def test_cgroup_v2_paths(tmp_path: Path) -> None:
    """Pure v2 and hybrid layouts, reconstructed from the kernel's Documentation/admin-guide/cgroup-v2.rst
    ("0::$PATH" in /proc/<pid>/cgroup, memory.current in the cgroup's folder)."""
    pure = tmp_path / "pure"
    (pure / "proc/7").mkdir(parents=True)
    (pure / "proc/7/cgroup").write_text("0::/system.slice/docker-abc.scope\n")
    (pure / "sys/fs/cgroup/system.slice/docker-abc.scope").mkdir(parents=True)
    (pure / "sys/fs/cgroup/system.slice/docker-abc.scope/memory.current").write_text("1234\n")
    assert hostmem.cgroup_memory_bytes(RootSource(pure), 7) == (
        1234,
        "/sys/fs/cgroup/system.slice/docker-abc.scope/memory.current",
    )
    hybrid = tmp_path / "hybrid"
    (hybrid / "proc/7").mkdir(parents=True)
    (hybrid / "proc/7/cgroup").write_text("0::/user.slice\n")
    (hybrid / "sys/fs/cgroup/unified/user.slice").mkdir(parents=True)
    (hybrid / "sys/fs/cgroup/unified/user.slice/memory.current").write_text("99\n")
    assert hostmem.cgroup_memory_bytes(RootSource(hybrid), 7)[0] == 99
    assert hostmem.parse_proc_cgroup("12:memory:/docker/x\n0::/docker/x\n") == ("/docker/x", "/docker/x")


def test_parse_stat_ppid_and_pss() -> None:
    assert hostmem.parse_stat_ppid("630 (cat) R 618 618 11767 0") == 618
    assert hostmem.parse_stat_ppid("5 (a) b) (c) S 42 5 5") == 42  # a name with spaces and parentheses
    assert hostmem.parse_stat_ppid("garbage") is None
    assert hostmem.parse_pss_bytes("Rss: 10 kB\nPss: 3 kB\nPss_Anon: 1 kB\n") == 3072
    assert hostmem.parse_pss_bytes("Pss: 3 kB\nPss: 4 kB\n") == 7168  # smaps: one per mapping
    assert hostmem.parse_pss_bytes("Rss: 10 kB\n") is None


def test_parse_meminfo_and_kernel_anon() -> None:
    info = hostmem.parse_meminfo("MemTotal:  1000 kB\nMemAvailable: 500 kB\nHugePages_Total: 0\nbad line\n")
    assert info == {"MemTotal": 1_024_000, "MemAvailable": 512_000, "HugePages_Total": 0}
    src, _ = capture("docker_runc")
    real = hostmem.read_meminfo(src)
    assert real is not None
    total = hostmem.kernel_anon_bytes(real)
    assert total == sum(real[f] for f in hostmem.KERNEL_ANON_FIELDS)
    assert hostmem.kernel_anon_bytes({"AnonPages": 1}) is None


SERIES = json.loads((HOSTMEM / "meminfo_series.json").read_text())


@pytest.mark.parametrize("key", ["n1", "n5"])
def test_real_noisy_readings_are_not_measurable(key: str) -> None:
    """On the busy VM these readings came from, no per-container figure survives its noise,
    and the negative ones (MemAvailable rose while containers ran) are never shown as figures."""
    s = SERIES[key]
    fig = hostmem.memavailable_figure(
        s["before"]["MemAvailable"], s["after"]["MemAvailable"], s["n"], [r["MemAvailable"] for r in s["idle"]]
    )
    assert fig.per_container_bytes is None
    assert fig.reason is not None and fig.reason.startswith("not measurable on this host (noise ±")
    assert fig.before_bytes == s["before"]["MemAvailable"] and len(fig.idle_bytes) == 5
    ka = hostmem.kernel_anon_figure(s["before"], s["after"], s["n"], s["idle"])
    assert ka is not None and ka.per_container_bytes is None
    assert hostmem.HostMemFigure.from_dict(json.loads(json.dumps(fig.to_dict()))) == fig


def test_negative_figure_is_never_a_value() -> None:
    # The figure from the issue: MemAvailable rose by 2.1 MiB per container.
    fig = hostmem.memavailable_figure(1000 * MIB, 1000 * MIB + 21 * MIB, 10, [1000 * MIB, 1000 * MIB + 4096])
    assert fig.per_container_bytes is None and fig.raw_per_container_bytes == pytest.approx(-2.1 * MIB)
    assert fig.reason == (
        "not measurable on this host (noise ±0.00 MiB; the reading moved -2.10 MiB per container, below zero)"
    )


def test_figure_above_its_noise_stands() -> None:
    # MEASURED.md: about 3.3 MiB per container across 10; idle spread 1 MiB -> 0.1 MiB per container.
    before = 20_000 * MIB
    fig = hostmem.memavailable_figure(before, before - 33 * MIB, 10, [before, before + MIB, before + MIB // 2])
    assert fig.per_container_bytes == round(3.3 * MIB) and fig.reason is None
    assert fig.noise_bytes == pytest.approx(0.1 * MIB)
    # Growth figures go the other way.
    grow = hostmem.per_container_figure("kernel+anon growth", 100 * MIB, 133 * MIB, 10, [100 * MIB] * 3, False)
    assert grow.per_container_bytes == round(3.3 * MIB)
    # A figure no bigger than its noise is not one.
    assert (
        hostmem.memavailable_figure(before, before - 10 * MIB, 10, [before, before + 10 * MIB]).per_container_bytes
        is None
    )
    # Without two idle readings the noise is unknown, so nothing is claimed.
    lone = hostmem.memavailable_figure(before, before - 33 * MIB, 10, [before])
    assert lone.per_container_bytes is None and lone.reason is not None and "noise not estimated" in lone.reason
    with pytest.raises(ValueError):
        hostmem.memavailable_figure(1, 1, 0, [1, 1])


@given(
    st.integers(min_value=0, max_value=2**40),
    st.integers(min_value=0, max_value=2**40),
    st.integers(min_value=1, max_value=100),
    st.lists(st.integers(min_value=0, max_value=2**40), max_size=6),
)
def test_a_figure_is_positive_and_above_its_noise_or_absent(before: int, after: int, n: int, idle: list[int]) -> None:
    fig = hostmem.memavailable_figure(before, after, n, idle)
    if fig.per_container_bytes is not None:
        assert fig.per_container_bytes >= 0 and fig.noise_bytes is not None
        assert fig.raw_per_container_bytes > fig.noise_bytes
    else:
        assert fig.reason is not None and fig.reason.startswith("not measurable on this host")
    assert hostmem.HostMemFigure.from_dict(fig.to_dict()) == fig


def test_from_dict_rejects_bad_input() -> None:
    good = hostmem.memavailable_figure(10, 5, 1, [10, 10]).to_dict()
    for bad in (
        {**good, "n": "x"},
        {k: v for k, v in good.items() if k != "what"},
        {**good, "per_container_bytes": None},
    ):
        with pytest.raises(ReportFormatError):
            hostmem.HostMemFigure.from_dict(bad)


def test_host_side_available_follows_the_engine_location() -> None:
    doc = json.loads((FIXTURES / "engines" / "docker-desktop-4.26-macos.json").read_text())
    mac = parse_engine(doc["version"], doc["info"], local=LocalMachine("23.1.0", "laptop", None, None))
    ok, why = hostmem.host_side_available(mac)
    assert not ok and why.startswith("host-side memory is unavailable") and "23.1.0" in why
    doc = json.loads((FIXTURES / "engines" / "docker-20.10-debian12.json").read_text())
    here = parse_engine(
        doc["version"], doc["info"], local=LocalMachine("6.18.44-fc-v669", "devvm-host", None, "debian")
    )
    assert hostmem.host_side_available(here) == (True, "the engine runs on this machine")
    ok, why = hostmem.host_side_available(parse_engine(doc["version"], doc["info"]))
    assert not ok and "not known where" in why


# --- live: the process that holds a running container, per engine -------------------------------



@pytest.mark.docker
@pytest.mark.parametrize(
    ("base_url", "holder"),
    [("unix:///var/run/docker.sock", "containerd-shim"), (f"unix://{PODMAN_SOCK}", "conmon")],
    ids=["docker", "podman"],
)
def test_live_holder_is_named_from_its_comm(base_url: str, holder: str) -> None:
    docker = pytest.importorskip("docker")
    try:
        api = docker.APIClient(base_url=base_url, timeout=60)
        api.ping()
    except (docker.errors.DockerException, OSError) as err:  # requests' errors are OSErrors
        live_skip(f"engine unreachable at {base_url}: {err}")
    image = probe_image.probe_image("x86_64")
    build_image(api, image)
    host_config = api.create_host_config(network_mode="none", cap_drop=["ALL"], read_only=True, mem_limit="64m")
    cid = api.create_container(
        image.tag, command=[probe_image.PAUSE_ARG], host_config=host_config, labels={"io.virtprobe.run": "test-hostmem"}
    )["Id"]
    try:
        api.start(cid)
        deadline = time.monotonic() + 10
        pid = 0
        while not pid and time.monotonic() < deadline:
            pid = int(api.inspect_container(cid)["State"].get("Pid") or 0)
        assert pid
        src = LiveSource()
        proc = hostmem.container_process(src, pid)
        used, where = hostmem.cgroup_memory_bytes(src, pid)
    finally:
        api.remove_container(cid, force=True)
    assert proc.name == holder and proc.pss_bytes is not None and proc.pss_bytes > 0
    assert used is not None and 0 < used < 64 * MIB, where
