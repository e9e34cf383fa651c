"""parse_engine on captured (Docker, Podman) and reconstructed (Desktop products) API answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import FIXTURES, ROOTS
from virtprobe.benchmark import engine
from virtprobe.benchmark.engine import EngineInfo, LocalMachine, parse_engine
from virtprobe.errors import ReportFormatError
from virtprobe.machine.source import RootSource

ENGINES = FIXTURES / "engines"

# This machine as its captured root says (tests/fixtures/roots/firecracker_this_machine),
# with the host name the engine fixtures were given.
DEVVM = LocalMachine("6.18.44-fc-v669", "devvm-host", "Debian GNU/Linux 12 (bookworm)", "debian")
# A Linux machine whose kernel release cannot be read (a masked /proc); a Windows
# laptop running virtprobe inside a WSL2 Ubuntu has the WSL2 kernel (tests/fixtures/roots/wsl2).
UNREADABLE = LocalMachine(None, "laptop", None, None)
WSL2_UBUNTU = LocalMachine("5.15.153.1-microsoft-standard-WSL2", "laptop", "Ubuntu 22.04.4 LTS", "ubuntu")


def answers(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    doc = json.loads((ENGINES / f"{name}.json").read_text())
    return doc["version"], doc["info"]


def parsed(name: str, local: LocalMachine | None = None) -> EngineInfo:
    return parse_engine(*answers(name), local=local)


def test_docker_engine_captured_here() -> None:
    e = parsed("docker-20.10-debian12", DEVVM)
    assert e.product == "docker-engine"
    assert e.product_version == e.engine_version == "20.10.24+dfsg1"
    assert e.api_version == "1.41"
    assert e.containerd_version == "1.6.20~ds1"
    assert (e.runtime, e.runtime_kind, e.runtime_version) == ("runc", "runc", "1.1.5+ds1")
    assert [r.name for r in e.runtimes] == [
        "crun",
        "io.containerd.runc.v2",
        "io.containerd.runtime.v1.linux",
        "runc",
        "runsc",
    ]
    assert e.offers("runsc") == engine.RuntimeOffer("runsc", "/usr/bin/runsc", "runsc")
    assert e.offers("crun") is not None and e.offers("crun").kind == "crun"  # type: ignore[union-attr]
    assert e.offers("kata") is None
    assert e.container_process == "containerd-shim"
    assert e.rootless is False
    assert (e.cgroup_version, e.cgroup_driver, e.storage_driver) == (1, "cgroupfs", "overlay2")
    assert e.kernel_version == "6.18.44-fc-v669"
    assert (e.operating_system, e.os_type, e.arch, e.ncpu) == ("Debian GNU/Linux 12 (bookworm)", "linux", "x86_64", 2)
    assert e.on_this_machine is True
    assert e.vm_backed is False


def test_podman_captured_here_names_podman_conmon_and_its_runtime() -> None:
    e = parsed("podman-4.3-debian12", DEVVM)
    assert e.product == "podman"
    assert e.product_version == "4.3.1"
    assert e.containerd_version is None
    assert e.container_process == "conmon" and e.container_process_version == "2.1.6"
    assert (e.runtime, e.runtime_kind, e.runtime_version) == ("runc", "runc", "1.1.5+ds1")
    assert e.rootless is False  # /info "Rootless": false
    assert e.cgroup_version == 1 and e.storage_driver == "overlay"
    assert e.arch == "amd64"
    assert {r.kind for r in e.runtimes} == {"crun", "kata", "krun", "runc", "runsc", None}  # runj: unknown family
    # Podman reports its OS by os-release ID, not PRETTY_NAME: still this machine.
    assert e.operating_system == "debian" and e.on_this_machine is True


@pytest.mark.parametrize(
    ("name", "product", "product_version"),
    [
        ("docker-desktop-4.26-macos", "docker-desktop", "4.26.1"),
        ("docker-desktop-4.26-wsl2", "docker-desktop", "4.26.1"),
        ("orbstack-1.2-macos", "orbstack", "24.0.7"),
        ("colima-0.6-macos", "colima", "24.0.7"),
        ("rancher-desktop-1.12-macos", "rancher-desktop", "24.0.7"),
        ("rancher-desktop-1.12-wsl2", "rancher-desktop", "24.0.7"),
        ("docker-ce-24-rootless-cgroupv2", "docker-engine", "24.0.7"),
    ],
)
def test_reconstructed_products(name: str, product: str, product_version: str) -> None:
    e = parsed(name, UNREADABLE)
    assert e.product == product
    assert e.product_version == product_version
    assert e.engine_version == "24.0.7"
    assert e.container_process == "containerd-shim"
    # No kernel release to compare with: unknown, with the reason.
    assert e.on_this_machine is None and "cannot be compared" in e.location_reason


def test_a_mac_or_windows_host_never_runs_a_linux_engine_itself() -> None:
    for platform, shown in (("darwin", "macOS"), ("win32", "Windows")):
        for name in ("docker-desktop-4.26-macos", "podman-4.3-debian12", "colima-0.6-macos"):
            e = parsed(name, LocalMachine(None, "laptop", None, None, platform))
            assert e.on_this_machine is False and f"this machine runs {shown}" in e.location_reason


def test_vm_backed_products_are_another_kernel_even_with_the_same_release() -> None:
    """WSL2 distributions share one kernel, so the release matches; Docker Desktop's
    containers still run in its own distribution, not in the user's."""
    e = parsed(
        "docker-desktop-4.26-wsl2", LocalMachine("5.15.133.1-microsoft-standard-WSL2", "laptop", "Ubuntu", "ubuntu")
    )
    assert e.on_this_machine is False and "VM" in e.location_reason
    e = parsed("docker-desktop-4.26-wsl2", WSL2_UBUNTU)
    assert e.on_this_machine is False and "5.15.133.1-microsoft-standard-WSL2" in e.location_reason


def test_rootless_and_cgroup_v2() -> None:
    e = parsed("docker-ce-24-rootless-cgroupv2")
    assert e.rootless is True
    assert (e.cgroup_version, e.cgroup_driver) == (2, "systemd")
    assert e.on_this_machine is None and e.location_reason == "not compared with the local machine"


def test_remote_host_with_the_same_kernel_is_another_machine() -> None:
    e = parsed(
        "docker-20.10-debian12",
        LocalMachine("6.18.44-fc-v669", "other-host", "Debian GNU/Linux 12 (bookworm)", "debian"),
    )
    assert e.on_this_machine is False and "host name" in e.location_reason
    e = parsed("docker-20.10-debian12", LocalMachine("6.18.44-fc-v669", "devvm-host", "Alpine Linux v3.19", "alpine"))
    assert e.on_this_machine is False and "OS" in e.location_reason


def test_read_local_machine_from_captured_roots() -> None:
    local = engine.read_local_machine(RootSource(ROOTS / "firecracker_this_machine"))
    assert local.kernel_release == "6.18.44-fc-v669"
    assert local.os_pretty_name == "Debian GNU/Linux 12 (bookworm)" and local.os_id == "debian"
    assert local.hostname is None  # not captured in that root
    wsl = engine.read_local_machine(RootSource(ROOTS / "wsl2"))
    assert wsl.kernel_release == "5.15.153.1-microsoft-standard-WSL2"
    assert wsl.os_pretty_name == "Ubuntu 22.04.4 LTS"
    # Kernel and OS match, the host name is unknown: the same machine, and it says what was not compared.
    e = parsed("docker-20.10-debian12", local)
    assert e.on_this_machine is True and "not comparable" in e.location_reason


def test_runtime_kind() -> None:
    assert engine.runtime_kind("io.containerd.runc.v2") == "runc"
    assert engine.runtime_kind("runsc") == "runsc"
    assert engine.runtime_kind("gvisor", "/usr/local/bin/runsc") == "runsc"
    assert engine.runtime_kind("kata", "/usr/bin/kata-runtime") == "kata"
    assert engine.runtime_kind("io.containerd.kata.v2") == "kata"
    assert engine.runtime_kind("crun") == "crun"
    assert engine.runtime_kind("youki") == "youki"
    assert engine.runtime_kind("my-sandbox", "/opt/bin/youki") == "youki"
    assert engine.runtime_kind("runj") is None and engine.runtime_kind(None) is None


def test_to_dict_from_dict_roundtrip_and_rejects_bad_types() -> None:
    for path in sorted(ENGINES.glob("*.json")):
        e = parse_engine(*answers(path.stem), local=DEVVM)
        assert EngineInfo.from_dict(json.loads(json.dumps(e.to_dict()))) == e
    good = parsed("podman-4.3-debian12").to_dict()
    with pytest.raises(ReportFormatError, match=r"engine\.ncpu"):
        EngineInfo.from_dict({**good, "ncpu": "2"})
    with pytest.raises(ReportFormatError, match=r"engine\.rootless"):
        EngineInfo.from_dict({**good, "rootless": "no"})
    with pytest.raises(ReportFormatError, match=r"engine\.runtimes"):
        EngineInfo.from_dict({**good, "runtimes": {"runc": {}}})


def test_engine_differences() -> None:
    docker, podman = parsed("docker-20.10-debian12"), parsed("podman-4.3-debian12")
    assert engine.engine_differences(docker, docker) == []
    diffs = engine.engine_differences(docker, podman)
    assert "product: docker-engine vs podman" in diffs
    assert "per-container process: containerd-shim vs conmon" in diffs
    assert "containerd: 1.6.20~ds1 vs unknown" in diffs
    assert not any(d.startswith("OCI runtime:") for d in diffs)  # both runc


def test_no_identifying_field_is_kept() -> None:
    """The host name and daemon ID are compared, never stored: reports get shared."""
    version, info = answers("docker-20.10-debian12")
    text = json.dumps(parse_engine(version, info, local=DEVVM).to_dict())
    assert info["Name"] not in text and info["ID"] not in text


PLACEHOLDER_IDS = (
    "AAAA:BBBB:CCCC:DDDD:EEEE:FFFF:GGGG:HHHH:IIII:JJJJ:KKKK:LLLL",
    "00000000-0000-4000-8000-000000000000",
)


def test_fixture_ids_and_names_were_replaced() -> None:
    for name in ("docker-20.10-debian12", "podman-4.3-debian12"):
        _, info = answers(name)
        assert info["Name"] == "devvm-host"
        assert info["ID"] in PLACEHOLDER_IDS


def test_empty_answers_give_unknowns() -> None:
    e = parse_engine({}, {})
    assert e.product is None and e.runtime is None and e.runtimes == ()
    assert e.container_process is None and e.rootless is None and e.cgroup_version is None


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "Components",
        "Platform",
        "Version",
        "ApiVersion",
        "Runtimes",
        "DefaultRuntime",
        "SecurityOptions",
        "Rootless",
        "CgroupVersion",
        "KernelVersion",
        "OperatingSystem",
        "Name",
        "NCPU",
        "Architecture",
        "Driver",
    ]
)


@given(st.dictionaries(KEYS, JSONISH, max_size=8), st.dictionaries(KEYS, JSONISH, max_size=8))
def test_parse_engine_never_raises_and_roundtrips(version: dict[str, Any], info: dict[str, Any]) -> None:
    e = parse_engine(version, info, local=DEVVM)
    assert e.product is None or e.product in engine.PRODUCTS
    assert EngineInfo.from_dict(e.to_dict()) == e


def test_fixture_files_are_described() -> None:
    described = (ENGINES / "SOURCE.md").read_text()
    for path in ENGINES.glob("*.json"):
        assert f"`{path.name}`" in described, path.name
    assert Path(ENGINES / "SOURCE.md").exists()


def test_runtime_not_offered_names_what_is_offered_and_how_to_add_one() -> None:
    docker = parsed("docker-20.10-debian12")
    line = engine.runtime_not_offered(docker, "kata")
    assert line.startswith("the engine offers no runtime 'kata' (it offers: crun, io.containerd.runc.v2, ")
    assert "runsc)" in line and "/etc/docker/daemon.json" in line and "\n" not in line
    podman = engine.runtime_not_offered(parsed("podman-4.3-debian12"), "youki")
    assert "[engine.runtimes] in containers.conf" in podman
