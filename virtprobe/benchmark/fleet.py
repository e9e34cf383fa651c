"""Bench several engines at once: one thread per engine, one measurement at a time within each.

Engines run concurrently because they are usually on different machines, and
waiting for them one by one would multiply the run time. Within an engine the
runner stays sequential (run_bench), so an engine's own figures are not
disturbed by its own other work. Engines on the same machine do share its CPUs;
the fleet report records every engine's load average as usual.

Failures are per engine: an engine that is unreachable, or dies mid-run, ends
its own thread with its error recorded, and the others go on. A worker that
hits anything other than a VirtprobeError records it too, with its traceback,
instead of losing the other engines' minutes of measurements; the CLI prints
that traceback, as it is a bug.

Ctrl-C/SIGTERM arrive in the main thread only. It then sets a flag that every
engine's backend checks before its next call: the call raises KeyboardInterrupt
in that engine's worker, whose cleanup guard removes the run's containers, as a
single-engine run does.
"""

from __future__ import annotations

import signal
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from functools import partial
from typing import Any

from virtprobe.benchmark.backend import Backend, Clock, Progress
from virtprobe.benchmark.connect import EngineTarget
from virtprobe.benchmark.interrupts import Terminated, signals_ignored, signals_interrupt
from virtprobe.benchmark.options import BenchOptions
from virtprobe.benchmark.result import BenchResult
from virtprobe.benchmark.runner import run_bench as default_run_bench
from virtprobe.benchmark.vm.baselines import vm_preflight
from virtprobe.detection.model import DetectResult
from virtprobe.errors import EXIT_ENGINE, Interrupted, VirtprobeError

# Calls that remove containers: they must go through after a Ctrl-C, for the sweep.
_CLEANUP_CALLS = frozenset({"remove", "remove_labelled", "labelled_containers", "list_labelled", "stop"})


@dataclass(frozen=True)
class EngineOutcome:
    """What one engine of the fleet gave: a result, or why there is none."""

    target: EngineTarget
    result: BenchResult | None
    error: str | None = None  # one line, what went wrong and what to do
    error_type: str | None = None  # "EngineError", "UnrunnableError", ..., or the bug's exception type
    exit_code: int | None = None  # the exit code a single-engine run would have had
    elapsed_s: float | None = None
    traceback: str | None = None  # only for an exception that is not a VirtprobeError (a bug)

    @property
    def ok(self) -> bool:
        return self.result is not None


class _Cancellable:
    """A backend whose next call raises KeyboardInterrupt once the fleet is interrupted."""

    def __init__(self, inner: Backend, cancelled: threading.Event) -> None:
        self._inner = inner
        self._cancelled = cancelled

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr) or name in _CLEANUP_CALLS:
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._cancelled.is_set():
                raise KeyboardInterrupt
            return attr(*args, **kwargs)

        return call


RunBench = Callable[..., BenchResult]
MakeBackend = Callable[[EngineTarget], Backend]
ProgressFor = Callable[[EngineTarget], Progress]


def _one_engine(
    target: EngineTarget,
    options: BenchOptions,
    detected: DetectResult,
    make_backend: MakeBackend,
    progress: Progress,
    clock: Clock,
    sleep: Callable[[float], None],
    run_bench: RunBench,
    cancelled: threading.Event,
) -> EngineOutcome:
    t0 = time.monotonic()
    try:
        backend = make_backend(target)
        result = run_bench(options, _Cancellable(backend, cancelled), detected, progress, clock, sleep)
    except VirtprobeError as err:
        return EngineOutcome(target, None, err.message, type(err).__name__, err.exit_code, time.monotonic() - t0)
    except Exception as err:  # a bug, kept with its traceback so the other engines' results survive
        return EngineOutcome(
            target,
            None,
            f"internal error ({type(err).__name__}: {err}); please report it with the traceback",
            type(err).__name__,
            1,
            time.monotonic() - t0,
            traceback.format_exc(),
        )
    return EngineOutcome(target, result, elapsed_s=time.monotonic() - t0)


def run_fleet(
    targets: Sequence[EngineTarget],
    options: BenchOptions,
    detected: DetectResult,
    *,
    make_backend: MakeBackend,
    progress_for: ProgressFor,
    run_bench: RunBench | None = None,
    clock: Clock = time.monotonic_ns,
    sleep: Callable[[float], None] = time.sleep,
    on_done: Callable[[EngineOutcome], None] | None = None,
) -> list[EngineOutcome]:
    """Bench every target, concurrently; the outcomes in the order of `targets`.

    Raises Interrupted on Ctrl-C/SIGTERM, after every engine has removed its containers.
    """
    if run_bench is None:
        # The VM options are checked once for the whole fleet, before any engine starts, and
        # every engine's run uses what that check found.
        plan = vm_preflight(list(options.vm), options.kernel, options.profiles)
        run_bench = partial(default_run_bench, vm_plan=plan)
    cancelled = threading.Event()
    outcomes: dict[int, EngineOutcome] = {}
    pool = ThreadPoolExecutor(max_workers=max(1, len(targets)), thread_name_prefix="virtprobe-engine")
    futures: dict[Future[EngineOutcome], int] = {}
    interrupt: KeyboardInterrupt | None = None
    try:
        with signals_interrupt(signal.SIGINT, signal.SIGTERM):
            for i, target in enumerate(targets):
                fut = pool.submit(
                    _one_engine, target, options, detected, make_backend, progress_for(target),
                    clock, sleep, run_bench, cancelled,
                )  # fmt: skip
                futures[fut] = i
            pending = set(futures)
            while pending:
                try:
                    done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
                except KeyboardInterrupt as err:
                    interrupt = err
                    cancelled.set()
                    break
                for fut in done:
                    outcomes[futures[fut]] = fut.result()
                    if on_done is not None:
                        on_done(outcomes[futures[fut]])
    finally:
        # After an interrupt, every worker sweeps its containers; a second Ctrl-C
        # must not abandon those sweeps half way.
        with signals_ignored():
            pool.shutdown(wait=True)
    if interrupt is not None:
        what = "terminated" if isinstance(interrupt, Terminated) else "interrupted"
        raise Interrupted(f"{what}; every engine has removed the containers of its run")
    return [outcomes[i] for i in range(len(targets))]


def fleet_exit_code(outcomes: Sequence[EngineOutcome]) -> int:
    """0 when every engine gave a result; EXIT_ENGINE (4) when any failed (the report is written first)."""
    return 0 if all(o.ok for o in outcomes) else EXIT_ENGINE
