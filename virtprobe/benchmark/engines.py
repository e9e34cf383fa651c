"""The one place an engine backend is built: from an address, a context's name, a target, or the environment.

`virtprobe.bench(engine=...)`, `virtprobe bench --host/--context`, `virtprobe clean` and
the fleet all get their backend here, so an engine is named and reached the same way
everywhere (the docker CLI's rules, benchmark/connect.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from virtprobe.benchmark.backend import Backend
from virtprobe.benchmark.connect import SCHEMES, EngineTarget, context_target, host_target
from virtprobe.errors import missing_extra

# Origins that mean "the engine DOCKER_HOST or the local socket names": docker.from_env reads those itself.
_FROM_ENV = ("DOCKER_HOST", "default")

Engine = str | EngineTarget | None


def engine_target(
    engine: Engine, *, tlsverify: bool = False, env: Mapping[str, str] | None = None
) -> EngineTarget | None:
    """An engine as a target: an address (unix://, tcp://, ssh://) or a context name; None is the environment's."""
    if engine is None or isinstance(engine, EngineTarget):
        return engine
    env = os.environ if env is None else env
    if engine.startswith(SCHEMES):
        return host_target(engine, env, tlsverify, origin="engine")
    return context_target(engine, env, origin="engine")


def make_backend(engine: Engine = None, *, tlsverify: bool = False) -> Backend:
    """A connected backend for `engine`. Raises EngineError when it cannot be reached,
    InputError for an address or context that does not exist, MissingExtra without the Docker SDK."""
    try:
        # lazy: the Docker SDK is the [bench] extra; without it virtprobe.bench() raises
        # MissingExtra (tests/test_cli.py), and `import virtprobe` never loads docker (tests/test_api.py).
        from virtprobe.benchmark import docker_backend
    except ModuleNotFoundError as err:
        extra = missing_extra(err)
        if extra is None:
            raise
        raise extra from err
    target = engine_target(engine, tlsverify=tlsverify)
    if target is None or target.origin in _FROM_ENV:
        return docker_backend.DockerBackend()
    return docker_backend.DockerBackend(target=target)
