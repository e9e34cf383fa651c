"""Container cycles: one timed create -> start -> wait -> remove, serially and on a pool of threads.

The probe prints its own CLOCK_MONOTONIC at its first instruction, the boot id of
the kernel it ran under and its CLOCK_REALTIME. "First instruction" is computed
only by clock.first_instruction, on the one clock clock.decide_clock allows for
that reading (ClockJudge below keeps the verdict of a runtime's cycles), so a
reading of one kernel is never subtracted from a reading of another.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait

from virtprobe.benchmark import clock as clock_mod
from virtprobe.benchmark.backend import Backend, Clock, Progress
from virtprobe.benchmark.engine import EngineInfo
from virtprobe.benchmark.guest import probe_image
from virtprobe.benchmark.interrupts import held_interrupts, signals_ignored
from virtprobe.benchmark.options import BenchOptions
from virtprobe.benchmark.result import CycleSample, ParallelSection
from virtprobe.errors import UnrunnableError, VirtprobeError

USER_OUTPUT_TIMEOUT_S = 30.0


def _s(ns: int) -> float:
    return ns / 1e9


class ClockJudge:
    """The clock verdict of one runtime's cycles: decided on the first probe report, held after.

    A later report that would get another verdict (a probe that suddenly reports
    another boot id) gets no first-instruction figure at all, and is counted in
    `disagreements`, rather than mixing two clocks in one column.
    """

    def __init__(
        self,
        engine: EngineInfo,
        local_boot_id: str | None,
        runtime_kind: str | None = None,
        offset: clock_mod.ClockOffset | None = None,
    ) -> None:
        self.engine = engine
        self.local_boot_id = local_boot_id
        self.runtime_kind = runtime_kind
        self.offset = offset
        self.verdict: clock_mod.ClockVerdict | None = None
        self.disagreements = 0
        self._lock = threading.Lock()

    def first_instruction_s(
        self, report: probe_image.ProbeReport, start_mono: int, start_real: int, exited_mono: int
    ) -> float | None:
        verdict = clock_mod.decide_clock(
            report, self.local_boot_id, self.engine, self.runtime_kind, self.offset, (start_mono, exited_mono)
        )
        with self._lock:
            if self.verdict is None:
                self.verdict = verdict
            elif verdict.mode != self.verdict.mode:
                self.disagreements += 1
                return None
            held = self.verdict
        got = clock_mod.first_instruction(held, report, start_mono, start_real)
        return None if got is None else got.value_s


def _remove_quietly(backend: Backend, cid: str) -> None:
    """Remove a container whose cycle failed; the error being raised is the one that matters."""
    try:
        with held_interrupts():
            backend.remove(cid)
    except VirtprobeError:
        pass  # the run's cleanup guard sweeps it by its label


def one_cycle(
    backend: Backend,
    clock: Clock,
    image: str,
    run_id: str,
    index: int,
    warmup: bool,
    probe: bool,
    runtime: str | None = None,
    judge: ClockJudge | None = None,
    realtime: Clock = time.time_ns,
) -> CycleSample:
    """create -> start -> wait -> (logs) -> remove of one container, every phase timed.

    Without a judge no first-instruction figure is computed (no clock was cleared).
    A container that was created and then failed is removed before the error rises.
    """
    with held_interrupts():
        t_create = clock()
        cid = backend.create(image, run_id, runtime=runtime)
        t_created = clock()
    try:
        first_output = None if probe else backend.attach_first_output(cid, clock)
        with held_interrupts():
            t_start_req = clock()
            real_start_req = realtime()
            backend.start(cid)
            t_started = clock()
        code = backend.wait(cid)
        t_exited = clock()
        first_instruction_s = first_output_s = None
        if probe:
            out = backend.logs(cid)
            if code != 0:
                raise UnrunnableError(f"the probe container exited with status {code}: {out[:200]!r}")
            report = probe_image.parse_probe_report(out)
            if report is None:
                raise UnrunnableError(f"the probe printed no CLOCK_MONOTONIC reading: {out[:200]!r}")
            if judge is not None:
                first_instruction_s = judge.first_instruction_s(report, t_start_req, real_start_req, t_exited)
        else:
            got = first_output.result(USER_OUTPUT_TIMEOUT_S) if first_output is not None else None
            first_output_s = _s(got - t_start_req) if got is not None else None
    except BaseException:
        _remove_quietly(backend, cid)
        raise
    with held_interrupts():
        t_remove = clock()
        backend.remove(cid)
        t_removed = clock()
    return CycleSample(
        index=index,
        warmup=warmup,
        create_s=_s(t_created - t_create),
        start_s=_s(t_started - t_start_req),
        first_instruction_s=first_instruction_s,
        first_output_s=first_output_s,
        run_to_exit_s=_s(t_exited - t_started),
        remove_s=_s(t_removed - t_remove),
        cycle_s=_s(t_removed - t_create),
        exit_code=code,
        timeline_ns=(t_create, t_created, t_start_req, t_started, t_exited, t_remove, t_removed),
    )


def run_samples(
    backend: Backend,
    clock: Clock,
    image: str,
    run_id: str,
    options: BenchOptions,
    probe: bool,
    progress: Progress,
    judge: ClockJudge | None = None,
    realtime: Clock = time.time_ns,
) -> list[CycleSample]:
    """Warmup then measured runs of the default runtime, serially; the sample index is the run order."""
    got = run_interleaved(backend, clock, image, run_id, options, probe, progress, [(None, judge)], realtime)
    return got[0][0]


def run_interleaved(
    backend: Backend,
    clock: Clock,
    image: str,
    run_id: str,
    options: BenchOptions,
    probe: bool,
    progress: Progress,
    runtimes: list[tuple[str | None, ClockJudge | None]],
    realtime: Clock = time.time_ns,
    results: list[tuple[list[CycleSample], str | None]] | None = None,
) -> list[tuple[list[CycleSample], str | None]]:
    """Round i runs cycle i of every runtime in turn, so drift on the host hits them all alike.

    Returns (samples, refused) per runtime, in order. A named runtime is first
    checked to be the one the engine really uses (backend.check_runtime). A runtime
    that fails that check, or whose container cannot start (UnrunnableError: the
    engine refused it), is dropped from later rounds with that message as its
    reason; the others go on. `results`, when given, is filled in place as cycles
    finish, so a caller keeps the samples measured before the engine died.
    """
    total = options.warmup + options.runs
    if results is None:
        results = []
    results[:] = [([], None) for _ in runtimes]
    for k, (runtime, _) in enumerate(runtimes):
        if runtime is None:
            continue
        try:
            # Before any timing: an engine may accept a runtime name and use another.
            with held_interrupts():
                backend.check_runtime(image, run_id, runtime)
        except UnrunnableError as err:
            if len(runtimes) == 1:
                raise
            results[k] = ([], err.message)
    for i in range(total):
        for k, (runtime, judge) in enumerate(runtimes):
            samples, refused = results[k]
            if refused is not None:
                continue
            try:
                samples.append(
                    one_cycle(backend, clock, image, run_id, i, i < options.warmup, probe, runtime, judge, realtime)
                )
            except UnrunnableError as err:
                if len(runtimes) == 1:
                    raise
                results[k] = (samples, err.message)
        progress("cycles", i + 1, total)
    return results


def run_parallel(
    backend: Backend,
    clock: Clock,
    image: str,
    run_id: str,
    parallel: int,
    n: int,
    probe: bool,
    progress: Progress,
    runtime: str | None = None,
    judge: ClockJudge | None = None,
) -> ParallelSection:
    """n full cycles on a pool of `parallel` threads: containers per second, cycle under load."""
    samples, wall = parallel_cycles(backend, clock, image, run_id, parallel, n, probe, progress, runtime, judge)
    return ParallelSection(
        parallel=parallel,
        n=len(samples),
        wall_s=_s(wall),
        containers_per_s=len(samples) / _s(wall) if wall > 0 else None,
        cycle_s=tuple(s.cycle_s for s in samples if s.cycle_s is not None),
        start_s=tuple(s.start_s for s in samples if s.start_s is not None),
    )


def parallel_cycles(
    backend: Backend,
    clock: Clock,
    image: str,
    run_id: str,
    parallel: int,
    n: int,
    probe: bool,
    progress: Progress,
    runtime: str | None = None,
    judge: ClockJudge | None = None,
    task: str = "parallel",
) -> tuple[list[CycleSample], int]:
    """n full cycles on a pool of `parallel` threads: every sample (in submission order) and the wall time in ns."""
    stop = threading.Event()
    done = 0
    lock = threading.Lock()

    def job(i: int) -> CycleSample | None:
        nonlocal done
        if stop.is_set():
            return None
        sample = one_cycle(backend, clock, image, run_id, i, False, probe, runtime, judge)
        with lock:
            done += 1
            progress(task, done, n)
        return sample

    pool = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="virtprobe-bench")
    t0 = clock()
    futures: list[Future[CycleSample | None]] = []
    try:
        futures = [pool.submit(job, i) for i in range(n)]
        # Wake up regularly so that Ctrl-C/SIGTERM reach the main thread promptly.
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_EXCEPTION)
            for f in finished:
                f.result()  # re-raise a worker's error here
    except BaseException:
        # Let running cycles finish (their containers carry the run label), start no
        # new ones; the guard then removes whatever is left.
        stop.set()
        # The drain is short (cycles in flight) and must not be cut: a worker's
        # create could otherwise land after the guard's sweep.
        with signals_ignored():
            pool.shutdown(wait=True, cancel_futures=True)
        raise
    wall = clock() - t0
    pool.shutdown(wait=True)
    return [s for s in (f.result() for f in futures) if s is not None], wall
