"""Issue 19's sections live, through the CLI, on Docker and on Podman: cold and warm images, density,
scaling, the engine's own cost, snapshot restore, the trace, and nothing left behind on any path."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import live_skip
from tests.engines import PODMAN_SOCK
from tests.trace_check import check_trace

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parent.parent
ENGINES = ("docker", "podman")


def engine_env(name: str) -> dict[str, str]:
    if name == "docker":
        return {"DOCKER_HOST": "unix:///var/run/docker.sock"}
    path = PODMAN_SOCK.removeprefix("unix://")
    if not Path(path).exists():
        live_skip(f"no Podman service socket at {path} (scripts/setup.sh starts it)")
    return {"DOCKER_HOST": f"unix://{path}"}


def vp(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "virtprobe", *args],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, **env}, timeout=timeout, check=False,
    )  # fmt: skip


def docker_cli(*args: str, env: dict[str, str]) -> list[str]:
    out = subprocess.run(["docker", *args], capture_output=True, text=True, check=True, env={**os.environ, **env})
    return out.stdout.split()


def labelled(env: dict[str, str], role: str | None = None, run_id: str | None = None) -> list[str]:
    """virtprobe's containers on the engine: of one run, or of one role, else all of them.

    The engines here are shared with other test runs, so a test asserts on its own run's
    containers (its run id), never on everyone's."""
    filters = ["--filter", f"label=io.virtprobe.run{'=' + run_id if run_id else ''}"]
    if role:
        filters += ["--filter", f"label=io.virtprobe.role={role}"]
    return docker_cli("ps", "-a", "-q", *filters, env=env)


def runs_of(env: dict[str, str], role: str) -> set[str]:
    """The run ids of the containers of one role now on the engine."""
    out = docker_cli("ps", "-a", "--filter", f"label=io.virtprobe.role={role}",
                     "--format", '{{.Label "io.virtprobe.run"}}', env=env)  # fmt: skip
    return set(out)


def run_images(env: dict[str, str], run_id: str) -> list[str]:
    return docker_cli("images", "-q", "--filter", f"label=io.virtprobe.run={run_id}", env=env)


@pytest.mark.parametrize("engine", ENGINES)
def test_every_section_live(engine: str, tmp_path: Path) -> None:
    env = engine_env(engine)
    report, trace = tmp_path / "r.json", tmp_path / "trace.json"
    proc = vp(
        "bench", "-n", "3", "--warmup", "1", "--memory", "0", "--image-cache", "both", "--density", "0,2",
        "--parallel", "1,2", "--engine-cost", "--snapshot", "--trace", str(trace), "--json", str(report), env=env,
    )  # fmt: skip
    if proc.returncode == 4:
        live_skip(f"engine unreachable: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json.loads(report.read_text())
    assert doc["schema_version"] == "1.2"
    _image_cache(doc, env)
    _density(doc)
    _scaling(doc)
    _engine_cost(doc, engine)
    _restore(doc)
    check_trace(trace, doc)
    assert labelled(env, run_id=doc["run_id"]) == []
    # The report loads back and its sections survive a `report --format json` round trip.
    again = vp("report", str(report), "--format", "json", env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["density"]["levels"][1]["idle"] == 2


def _image_cache(doc: dict[str, Any], env: dict[str, str]) -> None:
    cache = doc["image_cache"]
    assert cache["mode"] == "both" and cache["method"] == "load" and cache["refused"] is None
    assert len(cache["cold"]) == len(cache["warm"]) == len(cache["load_s"]) == 4
    assert all(s > 0 for s in cache["load_s"]) and all(s["cycle_s"] > 0 for s in cache["cold"] + cache["warm"])
    assert all(s["first_instruction_s"] > 0 for s in cache["cold"])
    if os.geteuid() == 0:
        assert cache["page_cache"].startswith("dropped before each cold cycle")
    assert cache["image"].endswith(doc["run_id"]) and run_images(env, doc["run_id"]) == []


def _density(doc: dict[str, Any]) -> None:
    levels = doc["density"]["levels"]
    assert [lv["idle"] for lv in levels] == [0, 2] and all(lv["refused"] is None for lv in levels)
    assert all(len(lv["samples"]) == 4 and lv["kernel_anon_bytes"] > 0 for lv in levels)


def _scaling(doc: dict[str, Any]) -> None:
    levels = doc["scaling"]["levels"]
    assert [(lv["parallel"], len(lv["samples"])) for lv in levels] == [(1, 3), (2, 4)]
    assert all(lv["wall_s"] > 0 for lv in levels)


def _engine_cost(doc: dict[str, Any], engine: str) -> None:
    cost = doc["engine_cost"]
    assert cost["available"] is True, cost["reason"]
    daemons = {"docker": {"dockerd", "containerd"}, "podman": {"podman"}}[engine]
    holder = {"docker": "containerd-shim", "podman": "conmon"}[engine]
    assert daemons <= set(cost["cpu_s_by_process"]) and cost["process_name"] == holder
    assert len(cost["cpu_s"]) == 3 and all(c > 0 for c in cost["cpu_s"])
    assert len(cost["process_pss_bytes"]) == 3 and all(p > 100_000 for p in cost["process_pss_bytes"])


def _restore(doc: dict[str, Any]) -> None:
    rows = {r["name"]: r for r in doc["restore"]["rows"]}
    kvm_usable = doc["environment"]["detect"]["kvm_usable"]
    snap = rows["kvm-snapshot"]
    if kvm_usable:
        assert snap["kind"] == "measured" and len(snap["samples_s"]) == 3 and all(0 < s < 1 for s in snap["samples_s"])
        assert rows["kvm-boot"]["kind"] == "measured"
    else:
        assert snap["kind"] == "refused" and snap["refused"]
    fc = rows["firecracker-snapshot"]
    assert fc["kind"] == "simulated" and fc["source"]["url"].startswith("https://")
    crow = rows["criu"]
    check = subprocess.run(["criu", "check"], capture_output=True, text=True, check=False)
    said = [ln.strip() for ln in (check.stdout + check.stderr).splitlines() if ln.startswith("Error")]
    if said:
        # Refused in criu's own words, as it says them now.
        assert crow["kind"] == "refused" and crow["refused"].startswith("criu check: " + said[0])
    else:
        assert crow["kind"] in ("measured", "refused")


def _wait_for(what: Any, timeout_s: float = 120.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if what():
            return
        time.sleep(0.2)
    pytest.fail("timed out waiting for the idle containers")


@pytest.mark.parametrize("engine", ENGINES)
def test_sigterm_during_density_removes_the_idle_containers(engine: str, tmp_path: Path) -> None:
    env = engine_env(engine)
    proc = subprocess.Popen(
        [sys.executable, "-m", "virtprobe", "bench", "-n", "50", "--warmup", "0", "--memory", "0", "--density", "4"],
        cwd=REPO, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    before = runs_of(env, "density")
    runs: set[str] = set()
    try:

        def ours() -> bool:
            runs.update(runs_of(env, "density") - before)
            return any(len(labelled(env, "density", r)) >= 3 for r in runs)

        _wait_for(ours)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "terminated" in err and runs and all(labelled(env, run_id=r) == [] for r in runs)


@pytest.mark.parametrize("engine", ENGINES)
def test_clean_removes_idle_containers_of_a_killed_run(engine: str, tmp_path: Path) -> None:
    env = engine_env(engine)
    proc = subprocess.Popen(
        [sys.executable, "-m", "virtprobe", "bench", "-n", "50", "--warmup", "0", "--memory", "0", "--density", "3"],
        cwd=REPO, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    before = runs_of(env, "density")
    runs: set[str] = set()
    try:

        def ours() -> bool:
            runs.update(runs_of(env, "density") - before)
            return any(len(labelled(env, "density", r)) >= 2 for r in runs)

        _wait_for(ours)
    finally:
        proc.kill()  # SIGKILL: no cleanup runs, as when the machine or the process dies
        proc.wait(timeout=60)
    time.sleep(1.0)  # a create in flight lands
    try:
        assert any(labelled(env, "density", r) for r in runs), "the killed run left no idle container to clean"
        # The idle containers are running: plain clean keeps them and says how to remove them (it
        # never removes a running container on a label's word alone, issue 16) ...
        kept = vp("clean", env=env)
        assert kept.returncode == 0, kept.stderr
        assert "--include-running" in kept.stderr and any(labelled(env, run_id=r) for r in runs)
        # ... and --include-running removes every container of the killed run.
        out = vp("clean", "--include-running", env=env)
        assert out.returncode == 0, out.stderr
        assert all(labelled(env, run_id=r) == [] for r in runs)
    finally:
        for r in runs:  # never leave this test's containers, whatever failed
            ids = labelled(env, run_id=r)
            if ids:
                docker_cli("rm", "-f", *ids, env=env)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_density_level_past_the_hosts_memory_is_refused_live(engine: str, tmp_path: Path) -> None:
    env = engine_env(engine)
    report = tmp_path / "r.json"
    proc = vp("bench", "-n", "2", "--warmup", "0", "--memory", "0", "--density", "0,100000", "--json", str(report),
              env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    levels = json.loads(report.read_text())["density"]["levels"]
    assert levels[0]["refused"] is None and len(levels[0]["samples"]) == 2
    # 100000 idle containers would need far more memory than this host has: refused, none started.
    assert levels[1]["samples"] == [] and levels[1]["refused"].startswith("memory: 100000 more idle containers")
    assert labelled(env, run_id=json.loads(report.read_text())["run_id"]) == []


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Debian's docker-registry on 127.0.0.1 (a port of its own, storage in a temp folder), stopped after."""
    import shutil
    import socket

    if shutil.which("docker-registry") is None:
        live_skip("docker-registry is not installed (scripts/setup.sh installs it)")
    top = tmp_path_factory.mktemp("registry")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (top / "config.yml").write_text(
        f"version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {top / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = open(top / "registry.log", "wb")  # noqa: SIM115 - closed at teardown
    proc = subprocess.Popen(["docker-registry", "serve", str(top / "config.yml")], stdout=log, stderr=log)
    try:
        import urllib.request

        t0 = time.monotonic()
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() - t0 > 30:
                    pytest.fail(f"docker-registry did not start: {(top / 'registry.log').read_text()[-500:]}")
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_cold_images_pulled_from_a_registry_on_loopback(engine: str, registry: str, tmp_path: Path) -> None:
    env = engine_env(engine)
    report = tmp_path / "r.json"
    proc = vp("bench", "-n", "3", "--warmup", "0", "--memory", "0", "--image-cache", "both", "--registry", registry,
              "--json", str(report), env=env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(report.read_text())
    cache = doc["image_cache"]
    assert cache["method"] == "pull" and cache["archive_bytes"] is None
    assert len(cache["load_s"]) == len(cache["cold"]) == 3 and all(s > 0 for s in cache["load_s"])
    assert all(s["first_instruction_s"] > 0 for s in cache["cold"] + cache["warm"])
    assert registry not in json.dumps(doc["options"])  # an address is not recorded
    assert labelled(env, run_id=doc["run_id"]) == [] and run_images(env, doc["run_id"]) == []
