"""Each loopback engine fixture of tests/engines.py gives a working engine, fast, and can be killed."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.engines import (
    MIN_API,
    Engine,
    dockerd_ssh,
    dockerd_tls,
    dockerd_unix,
    make_certs,
    podman_socket,
    running_dockerd,
)

__all__ = ["dockerd_ssh", "dockerd_tls", "dockerd_unix", "podman_socket"]  # the fixtures, used by name

pytestmark = [pytest.mark.docker, pytest.mark.live]


def _version(engine: Engine) -> dict[str, Any]:
    client = engine.client(timeout=20)
    try:
        return client.version()
    finally:
        client.close()


def _report(engine: Engine) -> None:
    print(f"{engine.name}: {engine.url} up in {engine.startup_s:.2f} s", file=sys.stderr)


def test_second_dockerd_on_its_own_socket(dockerd_unix: Engine) -> None:
    _report(dockerd_unix)
    assert dockerd_unix.url.startswith("unix:///tmp/")
    info = dockerd_unix.client().info()
    # Its own data root, not the main daemon's /var/lib/docker.
    assert info["DockerRootDir"].startswith("/tmp/") and info["DockerRootDir"] != "/var/lib/docker"
    assert _version(dockerd_unix)["Version"]
    assert dockerd_unix.startup_s < 15


def test_tls_dockerd_needs_the_client_certificate(dockerd_tls: Engine) -> None:
    _report(dockerd_tls)
    assert dockerd_tls.url.startswith("tcp://127.0.0.1:")
    assert dockerd_tls.env["DOCKER_TLS_VERIFY"] == "1"
    assert _version(dockerd_tls)["Version"]
    # Without a client certificate the daemon refuses the handshake (--tlsverify).
    import docker

    cp = dockerd_tls.cert_path
    assert cp is not None
    bare = docker.DockerClient(
        base_url=dockerd_tls.url,
        tls=docker.tls.TLSConfig(ca_cert=os.path.join(cp, "ca.pem"), verify=True),
        version=MIN_API,
    )
    bare.api.trust_env = False
    with pytest.raises((docker.errors.DockerException, ssl.SSLError, OSError)) as info:
        bare.version()
    bare.close()
    assert "CERTIFICATE_VERIFY_FAILED" not in str(info.value)  # the server refused us, not we it


def test_tls_env_is_what_the_docker_cli_reads(dockerd_tls: Engine) -> None:
    """DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH alone reach it, as `docker version` would."""
    import docker

    client = docker.from_env(environment=dockerd_tls.env, version=MIN_API)
    client.api.trust_env = False  # see Engine.client: REQUESTS_CA_BUNDLE would replace DOCKER_CERT_PATH's CA
    try:
        assert client.version()["Version"]
    finally:
        client.close()
    proc = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        env={**os.environ, **dockerd_tls.env}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_ssh_reaches_the_main_dockerd(dockerd_ssh: Engine) -> None:
    _report(dockerd_ssh)
    assert dockerd_ssh.url.startswith("ssh://root@127.0.0.1:")
    import docker

    via_ssh = _version(dockerd_ssh)
    local = docker.DockerClient(base_url="unix:///var/run/docker.sock")
    try:
        # The same daemon at the other end: same engine id.
        assert dockerd_ssh.client().info()["ID"] == local.info()["ID"]
        assert via_ssh["Version"] == local.version()["Version"]
    finally:
        local.close()


def test_ssh_engine_through_the_docker_cli(dockerd_ssh: Engine) -> None:
    """`docker -H ssh://...` (the CLI's own connhelper) works with the same environment."""
    env = {**os.environ, **dockerd_ssh.env}
    proc = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()


def test_podman_socket(podman_socket: Engine) -> None:
    _report(podman_socket)
    names = [c.get("Name", "") for c in _version(podman_socket).get("Components", [])]
    assert any("Podman" in str(n) for n in names), names
    with pytest.raises(RuntimeError, match="not started by these fixtures"):
        podman_socket.kill()


def _hello_elf() -> bytes:
    """A 156-byte static x86-64 ELF that writes "ok\\n" and exits 0 (write(2), exit(2) by syscall)."""
    import struct

    code = bytes.fromhex("b801000000bf01000000488d3510000000ba030000000f05b83c00000031ff0f05") + b"ok\n"
    base, hdr = 0x400000, 64 + 56
    ehdr = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    ehdr += struct.pack("<HHIQQQIHHHHHH", 2, 0x3E, 1, base + hdr, 64, 0, 0, 64, 56, 1, 0, 0, 0)
    size = hdr + len(code)
    return ehdr + struct.pack("<IIQQQQQQ", 1, 5, 0, base, base, size, size, 0x1000) + code


@pytest.mark.parametrize("which", ["dockerd_unix", "dockerd_tls", "dockerd_ssh", "podman_socket"])
def test_engine_builds_and_runs_a_container(which: str, request: pytest.FixtureRequest) -> None:
    """Beyond version(): a FROM-scratch image built through the SDK runs, with no network, and is removed."""
    import io
    import platform
    import tarfile

    if platform.machine() != "x86_64":
        pytest.skip("the hand-made test ELF is x86-64")
    engine: Engine = request.getfixturevalue(which)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data, mode in (("Dockerfile", b"FROM scratch\nCOPY hello /hello\n", 0o644),
                                 ("hello", _hello_elf(), 0o755)):  # fmt: skip
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    tag = f"virtprobe-engines-test:{engine.name}"
    client = engine.client(timeout=60)
    try:
        client.images.build(fileobj=buf, custom_context=True, tag=tag, rm=True)
        out = client.containers.run(tag, ["/hello"], network_mode="none", remove=True)
        assert out == b"ok\n"
    finally:
        import contextlib

        with contextlib.suppress(Exception):  # already gone, or the engine died: nothing to remove
            client.images.remove(tag, force=True)
        client.close()


def test_make_certs_server_cert_has_the_loopback_ip_san(tmp_path: Path) -> None:
    certs = make_certs(tmp_path / "c")
    text = subprocess.run(
        ["openssl", "x509", "-in", str(certs / "server-cert.pem"), "-noout", "-ext", "subjectAltName"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "IP Address:127.0.0.1" in text
    verify = subprocess.run(
        ["openssl", "verify", "-CAfile", str(certs / "ca.pem"), str(certs / "cert.pem")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stderr


def test_killed_engine_stops_answering_and_leaves_nothing() -> None:
    """kill() is how the fleet tests make one engine die mid-run; its own engine, not the session's."""
    import docker

    with running_dockerd() as engine:
        top = engine.url[len("unix://") :].rsplit("/", 1)[0]
        pidfile = Path(top) / "dockerd.pid"
        assert engine.alive
        client = engine.client(timeout=5)
        assert client.version()
        t0 = time.monotonic()
        engine.kill()
        assert not engine.alive
        with pytest.raises((docker.errors.DockerException, OSError)):
            client.version()
        client.close()
        assert time.monotonic() - t0 < 15
        assert pidfile.parent.is_dir()
    # Teardown removed the folder and every mount below it, and no process of it is left.
    assert not Path(top).exists()
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        assert top not in fh.read()
    assert subprocess.run(["pgrep", "-f", top], capture_output=True, check=False).returncode == 1
