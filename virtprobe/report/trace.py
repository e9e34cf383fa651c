"""`bench --trace FILE`: the run as Chrome trace-event JSON, for Perfetto (ui.perfetto.dev) and chrome://tracing.

The Trace Event Format (Google, "Trace Event Format" document, JSON Object Format):
`{"traceEvents": [...], "displayTimeUnit": "ms"}`. Each part of the run (a runtime's
serial cycles, cold and warm image cycles, a density level, a concurrency level) is
a process (`pid`) named by a `process_name` metadata event; each container is a
track of its own (`tid`, named by `thread_name`); each phase of its cycle is a
complete event (`ph: "X"`, `ts` and `dur` in whole microseconds) nested in a `cycle`
slice, and the probe's first instruction is an instant event (`ph: "i"`). Every
timestamp is CLOCK_MONOTONIC from the samples' `timeline_ns`, shifted so the run's
first edge is 0: one clock for the whole file. Samples without a timeline (reports
before 1.2) are left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from virtprobe.benchmark.result import BenchResult, CycleSample

# (name, from edge, to edge) over result.TIMELINE_POINTS: create, created, start, started, exited, remove, removed
SLICES = (("create", 0, 1), ("start", 2, 3), ("run to exit", 3, 4), ("remove", 5, 6))


def _groups(result: BenchResult) -> list[tuple[str, tuple[CycleSample, ...]]]:
    """(process name, samples) for every part of the run that has cycles, in the report's order."""
    out: list[tuple[str, tuple[CycleSample, ...]]] = []
    for sec in result.runtime_sections:
        out.append((f"cycles: runtime {sec.runtime or 'default'}", sec.samples))
    if result.image_cache is not None:
        out.append(("image cache: cold", result.image_cache.cold))
        out.append(("image cache: warm", result.image_cache.warm))
    if result.density is not None:
        out += [(f"density: {lv.idle} idle containers", lv.samples) for lv in result.density.levels]
    if result.scaling is not None:
        out += [(f"parallel: {lv.parallel} at a time", lv.samples) for lv in result.scaling.levels]
    return [(name, samples) for name, samples in out if any(s.timeline_ns for s in samples)]


def _us(ns: int, origin: int) -> int:
    """Whole microseconds since the origin. Every edge is floored alone and a slice's `dur` is the
    difference of its two floored edges, so ts + dur of a phase is exactly the ts of the edge it
    ends on: nested slices nest exactly for every reader (floats of nanoseconds would not always)."""
    return (ns - origin) // 1000


def _dur(a: int, b: int, origin: int) -> int:
    return _us(b, origin) - _us(a, origin)


def trace_events(result: BenchResult) -> list[dict[str, Any]]:
    groups = _groups(result)
    edges = [t for _, samples in groups for s in samples if s.timeline_ns for t in s.timeline_ns]
    if not edges:
        return []
    origin = min(edges)
    events: list[dict[str, Any]] = []
    for pid, (name, samples) in enumerate(groups, start=1):
        events.append({"name": "process_name", "ph": "M", "pid": pid, "tid": 0, "args": {"name": name}})
        events.append({"name": "process_sort_index", "ph": "M", "pid": pid, "tid": 0, "args": {"sort_index": pid}})
        for tid, sample in enumerate((s for s in samples if s.timeline_ns), start=1):
            events += _container(sample, pid, tid, origin)
    return events


def _container(sample: CycleSample, pid: int, tid: int, origin: int) -> Iterable[dict[str, Any]]:
    t = sample.timeline_ns
    assert t is not None
    label = f"container {sample.index}" + (" (warmup)" if sample.warmup else "")
    yield {"name": "thread_name", "ph": "M", "pid": pid, "tid": tid, "args": {"name": label}}
    args = {"index": sample.index, "warmup": sample.warmup, "exit_code": sample.exit_code}
    yield {"name": "cycle", "cat": "cycle", "ph": "X", "pid": pid, "tid": tid,
           "ts": _us(t[0], origin), "dur": _dur(t[0], t[6], origin), "args": args}  # fmt: skip
    for name, a, b in SLICES:
        yield {"name": name, "cat": "phase", "ph": "X", "pid": pid, "tid": tid,
               "ts": _us(t[a], origin), "dur": _dur(t[a], t[b], origin)}  # fmt: skip
    if sample.first_instruction_s is not None:
        ts = _us(t[2] + round(sample.first_instruction_s * 1e9), origin)
        yield {"name": "first instruction", "cat": "probe", "ph": "i", "s": "t", "pid": pid, "tid": tid, "ts": ts}


def trace_document(result: BenchResult) -> dict[str, Any]:
    return {
        "traceEvents": trace_events(result),
        "displayTimeUnit": "ms",
        "otherData": {"tool": "virtprobe", "run_id": result.run_id, "clock": "CLOCK_MONOTONIC, from the first edge"},
    }


def trace_text(result: BenchResult) -> str:
    return json.dumps(trace_document(result), indent=1, sort_keys=True, allow_nan=False) + "\n"
