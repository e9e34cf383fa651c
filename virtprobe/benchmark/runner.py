"""`run_bench`: the orchestrator. It sequences the measurements and assembles the BenchResult.

It takes the backend (DockerBackend, or a scripted one in tests), the detect verdict
of this machine (so /dev/kvm is judged once per run, and --vm qemu and --hwvirt use that
verdict), a clock returning CLOCK_MONOTONIC nanoseconds, one returning CLOCK_REALTIME
nanoseconds (for the engine clock offset) and this kernel's boot id (for clock.py's
verdict). The measurements live in cycles.py, memory.py, function.py, floor.py and vm/;
interrupts.py owns Ctrl-C and the clean-up.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from collections.abc import Callable

from virtprobe.benchmark import clock as clock_mod
from virtprobe.benchmark import environment as env_mod
from virtprobe.benchmark.backend import Backend, Clock, Progress, no_progress
from virtprobe.benchmark.cycles import ClockJudge, run_interleaved, run_parallel, run_samples
from virtprobe.benchmark.engine import EngineInfo, runtime_kind, runtime_not_offered
from virtprobe.benchmark.floor import run_floor
from virtprobe.benchmark.function import run_function
from virtprobe.benchmark.guest import probe_image
from virtprobe.benchmark.interrupts import Terminated, cleanup_guard, signals_interrupt
from virtprobe.benchmark.memory import measure_memory
from virtprobe.benchmark.noise import noise_warnings
from virtprobe.benchmark.options import BenchOptions
from virtprobe.benchmark.ownership import new_run_id
from virtprobe.benchmark.platform import PlatformSections, run_platform
from virtprobe.benchmark.result import (
    BenchResult,
    ContainerSection,
    CycleSample,
    FunctionSection,
    HwvirtSection,
    ImageInfo,
    MemorySection,
    ParallelSection,
    VmBaseline,
)
from virtprobe.benchmark.vm.baselines import VmPlan, hwvirt_section, vm_preflight, vm_section
from virtprobe.detection.model import DetectResult
from virtprobe.errors import EngineError, InputError, Interrupted
from virtprobe.machine.source import LiveSource

# /info calls made to estimate the engine's clock offset; the one with the shortest
# round trip gives the tightest bound (clock.best_offset).
OFFSET_CALLS = 3


def local_boot_id() -> str | None:
    return clock_mod.read_boot_id(LiveSource())


def run_containers(
    backend: Backend,
    clock: Clock,
    options: BenchOptions,
    progress: Progress = no_progress,
    *,
    run_id: str,
    image: str,
    probe: bool,
    probe_image_for_memory: str | None = None,
    build_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    judge: ClockJudge | None = None,
) -> ContainerSection:
    """Cycles, then memory, then parallel density of the default runtime: the `container` section.

    Without a judge, one is made from the engine's /info and this kernel's boot id.
    run_bench goes through run_runtimes instead (--runtime, the offset estimate).
    """
    if judge is None:
        judge = ClockJudge(backend.engine_info(), local_boot_id())
    samples = run_samples(backend, clock, image, run_id, options, probe, progress, judge)
    memory = None
    mem_image = image if probe else probe_image_for_memory
    if options.memory_containers > 0 and mem_image is not None:
        memory = measure_memory(backend, mem_image, run_id, options.memory_containers, progress, sleep)
    parallel = None
    if options.parallel > 1:
        n = max(options.runs, 2 * options.parallel)
        parallel = run_parallel(backend, clock, image, run_id, options.parallel, n, probe, progress, None, judge)
    return ContainerSection(
        image=ImageInfo(name=image, probe=probe, build_s=build_s),
        timing_basis="first_instruction" if probe else "first_output",
        samples=tuple(samples),
        memory=memory,
        parallel=parallel,
        clock=judge.verdict,
    )


def selected_runtimes(options: BenchOptions, engine: EngineInfo) -> list[str | None]:
    """The runtimes to bench, in order: None is the engine's default. A name it does not offer: InputError."""
    if not options.runtimes:
        return [None]
    seen: list[str | None] = []
    for name in options.runtimes:
        if engine.runtimes and engine.offers(name) is None:
            raise InputError(runtime_not_offered(engine, name))
        if name not in seen:
            seen.append(name)
    return seen


def _kind(engine: EngineInfo, runtime: str | None) -> str | None:
    offer = engine.offers(runtime) if runtime is not None else None
    if offer is not None:
        return offer.kind
    if runtime is None or runtime == engine.runtime:
        return engine.runtime_kind
    return runtime_kind(runtime)


def engine_offset(backend: Backend, realtime: Clock) -> clock_mod.ClockOffset | None:
    """The engine's clock offset from a few /info calls timed on this machine's CLOCK_REALTIME."""
    offsets = []
    for _ in range(OFFSET_CALLS):
        sent = realtime()
        system_time = backend.system_time()
        received = realtime()
        if system_time is not None:
            offsets.append(clock_mod.estimate_offset(system_time, sent, received))
    return clock_mod.best_offset(offsets)


def run_runtimes(
    backend: Backend,
    clock: Clock,
    options: BenchOptions,
    progress: Progress,
    *,
    run_id: str,
    image: str,
    probe: bool,
    engine: EngineInfo,
    runtimes: list[str | None],
    judges: list[ClockJudge],
    probe_image_for_memory: str | None = None,
    build_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    realtime: Clock = time.time_ns,
) -> list[ContainerSection]:
    """Interleaved cycles of every runtime, then each one's memory; density for the first only.

    When the engine dies (EngineError), the error raised carries as `partial` the
    sections measured so far: every finished section, then the cycles of the others.
    """
    rows: list[tuple[list[CycleSample], str | None]] = []
    sections: list[ContainerSection] = []

    def section(k: int, memory: MemorySection | None, parallel: ParallelSection | None) -> ContainerSection:
        runtime, judge = runtimes[k], judges[k]
        samples, refused = rows[k] if k < len(rows) else ([], None)
        return ContainerSection(
            image=ImageInfo(name=image, probe=probe, build_s=build_s),
            timing_basis="first_instruction" if probe else "first_output",
            samples=tuple(samples),
            memory=memory,
            parallel=parallel,
            runtime=runtime if runtime is not None else engine.runtime,
            runtime_kind=_kind(engine, runtime),
            clock=judge.verdict if probe else clock_mod.decide_clock(None, None, engine),
            refused=refused,
        )

    try:
        run_interleaved(
            backend, clock, image, run_id, options, probe, progress, list(zip(runtimes, judges, strict=True)),
            realtime, results=rows,
        )  # fmt: skip
        mem_image = image if probe else probe_image_for_memory
        for k, runtime in enumerate(runtimes):
            refused = rows[k][1]
            memory: MemorySection | None = None
            if refused is None and options.memory_containers > 0 and mem_image is not None:
                memory = measure_memory(
                    backend, mem_image, run_id, options.memory_containers, progress, sleep, engine, runtime
                )
            parallel = None
            if k == 0 and refused is None and options.parallel > 1:
                n = max(options.runs, 2 * options.parallel)
                parallel = run_parallel(
                    backend, clock, image, run_id, options.parallel, n, probe, progress, runtime, judges[k]
                )
            sections.append(section(k, memory, parallel))
    except EngineError as err:
        partial = sections + [section(k, None, None) for k in range(len(sections), len(runtimes))]
        raise EngineError(err.message, partial=partial) from err
    return sections


def run_bench(
    options: BenchOptions,
    backend: Backend,
    detected: DetectResult,
    progress: Progress = no_progress,
    clock: Clock = time.monotonic_ns,
    sleep: Callable[[float], None] = time.sleep,
    realtime: Clock = time.time_ns,
    boot_id: Callable[[], str | None] = local_boot_id,
    vm_plan: VmPlan | None = None,
) -> BenchResult:
    """Measure under the clean-up guard and assemble the result. Ctrl-C/SIGTERM -> Interrupted.

    The VM options are checked first (vm_preflight), unless the caller passes the `vm_plan` its
    own check returned (a fleet checks them once for all engines); the run then uses that plan."""
    # SIGTERM ends the whole run the way Ctrl-C does (exit 130), so every cleanup
    # runs, not only the containers': a QEMU guest or a floor runtime too.
    # Typer turns a KeyboardInterrupt into a silent exit 130, so it becomes our
    # Interrupted here, with its one line. (Inside the cleanup guard it already is.)
    try:
        with signals_interrupt(signal.SIGTERM):
            if vm_plan is None:
                vm_plan = vm_preflight(list(options.vm), options.kernel, options.profiles)
            return _run_bench(options, backend, detected, vm_plan, progress, clock, sleep, realtime, boot_id)
    except KeyboardInterrupt as err:
        what = "terminated" if isinstance(err, Terminated) else "interrupted"
        raise Interrupted(f"{what}; nothing virtprobe started is left running") from err


def _run_bench(
    options: BenchOptions,
    be: Backend,
    detected: DetectResult,
    vm_plan: VmPlan,
    progress: Progress,
    clock: Clock,
    sleep: Callable[[float], None],
    realtime: Clock,
    boot_id: Callable[[], str | None],
) -> BenchResult:
    info = be.engine_info()
    runtimes = selected_runtimes(options, info)
    warnings: list[str] = []
    probe_tag, build_s = be.ensure_probe_image(info.arch)
    if options.image:
        be.check_user_image(options.image)
        image, probe = options.image, False
        warnings.append("--image: timings use the first byte of output, not the probe's first instruction")
    else:
        image, probe = probe_tag, True
    run_id = new_run_id()
    load_start = env_mod.load_average()
    local_boot = boot_id()
    offset = engine_offset(be, realtime)
    judges = [ClockJudge(info, local_boot, _kind(info, r), offset) for r in runtimes]
    function: FunctionSection | None = None
    sections: list[ContainerSection] | None = None
    try:
        with cleanup_guard(be, run_id):
            sections = run_runtimes(
                be,
                clock,
                options,
                progress,
                run_id=run_id,
                image=image,
                probe=probe,
                engine=info,
                runtimes=runtimes,
                judges=judges,
                probe_image_for_memory=probe_tag,
                build_s=build_s if probe else None,
                sleep=sleep,
                realtime=realtime,
            )
            if options.function_ms is not None:
                ran = [(r, j) for r, j, sec in zip(runtimes, judges, sections, strict=True) if sec.refused is None]
                if ran:
                    runtime, judge = ran[0]
                    function = run_function(
                        be, clock, probe_tag, run_id, options.function_ms, options.runs, options.warmup,
                        runtime, judge.verdict, progress,
                    )  # fmt: skip
                    if runtime is None:
                        function = dataclasses.replace(function, runtime=info.runtime)
                else:
                    warnings.append("--function: no runtime ran a container, so the function was not called")
            platform = _platform(options, be, clock, progress, run_id, image, probe, probe_tag, info, runtimes,
                                 judges, sections, detected, sleep, realtime)  # fmt: skip
    except EngineError as err:
        measured = err.partial if isinstance(err.partial, list) else sections
        if measured is None:
            raise
        partial = _partial_result(run_id, options, info, detected, load_start, measured, warnings, err)
        raise EngineError(err.message, partial=partial) from err
    container, others = sections[0], tuple(sections[1:])
    for judge, section in zip(judges, sections, strict=True):
        if judge.disagreements:
            warnings.append(
                f"runtime {section.runtime}: {judge.disagreements} probe run(s) reported another kernel than the "
                "first; they have no first-instruction figure"
            )
    if options.floor:
        key = probe_image.normalize_arch(info.arch or "")
        if key is not None:
            floor = run_floor(probe_image.build_elf(key), options.runs, progress)
            container = dataclasses.replace(container, floor=floor)
    all_samples: list[CycleSample] = [s for sec in sections for s in sec.samples]
    bad_exits = sorted({s.exit_code for s in all_samples if s.exit_code})
    if bad_exits:
        warnings.append(f"the image exited with status {', '.join(map(str, bad_exits))}")
    vm, hw = _vm_sections(options, vm_plan, detected, progress)
    env = env_mod.environment(info, detected, load_start, env_mod.load_average())
    busy = env_mod.busy_warning(load_start, env.cpu_count)
    if busy:
        warnings.append(busy)
    return BenchResult(
        run_id=run_id,
        options=options,
        environment=env,
        container=container,
        vm=vm,
        hwvirt=hw,
        warnings=(*warnings, *noise_warnings(container)),
        other_runtimes=others,
        function=function,
        image_cache=platform.image_cache,
        density=platform.density,
        scaling=platform.scaling,
        engine_cost=platform.engine_cost,
        restore=platform.restore,
    )


def _partial_result(
    run_id: str,
    options: BenchOptions,
    info: EngineInfo,
    detected: DetectResult,
    load_start: tuple[float, ...] | None,
    sections: list[ContainerSection],
    warnings: list[str],
    err: EngineError,
) -> BenchResult:
    """What a run measured before its engine died, as a result the CLI writes before exiting 4."""
    cycles = sum(1 for sec in sections for s in sec.samples if not s.warmup)
    env = env_mod.environment(info, detected, load_start, env_mod.load_average())
    note = f"partial report: the engine died mid-run after {cycles} measured cycle(s); {err.message}"
    return BenchResult(
        run_id=run_id,
        options=options,
        environment=env,
        container=sections[0] if sections else None,
        vm=None,
        hwvirt=None,
        warnings=(*warnings, note),
        other_runtimes=tuple(sections[1:]),
        function=None,
    )


def _platform(
    options: BenchOptions,
    be: Backend,
    clock: Clock,
    progress: Progress,
    run_id: str,
    image: str,
    probe: bool,
    probe_tag: str,
    info: EngineInfo,
    runtimes: list[str | None],
    judges: list[ClockJudge],
    sections: list[ContainerSection],
    detected: DetectResult,
    sleep: Callable[[float], None],
    realtime: Clock,
) -> PlatformSections:
    """The issue-19 sections (platform.py), on the first runtime that ran: the reference when it did."""
    ran = [(r, j) for r, j, sec in zip(runtimes, judges, sections, strict=True) if sec.refused is None]
    runtime, judge = ran[0] if ran else (runtimes[0], judges[0])
    return run_platform(
        be, clock, options, progress, run_id=run_id, image=image, probe=probe, probe_tag=probe_tag, engine=info,
        runtime=runtime, judge=judge, kvm=detected.kvm, sleep=sleep, realtime=realtime,
    )  # fmt: skip


def _vm_sections(
    options: BenchOptions, plan: VmPlan, detected: DetectResult, progress: Progress
) -> tuple[tuple[VmBaseline, ...], HwvirtSection | None]:
    """The VM baselines (always the plan's simulated profiles; QEMU with --vm qemu) and --hwvirt."""

    def say(message: str) -> None:
        progress(message, 0, 0)

    seed = options.seed if options.seed is not None else 1
    vm = vm_section(plan, options.runs, seed, detected.kvm, progress=say)
    hw = hwvirt_section(options.runs, detected.kvm, progress=say) if options.hwvirt else None
    return vm, hw
