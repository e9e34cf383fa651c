"""Memory wired into run_bench: each row named for its process, and host figures that cannot go negative."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import ROOTS
from tests.render import for_people
from tests.scripted import FakeClock, ScriptedBackend, scripted_engine_info
from virtprobe.benchmark.options import BenchOptions
from virtprobe.benchmark.result import BenchResult
from virtprobe.benchmark.runner import run_bench
from virtprobe.detection.run import detect
from virtprobe.machine.source import RootSource
from virtprobe.report.compare import bench_series
from virtprobe.report.document import new_report

DETECTED = detect(RootSource(ROOTS / "firecracker_this_machine"), kvm_probe=True)
MIB = 1024 * 1024


class PageCacheChurn(ScriptedBackend):
    """MemAvailable rises while the containers start (page cache freed elsewhere), and idles noisily."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.readings = 0

    def meminfo(self) -> dict[str, int]:
        self.readings += 1
        got = super().meminfo()
        running = sum(1 for c in self.containers.values() if c["command"])
        wobble = (self.readings % 2) * 3 * MIB  # 3 MiB of idle noise
        got["MemAvailable"] += running * 5 * MIB + wobble  # a "negative" cost
        return got


def _bench(backend: ScriptedBackend, clock: FakeClock) -> BenchResult:
    options = BenchOptions(runs=2, warmup=0, memory_containers=3)
    return run_bench(options, backend, DETECTED, clock=clock, sleep=lambda s: None)


def test_a_negative_memavailable_drop_is_not_measurable_and_not_passed_to_compare() -> None:
    clock = FakeClock()
    result = _bench(PageCacheChurn(clock), clock)
    memory = result.container.memory if result.container is not None else None
    assert memory is not None and memory.host_available is not None
    fig = memory.host_available
    assert fig.raw_per_container_bytes < 0 and fig.per_container_bytes is None
    assert fig.reason is not None and fig.reason.startswith("not measurable on this host (noise ±1.00 MiB; ")
    assert "below zero" in fig.reason
    assert len(fig.idle_bytes) == 5 and fig.before_bytes and fig.after_bytes  # the raw readings stay
    assert memory.host_available_drop_bytes_per_container is None
    drop = dict((name, xs) for name, _, _, xs in bench_series(result))["memory host_drop_bytes_per_container"]
    assert drop == []
    report = new_report(result)
    for text in for_people(report, "m.json"):
        assert "not measurable on this host (noise ±1.00 MiB; " in text


def test_a_steady_host_gives_a_figure_per_container() -> None:
    clock = FakeClock()
    result = _bench(ScriptedBackend(clock), clock)
    memory = result.container.memory if result.container is not None else None
    assert memory is not None and memory.host_kernel_anon is not None
    assert memory.host_kernel_anon_growth_bytes_per_container == 3_300_000
    assert memory.process_name == "containerd-shim"


def test_podman_rows_name_conmon_and_no_containerd_shim_anywhere() -> None:
    clock = FakeClock()
    engine = scripted_engine_info(
        product="podman",
        product_version="4.3.1",
        containerd_version=None,
        container_process="conmon",
        container_process_version="2.1.6",
    )
    result = _bench(ScriptedBackend(clock, engine=engine), clock)
    memory = result.container.memory if result.container is not None else None
    assert memory is not None and memory.process_name == "conmon"
    report = new_report(result)
    # The JSON's figures too; only the method's prose names both engines' processes.
    figures = {k: v for k, v in memory.to_dict().items() if k != "method"}
    doc = json.dumps({"engine": engine.to_dict(), "memory": figures})
    texts = [*for_people(report, "p.json")[1:], doc]
    for text in texts:
        assert "containerd-shim" not in text and "conmon" in text
    assert "Podman 4.3.1" in texts[0] and "per container: conmon 2.1.6" in texts[0]
