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

Addresses and context names are checked here, before the Docker SDK sees them
(issue 16): `unix://` without a path used to bench the default engine, an ssh
host beginning with `-` or a port of 99999 gave a ValueError traceback, and a
newline in a name made a multi-line error. Each is now an AddressError (exit
2). Context files are read through the bounded door with their JSON types
(`"SkipTLSVerify": "false"` is a string, not true). What is allowed but risky
(plain tcp:// to another machine, TLS without verification) becomes one
warning line per engine, in EngineTarget.warnings, for the CLI to print once.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from virtprobe.errors import AddressError, InputError, shown
from virtprobe.machine.bounded import MAX_DOCKER_CONFIG_BYTES, Refused, load_json_file, parse_json, read_limited

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
    warnings: tuple[str, ...] = ()  # one line each, for the CLI to print once (plain TCP, no TLS verification)

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


# docker/cli store: restrictedNamePattern, the names `docker context create` accepts.
_CONTEXT_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.+-]+$")
_HOST_NAME = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$")
_SSH_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_MAX_ADDRESS_CHARS = 1024
_FORMS = "use unix:///path/docker.sock, tcp://HOST:PORT or ssh://USER@HOST[:PORT]"


@dataclass(frozen=True)
class Address:
    """An engine address, taken apart: scheme, host (unix: the socket path), port, ssh user."""

    scheme: str
    host: str
    port: int | None = None
    user: str | None = None


def _printable(text: str, where: str, what: str) -> None:
    if len(text) > _MAX_ADDRESS_CHARS:
        raise AddressError(f"{where}: the {what} is longer than {_MAX_ADDRESS_CHARS} characters")
    if not text.isprintable() or any(c.isspace() for c in text):
        raise AddressError(f"{where}: the {what} {shown(text, 60)} holds a control character or a space")


def _port(text: str, url: str, where: str) -> int:
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 65536:
        raise AddressError(f"{where}: {shown(url)} has port {shown(text, 20)}; a port is 1 to 65535")
    return int(text)


def _host_port(netloc: str, url: str, where: str) -> tuple[str, int | None]:
    """HOST[:PORT] or [IPv6][:PORT], checked: a host never starts with '-' (ssh would read an option)."""
    if netloc.startswith("["):
        end = netloc.find("]")
        if end < 0:
            raise AddressError(f"{where}: {shown(url)} has an unclosed '[' in its host")
        host, rest = netloc[1:end], netloc[end + 1 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            bad = shown(host, 40)
            raise AddressError(f"{where}: {shown(url)} has {bad} in brackets, not an IPv6 address") from None
        if rest and not rest.startswith(":"):
            raise AddressError(f"{where}: {shown(url)} has text after its IPv6 address; {_FORMS}")
        return host, _port(rest[1:], url, where) if rest else None
    host, sep, port = netloc.rpartition(":") if ":" in netloc else (netloc, "", "")
    if not host:
        raise AddressError(f"{where}: {shown(url)} names no host; {_FORMS}")
    if host.startswith("-") or not _HOST_NAME.match(host):
        raise AddressError(f"{where}: {shown(url)} has host {shown(host, 60)}, not a host name or address")
    return host, _port(port, url, where) if sep else None


def parse_address(url: str, where: str) -> Address:
    """The parts of an engine address, or AddressError (exit 2) saying what is wrong with it."""
    _printable(url, where, "address")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("unix", "tcp", "ssh", "npipe"):
        raise AddressError(f"{where}: {shown(url)} is not an engine address; {_FORMS}")
    if scheme == "npipe":
        raise AddressError(f"{where}: {shown(url)} is a Windows named pipe; virtprobe benches Linux engines")
    if scheme == "unix":
        if not rest.startswith("/") or rest.rstrip("/") == "":
            raise AddressError(f"{where}: {shown(url)} names no socket; give unix:///path/to/docker.sock")
        return Address("unix", rest)
    netloc, _, path = rest.partition("/")
    if path:
        raise AddressError(f"{where}: {shown(url)} has a path after its host; {_FORMS}")
    user = None
    if scheme == "ssh" and "@" in netloc:
        user, _, netloc = netloc.rpartition("@")
        if not _SSH_USER.match(user):
            raise AddressError(f"{where}: {shown(url)} has user {shown(user, 40)}, not a user name")
    elif "@" in netloc:
        raise AddressError(f"{where}: {shown(url)} has a user name; only ssh:// takes one")
    host, port = _host_port(netloc, url, where)
    return Address(scheme, host, port, user)


def check_url(url: str, where: str) -> str:
    """Refuse an address the SDK cannot reach, or would read wrongly, with the forms it can (AddressError)."""
    parse_address(url, where)
    return url


def check_context_name(name: str, where: str = "--context") -> str:
    """A context name the docker CLI could have made (docker/cli store), else AddressError (exit 2)."""
    _printable(name, where, "context name")
    if name != DEFAULT_CONTEXT and not _CONTEXT_NAME.match(name):
        raise AddressError(
            f"{where}: {shown(name, 60)} is not a context name (letters, digits and _.+- , starting with a "
            "letter or digit); list them with `docker context ls`"
        )
    return name


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _address_warnings(url: str, tls: TlsFiles | None, name: str) -> tuple[str, ...]:
    """One line per risk of reaching this engine: plain TCP off this machine, TLS that verifies nothing."""
    addr = parse_address(url, name)
    where = public_url(url) if name == public_url(url) else f"engine {name} ({public_url(url)})"
    out = []
    if addr.scheme == "tcp" and tls is None and not _is_loopback(addr.host):
        out.append(
            f"{where} is plain TCP: anyone on the path can read and drive this engine (root on its host); "
            "use --tlsverify or ssh://"
        )
    if addr.scheme == "tcp" and tls is not None and not tls.verify:
        out.append(f"{where}: TLS certificate verification is off (SkipTLSVerify); its identity is not checked")
    return tuple(out)


def _load_json(path: Path, what: str) -> dict[str, Any]:
    """A Docker context file through the bounded door: a regular file, small, JSON within limits, an object."""
    try:
        data = load_json_file(path, MAX_DOCKER_CONFIG_BYTES, what)
    except InputError as err:
        if f"{path}: not found" in err.message:
            raise InputError(f"{what}: {path} does not exist") from None
        raise
    if not isinstance(data, dict):
        raise InputError(f"{what}: {path} is not a JSON object")
    return data


def current_context(env: Mapping[str, str]) -> tuple[str, str]:
    """(context name, origin) when no --host or --context is given (docker/cli resolveContextName)."""
    if env.get("DOCKER_HOST"):
        return DEFAULT_CONTEXT, "DOCKER_HOST"
    if env.get("DOCKER_CONTEXT"):
        return check_context_name(env["DOCKER_CONTEXT"], "DOCKER_CONTEXT"), "DOCKER_CONTEXT"
    path = config_dir(env) / "config.json"
    try:
        data = read_limited(path, MAX_DOCKER_CONFIG_BYTES)
    except Refused as why:
        if why.reason in ("not found", "is a directory") or why.reason.startswith(("permission denied", "not found")):
            # No config, or one this user cannot read (HOME is another user's): the docker
            # CLI then runs with the defaults too, and so does a bench without --host.
            return DEFAULT_CONTEXT, "default"
        raise InputError(f"docker config {path}: {why.reason}; fix it or set DOCKER_CONFIG") from None
    config = parse_json(data, f"docker config {path}")
    current = config.get("currentContext") if isinstance(config, dict) else None
    if isinstance(current, str) and current:
        return check_context_name(current, f"currentContext in {path}"), "current context"
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
    name = public_url(url)
    return EngineTarget(name=name, url=url, origin=origin, tls=tls, warnings=_address_warnings(url, tls, name))


def context_target(name: str, env: Mapping[str, str], origin: str = "--context") -> EngineTarget:
    """An engine named by a Docker context, read from the context store as the docker CLI reads it."""
    check_context_name(name, origin)
    if name == DEFAULT_CONTEXT:
        url = env.get("DOCKER_HOST") or DEFAULT_HOST
        target = host_target(url, env, tlsverify=False, origin=origin)
        return EngineTarget(
            name=DEFAULT_CONTEXT, url=url, origin=origin, tls=target.tls, context=name, warnings=target.warnings
        )
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
    # JSON types, as the docker CLI's Go decoder reads them: "false" (a string) is an error, not true.
    skip_verify = docker_ep.get("SkipTLSVerify", False) if isinstance(docker_ep, dict) else False
    if not isinstance(skip_verify, bool):
        raise InputError(
            f"context {name!r} ({meta_path}): SkipTLSVerify is {shown(skip_verify, 40)}; it must be true or false"
        )
    if host.startswith("tcp://") and os.path.isdir(tls_dir):
        tls = _tls_from_folder(tls_dir, verify=not skip_verify)
    return EngineTarget(
        name=name, url=host, origin=origin, tls=tls, context=name, warnings=_address_warnings(host, tls, name)
    )


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
