"""What the runner needs from a container engine: the Backend protocol, the clock and progress types.

DockerBackend (docker_backend.py) implements it against any Docker-API engine; unit
tests drive the runner with a scripted backend that implements the same names.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from virtprobe.benchmark.engine import EngineInfo

# CLOCK_MONOTONIC nanoseconds (time.monotonic_ns): the clock the probe reads too.
Clock = Callable[[], int]
# progress(task, done, total): the CLI turns it into a Rich progress bar.
Progress = Callable[[str, int, int], None]


def no_progress(task: str, done: int, total: int) -> None:
    return None


class FirstOutputWaiter(Protocol):
    def result(self, timeout_s: float) -> int | None: ...


class Backend(Protocol):
    # engine and images
    def engine_info(self) -> EngineInfo: ...
    def system_time(self) -> str | None: ...  # /info SystemTime, for the clock offset
    def ensure_probe_image(self, arch: str | None) -> tuple[str, float | None]: ...
    def check_user_image(self, name: str) -> None: ...
    def check_runtime(self, image: str, run_id: str, runtime: str) -> None: ...  # UnrunnableError: not used
    def remove_probe_images(self) -> list[str]: ...

    # one container
    def create(
        self,
        image: str,
        run_id: str,
        command: list[str] | None = None,
        role: str = "bench",
        runtime: str | None = None,
        entrypoint: list[str] | None = None,
    ) -> str: ...
    def start(self, cid: str) -> None: ...
    def wait(self, cid: str, timeout_s: float = ...) -> int: ...
    def logs(self, cid: str) -> bytes: ...
    def remove(self, cid: str) -> None: ...
    def remove_if_stopped(self, cid: str) -> bool: ...  # False (kept) when the engine says it runs
    def attach_first_output(self, cid: str, clock: Clock) -> FirstOutputWaiter: ...

    # the serverless cycle: exec into a running container, pause and unpause it
    def exec_run(self, cid: str, command: list[str]) -> bytes: ...
    def pause(self, cid: str) -> None: ...
    def unpause(self, cid: str) -> None: ...

    # memory of running containers (cgroup bytes, process PSS, process name, note), and of the host
    def container_memory(self, cid: str) -> tuple[int | None, int | None, str | None, str | None]: ...
    def meminfo(self) -> dict[str, int] | None: ...

    # virtprobe's own containers, found by their labels
    def labelled_containers(self, run_id: str | None = None) -> list[tuple[str, dict[str, str]]]: ...
    def remove_labelled(self, run_id: str | None = None) -> list[str]: ...
