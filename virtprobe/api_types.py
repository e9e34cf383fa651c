"""Types of the public API's parameters, kept out of `import virtprobe` (which `detect` pays for at start-up)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, TypedDict

# What compare() does when two bench reports come from different environments.
EnvMismatch = Literal["refuse", "warn"]


class BenchKeywords(TypedDict, total=False):
    """BenchOptions' fields, as bench()'s keywords (tests/test_cli.py keeps the two equal)."""

    runs: int
    warmup: int
    parallel: int
    image: str | None
    memory_containers: int
    floor: bool
    seed: int | None
    vm: Sequence[str]
    kernel: str | None
    profiles: str | None
    hwvirt: bool
    runtimes: Sequence[str]
    function_ms: int | None
    image_cache: Literal["cold", "warm", "both"] | None
    registry: str | None
    density: Sequence[int]
    parallel_levels: Sequence[int]
    engine_cost: bool
    snapshot: bool
