"""The engines running on the development VM, named live: Docker 20.10 with runsc offered, and Podman 4.3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import live_skip
from tests.engines import PODMAN_SOCK
from virtprobe.benchmark.engine import parse_engine, read_local_machine
from virtprobe.machine.source import LiveSource

pytestmark = pytest.mark.docker



def answers(base_url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    docker = pytest.importorskip("docker")
    try:
        api = docker.APIClient(base_url=base_url, timeout=30)
        return api.version(), api.info()
    except (docker.errors.DockerException, OSError) as err:  # requests' errors are OSErrors
        live_skip(f"engine unreachable at {base_url}: {err}")
        raise


def test_dockerd_here_is_docker_engine_on_this_machine_with_runsc() -> None:
    e = parse_engine(*answers("unix:///var/run/docker.sock"), local=read_local_machine(LiveSource()))
    assert (e.product, e.container_process, e.runtime_kind) == ("docker-engine", "containerd-shim", "runc")
    assert e.on_this_machine is True, e.location_reason
    assert e.offers("runsc") is not None and e.offers("crun") is not None
    assert e.cgroup_version == 1


def test_podman_service_here_is_podman_with_conmon_on_this_machine() -> None:
    if not Path(PODMAN_SOCK).exists():
        live_skip(f"no Podman service socket at {PODMAN_SOCK}")
    e = parse_engine(*answers(f"unix://{PODMAN_SOCK}"), local=read_local_machine(LiveSource()))
    assert (e.product, e.container_process, e.runtime_kind) == ("podman", "conmon", "runc")
    assert e.containerd_version is None and e.runtime_version is not None
    assert e.on_this_machine is True, e.location_reason
