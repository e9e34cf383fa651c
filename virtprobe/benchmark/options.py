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
    # bench 1.2 (issue 19)
    image_cache: str | None = None  # --image-cache cold|warm|both
    registry: str | None = None  # --registry HOST:PORT: cold images are pulled from it (not recorded: an address)
    density: tuple[int, ...] = ()  # --density 0,50,200: idle containers already running per level
    parallel_levels: tuple[int, ...] = ()  # --parallel 1,2,4,8: the scaling curve (two or more levels)
    engine_cost: bool = False  # --engine-cost: the engine's own CPU and PSS per container
    snapshot: bool = False  # --snapshot: KVM snapshot restore, Firecracker's cited figure, CRIU

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
            "image_cache": self.image_cache,
            "density": list(self.density),
            "parallel_levels": list(self.parallel_levels),
            "engine_cost": self.engine_cost,
            "snapshot": self.snapshot,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BenchOptions:
        def num(key: str, default: int) -> int:
            v = d.get(key)
            return v if isinstance(v, int) and not isinstance(v, bool) else default

        seed = d.get("seed")

        def ints(key: str) -> tuple[int, ...]:
            return tuple(x for x in d.get(key) or () if isinstance(x, int) and not isinstance(x, bool))

        cache = d.get("image_cache")
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
            image_cache=cache if isinstance(cache, str) else None,
            density=ints("density"),
            parallel_levels=ints("parallel_levels"),
            engine_cost=bool(d.get("engine_cost")),
            snapshot=bool(d.get("snapshot")),
        )
