"""benchmark/fleet.py without engines: concurrency across engines, failures per engine, Ctrl-C.

run_bench is replaced by a stand-in returning a real bench result (tests/fixtures/reports/
bench-base.json), so these tests judge the orchestration only; the live tests
(test_fleet_live.py) run the real runner against real engines.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from typing import Any

import pytest

from virtprobe.benchmark.connect import EngineTarget
from virtprobe.benchmark.fleet import EngineOutcome, fleet_exit_code, run_fleet
from virtprobe.benchmark.result import BenchResult
from virtprobe.errors import EXIT_ENGINE, EngineError, Interrupted
from virtprobe.report.document import BenchReport
from virtprobe.report.fleet import fleet_from_outcomes
from virtprobe.report.load import load_any

_LOADED = load_any("tests/fixtures/reports/bench-base.json")
assert isinstance(_LOADED, BenchReport)
RESULT: BenchResult = _LOADED.result


class Recorder:
    """A backend stand-in that records which engine called, from which thread, and when."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: list[str] = []
        self.swept = False

    def create(self) -> None:
        self.calls.append("create")

    def remove_labelled(self, run_id: str | None = None) -> list[str]:
        self.swept = True
        return []


def targets(*names: str) -> list[EngineTarget]:
    return [EngineTarget(n, f"unix:///run/{n}.sock", "--host") for n in names]


def test_engines_run_concurrently_and_failures_stay_with_their_engine() -> None:
    spans: dict[str, tuple[float, float]] = {}

    def run_bench(options: Any, backend: Any, detected: Any, progress: Any, clock: Any, sleep: Any) -> BenchResult:
        t0 = time.monotonic()
        backend.create()
        progress("cycles", 1, 1)
        time.sleep(0.3)
        spans[backend.name] = (t0, time.monotonic())
        if backend.name == "dies":
            raise EngineError("the Docker daemon stopped answering mid-run")
        return RESULT

    seen: list[str] = []
    outcomes = run_fleet(
        targets("a", "dies", "b"),
        RESULT.options,
        None,  # type: ignore[arg-type]  # the stand-in runner does not read it
        make_backend=lambda t: Recorder(t.name),  # type: ignore[arg-type,return-value]
        progress_for=lambda t: lambda task, done, total: seen.append(t.name),
        run_bench=run_bench,
        on_done=lambda o: seen.append(f"done {o.target.name}"),
    )
    assert [o.target.name for o in outcomes] == ["a", "dies", "b"]  # the order given, not of finishing
    assert [o.ok for o in outcomes] == [True, False, True]
    assert outcomes[1].error_type == "EngineError" and outcomes[1].exit_code == EXIT_ENGINE
    # All three overlapped in time: concurrent across engines.
    assert max(s for s, _ in spans.values()) < min(e for _, e in spans.values())
    assert {"a", "b", "dies", "done a", "done b", "done dies"} <= set(seen)
    assert fleet_exit_code(outcomes) == EXIT_ENGINE
    fleet = fleet_from_outcomes(outcomes)
    assert [m.ok for m in fleet.members] == [True, False, True]
    assert fleet.members[1].error is not None and "mid-run" in fleet.members[1].error.message


def test_an_unreachable_engine_and_a_bug_in_one_worker_keep_the_others() -> None:
    def make_backend(t: EngineTarget) -> Any:
        if t.name == "down":
            raise EngineError("engine down (unix:///run/down.sock) not reachable")
        return Recorder(t.name)

    def run_bench(options: Any, backend: Any, *rest: Any) -> BenchResult:
        if backend.name == "buggy":
            raise ZeroDivisionError("division by zero")
        return RESULT

    outcomes = run_fleet(
        targets("ok", "down", "buggy"),
        RESULT.options,
        None,  # type: ignore[arg-type]
        make_backend=make_backend,
        progress_for=lambda t: lambda *a: None,
        run_bench=run_bench,
    )
    ok, down, buggy = outcomes
    assert ok.ok and not down.ok and not buggy.ok
    assert down.error is not None and "not reachable" in down.error
    assert buggy.error_type == "ZeroDivisionError" and buggy.traceback and "ZeroDivisionError" in buggy.traceback
    assert fleet_exit_code([ok]) == 0


def test_ctrl_c_stops_every_engine_and_each_sweeps_its_containers() -> None:
    backends: list[Recorder] = []
    started = threading.Barrier(3)

    def make_backend(t: EngineTarget) -> Any:
        b = Recorder(t.name)
        backends.append(b)
        return b

    def run_bench(options: Any, backend: Any, *rest: Any) -> BenchResult:
        # What run_bench's cleanup guard does: KeyboardInterrupt -> sweep -> Interrupted.
        started.wait(timeout=5)
        try:
            while True:
                backend.create()
                time.sleep(0.01)
        except KeyboardInterrupt as err:
            backend.remove_labelled()
            raise Interrupted("interrupted") from err

    def interrupt() -> None:
        started.wait(timeout=5)
        time.sleep(0.1)
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(Interrupted, match="every engine has removed"):
        run_fleet(
            targets("a", "b"),
            RESULT.options,
            None,  # type: ignore[arg-type]
            make_backend=make_backend,
            progress_for=lambda t: lambda *a: None,
            run_bench=run_bench,
        )
    assert len(backends) == 2 and all(b.swept for b in backends)
    assert all(b.calls for b in backends)
    # The previous SIGINT handler is back.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_outcome_ok_is_having_a_result() -> None:
    t = targets("x")[0]
    assert EngineOutcome(t, RESULT).ok and not EngineOutcome(t, None, "boom").ok
