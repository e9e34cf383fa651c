"""The real container backend: the Docker SDK's low-level API, with least privilege and labels.

The low-level APIClient is used on purpose: the high-level `containers.create`
adds an inspect round trip after each create, which would be measured as part
of "create". Every container virtprobe makes carries io.virtprobe.run=<run id>;
listing and removal always filter on that label, so a container without it is
never touched. Every docker/requests error is translated into an EngineError or
UnrunnableError whose message says what to do.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import docker
import docker.errors
import requests.exceptions
import urllib3.exceptions

from virtprobe.benchmark import hostmem
from virtprobe.benchmark.connect import EngineTarget
from virtprobe.benchmark.engine import EngineInfo, parse_engine, read_local_machine
from virtprobe.benchmark.guest import probe_image
from virtprobe.benchmark.ownership import OWNER_LABEL, ROLE_LABEL, RUN_LABEL, owner_label
from virtprobe.errors import EngineError, UnrunnableError
from virtprobe.machine.source import LiveSource

DEFAULT_HOST = "unix:///var/run/docker.sock"
# Only for the first /version request of a fleet engine, which then names its own version.
BOOTSTRAP_API = "1.24"
API_TIMEOUT_S = 60

# Least privilege for every container: no network, no capabilities,
# no privilege gain, read-only root, bounded pids and memory. Config.NetworkDisabled
# is deliberately left false: it skips libnetwork's sandbox setup and makes start()
# about 80 ms faster here than what `docker run --network none` costs, so the
# figures would no longer describe what users run.
HARDENING: dict[str, Any] = {
    "network_mode": "none",
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
    "read_only": True,
    "pids_limit": 16,
    "mem_limit": "64m",
    "privileged": False,
}
# gVisor charges its sandbox's own threads (the Sentry, the gofer) to the container's
# pids cgroup: runsc 20221219 fails to start the sandbox here below about 40 pids
# ("cannot read client sync file: waiting for sandbox to start: EOF"). Its bound is
# raised for it alone; the probe itself still runs one thread.
PIDS_LIMIT_BY_RUNTIME_KIND = {"runsc": 128}

SWEEP_ROUNDS = 3
PODMAN = "podman"


def _tls_params(ref: str) -> dict[str, str]:
    """A registry on this machine's loopback speaks plain HTTP (as Docker assumes for 127.0.0.0/8)."""
    host = ref.split("/", 1)[0].rsplit(":", 1)[0]
    return {"tlsVerify": "false"} if host in ("127.0.0.1", "localhost", "[::1]") else {}


def _stream_ok(stream: Any, what: str) -> None:
    """Read a push or pull progress stream to its end; an `error` line in it is the engine's refusal."""
    for line in stream:
        if isinstance(line, dict) and line.get("error"):
            raise UnrunnableError(f"the engine's {what} failed: {str(line['error'])[:300]}")


def _host() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def _unreachable() -> EngineError:
    return EngineError(f"Docker daemon not reachable at {_host()}. Is it running? Try: sudo systemctl start docker")


def _permission() -> EngineError:
    sock = _host().removeprefix("unix://")
    return EngineError(
        f"permission denied on {sock}: add your user to the docker group "
        "(sudo usermod -aG docker $USER, then log in again)"
    )


def clean_command(target: EngineTarget | None, host: str) -> str:
    """The `virtprobe clean` that reaches this engine: its --context or --host, never the default by accident."""
    if target is not None and target.context is not None and target.context != "default":
        return f"virtprobe clean --context {target.context}"
    return f"virtprobe clean --host {target.describe() if target is not None else host}"


def _mid_run(target: EngineTarget | None, host: str) -> EngineError:
    where = f"engine {target.name}" if target is not None else f"the Docker daemon at {host}"
    return EngineError(
        f"{where} stopped answering mid-run; check that it runs (`systemctl status docker`, "
        f"`journalctl -u docker`), then run `{clean_command(target, host)}` and try again"
    )


def translate_connect_error(err: BaseException) -> EngineError:
    """The one-line error for a failure to reach the daemon at all."""
    text = repr(err)
    if isinstance(err, PermissionError) or "PermissionError" in text or "Permission denied" in text:
        return _permission()
    return _unreachable()


class FirstOutput:
    """Time of the first byte a container writes, read from an attach stream in a thread."""

    def __init__(self, stream: Iterator[bytes], clock: Callable[[], int]) -> None:
        self._q: queue.Queue[int | None] = queue.Queue(maxsize=1)
        self._stream = stream
        self._clock = clock
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        got: int | None = None
        try:
            for chunk in self._stream:
                if chunk:
                    got = self._clock()
                    break
        except (requests.exceptions.RequestException, OSError, docker.errors.DockerException):
            got = None
        self._q.put(got)

    def result(self, timeout_s: float) -> int | None:
        try:
            return self._q.get(timeout=timeout_s)
        except queue.Empty:
            return None
        finally:
            close = getattr(self._stream, "close", None)
            if close is not None:
                close()


def client_for(target: EngineTarget, timeout_s: int = API_TIMEOUT_S) -> docker.DockerClient:
    """A client for one engine of a fleet: its URL, its TLS files, ssh through the ssh binary.

    ssh:// runs the `ssh` binary with `docker system dial-stdio` on the far side, as
    `docker -H ssh://` does (the user's ssh config, agent and known_hosts apply).
    requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's own
    `verify` (psf/requests#3829), so the engine's own CA would be ignored where those
    are set: trust_env is turned off before the first request, and the API version
    is asked for by hand, as version="auto" would have done.
    """
    tls: docker.tls.TLSConfig | bool = False
    if target.tls is not None and not target.tls.verify:
        # urllib3 warns on every request (40 lines for one run); the target carries one line
        # saying the same (connect.py), which the CLI prints once.
        warnings.filterwarnings("ignore", category=urllib3.exceptions.InsecureRequestWarning)
    if target.tls is not None:
        t = target.tls
        cert = (t.client_cert, t.client_key) if t.client_cert and t.client_key else None
        verify: bool | str = (t.ca_cert or True) if t.verify else False
        tls = docker.tls.TLSConfig(client_cert=cert, ca_cert=t.ca_cert if t.verify else None, verify=verify)
    client = docker.DockerClient(
        base_url=target.url,
        tls=tls,
        timeout=timeout_s,
        version=BOOTSTRAP_API,
        use_ssh_client=target.scheme == "ssh",
    )
    client.api.trust_env = False
    try:
        server = client.api.version(api_version=False)["ApiVersion"]
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError, KeyError) as err:
        client.close()
        raise EngineError(f"engine {target.name} ({target.describe()}) not reachable: {err}") from err
    client.api._version = str(server)
    return client


def build_image(api: Any, image: probe_image.ProbeImage) -> float | None:
    """Build a FROM-scratch image offline unless the engine has it: seconds it took, None when reused.

    Raises docker.errors.BuildError or APIError; callers translate them."""
    try:
        api.inspect_image(image.tag)
        return None
    except docker.errors.ImageNotFound:
        pass
    start = time.monotonic()
    for _ in api.build(
        fileobj=io.BytesIO(image.context_tar()),
        custom_context=True,
        tag=image.tag,
        labels={probe_image.PROBE_LABEL: "1"},
        rm=True,
        forcerm=True,
        network_mode="none",
        use_config_proxy=False,
        decode=True,
    ):
        pass
    api.inspect_image(image.tag)
    return time.monotonic() - start


def _refused_as_running(err: docker.errors.APIError) -> bool:
    """Podman's Docker-compatible API refuses a running container's removal with 500 and its own words
    ("container state improper"), where Docker answers 409 Conflict."""
    text = str(err.explanation or "")
    return "container state improper" in text or "cannot be removed without force" in text


class DockerBackend:
    """Real engine. One instance per run; methods are thread-safe enough for the parallel pool."""

    def __init__(
        self,
        timeout_s: int = API_TIMEOUT_S,
        *,
        target: EngineTarget | None = None,
        client: docker.DockerClient | None = None,
    ) -> None:
        """The engine DOCKER_HOST names, or `target` (bench --host/--context), or an already made `client`."""
        self.host = target.url if target is not None else _host()
        self._target = target
        try:
            if client is not None:
                self._client = client
            elif target is not None:
                self._client = client_for(target, timeout_s)
            else:
                self._client = docker.from_env(timeout=timeout_s)
        except docker.errors.DockerException as err:
            if target is not None:
                raise EngineError(f"engine {target.name} ({target.describe()}) not reachable: {err}") from err
            raise translate_connect_error(err) from err
        except (requests.exceptions.ConnectionError, OSError) as err:
            if target is not None:
                raise EngineError(f"engine {target.name} ({target.describe()}) not reachable: {err}") from err
            raise translate_connect_error(err) from err
        self.api = self._client.api
        self._owner = owner_label()
        self._runtime_kinds: dict[str, str | None] = {}  # filled by engine_info()
        self._default_runtime: str | None = None
        self._product: str | None = None  # filled by engine_info()

    @contextmanager
    def _calls(self) -> Iterator[None]:
        """Translate errors of API calls made after the daemon was reached once."""
        try:
            yield
        except requests.exceptions.ConnectionError as err:
            if "Permission denied" in repr(err):
                raise _permission() from err
            raise _mid_run(self._target, self.host) from err
        except requests.exceptions.ChunkedEncodingError as err:
            # The daemon died while it was sending an answer.
            raise _mid_run(self._target, self.host) from err
        except requests.exceptions.ReadTimeout as err:
            raise EngineError(
                f"the Docker daemon did not answer within {API_TIMEOUT_S} s; it may be overloaded or hung"
            ) from err

    # --- engine ---------------------------------------------------------------

    def engine_info(self) -> EngineInfo:
        with self._calls():
            try:
                version, info = self.api.version(), self.api.info()
            except docker.errors.APIError as err:
                raise EngineError(f"the Docker daemon refused /info: {err.explanation}") from err
        # The engine is compared with the machine virtprobe runs on (this client's).
        engine = parse_engine(version, info, read_local_machine(LiveSource()))
        self._runtime_kinds = {r.name: r.kind for r in engine.runtimes}
        if engine.runtime is not None:
            self._runtime_kinds.setdefault(engine.runtime, engine.runtime_kind)
        self._default_runtime = engine.runtime
        self._product = engine.product
        return engine

    def system_time(self) -> str | None:
        """/info `SystemTime`: the engine's CLOCK_REALTIME, for clock.estimate_offset."""
        with self._calls():
            try:
                value = self.api.info().get("SystemTime")
            except docker.errors.APIError:
                return None
        return value if isinstance(value, str) else None

    # --- images ---------------------------------------------------------------

    def ensure_probe_image(self, arch: str | None) -> tuple[str, float | None]:
        """The probe image's tag, building it if absent; build time in seconds (None when reused)."""
        key = probe_image.normalize_arch(arch or "")
        if key is None:
            raise UnrunnableError(
                f"no probe executable for engine architecture {arch!r} (supported: x86_64, aarch64); "
                "use --image NAME with an image of your own"
            )
        image = probe_image.probe_image(key)
        with self._calls():
            try:
                return image.tag, build_image(self.api, image)
            except (docker.errors.BuildError, docker.errors.APIError) as err:
                raise UnrunnableError(f"cannot build the probe image {image.tag}: {err}") from err

    def check_user_image(self, name: str) -> None:
        """Fail early, with what to do, when a user image is missing or has nothing to run."""
        with self._calls():
            try:
                attrs = self.api.inspect_image(name)
            except docker.errors.ImageNotFound as err:
                raise UnrunnableError(
                    f"image {name!r} not found locally, and virtprobe does not pull; "
                    f"build or load it first (docker build / docker load)"
                ) from err
            except docker.errors.APIError as err:
                raise UnrunnableError(f"cannot inspect image {name!r}: {err.explanation}") from err
        config = attrs.get("Config") or {}
        if not config.get("Entrypoint") and not config.get("Cmd"):
            raise UnrunnableError(
                f"image {name!r} has no Entrypoint or Cmd, so there is nothing to start; "
                "rebuild it with an ENTRYPOINT or CMD"
            )

    def remove_probe_images(self) -> list[str]:
        removed: list[str] = []
        with self._calls():
            for img in self.api.images(filters={"label": f"{probe_image.PROBE_LABEL}=1"}):
                try:
                    self.api.remove_image(img["Id"], force=True)
                    removed.append(img["Id"])
                except docker.errors.NotFound:
                    pass
                except docker.errors.APIError as err:
                    raise EngineError(f"cannot remove image {img['Id'][:19]}: {err.explanation}") from err
        return removed

    # --- the image of one run (--image-cache cold) ------------------------------------

    def build_run_image(self, arch: str | None, run_id: str) -> str:
        """Build the probe image of this run (its layer unique to the run, labelled); its tag."""
        key = probe_image.normalize_arch(arch or "")
        if key is None:
            raise UnrunnableError(f"no probe executable for engine architecture {arch!r}; --image-cache needs one")
        tag, context = probe_image.run_image_context(probe_image.probe_image(key), run_id)
        with self._calls():
            try:
                for _ in self.api.build(
                    fileobj=io.BytesIO(context), custom_context=True, tag=tag, rm=True, forcerm=True,
                    labels={probe_image.PROBE_LABEL: "1", RUN_LABEL: run_id},
                    network_mode="none", use_config_proxy=False, decode=True,
                ):  # fmt: skip
                    pass
                self.api.inspect_image(tag)
            except (docker.errors.BuildError, docker.errors.APIError) as err:
                raise UnrunnableError(f"cannot build the image {tag}: {err}") from err
        return tag

    def save_image(self, tag: str, limit_bytes: int = 64 * 1024 * 1024) -> bytes:
        """The image as a `docker save` archive (/images/get), read up to a bound."""
        out = bytearray()
        with self._calls():
            try:
                for chunk in self.api.get_image(tag):
                    out += chunk
                    if len(out) > limit_bytes:
                        raise UnrunnableError(f"the archive of {tag} is larger than {limit_bytes} bytes")
            except docker.errors.APIError as err:
                raise UnrunnableError(f"the engine cannot save {tag}: {err.explanation}") from err
        return bytes(out)

    def load_image(self, archive: bytes) -> None:
        """/images/load of a saved archive: the image's layers are unpacked into the store again."""
        with self._calls():
            try:
                self.api.load_image(archive)
            except docker.errors.APIError as err:
                raise UnrunnableError(f"the engine cannot load the image archive: {err.explanation}") from err

    def push_image(self, tag: str, ref: str) -> None:
        """Tag the run's image as `ref` (REGISTRY/REPO:TAG) and push it there (--image-cache with --registry)."""
        repo, _, name = ref.rpartition(":")
        with self._calls():
            try:
                self.api.tag(tag, repo, name)
                if self._is_podman():
                    self._libpod_post(f"/images/{ref}/push", {"destination": ref, **_tls_params(ref)}, "push")
                else:
                    _stream_ok(self.api.push(repo, tag=name, stream=True, decode=True), "push")
            except docker.errors.APIError as err:
                raise UnrunnableError(f"cannot push {ref}: {err.explanation}") from err

    def pull_image(self, ref: str) -> None:
        """Pull `ref` from its registry into the engine's store."""
        repo, _, name = ref.rpartition(":")
        with self._calls():
            try:
                if self._is_podman():
                    # Podman's compatible pull cannot be told that a registry on loopback speaks plain HTTP.
                    self._libpod_post("/images/pull", {"reference": ref, **_tls_params(ref)}, "pull")
                else:
                    _stream_ok(self.api.pull(repo, tag=name, stream=True, decode=True), "pull")
            except docker.errors.APIError as err:
                raise UnrunnableError(f"cannot pull {ref}: {err.explanation}") from err

    def _is_podman(self) -> bool:
        return self._product == PODMAN

    def _libpod_post(self, path: str, params: dict[str, str], what: str) -> None:
        resp = self.api._post(f"{self.api.base_url}/v4.0.0/libpod{path}", params=params)
        text = resp.text or ""
        if resp.status_code >= 300 or '"error"' in text:
            raise UnrunnableError(f"the engine's {what} failed: {' '.join(text.split())[:300]}")

    def remove_run_image(self, tag: str, run_id: str) -> bool:
        """Remove the image of this run, and only when it carries virtprobe's image and run labels.

        False when it is not there. Any other image is refused: virtprobe removes only what it built."""
        with self._calls():
            try:
                attrs = self.api.inspect_image(tag)
            except docker.errors.ImageNotFound:
                return False
            labels = (attrs.get("Config") or {}).get("Labels") or {}
            if labels.get(probe_image.PROBE_LABEL) != "1" or labels.get(RUN_LABEL) != run_id:
                raise UnrunnableError(f"image {tag} does not carry this run's labels; virtprobe will not remove it")
            try:
                self.api.remove_image(attrs["Id"], force=True)
            except docker.errors.NotFound:
                return False
            except docker.errors.APIError as err:
                raise EngineError(f"cannot remove image {tag}: {err.explanation}") from err
        return True

    def image_layer_dirs(self, tag: str) -> list[str]:
        """The folders holding the image's unpacked layers (GraphDriver.Data), as the engine names them."""
        with self._calls():
            try:
                data = (self.api.inspect_image(tag).get("GraphDriver") or {}).get("Data") or {}
            except docker.errors.APIError:
                return []
        dirs: list[str] = []
        for key in ("UpperDir", "LowerDir"):
            value = data.get(key)
            if isinstance(value, str):
                dirs.extend(d for d in value.split(":") if d)
        return dirs

    # --- containers -------------------------------------------------------------

    def create(
        self,
        image: str,
        run_id: str,
        command: list[str] | None = None,
        role: str = "bench",
        runtime: str | None = None,
        entrypoint: list[str] | None = None,
    ) -> str:
        with self._calls():
            try:
                extra: dict[str, Any] = {"runtime": runtime} if runtime else {}
                kind = self._runtime_kinds.get(runtime or self._default_runtime or "")
                if kind in PIDS_LIMIT_BY_RUNTIME_KIND:
                    extra["pids_limit"] = PIDS_LIMIT_BY_RUNTIME_KIND[kind]
                host_config = self.api.create_host_config(**{**HARDENING, **extra})
                resp = self.api.create_container(
                    image,
                    command=command,
                    entrypoint=entrypoint,
                    host_config=host_config,
                    labels={RUN_LABEL: run_id, ROLE_LABEL: role, OWNER_LABEL: self._owner},
                    use_config_proxy=False,
                )
            except docker.errors.ImageNotFound as err:
                raise UnrunnableError(f"image {image!r} not found locally and virtprobe does not pull") from err
            except docker.errors.APIError as err:
                raise EngineError(f"the Docker daemon refused to create a container: {err.explanation}") from err
        return str(resp["Id"])

    def check_runtime(self, image: str, run_id: str, runtime: str) -> None:
        """Refuse (UnrunnableError) when the engine would not run containers under `runtime`.

        Podman 4.3's Docker-compatible API accepts HostConfig.Runtime and ignores it:
        the container runs under its default runtime, and its compatible inspect says
        "oci". So one container is created and asked, through Docker's inspect, else
        libpod's, which runtime it got; a row is never named for a runtime it did not use.
        """
        cid = self.create(image, run_id, role="runtime-check", runtime=runtime)
        try:
            with self._calls():
                attrs = self.api.inspect_container(cid)
                got = (attrs.get("HostConfig") or {}).get("Runtime")
                if got in (None, "", "oci"):
                    got = self._libpod_runtime(cid)
        finally:
            self.remove(cid)
        if got == runtime:
            return
        if got is None:
            raise UnrunnableError(
                f"the engine does not say which runtime ran a container asked to use {runtime!r}, "
                "so no row can be named for it"
            )
        raise UnrunnableError(
            f"the engine ran the container under {got!r}, not the runtime {runtime!r} it was asked for "
            "(Podman's Docker-compatible API ignores HostConfig.Runtime; set runtime in containers.conf "
            "to bench another runtime under Podman)"
        )

    def _libpod_runtime(self, cid: str) -> str | None:
        """The OCI runtime of a container as Podman's own API (libpod) names it, or None elsewhere."""
        # libpod answers only under a version prefix (Podman 4.3 gives 404 without one).
        for prefix in ("/v4.0.0", ""):
            try:
                resp = self.api._get(f"{self.api.base_url}{prefix}/libpod/containers/{cid}/json")
                value = resp.json().get("OCIRuntime") if resp.status_code == 200 else None
            except (requests.exceptions.RequestException, ValueError, AttributeError):
                value = None
            if isinstance(value, str) and value:
                return value
        return None

    def start(self, cid: str) -> None:
        with self._calls():
            try:
                self.api.start(cid)
            except docker.errors.APIError as err:
                raise UnrunnableError(f"the container did not start: {err.explanation}") from err

    def wait(self, cid: str, timeout_s: float = API_TIMEOUT_S) -> int:
        with self._calls():
            try:
                resp = self.api.wait(cid, timeout=timeout_s)
            except docker.errors.APIError as err:
                raise EngineError(f"waiting for the container failed: {err.explanation}") from err
        return int(resp.get("StatusCode", -1))

    def stop(self, cid: str) -> None:
        # An already exited container answers 409: nothing to stop.
        with self._calls(), contextlib.suppress(docker.errors.APIError):
            self.api.kill(cid)

    def logs(self, cid: str) -> bytes:
        with self._calls():
            try:
                return bytes(self.api.logs(cid, stdout=True, stderr=False))
            except docker.errors.APIError as err:
                raise EngineError(f"cannot read the container's output: {err.explanation}") from err

    def attach_first_output(self, cid: str, clock: Callable[[], int]) -> FirstOutput:
        """Attach before start, so that the first byte the container writes is seen."""
        with self._calls():
            stream = self.api.attach(cid, stdout=True, stderr=True, stream=True, logs=False)
        return FirstOutput(stream, clock)

    def init_pid(self, cid: str) -> int | None:
        with self._calls():
            try:
                pid = self.api.inspect_container(cid).get("State", {}).get("Pid")
            except docker.errors.APIError:
                return None
        return int(pid) if pid else None

    def inspect(self, cid: str) -> dict[str, Any]:
        with self._calls():
            return dict(self.api.inspect_container(cid))

    def remove(self, cid: str) -> None:
        with self._calls():
            try:
                self.api.remove_container(cid, v=True, force=True)
            except docker.errors.NotFound:
                pass
            except docker.errors.APIError as err:
                # Another remover got there first (`virtprobe clean` run meanwhile):
                # the container is going; remove_labelled checks that it went.
                if err.status_code == 409 and "already in progress" in str(err.explanation):
                    return
                raise EngineError(f"cannot remove container {cid[:12]}: {err.explanation}") from err

    def remove_if_stopped(self, cid: str) -> bool:
        """Remove a container unless it is running or paused (no force: the engine decides, atomically).

        True when it is gone; False when the engine refused because it runs (409 Conflict)."""
        with self._calls():
            try:
                self.api.remove_container(cid, v=True, force=False)
            except docker.errors.NotFound:
                return True
            except docker.errors.APIError as err:
                if err.status_code == 409 and "already in progress" in str(err.explanation):
                    return True  # another remover is taking it away
                if err.status_code == 409 or _refused_as_running(err):
                    return False  # running or paused: "stop the container before removing"
                raise EngineError(f"cannot remove container {cid[:12]}: {err.explanation}") from err
        return True

    def labelled_containers(self, run_id: str | None = None) -> list[tuple[str, dict[str, str]]]:
        """(id, labels) of containers carrying virtprobe's run label (of one run, or of any run)."""
        label = f"{RUN_LABEL}={run_id}" if run_id else RUN_LABEL
        with self._calls():
            found = self.api.containers(all=True, filters={"label": label})
        return [(str(c["Id"]), dict(c.get("Labels") or {})) for c in found]

    def list_labelled(self, run_id: str | None = None) -> list[str]:
        """Ids of containers carrying virtprobe's run label (of one run, or of any run)."""
        return [cid for cid, _ in self.labelled_containers(run_id)]

    def remove_labelled(self, run_id: str | None = None) -> list[str]:
        """Remove the labelled containers, then list again until none is left.

        The second listing catches a container whose create the daemon finished
        after the first listing, and one whose removal another remover had begun.
        """
        removed: list[str] = []
        for round_ in range(SWEEP_ROUNDS):
            found = self.list_labelled(run_id)
            if not found:
                return removed
            if round_:
                time.sleep(0.2 * round_)  # let a removal in progress elsewhere finish
            for cid in found:
                self.remove(cid)
                if cid not in removed:
                    removed.append(cid)
        left = self.list_labelled(run_id)
        if left:
            raise EngineError(
                f"{len(left)} virtprobe container(s) of {run_id or 'any run'} keep reappearing "
                f"({', '.join(c[:12] for c in left)}); run `virtprobe clean` once nothing creates them"
            )
        return removed

    # --- memory of one running container ---------------------------------------------

    def container_memory(self, cid: str) -> tuple[int | None, int | None, str | None, str | None]:
        """(cgroup bytes, per-container process PSS, that process's name, note) for a running container."""
        pid = self.init_pid(cid)
        if pid is None:
            return None, None, None, f"container {cid[:12]} has no init pid"
        src = LiveSource()
        cg, where = hostmem.cgroup_memory_bytes(src, pid)
        proc = hostmem.container_process(src, pid)
        notes = [n for n in (None if cg is not None else where, proc.reason) if n]
        return cg, proc.pss_bytes, proc.name, "; ".join(notes) or None

    def meminfo(self) -> dict[str, int] | None:
        return hostmem.read_meminfo(LiveSource())

    # --- the serverless cycle: exec into a kept container, pause and unpause ----------------

    def exec_run(self, cid: str, command: list[str]) -> bytes:
        """Run a command in a running container and return its stdout (exec create + start, attached)."""
        with self._calls():
            try:
                exec_id = self.api.exec_create(cid, command, stdout=True, stderr=False)["Id"]
                return bytes(self.api.exec_start(exec_id, stream=False, demux=False))
            except docker.errors.APIError as err:
                raise UnrunnableError(f"exec in the container failed: {err.explanation}") from err

    def pause(self, cid: str) -> None:
        with self._calls():
            try:
                self.api.pause(cid)
            except docker.errors.APIError as err:
                raise UnrunnableError(f"the engine cannot pause the container: {err.explanation}") from err

    def unpause(self, cid: str) -> None:
        with self._calls():
            try:
                self.api.unpause(cid)
            except docker.errors.APIError as err:
                raise UnrunnableError(f"the engine cannot unpause the container: {err.explanation}") from err
