"""A scripted engine and a fake clock: the runner and the bench CLI, tested without Docker.

ScriptedBackend implements the whole Backend protocol (virtprobe/benchmark/backend.py):
containers are dicts, and each call costs a fixed time on the fake clock, so every
phase of a cycle has a known duration.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any, ClassVar

from virtprobe.benchmark.clock import read_boot_id
from virtprobe.benchmark.engine import CONTAINERD_SHIM, EngineInfo, RuntimeOffer
from virtprobe.errors import EngineError, UnrunnableError
from virtprobe.machine.source import LiveSource

MS = 1_000_000

# What runsc printed here (MEASURED.md): no boot id, and a CLOCK_MONOTONIC of its own near 0.1 s.
RUNSC_MONOTONIC_NS = 100 * MS
# crun through dockerd on this machine's hybrid cgroups (MEASURED.md).
CRUN_REFUSAL = (
    "the container did not start: OCI runtime create failed: cgroups in hybrid mode not supported, "
    "drop all controllers from cgroupv2"
)


def scripted_engine_info(**changes: Any) -> EngineInfo:
    """Docker Engine 20.10 with runc (default), runsc and crun offered, on this machine."""
    fields: dict[str, Any] = {
        "product": "docker-engine",
        "product_version": "20.10.24+scripted",
        "engine_version": "20.10.24+scripted",
        "api_version": "1.41",
        "containerd_version": "1.6.20",
        "runtime": "runc",
        "runtime_kind": "runc",
        "runtime_version": "1.1.5",
        "runtimes": (
            RuntimeOffer("crun", "/usr/bin/crun", "crun"),
            RuntimeOffer("io.containerd.runc.v2", None, "runc"),
            RuntimeOffer("runc", "runc", "runc"),
            RuntimeOffer("runsc", "/usr/bin/runsc", "runsc"),
        ),
        "container_process": CONTAINERD_SHIM,
        "container_process_version": None,
        "rootless": False,
        "cgroup_version": 1,
        "cgroup_driver": "cgroupfs",
        "storage_driver": "overlay2",
        "kernel_version": "6.1.0-scripted",
        "operating_system": "Debian GNU/Linux 12 (bookworm)",
        "os_type": "linux",
        "arch": "x86_64",
        "ncpu": 2,
        "on_this_machine": True,
        "location_reason": "same kernel release, host name and OS as this machine",
    }
    fields.update(changes)
    return EngineInfo(**fields)


class FakeClock:
    """Every reading advances 1 ms; a backend call advances it further by its scripted cost."""

    real = False
    probe_delay_ns = 100 * MS  # start request -> the scripted probe's first instruction

    def __init__(self) -> None:
        self.now = 1_000 * MS
        self.lock = threading.Lock()

    def __call__(self) -> int:
        with self.lock:
            self.now += MS
            return self.now

    def advance(self, ns: int) -> None:
        with self.lock:
            self.now += ns


class RealClock(FakeClock):
    """The host's CLOCK_MONOTONIC, for runs whose clock the test cannot inject (the CLI).

    Scripted costs do not advance it; the scripted probe reports a reading 2 ms
    after the start request, on the same clock, and wait() returns only after it."""

    real = True
    probe_delay_ns = 2 * MS

    @property
    def now(self) -> int:
        return time.monotonic_ns()

    @now.setter
    def now(self, value: int) -> None:
        pass

    def __call__(self) -> int:
        return time.monotonic_ns()

    def advance(self, ns: int) -> None:
        pass


class ScriptedBackend:
    """Containers as dicts; each call costs a fixed time on the fake clock."""

    COSTS: ClassVar[dict[str, int]] = {
        "create": 7 * MS,
        "start": 140 * MS,
        "wait": 24 * MS,
        "remove": 6 * MS,
        "logs": 2 * MS,
        "load_image": 50 * MS,
        "pull_image": 80 * MS,
    }

    def __init__(
        self,
        clock: FakeClock,
        fail_at: tuple[str, int] | None = None,
        interrupt_at: int | None = None,
        *,
        engine: EngineInfo | None = None,
        probe_boot_id: str | None = "live",
        refuse: dict[str, str] | None = None,
        engine_clock_offset_ns: int = 0,
        realtime: Any = time.time_ns,
        ignores_runtime: bool = False,
    ):
        self.clock = clock
        self.engine = engine or scripted_engine_info()
        # "live": the probe runs under this kernel (the boot id the runner reads too).
        self.probe_boot_id = read_boot_id(LiveSource()) if probe_boot_id == "live" else probe_boot_id
        self.refuse = refuse or {}
        self.engine_clock_offset_ns = engine_clock_offset_ns
        self.realtime = realtime
        self.ignores_runtime = ignores_runtime
        self.paused: set[str] = set()
        self.containers: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.created = 0
        self.roles: list[str] = []  # the role of every container created, in order
        self.fail_at = fail_at
        self.interrupt_at = interrupt_at
        self.lock = threading.Lock()

    def _step(self, name: str, cid: str) -> None:
        with self.lock:
            self.calls.append((name, cid))
            n = sum(1 for c, _ in self.calls if c == name)
        if self.fail_at == (name, n):
            raise EngineError("the Docker daemon stopped answering mid-run")
        if name == "start" and self.interrupt_at == n:
            raise KeyboardInterrupt
        self.clock.advance(self.COSTS.get(name, 0))

    def create(
        self,
        image: str,
        run_id: str,
        command: list[str] | None = None,
        role: str = "bench",
        runtime: str | None = None,
        entrypoint: list[str] | None = None,
    ) -> str:
        if "virtprobe/probe-cold:" in image and image not in self.images:
            raise UnrunnableError(f"image {image!r} not found locally and virtprobe does not pull")
        with self.lock:
            self.created += 1
            self.roles.append(role)
            cid = f"c{self.created:03d}"
            self.containers[cid] = {
                "labels": {"io.virtprobe.run": run_id, "io.virtprobe.role": role},
                "image": image,
                "command": command,
                "entrypoint": entrypoint,
                "runtime": runtime or self.engine.runtime,
                "probe_ns": None,
                "realtime_ns": None,
            }
        self._step("create", cid)
        return cid

    def start(self, cid: str) -> None:
        req = self.clock.now
        real = self.realtime()
        runtime = self.containers[cid]["runtime"]
        if runtime in self.refuse:
            self._step("start-refused", cid)
            raise UnrunnableError(self.refuse[runtime])
        self._step("start", cid)
        # The probe's first instruction runs while start() is still in flight: 100 ms
        # after the request on this kernel's clock; under runsc on the sandbox's own.
        c = self.containers[cid]
        c["running"] = True
        c["probe_ns"] = RUNSC_MONOTONIC_NS if runtime == "runsc" else req + self.clock.probe_delay_ns
        c["realtime_ns"] = real + 100 * MS + self.engine_clock_offset_ns

    def wait(self, cid: str, timeout_s: float = 60) -> int:
        self._step("wait", cid)
        c = self.containers[cid]
        c["running"] = False
        if c["entrypoint"] == ["/spin"]:
            # The function exits after its own work, which starts at its first instruction.
            end = c["probe_ns"] + int((c["command"] or ["100"])[-1]) * MS
            self.clock.advance(max(0, end - self.clock.now) + MS)
        # On the real clock, the container exits only after its first instruction ran.
        probe_ns = self.containers[cid]["probe_ns"]
        while self.clock.real and probe_ns is not None and probe_ns > RUNSC_MONOTONIC_NS and self.clock.now < probe_ns:
            time.sleep(0.0005)
        return 0

    def logs(self, cid: str) -> bytes:
        self._step("logs", cid)
        c = self.containers[cid]
        ns = c["probe_ns"]
        if c["entrypoint"] == ["/spin"]:
            return self._spin(ns, c["command"])
        boot = "-" if c["runtime"] == "runsc" or self.probe_boot_id is None else self.probe_boot_id
        real = c["realtime_ns"]
        return f"{_ts(ns)}\n{boot}\n{_ts(real)}\n".encode()

    def _spin(self, start_ns: int, command: list[str] | None) -> bytes:
        work = int((command or ["100"])[-1]) * MS
        return f"{_ts(start_ns)}\n{_ts(start_ns + work)}\n".encode()

    def exec_run(self, cid: str, command: list[str]) -> bytes:
        if cid in self.paused:
            raise UnrunnableError("exec into a paused container")
        start = self.clock.now + MS
        self._step("exec", cid)
        self.clock.advance(int(command[-1]) * MS)  # the function's own work
        if self.containers[cid]["runtime"] == "runsc":
            start = RUNSC_MONOTONIC_NS
        return self._spin(start, command)

    def pause(self, cid: str) -> None:
        self._step("pause", cid)
        self.paused.add(cid)

    def unpause(self, cid: str) -> None:
        self._step("unpause", cid)
        self.paused.discard(cid)

    def system_time(self) -> str | None:
        self._step("info", "")
        ns = self.realtime() + self.engine_clock_offset_ns
        return datetime.fromtimestamp(ns // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{ns % 10**9:09d}Z"

    def remove(self, cid: str) -> None:
        self._step("remove", cid)
        self.containers.pop(cid, None)
        self.paused.discard(cid)

    def remove_if_stopped(self, cid: str) -> bool:
        c = self.containers.get(cid)
        if c is not None and (c.get("running") or cid in self.paused):
            return False
        self.remove(cid)
        return True

    def attach_first_output(self, cid: str, clock: Any) -> Any:
        backend = self

        class Handle:
            def result(self, timeout_s: float) -> int | None:
                return backend.containers[cid]["probe_ns"] + 3 * MS

        return Handle()

    def container_memory(self, cid: str) -> tuple[int | None, int | None, str | None, str | None]:
        name = "conmon" if self.engine.container_process == "conmon" else "containerd-shim"
        return 650_000, 3_400_000, name, None

    def meminfo(self) -> dict[str, int]:
        used = 3_300_000 * sum(1 for c in self.containers.values() if c["command"])
        fields = {"AnonPages": 0, "PageTables": 0, "KernelStack": 0, "Slab": 0, "VmallocUsed": 0}
        fields["AnonPages"] = used
        return {"MemAvailable": 20_000_000_000 - used, **fields}

    # --- the rest of the protocol: engine, images, labels ---------------------------

    def engine_info(self) -> EngineInfo:
        return self.engine

    def ensure_probe_image(self, arch: str | None) -> tuple[str, float | None]:
        self.calls.append(("ensure_probe_image", arch or ""))
        return "virtprobe/probe:scripted", None

    def check_user_image(self, name: str) -> None:
        self.calls.append(("check_user_image", name))

    def check_runtime(self, image: str, run_id: str, runtime: str) -> None:
        self.calls.append(("check_runtime", runtime))
        if self.ignores_runtime and runtime != self.engine.runtime:
            # Podman 4.3's compatible API: the name is accepted, the default runtime used.
            raise UnrunnableError(
                f"the engine ran the container under {self.engine.runtime!r}, not the runtime {runtime!r} "
                "it was asked for"
            )

    def remove_probe_images(self) -> list[str]:
        return ["sha256:scripted"]

    # --- the image of one run (--image-cache): present or not, as a set of tags ---------------

    images: frozenset[str] = frozenset()  # each run's own once it changes: never mutated in place

    def build_run_image(self, arch: str | None, run_id: str) -> str:
        tag = f"virtprobe/probe-cold:{run_id}"
        self.calls.append(("build_run_image", tag))
        self.images = self.images | {tag}
        return tag

    def save_image(self, tag: str) -> bytes:
        self.calls.append(("save_image", tag))
        return b"scripted archive of " + tag.encode()

    def load_image(self, archive: bytes) -> None:
        tag = archive.removeprefix(b"scripted archive of ").decode()
        self._step("load_image", tag)
        self.images = self.images | {tag}

    def remove_run_image(self, tag: str, run_id: str) -> bool:
        self.calls.append(("remove_run_image", tag))
        present = tag in self.images
        self.images = self.images - {tag}
        return present

    def push_image(self, tag: str, ref: str) -> None:
        self.calls.append(("push_image", ref))
        self.registry = {*getattr(self, "registry", set()), ref}

    def pull_image(self, ref: str) -> None:
        if ref not in getattr(self, "registry", set()):
            raise UnrunnableError(f"cannot pull {ref}: not in the registry")
        self._step("pull_image", ref)
        self.images = self.images | {ref}

    def image_layer_dirs(self, tag: str) -> list[str]:
        return []

    def stop(self, cid: str) -> None:
        self._step("stop", cid)

    def labelled_containers(self, run_id: str | None = None) -> list[tuple[str, dict[str, str]]]:
        return [
            (cid, dict(c["labels"]))
            for cid, c in self.containers.items()
            if "io.virtprobe.run" in c["labels"] and (run_id is None or c["labels"]["io.virtprobe.run"] == run_id)
        ]

    def remove_labelled(self, run_id: str | None = None) -> list[str]:
        ids = [
            cid
            for cid, c in self.containers.items()
            if "io.virtprobe.run" in c["labels"] and (run_id is None or c["labels"]["io.virtprobe.run"] == run_id)
        ]
        for cid in ids:
            self.remove(cid)
        return ids


def _ts(ns: int) -> str:
    return f"{ns // 10**9}.{ns % 10**9:09d}"
