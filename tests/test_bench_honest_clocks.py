"""The clock rule wired into run_bench: a probe under another kernel never yields a mixed-clock figure.

The scripted probe reports a boot id that is not this kernel's (as a container in a
VM, or on another host, would): first instruction then comes from the engine clock
offset with its bound, or not at all, and every format says which.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ROOTS
from tests.render import for_people
from tests.scripted import FakeClock, ScriptedBackend, scripted_engine_info
from virtprobe.benchmark.clock import CLIENT_ONLY, ENGINE_OFFSET, SAME_KERNEL
from virtprobe.benchmark.options import BenchOptions
from virtprobe.benchmark.result import BenchResult
from virtprobe.benchmark.runner import run_bench
from virtprobe.detection.run import detect
from virtprobe.machine.source import RootSource
from virtprobe.report.metrics import container_startup_phase

DETECTED = detect(RootSource(ROOTS / "firecracker_this_machine"), kvm_probe=True)
LOCAL_BOOT = "0f6a2ccf-4a43-4c6e-9b5a-6ad7b0e1d2c3"
OTHER_BOOT = "8d1e7c55-2b1a-4f0e-a3c4-5e6f7a8b9c0d"
SECOND = 1_000_000_000


class NoSystemTime(ScriptedBackend):
    """An engine whose /info carries no SystemTime: no offset can be estimated."""

    def system_time(self) -> str | None:
        return None


def _bench(backend: ScriptedBackend, clock: FakeClock, **kw: Any) -> BenchResult:
    options = BenchOptions(**{"runs": 4, "warmup": 1, "memory_containers": 0, **kw})
    return run_bench(options, backend, DETECTED, clock=clock, sleep=lambda s: None, boot_id=lambda: LOCAL_BOOT)


def _text(result: BenchResult) -> list[str]:
    return for_people(result)


def test_same_boot_id_uses_this_kernels_monotonic_clock() -> None:
    clock = FakeClock()
    result = _bench(ScriptedBackend(clock, probe_boot_id=LOCAL_BOOT), clock)
    assert result.container is not None and result.container.clock is not None
    assert result.container.clock.mode == SAME_KERNEL
    assert result.container.summary("first_instruction_s").median == pytest.approx(0.100)


def test_another_boot_id_with_an_engine_offset_uses_realtime_moved_by_the_offset() -> None:
    clock = FakeClock()
    # The engine's clock is 5 s ahead of ours: subtracting raw readings would give ~5 s.
    backend = ScriptedBackend(clock, probe_boot_id=OTHER_BOOT, engine_clock_offset_ns=5 * SECOND)
    result = _bench(backend, clock)
    section = result.container
    assert section is not None and section.clock is not None
    assert section.clock.mode == ENGINE_OFFSET and section.clock.same_kernel is False
    offset = section.clock.offset
    assert offset is not None and offset.offset_ns == pytest.approx(5 * SECOND, abs=offset.error_ns)
    values = section.measured("first_instruction_s")
    bound = offset.error_ns / 1e9
    assert len(values) == 4 and all(abs(v - 0.100) <= bound + 0.005 for v in values)
    for text in _text(result):
        assert "engine clock offset" in text and "another kernel" in text


def test_another_boot_id_without_an_offset_prints_no_first_instruction_in_any_format() -> None:
    clock = FakeClock()
    result = _bench(NoSystemTime(clock, probe_boot_id=OTHER_BOOT), clock)
    section = result.container
    assert section is not None and section.clock is not None
    assert section.clock.mode == CLIENT_ONLY and section.clock.same_kernel is False
    assert all(s.first_instruction_s is None for s in section.samples)
    # The startup figure falls back to a client-side phase, never to a mixed one.
    assert container_startup_phase(section) == "start_s"
    for text in _text(result):
        assert "client-side timings only" in text
        assert "start → first instruction" not in text.split("Containers beside VMs")[0]


def test_a_probe_that_could_not_read_a_boot_id_on_a_remote_engine_is_client_only() -> None:
    clock = FakeClock()
    engine = scripted_engine_info(on_this_machine=False, location_reason="the engine runs under kernel 6.6.12-linuxkit")
    result = _bench(NoSystemTime(clock, probe_boot_id=None, engine=engine), clock)
    section = result.container
    assert section is not None and section.clock is not None and section.clock.mode == CLIENT_ONLY
    assert "linuxkit" in section.clock.reason
    assert section.measured("first_instruction_s") == []


def test_a_probe_reading_outside_the_run_window_is_refused_even_with_the_same_boot_id() -> None:
    class TimeNamespace(ScriptedBackend):
        def start(self, cid: str) -> None:
            super().start(cid)
            self.containers[cid]["probe_ns"] += 3600 * SECOND  # a shifted CLOCK_MONOTONIC

    clock = FakeClock()
    result = _bench(TimeNamespace(clock, probe_boot_id=LOCAL_BOOT), clock)
    section = result.container
    assert section is not None and section.clock is not None and section.clock.mode == CLIENT_ONLY
    assert section.measured("first_instruction_s") == []


def test_host_side_memory_is_unavailable_for_an_engine_on_another_machine() -> None:
    clock = FakeClock()
    engine = scripted_engine_info(on_this_machine=False, location_reason="docker-desktop runs its engine in a VM")
    backend = NoSystemTime(clock, engine=engine)
    result = _bench(backend, clock, memory_containers=3)
    memory = result.container.memory if result.container is not None else None
    assert memory is not None and memory.host_side_reason is not None and "VM" in memory.host_side_reason
    assert memory.cgroup_bytes == () and memory.process_pss_bytes is None
    assert memory.host_available_drop_bytes_per_container is None
    assert sum(1 for c, _ in backend.calls if c == "create") == 5  # the cycles' only: no memory containers
    assert any("docker-desktop runs its engine in a VM" in t for t in _text(result))
