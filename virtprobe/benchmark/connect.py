"""Which engines to bench: --host URL, --context NAME, DOCKER_HOST, DOCKER_CONTEXT and the current context.

The rules are the docker CLI's (docker/cli cli/command/cli.go `resolveContextName`
and `getServerHost`, cli/context/store), so a user's existing setup just works:

1. `--host URL` names an engine directly. A `tcp://` host uses TLS when
   `--tlsverify` is given or DOCKER_TLS_VERIFY is non-empty, with ca.pem,
   cert.pem and key.pem from DOCKER_CERT_PATH (default: the config folder).
2. `--context NAME` reads the context store: the folder is DOCKER_CONFIG or
   ~/.docker; `contexts/meta/<sha256 of NAME>/meta.json` holds
   `Endpoints.docker.Host` and `SkipTLSVerify`, and
   `contexts/tls/<sha256 of NAME>/docker/{ca,cert,key}.pem` its TLS material.
   The name "default" is the engine DOCKER_HOST names, else the local socket.
3. With neither: DOCKER_HOST, else DOCKER_CONTEXT, else `currentContext` of
   config.json, else the default socket.

Unlike the docker CLI, --host and --context may be repeated and mixed: every
one names an engine of the fleet. Resolution reads files and the environment
only; nothing here connects. A mistake is an InputError naming what to fix.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from virtprobe.errors import InputError

DEFAULT_HOST = "unix:///var/run/docker.sock"
DEFAULT_CONTEXT = "default"
SCHEMES = ("unix://", "tcp://", "ssh://", "npipe://")


@dataclass(frozen=True)
class TlsFiles:
    """The TLS material of a tcp:// engine (paths; None where none is used)."""

    ca_cert: str | None
    client_cert: str | None
    client_key: str | None
    verify: bool


@dataclass(frozen=True)
class EngineTarget:
    """One engine to bench: its name in the report, where it is, and how the name was found."""

    name: str  # unique in one fleet: the context name, or the host URL
    url: str
    origin: str  # "--host", "--context", "DOCKER_HOST", "DOCKER_CONTEXT", "current context", "default"
    tls: TlsFiles | None = None
    context: str | None = None

    @property
    def scheme(self) -> str:
        return self.url.split("://", 1)[0]

    def describe(self) -> str:
        """The URL without user info, for reports and messages (an ssh user name is not shared)."""
        return public_url(self.url)


def public_url(url: str) -> str:
    """`ssh://user@host:port` -> `ssh://host:port`: user names stay out of reports."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        rest = rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"


def config_dir(env: Mapping[str, str]) -> Path:
    """DOCKER_CONFIG, else ~/.docker (the docker CLI's config folder)."""
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"])
    home = env.get("HOME") or os.path.expanduser("~")
    return Path(home) / ".docker"


def context_id(name: str) -> str:
    """The folder name of a context in the store: the hex SHA-256 of its name (docker/cli store.contextdirOf)."""
    return hashlib.sha256(name.encode("utf-8")).hexdigest()


def check_url(url: str, where: str) -> str:
    """Refuse a host the SDK cannot reach, with the forms it can."""
    if not url.startswith(SCHEMES):
        raise InputError(
            f"{where}: {url!r} is not an engine address; use unix:///path/docker.sock, "
            "tcp://HOST:PORT or ssh://USER@HOST[:PORT]"
        )
    if url.startswith("npipe://"):
        raise InputError(f"{where}: {url!r} is a Windows named pipe; virtprobe benches Linux engines")
    return url


def _load_json(path: Path, what: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise InputError(f"{what}: {path} does not exist") from err
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{what}: cannot read {path}: {err}") from err
    if not isinstance(data, dict):
        raise InputError(f"{what}: {path} is not a JSON object")
    return data


def current_context(env: Mapping[str, str]) -> tuple[str, str]:
    """(context name, origin) when no --host or --context is given (docker/cli resolveContextName)."""
    if env.get("DOCKER_HOST"):
        return DEFAULT_CONTEXT, "DOCKER_HOST"
    if env.get("DOCKER_CONTEXT"):
        return env["DOCKER_CONTEXT"], "DOCKER_CONTEXT"
    path = config_dir(env) / "config.json"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        # No config, or one this user cannot read (HOME is another user's): the docker
        # CLI then runs with the defaults too, and so does a bench without --host.
        return DEFAULT_CONTEXT, "default"
    try:
        config = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"docker config {path} is not JSON ({err.msg}); fix it or set DOCKER_CONFIG") from err
    current = config.get("currentContext") if isinstance(config, dict) else None
    if isinstance(current, str) and current:
        return current, "current context"
    return DEFAULT_CONTEXT, "default"


def _tls_from_folder(folder: Path, verify: bool) -> TlsFiles:
    def have(name: str) -> str | None:
        p = folder / name
        return str(p) if os.path.isfile(p) else None

    return TlsFiles(ca_cert=have("ca.pem"), client_cert=have("cert.pem"), client_key=have("key.pem"), verify=verify)


def host_target(url: str, env: Mapping[str, str], tlsverify: bool, origin: str = "--host") -> EngineTarget:
    """An engine named by its address; tcp:// gets DOCKER_CERT_PATH's TLS as `docker -H` does."""
    check_url(url, origin)
    tls = None
    if url.startswith("tcp://") and (tlsverify or env.get("DOCKER_TLS_VERIFY")):
        folder = Path(env["DOCKER_CERT_PATH"]) if env.get("DOCKER_CERT_PATH") else config_dir(env)
        tls = _tls_from_folder(folder, verify=True)
        missing = [n for n, p in (("ca.pem", tls.ca_cert), ("cert.pem", tls.client_cert), ("key.pem", tls.client_key))
                   if p is None]  # fmt: skip
        if missing:
            raise InputError(
                f"{origin} {url}: TLS verification needs {', '.join(missing)} in {folder}; "
                "set DOCKER_CERT_PATH to the folder holding ca.pem, cert.pem and key.pem"
            )
    return EngineTarget(name=public_url(url), url=url, origin=origin, tls=tls)


def context_target(name: str, env: Mapping[str, str], origin: str = "--context") -> EngineTarget:
    """An engine named by a Docker context, read from the context store as the docker CLI reads it."""
    if name == DEFAULT_CONTEXT:
        url = env.get("DOCKER_HOST") or DEFAULT_HOST
        target = host_target(url, env, tlsverify=False, origin=origin)
        return EngineTarget(name=DEFAULT_CONTEXT, url=url, origin=origin, tls=target.tls, context=name)
    store = config_dir(env) / "contexts"
    meta_path = store / "meta" / context_id(name) / "meta.json"
    if not os.path.isfile(meta_path):
        raise InputError(f"context {name!r} not found in {store / 'meta'}; list them with `docker context ls`")
    meta = _load_json(meta_path, f"context {name!r}")
    endpoints = meta.get("Endpoints")
    docker_ep = endpoints.get("docker") if isinstance(endpoints, dict) else None
    host = docker_ep.get("Host") if isinstance(docker_ep, dict) else None
    if not isinstance(host, str) or not host:
        raise InputError(f"context {name!r} ({meta_path}) has no docker endpoint Host")
    check_url(host, f"context {name!r}")
    tls = None
    tls_dir = store / "tls" / context_id(name) / "docker"
    skip_verify = bool(docker_ep.get("SkipTLSVerify")) if isinstance(docker_ep, dict) else False
    if host.startswith("tcp://") and os.path.isdir(tls_dir):
        tls = _tls_from_folder(tls_dir, verify=not skip_verify)
    return EngineTarget(name=name, url=host, origin=origin, tls=tls, context=name)


def resolve_targets(
    hosts: Sequence[str] = (),
    contexts: Sequence[str] = (),
    *,
    tlsverify: bool = False,
    env: Mapping[str, str] | None = None,
) -> list[EngineTarget]:
    """The engines a `bench` run measures, in the order given; names are unique."""
    env = os.environ if env is None else env
    targets = [host_target(h, env, tlsverify) for h in hosts]
    targets += [context_target(c, env) for c in contexts]
    if not targets:
        name, origin = current_context(env)
        if origin == "DOCKER_HOST":
            targets = [host_target(env["DOCKER_HOST"], env, tlsverify, origin="DOCKER_HOST")]
        else:
            targets = [context_target(name, env, origin=origin)]
    seen: dict[str, int] = {}
    unique = []
    for t in targets:
        n = seen.get(t.name, 0) + 1
        seen[t.name] = n
        if n > 1:
            raise InputError(f"engine {t.name!r} is named twice; name each engine once")
        unique.append(t)
    return unique
