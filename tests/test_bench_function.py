"""--function MS against the scripted engine: cold, warm and paused calls, the work share and both billing rules."""

from __future__ import annotations

import pytest

from tests.conftest import ROOTS
from tests.render import for_people
from tests.scripted import FakeClock, ScriptedBackend
from virtprobe.benchmark.options import BenchOptions
from virtprobe.benchmark.result import BenchResult
from virtprobe.benchmark.runner import run_bench
from virtprobe.detection.run import detect
from virtprobe.machine.source import RootSource
from virtprobe.report.document import new_report
from virtprobe.report.metrics import BILLING_SOURCE, billed_ms, function_rows

DETECTED = detect(RootSource(ROOTS / "firecracker_this_machine"), kvm_probe=True)


def _bench(runtimes: tuple[str, ...] = ()) -> tuple[ScriptedBackend, BenchResult]:
    clock = FakeClock()
    backend = ScriptedBackend(clock)
    options = BenchOptions(runs=3, warmup=1, memory_containers=0, function_ms=100, runtimes=runtimes)
    return backend, run_bench(options, backend, DETECTED, clock=clock, sleep=lambda s: None)


def test_cold_warm_and_paused_calls_each_report_the_functions_own_work() -> None:
    backend, result = _bench()
    fn = result.function
    assert fn is not None and fn.function_ms == 100 and fn.runtime == "runc"
    assert [m.mode for m in fn.modes] == ["cold", "warm", "paused"]
    for mode in fn.modes:
        assert mode.refused is None and len(mode.calls) == 4 and mode.calls[0].warmup
        assert mode.measured("work_s") == pytest.approx([0.100] * 3)
        assert all(w > 0.100 for w in mode.measured("wall_s"))
    cold = fn.mode("cold")
    assert cold is not None
    # request -> first instruction (the probe's 100 ms scripted start) -> its end.
    assert cold.measured("first_instruction_s") == pytest.approx([0.100] * 3)
    assert cold.measured("end_s") == pytest.approx([0.200] * 3)
    assert ("pause", backend.calls[-1][1]) in backend.calls and backend.containers == {}
    # cold: create, start, wait, logs, remove for each call; warm and paused: exec into one container each.
    assert sum(1 for c, _ in backend.calls if c == "exec") == 8


def test_billing_rounds_each_call_up_to_the_step() -> None:
    assert billed_ms(0.1004, 1) == 101 and billed_ms(0.1004, 100) == 200
    assert billed_ms(0.100, 1) == 100 and billed_ms(0.100, 100) == 100
    assert billed_ms(0.0002, 1) == 1 and billed_ms(0.0002, 100) == 100


def test_function_rows_give_the_share_of_wall_time_and_both_billing_rules() -> None:
    _, result = _bench()
    rows = function_rows(result)
    modes = rows[:3]
    assert [r.label.split(":")[0] for r in modes] == ["cold", "warm", "paused"]
    for row in modes:
        assert row.share is not None and 0 < row.share < 1
        assert row.billed_1ms is not None and row.billed_100ms is not None
        assert row.billed_100ms >= row.billed_1ms and row.billed_100ms % 100 == 0
    # Every VM baseline is priced the same way from its boot figure.
    vms = rows[3:]
    assert len(vms) == len(result.baselines) and all(r.work_s == pytest.approx(0.1) for r in vms)
    first = result.baselines[0]
    boot = first.boot_summary().median
    assert boot is not None and vms[0].wall_s == pytest.approx(boot + 0.1)


def test_markdown_and_html_show_the_serverless_cycle_with_billing_and_its_source() -> None:
    _, result = _bench()
    report = new_report(result)
    for text in for_people(report, "fn.json"):
        assert "The serverless cycle: a function of 100 ms of CPU" in text
        for mode in ("cold:", "warm:", "paused:"):
            assert mode in text
        assert "billed at 1 ms" in text and "billed at 100 ms" in text
        assert "AWS Lambda changes duration billing granularity from 100ms down to 1ms" in text
    assert "2020-12-01" in BILLING_SOURCE


def test_the_function_runs_on_the_first_runtime_that_ran() -> None:
    from tests.scripted import CRUN_REFUSAL

    clock = FakeClock()
    backend = ScriptedBackend(clock, refuse={"crun": CRUN_REFUSAL})
    options = BenchOptions(runs=2, warmup=0, memory_containers=0, function_ms=50, runtimes=("crun", "runc"))
    result = run_bench(options, backend, DETECTED, clock=clock, sleep=lambda s: None)
    assert result.function is not None and result.function.runtime == "runc"
    assert result.container is not None and result.container.refused == CRUN_REFUSAL
