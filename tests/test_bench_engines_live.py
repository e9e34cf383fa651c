"""bench end to end on the real engines: runtimes side by side, gVisor's own clock, Podman, the function cycle.

Run through the CLI, as a user would, against dockerd (/var/run/docker.sock) and
Podman's Docker-compatible service ($VIRTPROBE_PODMAN_SOCK, which scripts/setup.sh
starts). Assertions are loose where the machine is variable (the figures), exact
where it is not (what is named, which clock is used).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import live_skip
from tests.engines import PODMAN_SOCK

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parent.parent


def bench(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[dict[str, Any], str]:
    out = tmp_path / "report.json"
    proc = subprocess.run(
        [sys.executable, "-m", "virtprobe", "bench", "--json", str(out), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
        timeout=600,
        check=False,
    )
    if proc.returncode == 4:
        live_skip(f"engine unreachable: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    md = subprocess.run(
        [sys.executable, "-m", "virtprobe", "report", str(out), "--format", "markdown"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=True,
    ).stdout
    return json.loads(out.read_text()), md


def labelled(run_id: str, env: dict[str, str] | None = None) -> list[str]:
    """The containers of this test's own run still on the engine (the engines are shared with other runs)."""
    from virtprobe.benchmark.ownership import RUN_LABEL

    cmd = ["docker", "ps", "-a", "-q", "--filter", f"label={RUN_LABEL}={run_id}"]
    return subprocess.run(
        cmd, capture_output=True, text=True, check=True, env={**os.environ, **(env or {})}
    ).stdout.split()


def test_runc_and_runsc_side_by_side_runsc_on_its_own_clock(tmp_path: Path) -> None:
    doc, md = bench(tmp_path, "-n", "3", "--warmup", "1", "--memory", "0", "--runtime", "runc,runsc")
    engine = doc["environment"]["engine"]
    if not any(r["name"] == "runsc" for r in engine["runtimes"]):
        live_skip("the engine offers no runsc runtime (see docs: a daemon.json runtimes entry)")
    runc, runsc = doc["container"], doc["other_runtimes"][0]
    assert (runc["runtime"], runsc["runtime"]) == ("runc", "runsc")
    assert runc["clock"]["mode"] == "same-kernel"
    assert all(s["first_instruction_s"] > 0 for s in runc["samples"])
    # gVisor's Sentry keeps its own clock: no first-instruction figure, client-side phases only.
    assert runsc["refused"] is None and runsc["clock"]["mode"] == "client-only"
    assert "kernel of its own" in runsc["clock"]["reason"]
    assert all(s["first_instruction_s"] is None and s["cycle_s"] > 0 for s in runsc["samples"])
    assert "| runsc |" in md and "own clock" in md
    assert labelled(doc["run_id"]) == []


def test_function_cycle_cold_warm_paused_on_the_real_engine(tmp_path: Path) -> None:
    doc, md = bench(tmp_path, "-n", "2", "--warmup", "1", "--memory", "0", "--function", "30")
    fn = doc["function"]
    assert fn["function_ms"] == 30 and [m["mode"] for m in fn["modes"]] == ["cold", "warm", "paused"]
    for mode in fn["modes"]:
        assert mode["refused"] is None, mode["refused"]
        measured = [c for c in mode["calls"] if not c["warmup"]]
        # The function spun 30 ms of CPU: its own wall time is at least that, and the call longer.
        assert len(measured) == 2 and all(c["work_s"] >= 0.030 and c["wall_s"] > c["work_s"] for c in measured)
    cold = [c for c in fn["modes"][0]["calls"] if not c["warmup"]]
    assert all(0 < c["first_instruction_s"] < c["end_s"] < c["wall_s"] for c in cold)
    assert "The serverless cycle" in md and "billed at 100 ms" in md
    assert labelled(doc["run_id"]) == []


def test_podman_is_named_with_conmon_and_has_no_containerd_shim_row(tmp_path: Path) -> None:
    if not Path(PODMAN_SOCK.removeprefix("unix://")).exists():
        live_skip(f"no Podman service socket at {PODMAN_SOCK} (scripts/setup.sh starts it)")
    env = {"DOCKER_HOST": f"unix://{PODMAN_SOCK.removeprefix('unix://')}"}
    doc, md = bench(tmp_path, "-n", "3", "--warmup", "1", "--memory", "3", env=env)
    engine = doc["environment"]["engine"]
    assert engine["product"] == "podman" and engine["container_process"] == "conmon"
    assert engine["runtime_kind"] in ("runc", "crun") and engine["runtime_version"]
    memory = doc["container"]["memory"]
    assert memory["process_name"] == "conmon" and memory["process_pss_bytes"]
    assert all(b > 0 for b in memory["cgroup_bytes"])
    assert "containerd-shim" not in md and "conmon PSS" in md and "Podman" in md
    assert labelled(doc["run_id"], env) == []


def test_podman_ignores_the_runtime_asked_for_and_the_row_says_so(tmp_path: Path) -> None:
    """Podman 4.3's Docker-compatible API accepts HostConfig.Runtime and uses its default runtime."""
    if not Path(PODMAN_SOCK.removeprefix("unix://")).exists():
        live_skip(f"no Podman service socket at {PODMAN_SOCK} (scripts/setup.sh starts it)")
    env = {"DOCKER_HOST": f"unix://{PODMAN_SOCK.removeprefix('unix://')}"}
    doc, _ = bench(tmp_path, "-n", "2", "--warmup", "0", "--memory", "0", "--runtime", "runc,runsc", env=env)
    runc, runsc = doc["container"], doc["other_runtimes"][0]
    assert runc["refused"] is None and runc["samples"]
    if runsc["refused"] is None:
        # A Podman that honours the name: then the probe ran under gVisor's own clock.
        assert runsc["clock"]["mode"] == "client-only"
    else:
        assert "not the runtime 'runsc'" in runsc["refused"] and runsc["samples"] == []
    assert labelled(doc["run_id"], env) == []
