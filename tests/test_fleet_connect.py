"""Engine resolution (benchmark/connect.py) against context stores written by the docker CLI itself.

The stores are made by `docker context create` / `docker context use` in a
DOCKER_CONFIG folder of the test's own (the user's ~/.docker is never read), with
certificates made by openssl (tests/engines.make_certs), so meta.json, the
sha256-named folders and the TLS layout are the CLI's, not a guess of ours.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import live_skip
from virtprobe.benchmark.connect import (
    DEFAULT_HOST,
    context_id,
    current_context,
    public_url,
    resolve_targets,
)
from virtprobe.errors import InputError


def _docker(cfg: Path, *args: str) -> None:
    if shutil.which("docker") is None:
        live_skip("the docker CLI is not installed")
    proc = subprocess.run(["docker", *args], env={"DOCKER_CONFIG": str(cfg), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=30)  # fmt: skip
    assert proc.returncode == 0, proc.stderr


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A DOCKER_CONFIG with a TLS context, an ssh context (current) and a unix one, made by the docker CLI."""
    if shutil.which("openssl") is None:
        live_skip("openssl is not installed")
    from tests.engines import make_certs

    certs = make_certs(tmp_path / "certs")
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    _docker(cfg, "context", "create", "tls-box", "--docker",
            f"host=tcp://127.0.0.1:2376,ca={certs}/ca.pem,cert={certs}/cert.pem,key={certs}/key.pem")  # fmt: skip
    _docker(cfg, "context", "create", "ssh-box", "--docker", "host=ssh://builder@127.0.0.1:2222")
    _docker(cfg, "context", "create", "second", "--docker", "host=unix:///run/second.sock")
    _docker(cfg, "context", "use", "ssh-box")
    return cfg


def test_context_folder_is_the_sha256_of_its_name(store: Path) -> None:
    assert (store / "contexts" / "meta" / context_id("tls-box") / "meta.json").is_file()
    assert context_id("tls-box") == hashlib.sha256(b"tls-box").hexdigest()


def test_named_contexts_resolve_with_their_tls_material(store: Path) -> None:
    env = {"DOCKER_CONFIG": str(store)}
    tls, ssh, unix = resolve_targets(contexts=["tls-box", "ssh-box", "second"], env=env)
    assert (tls.name, tls.url, tls.origin) == ("tls-box", "tcp://127.0.0.1:2376", "--context")
    assert tls.tls is not None and tls.tls.verify
    folder = store / "contexts" / "tls" / context_id("tls-box") / "docker"
    assert tls.tls.ca_cert == str(folder / "ca.pem") and tls.tls.client_key == str(folder / "key.pem")
    assert ssh.url == "ssh://builder@127.0.0.1:2222" and ssh.tls is None
    assert ssh.describe() == "ssh://127.0.0.1:2222"  # no user name in reports
    assert unix.url == "unix:///run/second.sock"


def test_the_current_context_is_used_when_nothing_is_named(store: Path) -> None:
    env = {"DOCKER_CONFIG": str(store)}
    assert current_context(env) == ("ssh-box", "current context")
    [target] = resolve_targets(env=env)
    assert (target.name, target.origin) == ("ssh-box", "current context")


def test_docker_context_beats_the_current_one_and_docker_host_beats_both(store: Path) -> None:
    env = {"DOCKER_CONFIG": str(store), "DOCKER_CONTEXT": "second"}
    [target] = resolve_targets(env=env)
    assert (target.name, target.origin) == ("second", "DOCKER_CONTEXT")
    env["DOCKER_HOST"] = "unix:///run/env.sock"
    [target] = resolve_targets(env=env)
    assert (target.url, target.origin) == ("unix:///run/env.sock", "DOCKER_HOST")


def test_nothing_configured_is_the_default_socket(tmp_path: Path) -> None:
    [target] = resolve_targets(env={"DOCKER_CONFIG": str(tmp_path)})
    assert (target.name, target.url, target.origin) == ("default", DEFAULT_HOST, "default")


def test_host_tls_comes_from_docker_cert_path(tmp_path: Path) -> None:
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("-")
    [t] = resolve_targets(["tcp://127.0.0.1:2376"], tlsverify=True, env={"DOCKER_CERT_PATH": str(tmp_path)})
    assert t.tls is not None and t.tls.ca_cert == str(tmp_path / "ca.pem")
    # DOCKER_TLS_VERIFY alone turns it on, as for the docker CLI.
    [t] = resolve_targets(["tcp://127.0.0.1:2376"], env={"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tmp_path)})
    assert t.tls is not None
    # Without either, plain TCP.
    [t] = resolve_targets(["tcp://127.0.0.1:2376"], env={})
    assert t.tls is None


@pytest.mark.parametrize(
    ("hosts", "contexts", "env", "message"),
    [
        (["http://x"], [], {}, "not an engine address"),
        (["npipe:////./pipe/docker_engine"], [], {}, "Windows named pipe"),
        (["tcp://127.0.0.1:1"], [], {"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": "/nonexistent"}, "ca.pem"),
        (["unix:///a.sock", "unix:///a.sock"], [], {}, "named twice"),
        ([], ["nope"], {"DOCKER_CONFIG": "/nonexistent"}, "docker context ls"),
    ],
)
def test_mistakes_are_one_clear_input_error(
    hosts: list[str], contexts: list[str], env: dict[str, str], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        resolve_targets(hosts, contexts, env=env)


def test_public_url_drops_only_the_user() -> None:
    assert public_url("ssh://root@build-7.example:22") == "ssh://build-7.example:22"
    assert public_url("tcp://127.0.0.1:2376") == "tcp://127.0.0.1:2376"
    assert public_url("unix:///var/run/docker.sock") == "unix:///var/run/docker.sock"


def test_an_unreadable_or_broken_config_json(tmp_path: Path) -> None:
    # Unreadable (a HOME of another user): the defaults, as the docker CLI runs with them.
    (tmp_path / "config.json").mkdir()  # reading a folder fails like a forbidden file does
    assert current_context({"DOCKER_CONFIG": str(tmp_path)}) == ("default", "default")
    broken = tmp_path / "b"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(InputError, match="not JSON"):
        current_context({"DOCKER_CONFIG": str(broken)})
