"""Session fixtures that start extra container engines on loopback for fleet tests, and tear them down.

Four engines, each reached the way its users reach it:

- `dockerd_unix`: a second dockerd on its own unix socket, data root, exec root
  and pidfile, with its own managed containerd, no bridge and no iptables;
- `dockerd_tls`: a third dockerd on tcp://127.0.0.1:PORT with `--tlsverify`, and
  a CA, server certificate (IP SAN 127.0.0.1) and client certificate made here
  with the openssl CLI, laid out as a DOCKER_CERT_PATH folder (ca.pem, cert.pem, key.pem);
- `dockerd_ssh`: an sshd on 127.0.0.1:PORT (its own host key, an authorized key
  made here, its own config, no passwords) through which the main dockerd is
  reached as ssh://root@127.0.0.1:PORT;
- `podman_socket`: Podman's Docker-compatible socket, already running here
  (started by scripts/setup.sh; never started or stopped by these fixtures).

The ssh transport is the Docker CLI's: docker-py's `use_ssh_client=True` runs the
`ssh` binary with `docker system dial-stdio` on the far side, as `docker -H ssh://`
does (docker/cli connhelper), rather than paramiko, which the CLI's users do not
have (and which is not installed here). The ssh binary reads its per-user
configuration from the passwd home, not $HOME, so the fixture puts a small `ssh`
wrapper first on PATH that adds `-F <its own ssh_config>` (identity, a
known_hosts holding the fixture's host key, StrictHostKeyChecking yes, BatchMode):
nothing is prompted, nothing goes to the network, the user's ~/.ssh is untouched.

Each fixture yields an `Engine`: the URL, TLS settings, the environment a docker
CLI or `docker.from_env()` would need (`env`), `client()`, `kill()` to make it
die mid-run (the "one engine dies" test), and `startup_s`. Everything a fixture
starts runs in its own process group and is killed at teardown, mounts left
below its temp folder are unmounted, and the folder is removed, also when a
test or the start-up itself failed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import live_skip

# scripts/setup.sh starts Podman's service on this socket and exports its path; every
# live test that talks to Podman takes it from here.
PODMAN_SOCK = os.environ.get("VIRTPROBE_PODMAN_SOCK") or str(
    Path(__file__).resolve().parent.parent / ".cache" / "podman" / "podman.sock"
)
PODMAN_SOCKET = "unix://" + PODMAN_SOCK
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
MIN_API = "1.41"  # Docker Engine 20.10, the oldest engine here; only used to ask the server for its own


@dataclass
class Engine:
    """One engine a test can reach: what the docker CLI would need, and a way to kill it."""

    name: str
    url: str  # DOCKER_HOST form: unix://..., tcp://127.0.0.1:PORT, ssh://root@127.0.0.1:PORT
    env: dict[str, str] = field(default_factory=dict)  # DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH
    cert_path: str | None = None  # DOCKER_CERT_PATH layout: ca.pem, cert.pem, key.pem
    use_ssh_client: bool = False
    startup_s: float = 0.0
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)
    _log: Path | None = field(default=None, repr=False)

    @property
    def tls(self) -> bool:
        return self.cert_path is not None

    def tls_config(self) -> Any:
        """docker.tls.TLSConfig for this engine, or None."""
        if self.cert_path is None:
            return None
        import docker

        cp = Path(self.cert_path)
        return docker.tls.TLSConfig(
            client_cert=(str(cp / "cert.pem"), str(cp / "key.pem")), ca_cert=str(cp / "ca.pem"), verify=True
        )

    def client(self, timeout: float = 30.0) -> Any:
        """A docker.DockerClient for this engine (the caller closes it)."""
        import docker

        if self.cert_path is None:
            return docker.DockerClient(base_url=self.url, use_ssh_client=self.use_ssh_client, timeout=timeout)
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's own
        # `verify` (psf/requests#3829), and both are set on many machines (here too):
        # docker-py's TLSConfig(ca_cert=...) is then ignored and the daemon's private
        # CA fails verification. trust_env=False keeps the given CA. It must be off
        # before the first request, so the API version is negotiated by hand.
        client = docker.DockerClient(base_url=self.url, tls=self.tls_config(), timeout=timeout, version=MIN_API)
        client.api.trust_env = False
        server = client.api.version(api_version=False)["ApiVersion"]
        client.api._version = server  # what version="auto" would have chosen
        return client

    @property
    def alive(self) -> bool:
        return bool(self._procs) and all(p.poll() is None for p in self._procs)

    def kill(self) -> None:
        """SIGKILL the engine (its whole process group): a daemon that dies mid-run."""
        if not self._procs:
            raise RuntimeError(f"{self.name} is not started by these fixtures and cannot be killed here")
        for proc in self._procs:
            _kill_group(proc, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=STOP_TIMEOUT_S)

    def log_tail(self, lines: int = 30) -> str:
        if self._log is None or not self._log.exists():
            return ""
        return "\n".join(self._log.read_text(errors="replace").splitlines()[-lines:])


# ---------------------------------------------------------------------------
# helpers


def _need(*binaries: str) -> None:
    for b in binaries:
        if shutil.which(b) is None:
            live_skip(f"{b} not found on PATH")


def _free_port() -> int:
    # The port is free when we look; the daemon binds it a moment later. On a
    # loopback-only test machine that window is good enough.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kill_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, wait, then SIGKILL whatever is left of it."""
    if proc.poll() is None:
        _kill_group(proc, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_TIMEOUT_S)
    # Children (containerd, shims) may outlive their parent: the group goes too.
    _kill_group(proc, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=STOP_TIMEOUT_S)


def _mounts_below(top: str) -> list[str]:
    out = []
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            # Field 5 is the mount point, with spaces etc. octal-escaped (proc(5)).
            point = line.split()[4].encode().decode("unicode_escape")
            if point == top or point.startswith(top + "/"):
                out.append(point)
    return out


def _cleanup_dir(top: str) -> None:
    """Unmount what dockerd left below top (deepest first), then remove the folder."""
    for point in sorted(_mounts_below(top), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    shutil.rmtree(top, ignore_errors=True)


def _wait_ready(engine: Engine, proc: subprocess.Popen[bytes], t0: float) -> None:
    """Poll version() until the engine answers; fail with the daemon's log if it exits or times out."""
    last: Exception | None = None
    while time.monotonic() - t0 < START_TIMEOUT_S:
        if proc.poll() is not None:
            pytest.fail(f"{engine.name} exited with {proc.returncode} while starting:\n{engine.log_tail()}")
        try:
            client = engine.client(timeout=5)
            try:
                client.version()
            finally:
                client.close()
            engine.startup_s = time.monotonic() - t0
            return
        except Exception as err:  # not up yet: connection refused, no socket, TLS not served yet...
            last = err
            time.sleep(0.05)
    pytest.fail(f"{engine.name} not ready after {START_TIMEOUT_S:.0f} s ({last}):\n{engine.log_tail()}")


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.fail(f"openssl {' '.join(args)} failed: {proc.stderr.strip()}")


def make_certs(folder: Path) -> Path:
    """A CA, a server certificate for 127.0.0.1 (IP SAN, serverAuth) and a client one (clientAuth).

    Returns the DOCKER_CERT_PATH folder (ca.pem, cert.pem, key.pem for the client);
    the server's files are server-cert.pem and server-key.pem in the same folder,
    as in Docker's "Protect the Docker daemon socket" guide.
    """
    folder.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl("req", "-x509", *ec, "-keyout", "ca-key.pem", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=virtprobe test CA", cwd=folder)  # fmt: skip
    (folder / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n"
    )
    (folder / "client.ext").write_text("extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n")
    for who, ext in (("server", "server.ext"), ("client", "client.ext")):
        _openssl("req", *ec, "-keyout", f"{who}-key.pem", "-out", f"{who}.csr", "-subj", f"/CN={who}", cwd=folder)
        _openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem",
                 "-CAcreateserial", "-days", "2", "-extfile", ext, "-out", f"{who}-cert.pem", cwd=folder)  # fmt: skip
    shutil.copy(folder / "client-cert.pem", folder / "cert.pem")
    shutil.copy(folder / "client-key.pem", folder / "key.pem")
    for key in folder.glob("*key.pem"):
        key.chmod(0o600)
    return folder


def _need_root(what: str) -> None:
    if os.geteuid() != 0:
        live_skip(f"{what} needs root (it mounts, and sshd needs its privilege-separation directory)")


def _start_dockerd(name: str, top: Path, listen: str, extra: list[str]) -> tuple[Engine, subprocess.Popen[bytes]]:
    _need("dockerd", "containerd")
    _need_root("a dockerd of the tests' own")
    (top / "config.json").write_text("{}\n")  # not the main daemon's runtimes or anything else
    log = top / "dockerd.log"
    argv = [
        "dockerd",
        "--config-file", str(top / "config.json"),
        "--data-root", str(top / "data"),
        "--exec-root", str(top / "exec"),
        "--pidfile", str(top / "dockerd.pid"),
        "-H", listen,
        "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
        *extra,
    ]  # fmt: skip
    with open(log, "wb") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)  # fmt: skip
    url = listen
    engine = Engine(name=name, url=url, env={"DOCKER_HOST": url}, _procs=[proc], _log=log)
    return engine, proc


@contextlib.contextmanager
def _tempdir(prefix: str) -> Iterator[Path]:
    # Short paths under /tmp: containerd's socket lives below the exec root, and a
    # unix socket path may not exceed 107 bytes.
    top = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
    try:
        yield Path(top)
    finally:
        _cleanup_dir(top)


# ---------------------------------------------------------------------------
# fixtures


@contextlib.contextmanager
def running_dockerd(tls: bool = False) -> Iterator[Engine]:
    """Start a dockerd of its own (unix socket, or TCP with --tlsverify), yield it, and remove every trace.

    The session fixtures below use this; a test that kills its engine should
    call it directly, so that the session's engines stay up for later tests.
    """
    if tls:
        _need("openssl")
    with _tempdir("vp-d2-" if tls else "vp-d1-") as top:
        t0 = time.monotonic()
        if tls:
            certs = make_certs(top / "certs")
            flags = [
                "--tlsverify",
                "--tlscacert", str(certs / "ca.pem"),
                "--tlscert", str(certs / "server-cert.pem"),
                "--tlskey", str(certs / "server-key.pem"),
            ]  # fmt: skip
            engine, proc = _start_dockerd("dockerd-tls", top, f"tcp://127.0.0.1:{_free_port()}", flags)
            engine.cert_path = str(certs)
            engine.env.update({"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(certs)})
        else:
            engine, proc = _start_dockerd("dockerd-unix", top, f"unix://{top / 'docker.sock'}", [])
        try:
            _wait_ready(engine, proc, t0)
            yield engine
        finally:
            _stop(proc)


@pytest.fixture(scope="session")
def dockerd_unix() -> Iterator[Engine]:
    """A second dockerd on its own unix socket and data root."""
    with running_dockerd(tls=False) as engine:
        yield engine


@pytest.fixture(scope="session")
def dockerd_tls() -> Iterator[Engine]:
    """A third dockerd on tcp://127.0.0.1:PORT, --tlsverify, with certificates made here."""
    with running_dockerd(tls=True) as engine:
        yield engine


SSHD_CONFIG = """\
ListenAddress 127.0.0.1
Port {port}
HostKey {top}/ssh_host_ed25519_key
PidFile {top}/sshd.pid
AuthorizedKeysFile {top}/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding no
X11Forwarding no
PermitTunnel no
LogLevel VERBOSE
"""

SSH_CONFIG = """\
Host 127.0.0.1
  Port {port}
  User root
  IdentityFile {top}/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile {top}/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  ConnectTimeout 5
Host *
  BatchMode yes
"""


@pytest.fixture(scope="session")
def dockerd_ssh() -> Iterator[Engine]:
    """The main dockerd, reached as ssh://root@127.0.0.1:PORT through an sshd started here."""
    _need("ssh", "ssh-keygen", "docker")
    _need_root("the ssh engine (root@127.0.0.1 reaching the main dockerd)")
    sshd = shutil.which("sshd") or ("/usr/sbin/sshd" if os.path.exists("/usr/sbin/sshd") else None)
    if sshd is None:
        live_skip("sshd not found (Debian: openssh-server)")
    assert sshd is not None
    real_ssh = shutil.which("ssh")
    # sshd insists on its compiled-in privilege-separation directory.
    made_privsep = False
    if not os.path.isdir("/run/sshd"):
        os.makedirs("/run/sshd", mode=0o755)
        made_privsep = True
    old_path = os.environ.get("PATH", "")
    with _tempdir("vp-ssh-") as top:
        try:
            port = _free_port()
            t0 = time.monotonic()
            for key in ("ssh_host_ed25519_key", "id_ed25519"):
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", key, "-f", str(top / key)],
                               check=True, capture_output=True)  # fmt: skip
            shutil.copy(top / "id_ed25519.pub", top / "authorized_keys")
            host_pub = (top / "ssh_host_ed25519_key.pub").read_text().split()
            (top / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
            (top / "sshd_config").write_text(SSHD_CONFIG.format(port=port, top=top))
            (top / "ssh_config").write_text(SSH_CONFIG.format(port=port, top=top))
            bindir = top / "bin"
            bindir.mkdir()
            wrapper = bindir / "ssh"
            wrapper.write_text(f'#!/bin/sh\nexec {real_ssh} -F {top}/ssh_config "$@"\n')
            wrapper.chmod(0o755)
            log = top / "sshd.log"
            with open(log, "wb") as fh:
                proc = subprocess.Popen([sshd, "-D", "-e", "-f", str(top / "sshd_config")], stdout=fh,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        start_new_session=True)  # fmt: skip
            # docker-py's ssh shell-out runs "ssh" from os.environ's PATH at connect time.
            os.environ["PATH"] = f"{bindir}{os.pathsep}{old_path}"
            url = f"ssh://root@127.0.0.1:{port}"
            engine = Engine(
                name="dockerd-ssh",
                url=url,
                env={"DOCKER_HOST": url, "PATH": os.environ["PATH"]},
                use_ssh_client=True,
                _procs=[proc],
                _log=log,
            )
            try:
                _wait_ready(engine, proc, t0)
                yield engine
            finally:
                _stop(proc)
        finally:
            os.environ["PATH"] = old_path
            if made_privsep:
                with contextlib.suppress(OSError):
                    os.rmdir("/run/sshd")


@pytest.fixture(scope="session")
def podman_socket() -> Iterator[Engine]:
    """Podman's Docker-compatible API, already running (not started or stopped here)."""
    path = PODMAN_SOCKET[len("unix://") :]
    if not os.path.exists(path):
        live_skip(f"Podman's socket {path} is not there (scripts/setup.sh starts it)")
    engine = Engine(name="podman", url=PODMAN_SOCKET, env={"DOCKER_HOST": PODMAN_SOCKET})
    t0 = time.monotonic()
    client = engine.client(timeout=10)
    try:
        client.version()
    except Exception as err:  # a socket nobody answers on
        live_skip(f"Podman's socket {path} does not answer: {err}")
    finally:
        client.close()
    engine.startup_s = time.monotonic() - t0
    yield engine
