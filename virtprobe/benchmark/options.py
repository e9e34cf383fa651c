"""What the user asked `virtprobe bench` to measure, as recorded in the report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BenchOptions:
    runs: int = 20
    warmup: int = 2
    parallel: int = 1
    image: str | None = None
    memory_containers: int = 10
    floor: bool = False
    seed: int | None = 1
    vm: tuple[str, ...] = ()  # measured VM kinds to add to the simulated baselines: "qemu"
    kernel: str | None = None  # guest kernel for --vm qemu (a path: not recorded in the report)
    profiles: str | None = None  # a user file of VM profiles (a path: not recorded in the report)
    hwvirt: bool = False  # drive /dev/kvm directly: VM floor, exit cost, near-native ratio
    runtimes: tuple[str, ...] = ()  # --runtime A,B: OCI runtimes to bench, interleaved (empty: the default)
    function_ms: int | None = None  # --function MS: the serverless cycle with a function of MS ms of CPU

    def to_dict(self) -> dict[str, Any]:
        return {
            "runs": self.runs,
            "warmup": self.warmup,
            "parallel": self.parallel,
            "image": self.image,
            "floor": self.floor,
            "memory_containers": self.memory_containers,
            "vm": list(self.vm),
            "hwvirt": self.hwvirt,
            "seed": self.seed,
            "runtimes": list(self.runtimes),
            "function_ms": self.function_ms,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BenchOptions:
        def num(key: str, default: int) -> int:
            v = d.get(key)
            return v if isinstance(v, int) and not isinstance(v, bool) else default

        seed = d.get("seed")
        return cls(
            runs=num("runs", 0),
            warmup=num("warmup", 0),
            parallel=num("parallel", 1),
            image=d.get("image"),
            memory_containers=num("memory_containers", 0),
            floor=bool(d.get("floor")),
            seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
            vm=tuple(str(x) for x in d.get("vm") or ()),
            hwvirt=bool(d.get("hwvirt")),
            runtimes=tuple(str(x) for x in d.get("runtimes") or ()),
            function_ms=fn if isinstance(fn := d.get("function_ms"), int) and not isinstance(fn, bool) else None,
        )
