"""The only engine dies mid-run: the partial report is written, one line names that engine, and
following its advice cleans that engine; `clean` never removes a running container without
--include-running, whatever labels it carries (issue 16).

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

from tests.conftest import live_skip, without_progress

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
        """Whatever of this engine still runs (its containerd, shims and containers): gone.

        Found by their own pids, as the processes whose command line names this engine's
        private folder (a fresh mkdtemp): only what this test started."""
        marker = str(self.base).encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmdline:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(entry.name), signal.SIGKILL)


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


def _advised_clean(line: str) -> list[str]:
    """The `virtprobe clean ...` command the error line advises, as argv."""
    command = line.split("`virtprobe clean", 1)[1].split("`", 1)[0]
    return ["clean", *command.split()]


@pytest.mark.parametrize("named_by", ["--host", "DOCKER_HOST"])
def test_engine_killed_mid_run_writes_the_partial_report_and_advises_cleaning_that_engine(
    private_dockerd: PrivateDockerd, tmp_path: Path, named_by: str
) -> None:
    out = tmp_path / "partial.json"
    args = ["bench", "-n", "200", "--memory", "0", "--json", str(out)]
    env = dict(os.environ)
    if named_by == "--host":
        args += ["--host", private_dockerd.host]
        env.pop("DOCKER_HOST", None)  # the advice must not lean on the environment
    else:
        env["DOCKER_HOST"] = private_dockerd.host
    bench = subprocess.Popen(
        [sys.executable, "-m", "virtprobe", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Wait until the run has measured a few cycles, then kill the engine under it.
    deadline = time.monotonic() + 180
    seen: set[str] = set()
    while time.monotonic() < deadline and bench.poll() is None and len(seen) < 6:
        seen.update(private_dockerd.docker("ps", "-aq", "--filter", "label=io.virtprobe.run").stdout.split())
        time.sleep(0.05)
    assert bench.poll() is None, bench.communicate()
    private_dockerd.kill(signal.SIGKILL)
    _, err = bench.communicate(timeout=180)
    assert bench.returncode == 4, err
    lines = without_progress(err)
    assert len(lines) == 1 and "Traceback" not in err, err
    assert "stopped answering mid-run" in lines[0]
    assert f"virtprobe clean --host {private_dockerd.host}`" in lines[0], lines[0]

    # The partial report: loadable, holding the cycles measured before the engine died.
    from virtprobe.report.document import BenchReport
    from virtprobe.report.load import load_report

    report = load_report(out)
    assert isinstance(report, BenchReport)
    container = report.result.container
    assert container is not None and len(container.samples) >= 1
    assert any(w.startswith("partial report: the engine died mid-run") for w in report.result.warnings)

    # Following the advice, word for word, cleans the engine that died (once it is back),
    # without DOCKER_HOST to help it.
    private_dockerd.start()
    clean_env = {k: v for k, v in os.environ.items() if k != "DOCKER_HOST"}
    clean = subprocess.run(
        [sys.executable, "-m", "virtprobe", *_advised_clean(lines[0]), "--include-running"],
        cwd=REPO, env=clean_env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert clean.returncode == 0, clean.stderr
    left = private_dockerd.docker("ps", "-aq", "--filter", "label=io.virtprobe.run").stdout.split()
    assert left == []


def test_clean_keeps_a_running_container_whatever_its_labels(private_dockerd: PrivateDockerd) -> None:
    """A running container carrying only io.virtprobe.run is kept without --include-running; a stopped one goes."""
    made = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, os\n"
            "from virtprobe.benchmark.connect import host_target\n"
            "from virtprobe.benchmark.docker_backend import DockerBackend\n"
            "be = DockerBackend(target=host_target(sys.argv[1], os.environ, False))\n"
            "tag, _ = be.ensure_probe_image(be.engine_info().arch)\n"
            "hc = be.api.create_host_config(network_mode='none')\n"
            "label = {'io.virtprobe.run': 'vp-x'}\n"
            "run = be.api.create_container(tag, command=['pause'], labels=label, host_config=hc)\n"
            "be.api.start(run['Id'])\n"
            "done = be.api.create_container(tag, labels={'io.virtprobe.run': 'vp-y'}, host_config=hc)\n"
            "be.api.start(done['Id']); be.api.wait(done['Id'])\n"
            "print(run['Id']); print(done['Id'])\n",
            private_dockerd.host,
        ],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=180,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    running, stopped = made.stdout.split()
    clean = subprocess.run(
        [sys.executable, "-m", "virtprobe", "clean", "--host", private_dockerd.host],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert clean.returncode == 0, clean.stderr
    assert "removed 1 container(s)" in clean.stderr and "kept 1 that are running" in clean.stderr, clean.stderr
    left = private_dockerd.docker("ps", "-aq", "--no-trunc").stdout.split()
    assert running in left and stopped not in left
    again = subprocess.run(
        [sys.executable, "-m", "virtprobe", "clean", "--host", private_dockerd.host, "--include-running"],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert private_dockerd.docker("ps", "-aq").stdout.split() == []
