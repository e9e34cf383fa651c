"""Container cycles: one timed create -> start -> wait -> remove, serially and on a pool of threads.

The probe prints its own CLOCK_MONOTONIC at its first instruction; containers share the
host's monotonic clock (no time namespace is created), so "first instruction" is the
probe's reading minus the host's reading taken just before the start request.
"""

from __future__ import annotations

import threading
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait

from virtprobe.benchmark.backend import Backend, Clock, Progress
from virtprobe.benchmark.guest import probe_image
from virtprobe.benchmark.interrupts import held_interrupts, signals_ignored
from virtprobe.benchmark.options import BenchOptions
from virtprobe.benchmark.result import CycleSample, ParallelSection
from virtprobe.errors import UnrunnableError

USER_OUTPUT_TIMEOUT_S = 30.0


def _s(ns: int) -> float:
    return ns / 1e9


def one_cycle(
    backend: Backend, clock: Clock, image: str, run_id: str, index: int, warmup: bool, probe: bool
) -> CycleSample:
    """create -> start -> wait -> (logs) -> remove of one container, every phase timed."""
    with held_interrupts():
        t_create = clock()
        cid = backend.create(image, run_id)
        t_created = clock()
    first_output = None if probe else backend.attach_first_output(cid, clock)
    with held_interrupts():
        t_start_req = clock()
        backend.start(cid)
        t_started = clock()
    code = backend.wait(cid)
    t_exited = clock()
    first_instruction_s = first_output_s = None
    if probe:
        out = backend.logs(cid)
        if code != 0:
            raise UnrunnableError(f"the probe container exited with status {code}: {out[:200]!r}")
        probe_ns = probe_image.parse_probe_output(out)
        if probe_ns is None:
            raise UnrunnableError(f"the probe printed no CLOCK_MONOTONIC reading: {out[:200]!r}")
        first_instruction_s = _s(probe_ns - t_start_req)
    else:
        got = first_output.result(USER_OUTPUT_TIMEOUT_S) if first_output is not None else None
        first_output_s = _s(got - t_start_req) if got is not None else None
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
    )


def run_samples(
    backend: Backend,
    clock: Clock,
    image: str,
    run_id: str,
    options: BenchOptions,
    probe: bool,
    progress: Progress,
) -> list[CycleSample]:
    """Warmup then measured runs, serially; the sample index is the run order."""
    total = options.warmup + options.runs
    samples = []
    for i in range(total):
        samples.append(one_cycle(backend, clock, image, run_id, i, i < options.warmup, probe))
        progress("cycles", i + 1, total)
    return samples


def run_parallel(
    backend: Backend,
    clock: Clock,
    image: str,
    run_id: str,
    parallel: int,
    n: int,
    probe: bool,
    progress: Progress,
) -> ParallelSection:
    """n full cycles on a pool of `parallel` threads: containers per second, cycle under load."""
    stop = threading.Event()
    done = 0
    lock = threading.Lock()

    def job(i: int) -> CycleSample | None:
        nonlocal done
        if stop.is_set():
            return None
        sample = one_cycle(backend, clock, image, run_id, i, False, probe)
        with lock:
            done += 1
            progress("parallel", done, n)
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
    samples = [s for s in (f.result() for f in futures) if s is not None]
    return ParallelSection(
        parallel=parallel,
        n=len(samples),
        wall_s=_s(wall),
        containers_per_s=len(samples) / _s(wall) if wall > 0 else None,
        cycle_s=tuple(s.cycle_s for s in samples if s.cycle_s is not None),
        start_s=tuple(s.start_s for s in samples if s.start_s is not None),
    )
