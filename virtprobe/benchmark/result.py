"""The typed result of `virtprobe bench`: every raw sample, and the setup that produced it.

Frozen dataclasses with units in their field names. `to_dict`/`from_dict` are written
by hand, so the JSON format (report/schemas/bench-1.x.schema.json) is a decision and
not an accident of attribute names; the envelope around it (schema_version, kind,
tool, created_utc) belongs to report/document.py. Summaries are never stored here:
they are derived from the raw samples on demand (`ContainerSection.summary`), so a
file's numbers cannot disagree with its samples. Unknown keys are ignored on load, as
the 1.x schemas promise later minor versions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from virtprobe import stats
from virtprobe.benchmark.clock import ClockVerdict
from virtprobe.benchmark.engine import EngineInfo
from virtprobe.benchmark.hostmem import HostMemFigure
from virtprobe.benchmark.options import BenchOptions

__all__ = ["EngineInfo"]  # re-exported: the engine's description lives in engine.py

# The phases of one container cycle, in the order they happen; `report/labels.py`
# holds the one table of what every renderer calls them. `Phase` is the type the API
# takes (`result.container.summary("start_s")`), so mypy refuses a misspelt metric.
Phase = Literal[
    "create_s",
    "start_s",
    "first_instruction_s",
    "first_output_s",
    "run_to_exit_s",
    "remove_s",
    "cycle_s",
]
PHASES: tuple[Phase, ...] = get_args(Phase)
FLOOR_LISTS = ("fork_exec_s", "unshare_s", "runc_s", "crun_s")
# The edges of one cycle on CLOCK_MONOTONIC, in order (CycleSample.timeline_ns): create
# request, created, start request, started, exited, remove request, removed.
TIMELINE_POINTS = ("create", "created", "start", "started", "exited", "remove", "removed")


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else None


def _int(x: Any) -> int | None:
    return int(x) if isinstance(x, int) and not isinstance(x, bool) else None


def _nums(xs: Any) -> tuple[float, ...]:
    return tuple(v for v in (_num(x) for x in xs or ()) if v is not None)


def _opt_nums(xs: Any) -> tuple[float, ...] | None:
    return None if xs is None else _nums(xs)


def _strs(xs: Any) -> tuple[str, ...]:
    return tuple(str(x) for x in xs or ())


def _int_map(d: Any) -> dict[str, int] | None:
    if not isinstance(d, Mapping):
        return None
    return {str(k): int(v) for k, v in d.items() if _int(v) is not None}


def _list(xs: tuple[float, ...] | None) -> list[float] | None:
    return None if xs is None else list(xs)


@dataclass(frozen=True)
class CycleSample:
    """One container's create -> start -> wait -> remove, each phase timed (seconds)."""

    index: int  # the run order, warmups included
    warmup: bool
    create_s: float | None
    start_s: float | None
    first_instruction_s: float | None  # start request to the probe's first instruction
    first_output_s: float | None  # start request to a user image's first byte of output
    run_to_exit_s: float | None
    remove_s: float | None
    cycle_s: float | None
    exit_code: int | None = None
    # CLOCK_MONOTONIC ns at each edge of the cycle (TIMELINE_POINTS), the one clock of
    # every sample of a run: what `bench --trace` draws. None in reports before 1.2.
    timeline_ns: tuple[int, ...] | None = None

    def phase(self, name: Phase) -> float | None:
        if name not in PHASES:
            raise KeyError(name)
        value: float | None = getattr(self, name)
        return value

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "warmup": self.warmup,
            **{p: self.phase(p) for p in PHASES},
            "exit_code": self.exit_code,
            "timeline_ns": None if self.timeline_ns is None else list(self.timeline_ns),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CycleSample:
        line = d.get("timeline_ns")
        points = tuple(v for v in (_int(x) for x in line) if v is not None) if isinstance(line, list) else None
        return cls(
            index=int(d["index"]),
            warmup=bool(d["warmup"]),
            exit_code=_int(d.get("exit_code")),
            timeline_ns=points if points is not None and len(points) == len(TIMELINE_POINTS) else None,
            **{p: _num(d.get(p)) for p in PHASES},
        )


def measured_values(samples: Iterable[CycleSample], phase: Phase) -> list[float]:
    """The non-warmup values of one phase, in run order: the one definition of "measured"."""
    return [v for s in samples if not s.warmup and (v := s.phase(phase)) is not None]


@dataclass(frozen=True)
class ImageInfo:
    name: str | None
    probe: bool  # virtprobe's own probe image (first-instruction timing) or a user's image
    build_s: float | None = None  # time to build the probe image; None when it was reused

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "probe": self.probe, "build_s": self.build_s}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ImageInfo:
        return cls(name=d.get("name"), probe=bool(d.get("probe")), build_s=_num(d.get("build_s")))


def _figure(d: Any) -> HostMemFigure | None:
    return HostMemFigure.from_dict(d) if isinstance(d, Mapping) else None


@dataclass(frozen=True)
class MemorySection:
    """N idle containers: per-container cgroup and per-container-process figures, and host-wide growth.

    The host-wide per-container values are None when not measurable (below zero or
    within the noise of idle readings): `host_available` and `host_kernel_anon`
    then carry the raw readings and the reason. `host_side_reason` is set when
    readings of this machine cannot describe the engine's containers at all (an
    engine in a VM or on another host): then every host-side figure is None.
    """

    n: int
    cgroup_bytes: tuple[float, ...]
    process_pss_bytes: tuple[float, ...] | None  # PSS of the per-container process (containerd-shim, conmon)
    host_available_drop_bytes_per_container: float | None
    host_kernel_anon_growth_bytes_per_container: float | None
    host_meminfo_before_bytes: dict[str, int] | None = None
    host_meminfo_after_bytes: dict[str, int] | None = None
    settle_s: float | None = None
    method: str | None = None
    notes: tuple[str, ...] = ()
    process_name: str | None = None  # as /proc/<pid>/comm names it: "containerd-shim", "conmon"
    host_available: HostMemFigure | None = None
    host_kernel_anon: HostMemFigure | None = None
    host_side_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "cgroup_bytes": list(self.cgroup_bytes),
            "process_name": self.process_name,
            "process_pss_bytes": _list(self.process_pss_bytes),
            "host_available_drop_bytes_per_container": self.host_available_drop_bytes_per_container,
            "host_kernel_anon_growth_bytes_per_container": self.host_kernel_anon_growth_bytes_per_container,
            "host_available": None if self.host_available is None else self.host_available.to_dict(),
            "host_kernel_anon": None if self.host_kernel_anon is None else self.host_kernel_anon.to_dict(),
            "host_side_reason": self.host_side_reason,
            "host_meminfo_before_bytes": self.host_meminfo_before_bytes,
            "host_meminfo_after_bytes": self.host_meminfo_after_bytes,
            "settle_s": self.settle_s,
            "method": self.method,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> MemorySection:
        return cls(
            n=_int(d.get("n")) or 0,
            cgroup_bytes=_nums(d.get("cgroup_bytes")),
            process_pss_bytes=_opt_nums(d.get("process_pss_bytes")),
            host_available_drop_bytes_per_container=_num(d.get("host_available_drop_bytes_per_container")),
            host_kernel_anon_growth_bytes_per_container=_num(d.get("host_kernel_anon_growth_bytes_per_container")),
            host_meminfo_before_bytes=_int_map(d.get("host_meminfo_before_bytes")),
            host_meminfo_after_bytes=_int_map(d.get("host_meminfo_after_bytes")),
            settle_s=_num(d.get("settle_s")),
            method=d.get("method"),
            notes=_strs(d.get("notes")),
            process_name=d.get("process_name"),
            host_available=_figure(d.get("host_available")),
            host_kernel_anon=_figure(d.get("host_kernel_anon")),
            host_side_reason=d.get("host_side_reason"),
        )


@dataclass(frozen=True)
class ParallelSection:
    """`--parallel P`: full cycles on P threads at once."""

    parallel: int
    n: int
    wall_s: float | None
    containers_per_s: float | None
    cycle_s: tuple[float, ...]
    start_s: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "parallel": self.parallel,
            "n": self.n,
            "wall_s": self.wall_s,
            "containers_per_s": self.containers_per_s,
            "cycle_s": list(self.cycle_s),
            "start_s": list(self.start_s),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ParallelSection:
        return cls(
            parallel=_int(d.get("parallel")) or 0,
            n=_int(d.get("n")) or 0,
            wall_s=_num(d.get("wall_s")),
            containers_per_s=_num(d.get("containers_per_s")),
            cycle_s=_nums(d.get("cycle_s")),
            start_s=_nums(d.get("start_s")),
        )


@dataclass(frozen=True)
class FloorSection:
    """`--floor`: the same probe started without the engine, cheapest first."""

    fork_exec_s: tuple[float, ...] | None
    unshare_s: tuple[float, ...] | None
    runc_s: tuple[float, ...] | None
    crun_s: tuple[float, ...] | None
    notes: tuple[str, ...] = ()

    def samples(self, name: str) -> tuple[float, ...]:
        if name not in FLOOR_LISTS:
            raise KeyError(name)
        got: tuple[float, ...] | None = getattr(self, name)
        return got or ()

    def to_dict(self) -> dict[str, Any]:
        return {**{k: _list(getattr(self, k)) for k in FLOOR_LISTS}, "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FloorSection:
        return cls(
            fork_exec_s=_opt_nums(d.get("fork_exec_s")),
            unshare_s=_opt_nums(d.get("unshare_s")),
            runc_s=_opt_nums(d.get("runc_s")),
            crun_s=_opt_nums(d.get("crun_s")),
            notes=_strs(d.get("notes")),
        )


@dataclass(frozen=True)
class ContainerSection:
    """The cycles of one OCI runtime (the engine's default, or one of --runtime), with memory."""

    image: ImageInfo | None
    timing_basis: str | None  # "first_instruction" (the probe) or "first_output" (a user image)
    samples: tuple[CycleSample, ...]
    memory: MemorySection | None = None
    parallel: ParallelSection | None = None
    floor: FloorSection | None = None
    runtime: str | None = None  # the runtime's name as the engine offers it (None: a 1.0 report)
    runtime_kind: str | None = None  # its family: runc, crun, runsc, kata, youki, krun
    clock: ClockVerdict | None = None  # which clock first-instruction times use, and why
    refused: str | None = None  # why the runtime ran no container (its samples are then empty)

    def measured(self, phase: Phase) -> list[float]:
        return measured_values(self.samples, phase)

    def summary(self, phase: Phase) -> stats.Summary:
        return stats.summarize(self.measured(phase))

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": None if self.image is None else self.image.to_dict(),
            "timing_basis": self.timing_basis,
            "samples": [s.to_dict() for s in self.samples],
            "memory": None if self.memory is None else self.memory.to_dict(),
            "parallel": None if self.parallel is None else self.parallel.to_dict(),
            "floor": None if self.floor is None else self.floor.to_dict(),
            "runtime": self.runtime,
            "runtime_kind": self.runtime_kind,
            "clock": None if self.clock is None else self.clock.to_dict(),
            "refused": self.refused,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ContainerSection:
        image = d.get("image")
        memory, parallel, floor, clock = d.get("memory"), d.get("parallel"), d.get("floor"), d.get("clock")
        return cls(
            runtime=d.get("runtime"),
            runtime_kind=d.get("runtime_kind"),
            clock=ClockVerdict.from_dict(clock) if isinstance(clock, Mapping) else None,
            refused=d.get("refused"),
            image=ImageInfo.from_dict(image) if isinstance(image, Mapping) else None,
            timing_basis=d.get("timing_basis"),
            samples=tuple(CycleSample.from_dict(s) for s in d.get("samples") or ()),
            memory=MemorySection.from_dict(memory) if isinstance(memory, Mapping) else None,
            parallel=ParallelSection.from_dict(parallel) if isinstance(parallel, Mapping) else None,
            floor=FloorSection.from_dict(floor) if isinstance(floor, Mapping) else None,
        )


# --- the serverless cycle (--function MS) ---------------------------------------------------

FUNCTION_MODES = ("cold", "warm", "paused")


@dataclass(frozen=True)
class FunctionCall:
    """One call of the function probe. Request-relative times exist only on a clock the probe shares."""

    index: int
    warmup: bool
    wall_s: float | None  # the whole call on virtprobe's clock (cold: create request -> removed)
    work_s: float | None  # the function's own end - start, on the clock of the kernel it ran under
    first_instruction_s: float | None = None  # request -> the function's first instruction
    end_s: float | None = None  # request -> the function's end

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "warmup": self.warmup,
            "wall_s": self.wall_s,
            "work_s": self.work_s,
            "first_instruction_s": self.first_instruction_s,
            "end_s": self.end_s,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FunctionCall:
        return cls(
            index=_int(d.get("index")) or 0,
            warmup=bool(d.get("warmup")),
            wall_s=_num(d.get("wall_s")),
            work_s=_num(d.get("work_s")),
            first_instruction_s=_num(d.get("first_instruction_s")),
            end_s=_num(d.get("end_s")),
        )


@dataclass(frozen=True)
class FunctionMode:
    """cold (a container per call), warm (exec into one kept container) or paused (unpause/exec/pause)."""

    mode: str
    calls: tuple[FunctionCall, ...]
    refused: str | None = None  # why this mode could not run (the others still did)

    def measured(self, attr: str) -> list[float]:
        return [v for c in self.calls if not c.warmup and (v := getattr(c, attr)) is not None]

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "calls": [c.to_dict() for c in self.calls], "refused": self.refused}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FunctionMode:
        return cls(
            mode=str(d.get("mode") or ""),
            calls=tuple(FunctionCall.from_dict(c) for c in d.get("calls") or () if isinstance(c, Mapping)),
            refused=d.get("refused"),
        )


@dataclass(frozen=True)
class FunctionSection:
    """`--function MS`: a function that spins MS ms of CPU, called cold, warm and paused."""

    function_ms: int
    runtime: str | None
    modes: tuple[FunctionMode, ...]
    clock: ClockVerdict | None = None  # the clock of the cold calls' request-relative times

    def mode(self, name: str) -> FunctionMode | None:
        return next((m for m in self.modes if m.mode == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "function_ms": self.function_ms,
            "runtime": self.runtime,
            "modes": [m.to_dict() for m in self.modes],
            "clock": None if self.clock is None else self.clock.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FunctionSection:
        clock = d.get("clock")
        return cls(
            function_ms=_int(d.get("function_ms")) or 0,
            runtime=d.get("runtime"),
            modes=tuple(FunctionMode.from_dict(m) for m in d.get("modes") or () if isinstance(m, Mapping)),
            clock=ClockVerdict.from_dict(clock) if isinstance(clock, Mapping) else None,
        )


# --- VM baselines -------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """Where a simulated baseline's figures come from: a paper, dataset or documentation."""

    citation: str
    url: str | None
    host: str | None
    method: str | None

    def text(self) -> str:
        """The source in one line, for every output format."""
        parts = [self.citation, self.host and f"host {self.host}", self.url]
        return "; ".join(str(p) for p in parts if p)

    def to_dict(self) -> dict[str, Any]:
        return {"citation": self.citation, "url": self.url, "host": self.host, "method": self.method}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Source:
        return cls(citation=str(d.get("citation") or ""), url=d.get("url"), host=d.get("host"), method=d.get("method"))


@dataclass(frozen=True)
class VmMemory:
    guest_ram_bytes: float | None
    overhead_bytes: float | None
    committed_bytes: float | None
    peak_rss_bytes: float | None = None
    pss_bytes: float | None = None
    peak_rss_samples_bytes: tuple[float, ...] | None = None
    pss_samples_bytes: tuple[float, ...] | None = None

    def per_instance(self) -> tuple[float | None, str]:
        """The best memory figure of one instance, and what it is."""
        for value, label in (
            (self.pss_bytes, "PSS"),
            (self.peak_rss_bytes, "peak RSS"),
            (self.committed_bytes, "committed"),
        ):
            if value is not None and value > 0:
                return float(value), label
        return None, "unknown"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "guest_ram_bytes": self.guest_ram_bytes,
            "overhead_bytes": self.overhead_bytes,
            "committed_bytes": self.committed_bytes,
            "peak_rss_bytes": self.peak_rss_bytes,
            "pss_bytes": self.pss_bytes,
        }
        if self.peak_rss_samples_bytes is not None:
            out["peak_rss_samples_bytes"] = list(self.peak_rss_samples_bytes)
        if self.pss_samples_bytes is not None:
            out["pss_samples_bytes"] = list(self.pss_samples_bytes)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VmMemory:
        return cls(
            guest_ram_bytes=_num(d.get("guest_ram_bytes")),
            overhead_bytes=_num(d.get("overhead_bytes")),
            committed_bytes=_num(d.get("committed_bytes")),
            peak_rss_bytes=_num(d.get("peak_rss_bytes")),
            pss_bytes=_num(d.get("pss_bytes")),
            peak_rss_samples_bytes=_opt_nums(d.get("peak_rss_samples_bytes")),
            pss_samples_bytes=_opt_nums(d.get("pss_samples_bytes")),
        )


SIMULATED = "simulated"
MEASURED = "measured"


@dataclass(frozen=True)
class VmBaseline:
    """A VM to set against the containers: simulated from a cited source, or measured here."""

    name: str
    label: str
    kind: str  # SIMULATED or MEASURED
    boot_samples_s: tuple[float, ...]
    memory: VmMemory | None
    source: Source | None  # required for simulated rows
    accel: str | None = None  # measured rows: "kvm" or "tcg"
    notes: tuple[str, ...] = ()
    seed: int | None = None  # simulated rows: the seed of the generator
    exit_samples_s: tuple[float, ...] | None = None

    @property
    def simulated(self) -> bool:
        return self.kind == SIMULATED

    def boot_summary(self) -> stats.Summary:
        return stats.summarize(self.boot_samples_s)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "label": self.label,
            "kind": self.kind,
            "boot_samples_s": list(self.boot_samples_s),
            "memory": None if self.memory is None else self.memory.to_dict(),
            "source": None if self.source is None else self.source.to_dict(),
            "accel": self.accel,
            "notes": list(self.notes),
            "seed": self.seed,
        }
        if self.exit_samples_s is not None:
            out["exit_samples_s"] = list(self.exit_samples_s)
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VmBaseline:
        memory, source = d.get("memory"), d.get("source")
        return cls(
            name=str(d["name"]),
            label=str(d.get("label") or d["name"]),
            kind=str(d["kind"]),
            boot_samples_s=_nums(d.get("boot_samples_s")),
            memory=VmMemory.from_dict(memory) if isinstance(memory, Mapping) else None,
            source=Source.from_dict(source) if isinstance(source, Mapping) else None,
            accel=d.get("accel"),
            notes=_strs(d.get("notes")),
            seed=_int(d.get("seed")),
            exit_samples_s=_opt_nums(d.get("exit_samples_s")),
        )


# --- /dev/kvm driven directly ---------------------------------------------------------------


def _summary_dict(xs: tuple[float, ...]) -> dict[str, Any]:
    return stats.summarize(xs).to_dict()


@dataclass(frozen=True)
class VmFloor:
    samples_s: tuple[float, ...]
    guest: str
    meaning: str

    def to_dict(self) -> dict[str, Any]:
        samples = self.samples_s
        return {
            "samples_s": list(samples),
            "summary": _summary_dict(samples),
            "guest": self.guest,
            "meaning": self.meaning,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VmFloor:
        return cls(
            samples_s=_nums(d.get("samples_s")), guest=str(d.get("guest") or ""), meaning=str(d.get("meaning") or "")
        )


@dataclass(frozen=True)
class ExitRoundTrip:
    exits_per_sample: int
    guest: str
    meaning: str
    raw_per_exit_s: tuple[float, ...]
    null_ioctl_per_call_s: tuple[float, ...]
    net_per_exit_s: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "exits_per_sample": self.exits_per_sample,
            "guest": self.guest,
            "meaning": self.meaning,
            "raw_per_exit_s": list(self.raw_per_exit_s),
            "null_ioctl_per_call_s": list(self.null_ioctl_per_call_s),
            "net_per_exit_s": list(self.net_per_exit_s),
            "summary_raw": _summary_dict(self.raw_per_exit_s),
            "summary_null": _summary_dict(self.null_ioctl_per_call_s),
            "summary_net": _summary_dict(self.net_per_exit_s),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ExitRoundTrip:
        return cls(
            exits_per_sample=_int(d.get("exits_per_sample")) or 0,
            guest=str(d.get("guest") or ""),
            meaning=str(d.get("meaning") or ""),
            raw_per_exit_s=_nums(d.get("raw_per_exit_s")),
            null_ioctl_per_call_s=_nums(d.get("null_ioctl_per_call_s")),
            net_per_exit_s=_nums(d.get("net_per_exit_s")),
        )


@dataclass(frozen=True)
class NearNative:
    iterations: dict[str, int]
    native_per_iteration_s: tuple[float, ...]
    guest_user_per_iteration_s: tuple[float, ...]
    guest_kernel_per_iteration_s: tuple[float, ...]
    ratio_user: float | None
    ratio_kernel: float | None
    same_result: bool
    meaning: str
    verdict: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "iterations": dict(self.iterations),
            "native_per_iteration_s": list(self.native_per_iteration_s),
            "guest_user_per_iteration_s": list(self.guest_user_per_iteration_s),
            "guest_kernel_per_iteration_s": list(self.guest_kernel_per_iteration_s),
            "ratio_user": self.ratio_user,
            "ratio_kernel": self.ratio_kernel,
            "same_result": self.same_result,
            "meaning": self.meaning,
            "verdict": self.verdict,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NearNative:
        return cls(
            iterations=_int_map(d.get("iterations")) or {},
            native_per_iteration_s=_nums(d.get("native_per_iteration_s")),
            guest_user_per_iteration_s=_nums(d.get("guest_user_per_iteration_s")),
            guest_kernel_per_iteration_s=_nums(d.get("guest_kernel_per_iteration_s")),
            ratio_user=_num(d.get("ratio_user")),
            ratio_kernel=_num(d.get("ratio_kernel")),
            same_result=bool(d.get("same_result")),
            meaning=str(d.get("meaning") or ""),
            verdict=str(d.get("verdict") or ""),
        )


@dataclass(frozen=True)
class HwvirtSection:
    """`--hwvirt`: /dev/kvm driven from Python, no VMM. `available` False carries the reason."""

    available: bool
    reason: str | None
    kvm_module: str | None
    vm_floor: VmFloor | None = None
    exit_round_trip: ExitRoundTrip | None = None
    exit_round_trip_real_mode: ExitRoundTrip | None = None
    near_native: NearNative | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        def opt(x: Any) -> Any:
            return None if x is None else x.to_dict()

        return {
            "available": self.available,
            "reason": self.reason,
            "kvm_module": self.kvm_module,
            "vm_floor": opt(self.vm_floor),
            "exit_round_trip": opt(self.exit_round_trip),
            "exit_round_trip_real_mode": opt(self.exit_round_trip_real_mode),
            "near_native": opt(self.near_native),
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HwvirtSection:
        def sub(key: str, kind: Any) -> Any:
            v = d.get(key)
            return kind.from_dict(v) if isinstance(v, Mapping) else None

        return cls(
            available=bool(d.get("available")),
            reason=d.get("reason"),
            kvm_module=d.get("kvm_module"),
            vm_floor=sub("vm_floor", VmFloor),
            exit_round_trip=sub("exit_round_trip", ExitRoundTrip),
            exit_round_trip_real_mode=sub("exit_round_trip_real_mode", ExitRoundTrip),
            near_native=sub("near_native", NearNative),
            notes=_strs(d.get("notes")),
        )


# --- where it ran -----------------------------------------------------------------------


@dataclass(frozen=True)
class DetectSummary:
    """The `detect` verdict in short, as a bench report records the machine it ran on."""

    hypervisor: str | None
    vmm: str | None
    container: str | None
    wsl: str | None
    cloud: str | None
    kvm_usable: bool | None
    kvm_module: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "hypervisor": self.hypervisor,
            "vmm": self.vmm,
            "container": self.container,
            "wsl": self.wsl,
            "cloud": self.cloud,
            "kvm_usable": self.kvm_usable,
            "kvm_module": self.kvm_module,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DetectSummary:
        usable = d.get("kvm_usable")
        return cls(
            hypervisor=d.get("hypervisor"),
            vmm=d.get("vmm"),
            container=d.get("container"),
            wsl=d.get("wsl"),
            cloud=d.get("cloud"),
            kvm_usable=usable if isinstance(usable, bool) else None,
            kvm_module=d.get("kvm_module"),
        )


@dataclass(frozen=True)
class Environment:
    """Facts about the machine and engine, never environment variables, tokens or user names."""

    hostname: str | None
    machine_id: str | None
    kernel: str | None
    os_name: str | None
    cpu_model: str | None
    cpu_count: int | None
    mem_total_bytes: int | None
    python: str | None
    engine: EngineInfo | None  # the engine and everything under it (engine.py)
    detect: DetectSummary | None
    load_average_start: tuple[float, ...] | None = None
    load_average_end: tuple[float, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "hostname": self.hostname,
            "machine_id": self.machine_id,
            "kernel": self.kernel,
            "os_name": self.os_name,
            "cpu_model": self.cpu_model,
            "cpu_count": self.cpu_count,
            "mem_total_bytes": self.mem_total_bytes,
            "python": self.python,
            "engine": None if self.engine is None else self.engine.to_dict(),
            "detect": None if self.detect is None else self.detect.to_dict(),
            "load_average_start": _list(self.load_average_start),
            "load_average_end": _list(self.load_average_end),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Environment:
        engine, detect = d.get("engine"), d.get("detect")
        return cls(
            hostname=d.get("hostname"),
            machine_id=d.get("machine_id"),
            kernel=d.get("kernel"),
            os_name=d.get("os_name"),
            cpu_model=d.get("cpu_model"),
            cpu_count=_int(d.get("cpu_count")),
            mem_total_bytes=_int(d.get("mem_total_bytes")),
            python=d.get("python"),
            engine=EngineInfo.from_dict(engine) if isinstance(engine, Mapping) else None,
            detect=DetectSummary.from_dict(detect) if isinstance(detect, Mapping) else None,
            load_average_start=_opt_nums(d.get("load_average_start")),
            load_average_end=_opt_nums(d.get("load_average_end")),
        )


@dataclass(frozen=True)
class BenchResult:
    """Everything one `virtprobe bench` run measured, with the options and machine behind it."""

    run_id: str
    options: BenchOptions
    environment: Environment
    container: ContainerSection | None
    vm: tuple[VmBaseline, ...] | None  # None: the report has no VM section at all
    hwvirt: HwvirtSection | None = None
    warnings: tuple[str, ...] = ()
    # --runtime A,B,C: `container` is A (the ratios' reference), these are B and C in order.
    other_runtimes: tuple[ContainerSection, ...] = ()
    function: FunctionSection | None = None
    # bench 1.2 (issue 19): None when not asked for
    image_cache: ImageCacheSection | None = None
    density: DensitySection | None = None
    scaling: ScalingSection | None = None
    engine_cost: EngineCostSection | None = None
    restore: RestoreSection | None = None

    @property
    def baselines(self) -> tuple[VmBaseline, ...]:
        return self.vm or ()

    @property
    def runtime_sections(self) -> tuple[ContainerSection, ...]:
        """Every runtime's section, the reference first."""
        return ((self.container,) if self.container is not None else ()) + self.other_runtimes

    def to_dict(self) -> dict[str, Any]:
        """The bench sections of the report document (report/document.py adds the envelope)."""
        return {
            "run_id": self.run_id,
            "options": self.options.to_dict(),
            "environment": self.environment.to_dict(),
            "container": None if self.container is None else self.container.to_dict(),
            "vm": None if self.vm is None else {"baselines": [b.to_dict() for b in self.vm]},
            "hwvirt": None if self.hwvirt is None else self.hwvirt.to_dict(),
            "warnings": list(self.warnings),
            "other_runtimes": [c.to_dict() for c in self.other_runtimes],
            "function": None if self.function is None else self.function.to_dict(),
            "image_cache": _opt(self.image_cache),
            "density": _opt(self.density),
            "scaling": _opt(self.scaling),
            "engine_cost": _opt(self.engine_cost),
            "restore": _opt(self.restore),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> BenchResult:
        container, vm, hw, fn = d.get("container"), d.get("vm"), d.get("hwvirt"), d.get("function")
        return cls(
            run_id=str(d.get("run_id") or ""),
            options=BenchOptions.from_dict(d.get("options") or {}),
            environment=Environment.from_dict(d.get("environment") or {}),
            container=ContainerSection.from_dict(container) if isinstance(container, Mapping) else None,
            vm=tuple(VmBaseline.from_dict(b) for b in vm.get("baselines") or ()) if isinstance(vm, Mapping) else None,
            hwvirt=HwvirtSection.from_dict(hw) if isinstance(hw, Mapping) else None,
            warnings=_strs(d.get("warnings")),
            other_runtimes=tuple(
                ContainerSection.from_dict(c) for c in d.get("other_runtimes") or () if isinstance(c, Mapping)
            ),
            function=FunctionSection.from_dict(fn) if isinstance(fn, Mapping) else None,
            image_cache=_sub(d, "image_cache", ImageCacheSection),
            density=_sub(d, "density", DensitySection),
            scaling=_sub(d, "scaling", ScalingSection),
            engine_cost=_sub(d, "engine_cost", EngineCostSection),
            restore=_sub(d, "restore", RestoreSection),
        )


# --- bench 1.2: the questions that decide a platform (issue 19) -----------------------------


def _samples(xs: Any) -> tuple[CycleSample, ...]:
    return tuple(CycleSample.from_dict(s) for s in xs or () if isinstance(s, Mapping))


def _sub(d: Mapping[str, Any], key: str, kind: Any) -> Any:
    v = d.get(key)
    return kind.from_dict(v) if isinstance(v, Mapping) else None


def _opt(x: Any) -> Any:
    return None if x is None else x.to_dict()


IMAGE_CACHE_MODES = ("cold", "warm", "both")


@dataclass(frozen=True)
class ImageCacheSection:
    """`--image-cache`: cycles whose image was absent from the engine's store (cold) or present (warm).

    A cold cycle first loads the image (`method`: "load", a saved archive fed to
    /images/load); `load_s[i]` is that phase for `cold[i]`, so the load is a phase of
    its own beside create, start and remove. `page_cache` says whether the page cache
    of the archive and of the loaded layers was dropped before each cycle, or why not.
    """

    mode: str  # "cold", "warm" or "both"
    image: str | None  # the run's own image (unique layers, labelled, removed at the end)
    method: str | None  # "load": /images/load of an archive saved once
    cold: tuple[CycleSample, ...]
    load_s: tuple[float, ...]
    warm: tuple[CycleSample, ...]
    archive_bytes: int | None = None
    page_cache: str | None = None
    refused: str | None = None
    notes: tuple[str, ...] = ()

    def measured_load_s(self) -> list[float]:
        return [v for s, v in zip(self.cold, self.load_s, strict=False) if not s.warmup]

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "image": self.image,
            "method": self.method,
            "cold": [s.to_dict() for s in self.cold],
            "load_s": list(self.load_s),
            "warm": [s.to_dict() for s in self.warm],
            "archive_bytes": self.archive_bytes,
            "page_cache": self.page_cache,
            "refused": self.refused,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ImageCacheSection:
        return cls(
            mode=str(d.get("mode") or ""),
            image=d.get("image"),
            method=d.get("method"),
            cold=_samples(d.get("cold")),
            load_s=_nums(d.get("load_s")),
            warm=_samples(d.get("warm")),
            archive_bytes=_int(d.get("archive_bytes")),
            page_cache=d.get("page_cache"),
            refused=d.get("refused"),
            notes=_strs(d.get("notes")),
        )


@dataclass(frozen=True)
class DensityLevel:
    """Cycles timed while `idle` idle containers already run; the host's memory with them running."""

    idle: int
    samples: tuple[CycleSample, ...]
    kernel_anon_bytes: int | None = None  # hostmem.KERNEL_ANON_FIELDS summed, with the idle ones running
    mem_available_bytes: int | None = None
    refused: str | None = None  # why this level was not run (a host or engine limit)

    def to_dict(self) -> dict[str, Any]:
        return {
            "idle": self.idle,
            "samples": [s.to_dict() for s in self.samples],
            "kernel_anon_bytes": self.kernel_anon_bytes,
            "mem_available_bytes": self.mem_available_bytes,
            "refused": self.refused,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DensityLevel:
        return cls(
            idle=_int(d.get("idle")) or 0,
            samples=_samples(d.get("samples")),
            kernel_anon_bytes=_int(d.get("kernel_anon_bytes")),
            mem_available_bytes=_int(d.get("mem_available_bytes")),
            refused=d.get("refused"),
        )


def least_squares_slope(points: Iterable[tuple[float, float]]) -> float | None:
    """Pure: the slope of the least-squares line through (x, y) points; None with fewer than 2 distinct x."""
    pts = list(points)
    if len({x for x, _ in pts}) < 2:
        return None
    mx = sum(x for x, _ in pts) / len(pts)
    my = sum(y for _, y in pts) / len(pts)
    sxx = sum((x - mx) ** 2 for x, _ in pts)
    return sum((x - mx) * (y - my) for x, y in pts) / sxx


@dataclass(frozen=True)
class DensitySection:
    """`--density 0,50,200`: startup under N idle containers, and memory per extra container (the slope)."""

    levels: tuple[DensityLevel, ...]
    method: str | None = None
    host_side_reason: str | None = None  # why no host memory was read (the engine is not on this machine)
    notes: tuple[str, ...] = ()

    def slope_bytes_per_container(self, what: str = "kernel_anon") -> float | None:
        """Host memory per extra idle container: the least-squares slope across the levels that ran.

        kernel_anon: growth of the kernel + anonymous counters; mem_available: the drop of MemAvailable.
        """
        if what == "kernel_anon":
            pts = [(lv.idle, lv.kernel_anon_bytes) for lv in self.levels if lv.kernel_anon_bytes is not None]
            return least_squares_slope((float(x), float(y)) for x, y in pts)
        pts = [(lv.idle, lv.mem_available_bytes) for lv in self.levels if lv.mem_available_bytes is not None]
        slope = least_squares_slope((float(x), float(y)) for x, y in pts)
        return None if slope is None else -slope

    def to_dict(self) -> dict[str, Any]:
        return {
            "levels": [lv.to_dict() for lv in self.levels],
            "method": self.method,
            "host_side_reason": self.host_side_reason,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DensitySection:
        return cls(
            levels=tuple(DensityLevel.from_dict(x) for x in d.get("levels") or () if isinstance(x, Mapping)),
            method=d.get("method"),
            host_side_reason=d.get("host_side_reason"),
            notes=_strs(d.get("notes")),
        )


@dataclass(frozen=True)
class ScalingLevel:
    """Full cycles on `parallel` threads at once: every cycle kept, and the wall time of the level."""

    parallel: int
    wall_s: float | None
    samples: tuple[CycleSample, ...]

    @property
    def containers_per_s(self) -> float | None:
        return len(self.samples) / self.wall_s if self.wall_s and self.samples else None

    def to_dict(self) -> dict[str, Any]:
        return {"parallel": self.parallel, "wall_s": self.wall_s, "samples": [s.to_dict() for s in self.samples]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScalingLevel:
        return cls(
            parallel=_int(d.get("parallel")) or 0, wall_s=_num(d.get("wall_s")), samples=_samples(d.get("samples"))
        )


@dataclass(frozen=True)
class ScalingSection:
    """`--parallel 1,2,4,8,16`: throughput and p99 per concurrency level (the scaling curve)."""

    levels: tuple[ScalingLevel, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"levels": [lv.to_dict() for lv in self.levels]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScalingSection:
        return cls(levels=tuple(ScalingLevel.from_dict(x) for x in d.get("levels") or () if isinstance(x, Mapping)))


@dataclass(frozen=True)
class EngineCostSection:
    """The engine's own CPU time (user + system) per container cycle, and its per-container process's PSS.

    `cpu_s_by_process[name][i]` is cycle i's CPU of the engine processes of that name
    (dockerd, containerd, containerd-shim; podman, conmon); `cpu_s[i]` their sum.
    `available` False carries the reason (the engine is not on this machine, psutil
    cannot see its processes).
    """

    available: bool
    reason: str | None
    cpu_s: tuple[float, ...] = ()
    cpu_s_by_process: dict[str, tuple[float, ...]] | None = None
    process_name: str | None = None
    process_pss_bytes: tuple[float, ...] = ()
    engine_pids: tuple[int, ...] = ()
    method: str | None = None
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        by = self.cpu_s_by_process
        return {
            "available": self.available,
            "reason": self.reason,
            "cpu_s": list(self.cpu_s),
            "cpu_s_by_process": None if by is None else {k: list(v) for k, v in sorted(by.items())},
            "process_name": self.process_name,
            "process_pss_bytes": list(self.process_pss_bytes),
            "engine_pids": list(self.engine_pids),
            "method": self.method,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EngineCostSection:
        by = d.get("cpu_s_by_process")
        return cls(
            available=bool(d.get("available")),
            reason=d.get("reason"),
            cpu_s=_nums(d.get("cpu_s")),
            cpu_s_by_process={str(k): _nums(v) for k, v in by.items()} if isinstance(by, Mapping) else None,
            process_name=d.get("process_name"),
            process_pss_bytes=_nums(d.get("process_pss_bytes")),
            engine_pids=tuple(v for v in (_int(x) for x in d.get("engine_pids") or ()) if v is not None),
            method=d.get("method"),
            notes=_strs(d.get("notes")),
        )


REFUSED = "refused"


@dataclass(frozen=True)
class RestoreRow:
    """One way back to a running guest: measured here, simulated from a cited source, or refused with why."""

    name: str  # "kvm-snapshot", "kvm-boot", "firecracker-snapshot", "criu"
    label: str
    kind: str  # MEASURED, SIMULATED or REFUSED
    samples_s: tuple[float, ...]
    meaning: str | None = None
    source: Source | None = None  # required for simulated rows
    refused: str | None = None
    memory_bytes: int | None = None  # the guest memory restored
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "kind": self.kind,
            "samples_s": list(self.samples_s),
            "meaning": self.meaning,
            "source": _opt(self.source),
            "refused": self.refused,
            "memory_bytes": self.memory_bytes,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RestoreRow:
        return cls(
            name=str(d.get("name") or ""),
            label=str(d.get("label") or d.get("name") or ""),
            kind=str(d.get("kind") or ""),
            samples_s=_nums(d.get("samples_s")),
            meaning=d.get("meaning"),
            source=_sub(d, "source", Source),
            refused=d.get("refused"),
            memory_bytes=_int(d.get("memory_bytes")),
            notes=_strs(d.get("notes")),
        )


@dataclass(frozen=True)
class RestoreSection:
    """`--snapshot`: restore to first instruction from a saved snapshot, beside a cold boot of the same guest."""

    rows: tuple[RestoreRow, ...]

    def row(self, name: str) -> RestoreRow | None:
        return next((r for r in self.rows if r.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {"rows": [r.to_dict() for r in self.rows]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RestoreSection:
        return cls(rows=tuple(RestoreRow.from_dict(x) for x in d.get("rows") or () if isinstance(x, Mapping)))
