"""`virtprobe clean --host`: the leftovers of a crashed run on another engine, and only virtprobe's own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import live_skip
from tests.engines import PODMAN_SOCK

pytestmark = [pytest.mark.docker, pytest.mark.live]

REPO = Path(__file__).resolve().parent.parent


def _py(code: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=REPO, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def test_clean_host_removes_a_crashed_runs_container_on_that_engine_only() -> None:
    if not Path(PODMAN_SOCK).exists():
        live_skip(f"no Podman service socket at {PODMAN_SOCK} (scripts/setup.sh starts it)")
    url = f"unix://{PODMAN_SOCK}"
    # A crashed run: a process that made a labelled container on Podman and died without removing it;
    # and a container virtprobe did not make, which clean must never touch.
    made = _py(
        "import sys\n"
        "from virtprobe.benchmark.connect import host_target\n"
        "from virtprobe.benchmark.docker_backend import DockerBackend\n"
        "import os\n"
        "be = DockerBackend(target=host_target(sys.argv[1], os.environ, False))\n"
        "tag, _ = be.ensure_probe_image(be.engine_info().arch)\n"
        "print(be.create(tag, 'vp-crashed-on-podman'))\n"
        "print(be.api.create_container(tag, host_config=be.api.create_host_config(network_mode='none'))['Id'])\n",
        url,
    )
    crashed, foreign = made.splitlines()
    env = {**os.environ, "CONTAINERS_CONF": str(REPO / ".cache/podman/containers.conf")}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "virtprobe", "clean", "--host", url],
            capture_output=True, text=True, cwd=REPO, timeout=120, env=env, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert f"{url}: removed 1 container(s)" in proc.stderr
        left = _py(
            "import sys, os\n"
            "from virtprobe.benchmark.connect import host_target\n"
            "from virtprobe.benchmark.docker_backend import DockerBackend\n"
            "be = DockerBackend(target=host_target(sys.argv[1], os.environ, False))\n"
            "print(' '.join(c['Id'] for c in be.api.containers(all=True)))\n",
            url,
        ).split()
        assert crashed not in left
        assert foreign in left  # not labelled: not virtprobe's, never touched
    finally:
        _py(
            "import sys, os\n"
            "from virtprobe.benchmark.connect import host_target\n"
            "from virtprobe.benchmark.docker_backend import DockerBackend\n"
            "be = DockerBackend(target=host_target(sys.argv[1], os.environ, False))\n"
            "be.api.remove_container(sys.argv[2], force=True)\n",
            url,
            foreign,
        )


def test_clean_host_on_a_dead_engine_is_one_line_and_exit_4() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "virtprobe", "clean", "--host", "unix:///nonexistent/virtprobe.sock"],
        capture_output=True, text=True, cwd=REPO, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 4, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
