"""A scripted engine and a fake clock: the runner and the bench CLI, tested without Docker.

ScriptedBackend implements the whole Backend protocol (virtprobe/benchmark/backend.py):
containers are dicts, and each call costs a fixed time on the fake clock, so every
phase of a cycle has a known duration.
"""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

from virtprobe.benchmark.result import EngineInfo
from virtprobe.errors import EngineError

MS = 1_000_000


class FakeClock:
    """Every reading advances 1 ms; a backend call advances it further by its scripted cost."""

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

    Scripted costs do not advance it; the scripted probe still reports a reading
    100 ms after the start request, on the same clock."""

    @property  # type: ignore[override]
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
    }

    def __init__(self, clock: FakeClock, fail_at: tuple[str, int] | None = None, interrupt_at: int | None = None):
        self.clock = clock
        self.containers: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.created = 0
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

    def create(self, image: str, run_id: str, command: list[str] | None = None, role: str = "bench") -> str:
        with self.lock:
            self.created += 1
            cid = f"c{self.created:03d}"
            self.containers[cid] = {
                "labels": {"io.virtprobe.run": run_id, "io.virtprobe.role": role},
                "image": image,
                "command": command,
                "probe_ns": None,
            }
        self._step("create", cid)
        return cid

    def start(self, cid: str) -> None:
        req = self.clock.now
        self._step("start", cid)
        # The probe's first instruction runs while start() is still in flight.
        self.containers[cid]["probe_ns"] = req + 100 * MS

    def wait(self, cid: str, timeout_s: float = 60) -> int:
        self._step("wait", cid)
        return 0

    def logs(self, cid: str) -> bytes:
        self._step("logs", cid)
        ns = self.containers[cid]["probe_ns"]
        return f"{ns // 10**9}.{ns % 10**9:09d}\n".encode()

    def remove(self, cid: str) -> None:
        self._step("remove", cid)
        self.containers.pop(cid, None)

    def attach_first_output(self, cid: str, clock: Any) -> Any:
        backend = self

        class Handle:
            def result(self, timeout_s: float) -> int | None:
                return backend.containers[cid]["probe_ns"] + 3 * MS

        return Handle()

    def container_memory(self, cid: str) -> tuple[int | None, int | None, str | None]:
        return 650_000, 3_400_000, None

    def meminfo(self) -> dict[str, int]:
        used = 3_300_000 * sum(1 for c in self.containers.values() if c["command"])
        fields = {"AnonPages": 0, "PageTables": 0, "KernelStack": 0, "Slab": 0, "VmallocUsed": 0}
        fields["AnonPages"] = used
        return {"MemAvailable": 20_000_000_000 - used, **fields}

    # --- the rest of the protocol: engine, images, labels ---------------------------

    def engine_info(self) -> EngineInfo:
        return EngineInfo(
            engine_version="20.10.24+scripted",
            api_version="1.41",
            containerd_version="1.6.20",
            runc_version="1.1.5",
            default_runtime="runc",
            storage_driver="overlay2",
            cgroup_version=1,
            cgroup_driver="cgroupfs",
            arch="x86_64",
        )

    def ensure_probe_image(self, arch: str | None) -> tuple[str, float | None]:
        self.calls.append(("ensure_probe_image", arch or ""))
        return "virtprobe/probe:scripted", None

    def check_user_image(self, name: str) -> None:
        self.calls.append(("check_user_image", name))

    def remove_probe_images(self) -> list[str]:
        return ["sha256:scripted"]

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
