"""The Docker daemon dies mid-run: one clear line, exit 4, and `clean` removes what was left.

This runs a private dockerd (its own socket, data root, exec root and managed
containerd) so that killing it cannot disturb the engine other tests use.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import live_skip

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parent.parent


class PrivateDockerd:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.sock = base / "d.sock"
        self.host = f"unix://{self.sock}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        (self.base / "docker.pid").unlink(missing_ok=True)  # left by a SIGKILL
        # dockerd reuses a containerd it finds "still running" by its pid file. Where
        # PID 1 does not reap orphans (this VM's init does not), the killed containerd
        # lingers as a zombie and dockerd waits on it forever; a zombie is dead.
        pidfile = self.base / "exec" / "containerd" / "containerd.pid"
        if pidfile.exists() and _dead_or_zombie(pidfile.read_text().strip()):
            pidfile.unlink()
        log = open(self.base / "dockerd.log", "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            [
                "dockerd",
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "-H",
                self.host,
                "--data-root",
                str(self.base / "data"),
                "--exec-root",
                str(self.base / "exec"),
                "--pidfile",
                str(self.base / "docker.pid"),
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.docker("version").returncode == 0:
                return
            time.sleep(0.3)
        raise RuntimeError("private dockerd did not start: " + (self.base / "dockerd.log").read_text()[-2000:])

    def docker(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "-H", self.host, *args], capture_output=True, text=True, check=False, timeout=60
        )

    def kill(self, sig: int) -> None:
        """Signal dockerd alone, as a crash would end it (its containerd follows it)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(sig)
            self.proc.wait(timeout=60)

    def reap_all(self) -> None:
        """Whatever of this engine still runs (containerd, shims): gone."""
        subprocess.run(["pkill", "-9", "-f", str(self.base)], check=False)


def _dead_or_zombie(pid: str) -> bool:
    try:
        status = Path(f"/proc/{int(pid)}/status").read_text()
    except (OSError, ValueError):
        return True
    return any(line.startswith("State:") and "Z" in line.split()[1] for line in status.splitlines())


@pytest.fixture
def private_dockerd() -> Iterator[PrivateDockerd]:
    if shutil.which("dockerd") is None or os.geteuid() != 0:
        live_skip("needs dockerd and root to run a private Docker engine")
    # A short path: unix socket paths are limited to 108 bytes.
    base = Path(tempfile.mkdtemp(prefix="vpd-", dir="/tmp"))
    d = PrivateDockerd(base)
    try:
        d.start()
        yield d
    finally:
        if d.proc is not None and d.proc.poll() is None:
            d.docker("rm", "-f", *d.docker("ps", "-aq").stdout.split())
        d.kill(signal.SIGTERM)
        d.reap_all()
        for mount in reversed(Path("/proc/self/mounts").read_text().splitlines()):
            target = mount.split()[1]
            if target.startswith(str(base)):
                subprocess.run(["umount", "-l", target], check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_daemon_killed_mid_run_then_clean(private_dockerd: PrivateDockerd) -> None:
    env = {**os.environ, "DOCKER_HOST": private_dockerd.host}
    bench = subprocess.Popen(
        [sys.executable, "-m", "virtprobe", "bench", "-n", "200", "--memory", "0", "--json", "-"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Wait until the run has containers of its own, then kill the engine under it.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and bench.poll() is None:
        if private_dockerd.docker("ps", "-aq", "--filter", "label=io.virtprobe.run").stdout.strip():
            break
        time.sleep(0.05)
    assert bench.poll() is None, bench.communicate()
    private_dockerd.kill(signal.SIGKILL)
    out, err = bench.communicate(timeout=120)
    assert bench.returncode == 4, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "stopped answering mid-run" in lines[0] and "virtprobe clean" in lines[0]
    assert out == ""  # no half report on stdout

    # Whatever the dead engine still held is virtprobe's to clean, once it is back.
    private_dockerd.start()
    clean = subprocess.run(
        [sys.executable, "-m", "virtprobe", "clean"], cwd=REPO, env=env, capture_output=True, text=True, check=False
    )
    assert clean.returncode == 0, clean.stderr
    left = private_dockerd.docker("ps", "-aq", "--filter", "label=io.virtprobe.run").stdout.split()
    assert left == []
