"""Integration tests against the real Docker engine: phases, hardening, cleanup, error paths."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import live_skip
from virtprobe.benchmark import runner
from virtprobe.benchmark.docker_backend import DockerBackend
from virtprobe.benchmark.interrupts import cleanup_guard
from virtprobe.benchmark.options import BenchOptions
from virtprobe.benchmark.ownership import RUN_LABEL, new_run_id, owner_alive
from virtprobe.errors import EngineError

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def backend() -> DockerBackend:
    try:
        return DockerBackend(timeout_s=30)
    except EngineError as err:
        live_skip(f"Docker engine unreachable: {err}")
        raise


@pytest.fixture(scope="module")
def probe_tag(backend: DockerBackend) -> str:
    tag, _ = backend.ensure_probe_image(backend.engine_info().arch)
    return tag


def owned_by(pid: int) -> set[str]:
    """The labelled containers a process made (its pid in virtprobe's owner label), whoever else uses the engine."""
    out = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"label={RUN_LABEL}", "--format", '{{.ID}} {{.Label "io.virtprobe.owner"}}'],
        capture_output=True,
        text=True,
        check=True,
    )
    return {cid for cid, _, owner in (line.partition(" ") for line in out.stdout.splitlines())
            if owner.split(":")[1:2] == [str(pid)]}  # fmt: skip


def labelled() -> list[str]:
    out = subprocess.run(
        ["docker", "ps", "-a", "-q", "--filter", f"label={RUN_LABEL}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.split()


@pytest.fixture
def run_id(backend: DockerBackend) -> Iterator[str]:
    rid = new_run_id()
    yield rid
    backend.remove_labelled(rid)


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "virtprobe", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=False,
    )


def test_phases_on_the_real_engine(backend: DockerBackend, probe_tag: str, run_id: str) -> None:
    opts = BenchOptions(runs=5, warmup=1, memory_containers=3, parallel=2)
    with cleanup_guard(backend, run_id):
        section = runner.run_containers(
            backend, time.monotonic_ns, opts, run_id=run_id, image=probe_tag, probe=True
        )
    samples = [s.to_dict() for s in section.samples]
    assert len(samples) == 6
    for s in samples:
        for key in ("create_s", "start_s", "first_instruction_s", "run_to_exit_s", "remove_s", "cycle_s"):
            assert s[key] > 0, key
        assert s["cycle_s"] >= s["create_s"] + s["start_s"] + s["run_to_exit_s"] + s["remove_s"]
        # The probe's first instruction is after the start request and before wait() saw the exit.
        assert 0 < s["first_instruction_s"] <= s["start_s"] + s["run_to_exit_s"]
        assert s["exit_code"] == 0
    assert section.memory is not None and section.parallel is not None
    mem = section.memory.to_dict()
    assert mem["n"] == 3 and len(mem["cgroup_bytes"]) == 3
    assert all(b > 0 for b in mem["cgroup_bytes"])
    assert mem["process_pss_bytes"] and all(b > 0 for b in mem["process_pss_bytes"])
    assert mem["process_name"] == "containerd-shim"  # comm is truncated to 15 bytes: "containerd-shim"
    assert section.clock is not None and section.clock.mode == "same-kernel"
    assert section.parallel.n == 5 and (section.parallel.containers_per_s or 0) > 0
    assert backend.list_labelled(run_id) == []


def test_hardening_seen_by_docker_inspect(backend: DockerBackend, probe_tag: str, run_id: str) -> None:
    cid = backend.create(probe_tag, run_id)
    out = subprocess.run(["docker", "inspect", cid], capture_output=True, text=True, check=True).stdout
    import json

    info: dict[str, Any] = json.loads(out)[0]
    host = info["HostConfig"]
    assert host["NetworkMode"] == "none"
    assert host["CapDrop"] == ["ALL"]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["ReadonlyRootfs"] is True
    assert host["PidsLimit"] == 16
    assert host["Memory"] == 64 * 1024 * 1024
    assert host["Privileged"] is False
    assert info["Config"]["Labels"][RUN_LABEL] == run_id
    assert info["Config"]["Labels"]["io.virtprobe.role"] == "bench"
    assert owner_alive(info["Config"]["Labels"]["io.virtprobe.owner"])  # made by this live process


def test_probe_image_has_label_and_is_reused(backend: DockerBackend, probe_tag: str) -> None:
    tag, build_s = backend.ensure_probe_image(backend.engine_info().arch)
    assert tag == probe_tag and build_s is None
    attrs = backend.api.inspect_image(tag)
    assert attrs["Config"]["Labels"]["io.virtprobe.image"] == "1"
    assert attrs["Config"]["Entrypoint"] == ["/probe"]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_mid_run_leaks_nothing(backend: DockerBackend, probe_tag: str, sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "virtprobe", "bench", "-n", "50", "--memory", "0", "--json"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # Wait until the run has containers of its own (its pid in their owner label), then interrupt it.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not owned_by(proc.pid):
        time.sleep(0.05)
    time.sleep(0.4)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    assert out == b""  # no half report on stdout
    assert b"Traceback" not in err
    assert owned_by(proc.pid) == set()


def test_clean_removes_crashed_runs_keeps_running_ones_and_never_touches_unlabelled(
    backend: DockerBackend, probe_tag: str
) -> None:
    mine = subprocess.run(
        ["docker", "create", "--network", "none", probe_tag], capture_output=True, text=True, check=True
    ).stdout.strip()
    # A crashed run: a process that made a labelled container and died without removing it.
    crashed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from virtprobe.benchmark.docker_backend import DockerBackend; "
            "print(DockerBackend().create(sys.argv[1], 'vp-leftover-from-a-crash'))",
            probe_tag,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # A run still going: this test process.
    running = backend.create(probe_tag, "vp-still-running")
    try:
        assert {crashed[:12], running[:12]} <= set(labelled())
        result = cli("clean")
        assert result.returncode == 0, result.stderr
        assert crashed[:12] not in labelled()
        assert running[:12] in labelled()
        # At least this one; any other container this test process owns counts too.
        assert re.search(r"kept [1-9]\d* that are running or belong to virtprobe runs still going", result.stderr), (
            result.stderr
        )
        result = cli("clean", "--include-running")
        assert result.returncode == 0, result.stderr
        assert running[:12] not in labelled()
        ids = subprocess.run(["docker", "ps", "-a", "-q", "--no-trunc"], capture_output=True, text=True).stdout
        assert mine in ids.split()  # never labelled, never touched
    finally:
        subprocess.run(["docker", "rm", "-f", mine], capture_output=True, check=False)
        backend.remove(running)


def test_unreachable_daemon_exit_4_one_line() -> None:
    result = cli("bench", "-n", "1", env={"DOCKER_HOST": "unix:///nonexistent.sock"}, timeout=60)
    assert result.returncode == 4
    lines = result.stderr.splitlines()  # not stripped: no blank line from a progress bar either
    assert len(lines) == 1 and "not reachable" in lines[0] and "Traceback" not in result.stderr


def test_missing_image_exit_5(backend: DockerBackend) -> None:
    result = cli("bench", "-n", "1", "--memory", "0", "--image", "virtprobe/does-not-exist:nope", timeout=120)
    assert result.returncode == 5, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_user_image_without_command_exit_5(backend: DockerBackend) -> None:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = b"FROM scratch\nLABEL io.virtprobe.image=1\n"
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    tag = "virtprobe/test-nocmd:1"
    list(backend.api.build(fileobj=buf, custom_context=True, tag=tag, rm=True, decode=True))
    try:
        result = cli("bench", "-n", "1", "--memory", "0", "--image", tag, timeout=120)
        assert result.returncode == 5, result.stderr
        assert "no Entrypoint or Cmd" in result.stderr
    finally:
        backend.api.remove_image(tag, force=True)


def test_bench_json_stdout_is_a_valid_report(backend: DockerBackend, probe_tag: str) -> None:
    import json

    result = cli("bench", "-n", "3", "--warmup", "1", "--memory", "2", "--json", "-")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["kind"] == "bench" and doc["container"]["timing_basis"] == "first_instruction"
    assert doc["environment"]["engine"]["storage_driver"] and doc["environment"]["engine"]["product"]
    assert len(doc["container"]["samples"]) == 4
    try:
        from virtprobe.report.load import check_document
    except ImportError:
        return
    check_document(doc, "stdout")


def test_user_image_first_output(backend: DockerBackend, probe_tag: str, run_id: str) -> None:
    opts = BenchOptions(runs=2, warmup=0, memory_containers=0)
    with cleanup_guard(backend, run_id):
        section = runner.run_containers(
            backend, time.monotonic_ns, opts, run_id=run_id, image=probe_tag, probe=False
        )
    assert section.timing_basis == "first_output"
    for s in (x.to_dict() for x in section.samples):
        assert s["first_output_s"] is not None and s["first_output_s"] > 0
        assert s["first_instruction_s"] is None
