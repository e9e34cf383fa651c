"""--runtime against the scripted engine: interleaved rows, a refused runtime's reason, another kernel's clock."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import ROOTS
from tests.render import markdown, rendered
from tests.scripted import CRUN_REFUSAL, FakeClock, ScriptedBackend
from virtprobe.benchmark.clock import CLIENT_ONLY, SAME_KERNEL
from virtprobe.benchmark.options import BenchOptions
from virtprobe.benchmark.result import BenchResult
from virtprobe.benchmark.runner import run_bench
from virtprobe.detection.run import detect
from virtprobe.errors import InputError
from virtprobe.machine.source import RootSource
from virtprobe.report.compare import compare_bench
from virtprobe.report.document import BenchReport, dumps, from_document, new_report, to_document
from virtprobe.report.load import check_document
from virtprobe.report.metrics import runtime_rows

DETECTED = detect(RootSource(ROOTS / "firecracker_this_machine"), kvm_probe=True)


def _bench(backend: ScriptedBackend, clock: FakeClock, **kw: Any) -> BenchResult:
    options = BenchOptions(**{"runs": 4, "warmup": 1, "memory_containers": 0, **kw})
    return run_bench(options, backend, DETECTED, clock=clock, sleep=lambda s: None)


def _three() -> tuple[ScriptedBackend, BenchResult]:
    clock = FakeClock()
    backend = ScriptedBackend(clock, refuse={"crun": CRUN_REFUSAL})
    return backend, _bench(backend, clock, runtimes=("runc", "crun", "runsc"), memory_containers=2)


def test_three_runtimes_give_three_rows_runc_measured_crun_refused_runsc_on_its_own_clock() -> None:
    backend, result = _three()
    assert [s.runtime for s in result.runtime_sections] == ["runc", "crun", "runsc"]
    runc, crun, runsc = result.runtime_sections
    assert runc.refused is None and runc.clock is not None and runc.clock.mode == SAME_KERNEL
    assert runc.summary("first_instruction_s").median == pytest.approx(0.100)
    # crun's row carries the engine's refusal as its reason, and the other rows still ran.
    assert crun.refused == CRUN_REFUSAL and "cgroups in hybrid mode not supported" in crun.refused
    assert crun.samples == () and crun.memory is None
    assert runsc.refused is None and len(runsc.samples) == 5
    assert runsc.clock is not None and runsc.clock.mode == CLIENT_ONLY and "kernel of its own" in runsc.clock.reason
    # runsc's clock read 0.1 s: a first-instruction figure would be a difference of two kernels' clocks.
    assert all(s.first_instruction_s is None for s in runsc.samples)
    assert all(s.start_s is not None and s.cycle_s is not None for s in runsc.samples)
    assert backend.containers == {}


def test_runtimes_are_interleaved_round_by_round() -> None:
    backend, _ = _three()
    # The first round tries all three before any second cycle: runc, crun (refused), runsc, runc, ...
    created = [c for c, _ in backend.calls if c in ("start", "start-refused")][:4]
    assert created == ["start", "start-refused", "start", "start"]


def test_runtime_rows_hold_the_same_statistics_and_a_ratio_to_the_first() -> None:
    _, result = _three()
    rows = runtime_rows(result)
    assert [r.runtime for r in rows] == ["runc", "crun", "runsc"]
    assert rows[0].cycle_ratio == pytest.approx(1.0)
    assert rows[1].refused == CRUN_REFUSAL and rows[1].cycle.n == 0
    assert rows[2].first_instruction is None and rows[2].cycle_ratio is not None
    assert rows[2].clock == "its own clock: client-side timings only"


def test_every_format_shows_the_three_rows_and_the_refusal() -> None:
    _, result = _three()
    report = new_report(result)
    got = rendered(report, "three.json")
    md = got["markdown"]
    for text in (got["table"], md, got["html"]):
        assert "Runtimes side by side" in text
        assert "cgroups in hybrid mode not supported" in text
        assert "runsc" in text and "own clock" in text
    assert "| runsc |" in md and "| crun | – | – | – | – | 0 | **refused:" in md


def test_the_runtimes_round_trip_through_the_json_document() -> None:
    _, result = _three()
    report = new_report(result)
    doc = json.loads(dumps(to_document(report)))
    assert doc["container"]["runtime"] == "runc"
    assert [o["runtime"] for o in doc["other_runtimes"]] == ["crun", "runsc"]
    assert doc["other_runtimes"][0]["refused"] == CRUN_REFUSAL
    assert from_document(check_document(doc, "three")) == report


def test_a_runtime_the_engine_does_not_offer_is_one_line_naming_its_offers_and_how_to_add_one() -> None:
    clock = FakeClock()
    backend = ScriptedBackend(clock)
    with pytest.raises(InputError) as info:
        _bench(backend, clock, runtimes=("runc", "kata"))
    msg = info.value.message
    assert "'kata'" in msg and "crun, io.containerd.runc.v2, runc, runsc" in msg
    assert "/etc/docker/daemon.json" in msg and "\n" not in msg
    assert backend.created == 0  # refused before any container


def test_compare_refuses_reports_of_other_runtimes_unless_forced() -> None:
    _, three = _three()
    clock = FakeClock()
    one = _bench(ScriptedBackend(clock), clock)
    with pytest.raises(InputError, match="runtimes benched: runc -> runc, crun, runsc"):
        compare_bench(one, three)
    forced = compare_bench(one, three, force=True)
    assert any(m.name == "runtime runsc cycle_s" for m in forced.metrics)


def test_compare_refuses_another_engine_and_lists_the_differences() -> None:
    from tests.scripted import scripted_engine_info

    clock = FakeClock()
    docker = _bench(ScriptedBackend(clock), clock)
    podman = _bench(
        ScriptedBackend(clock, engine=scripted_engine_info(product="podman", container_process="conmon")), clock
    )
    with pytest.raises(InputError) as info:
        compare_bench(docker, podman)
    assert "product: docker-engine -> podman" in info.value.message
    assert "per-container process: containerd-shim -> conmon" in info.value.message


def test_the_bench_cli_takes_a_comma_separated_runtime_list() -> None:
    from virtprobe.cli.bench import _runtime_names

    assert _runtime_names(["runc,crun", " runsc "]) == ("runc", "crun", "runsc")
    with pytest.raises(InputError, match="empty runtime name"):
        _runtime_names(["runc,,crun"])


def test_a_report_of_one_runtime_keeps_its_single_section_layout() -> None:
    clock = FakeClock()
    result = _bench(ScriptedBackend(clock), clock)
    assert result.other_runtimes == () and result.container is not None and result.container.runtime == "runc"
    assert "Runtimes side by side" not in markdown(BenchReport(new_report(result).header, result))


@pytest.mark.parametrize("at", [2, 5, 8])  # a runtime cycle, a cold call, the paused container
def test_ctrl_c_during_runtimes_or_the_function_leaves_no_container(at: int) -> None:
    from virtprobe.errors import Interrupted

    clock = FakeClock()
    backend = ScriptedBackend(clock, interrupt_at=at, refuse={"crun": CRUN_REFUSAL})
    options = BenchOptions(runs=2, warmup=0, memory_containers=0, runtimes=("runc", "crun", "runsc"), function_ms=10)
    with pytest.raises(Interrupted):
        run_bench(options, backend, DETECTED, clock=clock, sleep=lambda s: None)
    assert backend.containers == {}


def test_an_engine_that_ignores_the_runtime_gets_no_row_named_for_it() -> None:
    clock = FakeClock()
    backend = ScriptedBackend(clock, ignores_runtime=True)
    result = _bench(backend, clock, runtimes=("runc", "runsc"))
    runc, runsc = result.runtime_sections
    # Every named runtime is checked before the rounds; the ignored one keeps only its reason.
    assert ("check_runtime", "runsc") in backend.calls and ("check_runtime", "runc") in backend.calls
    assert runc.refused is None and len(runc.samples) == 5
    assert runsc.refused is not None and "not the runtime 'runsc'" in runsc.refused and runsc.samples == ()
