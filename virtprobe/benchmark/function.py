"""`bench --function MS`: the serverless cycle, a function of MS ms of CPU called cold, warm and paused.

The function is the probe image's /spin (guest/probe_image.py): it prints its own
CLOCK_MONOTONIC at its start and at its end, so its own work (end - start) is a
difference on one clock whatever kernel it ran under. Times relative to the
request (request -> first instruction, request -> end) compare the function's
clock with virtprobe's, so they are computed only when the runtime's probe
cycles proved the two are the same kernel's CLOCK_MONOTONIC (clock.SAME_KERNEL)
and the reading falls inside the call's window; /spin prints no CLOCK_REALTIME,
so an engine-offset verdict gives client-side figures only.

- cold: a new container per call: create -> start -> (function) -> exit -> removed;
- warm: one kept container (the probe in pause mode), each call an exec of /spin;
- paused: another kept container, paused between calls: unpause -> exec -> pause.
"""

from __future__ import annotations

from virtprobe.benchmark import clock as clock_mod
from virtprobe.benchmark.backend import Backend, Clock, Progress
from virtprobe.benchmark.guest import probe_image
from virtprobe.benchmark.interrupts import held_interrupts
from virtprobe.benchmark.result import FunctionCall, FunctionMode, FunctionSection
from virtprobe.errors import UnrunnableError

DEFAULT_FUNCTION_MS = 100


def _s(ns: int) -> float:
    return ns / 1e9


def _relative(
    verdict: clock_mod.ClockVerdict | None, spin: tuple[int, int], request_ns: int, done_ns: int
) -> tuple[float | None, float | None]:
    """(request -> first instruction, request -> end) when the function's clock is ours, else (None, None)."""
    start, end = spin
    if verdict is None or verdict.mode != clock_mod.SAME_KERNEL or not request_ns <= start <= end <= done_ns:
        return None, None
    return _s(start - request_ns), _s(end - request_ns)


def _spin(out: bytes) -> tuple[int, int]:
    got = probe_image.parse_spin_output(out)
    if got is None:
        raise UnrunnableError(f"the function probe printed no start and end readings: {out[:200]!r}")
    return got


def _cold(
    backend: Backend,
    clock: Clock,
    image: str,
    run_id: str,
    ms: int,
    runtime: str | None,
    verdict: clock_mod.ClockVerdict | None,
    index: int,
    warmup: bool,
) -> FunctionCall:
    with held_interrupts():
        t0 = clock()
        cid = backend.create(
            image, run_id, command=[str(ms)], role="function", runtime=runtime, entrypoint=[probe_image.SPIN_PATH]
        )
    try:
        with held_interrupts():
            t_req = clock()
            backend.start(cid)
        code = backend.wait(cid)
        t_exit = clock()
        out = backend.logs(cid)
        if code != 0:
            raise UnrunnableError(f"the function container exited with status {code}: {out[:200]!r}")
    finally:
        with held_interrupts():
            backend.remove(cid)
    t_removed = clock()
    spin = _spin(out)
    first, end = _relative(verdict, spin, t_req, t_exit)
    return FunctionCall(index, warmup, _s(t_removed - t0), _s(spin[1] - spin[0]), first, end)


def _kept(
    backend: Backend,
    clock: Clock,
    cid: str,
    ms: int,
    verdict: clock_mod.ClockVerdict | None,
    index: int,
    warmup: bool,
    paused: bool,
) -> FunctionCall:
    command = [probe_image.SPIN_PATH, str(ms)]
    with held_interrupts():
        t0 = clock()
        if paused:
            backend.unpause(cid)
        t_req = clock()
        out = backend.exec_run(cid, command)
        t_done = clock()
        if paused:
            backend.pause(cid)
        t1 = clock()
    spin = _spin(out)
    first, end = _relative(verdict, spin, t_req, t_done)
    return FunctionCall(index, warmup, _s(t1 - t0), _s(spin[1] - spin[0]), first, end)


def run_function(
    backend: Backend,
    clock: Clock,
    image: str,
    run_id: str,
    ms: int,
    runs: int,
    warmup: int,
    runtime: str | None,
    verdict: clock_mod.ClockVerdict | None,
    progress: Progress,
) -> FunctionSection:
    """cold, warm and paused calls of the function; a mode the engine refuses carries its reason."""
    total = warmup + runs
    modes: list[FunctionMode] = []
    for mode in ("cold", "warm", "paused"):
        calls: list[FunctionCall] = []
        refused = None
        kept: str | None = None
        try:
            if mode != "cold":
                with held_interrupts():
                    kept = backend.create(
                        image, run_id, command=[probe_image.PAUSE_ARG], role="function", runtime=runtime
                    )
                    backend.start(kept)
                    if mode == "paused":
                        backend.pause(kept)
            for i in range(total):
                if kept is None:
                    call = _cold(backend, clock, image, run_id, ms, runtime, verdict, i, i < warmup)
                else:
                    call = _kept(backend, clock, kept, ms, verdict, i, i < warmup, mode == "paused")
                calls.append(call)
                progress(f"function {mode}", i + 1, total)
        except UnrunnableError as err:
            refused = err.message
        finally:
            if kept is not None:
                with held_interrupts():
                    backend.remove(kept)
        modes.append(FunctionMode(mode, tuple(calls), refused))
    return FunctionSection(function_ms=ms, runtime=runtime, modes=tuple(modes), clock=verdict)
