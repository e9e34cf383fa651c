"""Live fleet runs: one `bench` against four engines on loopback, and one engine killed mid-run.

The engines come from tests/engines.py: a second dockerd on its own socket, a third on
tcp://127.0.0.1 with --tlsverify, the main dockerd through an sshd on 127.0.0.1, and
Podman's socket. Nothing here leaves containers or daemons behind: each run's
containers are checked gone on every engine still alive, and the fixtures stop what they start.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.engines import Engine, dockerd_ssh, dockerd_tls, dockerd_unix, podman_socket, running_dockerd

__all__ = ["dockerd_ssh", "dockerd_tls", "dockerd_unix", "podman_socket"]  # the fixtures, used by name

pytestmark = [pytest.mark.docker, pytest.mark.live]

VIRTPROBE = [sys.executable, "-m", "virtprobe"]
RUN_LABEL = "io.virtprobe.run"


def _env(*engines: Engine) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    for e in engines:
        if e.cert_path:
            env["DOCKER_CERT_PATH"] = e.cert_path
        if "PATH" in e.env:
            env["PATH"] = e.env["PATH"]  # the ssh wrapper that adds the test's ssh_config
    return env


def _argv(engines: Sequence[Engine], out: Path, *extra: str) -> list[str]:
    argv = [*VIRTPROBE, "bench", "--memory", "0", "--warmup", "0", "--json", str(out), *extra]
    for e in engines:
        argv += ["--host", e.url]
    if any(e.tls for e in engines):
        argv.append("--tlsverify")
    return argv


def _leftovers(engine: Engine, run_id: str) -> list[str]:
    """This run's containers still on the engine (the ssh engine is the shared main dockerd: only ours)."""
    client = engine.client(timeout=20)
    try:
        return [str(c["Id"]) for c in client.api.containers(all=True, filters={"label": f"{RUN_LABEL}={run_id}"})]
    finally:
        client.close()


def _kill_strays(top: str) -> list[int]:
    """SIGKILL what a killed dockerd left running under its folder: containerd-shims double-fork out of its
    process group (they must outlive a daemon restart), so killing the group does not reach them."""
    killed = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if top in cmdline:
            try:
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(int(entry.name))
            except ProcessLookupError:
                pass
    return killed


def _members(path: Path) -> dict[str, dict[str, object]]:
    doc = json.loads(path.read_text())
    assert doc["kind"] == "fleet" and doc["schema_version"].startswith("1.")
    return {m["source"]: m for m in doc["members"]}


def _public(url: str) -> str:
    from virtprobe.benchmark.connect import public_url

    return public_url(url)


def test_one_bench_against_four_engines_gives_one_fleet_report(
    tmp_path: Path, dockerd_unix: Engine, dockerd_tls: Engine, dockerd_ssh: Engine, podman_socket: Engine
) -> None:
    engines = [dockerd_unix, dockerd_tls, dockerd_ssh, podman_socket]
    out = tmp_path / "fleet.json"
    proc = subprocess.run(
        _argv(engines, out, "-n", "3"), env=_env(*engines), capture_output=True, text=True, timeout=600
    )
    print(proc.stderr, proc.stdout, sep="\n", file=sys.stderr)  # the progress lines and the table, for the log
    assert proc.returncode == 0, proc.stderr
    members = _members(out)
    assert set(members) == {_public(e.url) for e in engines}
    for e in engines:
        m = members[_public(e.url)]
        assert m["status"] == "ok", m["error"]
        report = m["report"]
        assert isinstance(report, dict) and report["kind"] == "bench"
        cycles = [s["cycle_s"] for s in report["container"]["samples"] if not s["warmup"]]
        assert len(cycles) == 3 and all(isinstance(c, float) and c > 0 for c in cycles)
        assert _leftovers(e, str(report["run_id"])) == [], f"{e.name} kept containers"
    # A progress line per engine, on stderr (not a terminal here).
    for e in engines:
        assert _public(e.url) in proc.stderr
    # The ssh user name stays out of the report.
    assert "root@" not in out.read_text()
    # It loads, renders in every format, and compares with itself group by group.
    for fmt in ("table", "markdown", "html", "json"):
        r = subprocess.run([*VIRTPROBE, "report", "-f", fmt, str(out)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert ('"kind": "fleet"' if fmt == "json" else "4 member(s), 0 failed") in r.stdout
    r = subprocess.run([*VIRTPROBE, "compare", str(out), str(out)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "compared group" in r.stdout


def test_killing_one_engine_mid_run_loses_only_its_figures(tmp_path: Path, podman_socket: Engine) -> None:
    out = tmp_path / "fleet.json"
    with running_dockerd(tls=False) as victim:
        engines = [victim, podman_socket]
        proc = subprocess.Popen(
            _argv(engines, out, "-n", "40"),
            env=_env(*engines),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # Wait until the victim is measuring (its "container cycles" line), plus a few cycles.
            deadline = time.monotonic() + 120
            client = victim.client(timeout=10)
            try:
                while time.monotonic() < deadline:
                    # The low-level list: containers.list() inspects each container it lists, and
                    # the bench removes its containers in between (a 404 there failed this test).
                    if client.api.containers(all=True, filters={"label": RUN_LABEL}):
                        break
                    assert proc.poll() is None, proc.communicate()
                    time.sleep(0.05)
                else:
                    pytest.fail("the victim engine never started a container")
            finally:
                client.close()
            time.sleep(1.0)
            victim.kill()
            _, stderr = proc.communicate(timeout=600)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
            _kill_strays(os.path.dirname(victim.url.removeprefix("unix://")))
    assert proc.returncode == 4, stderr
    members = _members(out)
    dead, alive = members[_public(victim.url)], members[_public(podman_socket.url)]
    assert dead["status"] == "failed" and dead["report"] is None
    assert isinstance(dead["error"], dict) and dead["error"]["type"] == "EngineError"
    assert alive["status"] == "ok"
    alive_report = alive["report"]
    assert isinstance(alive_report, dict)
    assert len([s for s in alive_report["container"]["samples"] if not s["warmup"]]) == 40
    # The exit line names the failed engine and why.
    assert _public(victim.url) in stderr and "1 of 2 engines failed" in stderr
    assert _leftovers(podman_socket, str(alive_report["run_id"])) == []


def test_docker_contexts_are_benched_as_the_docker_cli_resolves_them(
    tmp_path: Path, dockerd_unix: Engine, dockerd_tls: Engine
) -> None:
    """Contexts made by `docker context create` (TLS material copied into the store), named or current."""
    import shutil

    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    env = {**_env(), "DOCKER_CONFIG": str(cfg)}
    cp = dockerd_tls.cert_path
    tls_endpoint = f"host={dockerd_tls.url},ca={cp}/ca.pem,cert={cp}/cert.pem,key={cp}/key.pem"
    for args in (
        ["context", "create", "tls-box", "--docker", tls_endpoint],
        ["context", "create", "second", "--docker", f"host={dockerd_unix.url}"],
    ):  # fmt: skip
        made = subprocess.run(["docker", *args], env=env, capture_output=True, text=True, timeout=30)
        assert made.returncode == 0, made.stderr
    out = tmp_path / "fleet.json"
    argv = [*VIRTPROBE, "bench", "-n", "2", "--warmup", "0", "--memory", "0", "--json", str(out),
            "--context", "tls-box", "--context", "second"]  # fmt: skip
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert [(m["name"], m["origin"], m["status"]) for m in doc["members"]] == [
        ("tls-box", "--context", "ok"),
        ("second", "--context", "ok"),
    ]
    # DOCKER_CONTEXT alone: one engine, so a plain bench report of it. To see that it went to the
    # TLS engine and not the default socket, its probe image is removed first and must come back.
    tag = doc["members"][0]["report"]["container"]["image"]["name"]
    client = dockerd_tls.client()
    try:
        client.images.remove(tag, force=True)
    finally:
        client.close()
    single = tmp_path / "single.json"
    proc = subprocess.run(
        [*VIRTPROBE, "bench", "-n", "2", "--warmup", "0", "--memory", "0", "--json", str(single)],
        env={**env, "DOCKER_CONTEXT": "tls-box"}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(single.read_text())
    assert report["kind"] == "bench" and report["container"]["image"]["build_s"] is not None
    client = dockerd_tls.client()
    try:
        assert client.images.get(tag)
    finally:
        client.close()
