"""`run_bench`: the orchestrator. It sequences the measurements and assembles the BenchResult.

It takes the backend (DockerBackend, or a scripted one in tests), the detect verdict
of this machine (so /dev/kvm is judged once per run, and --vm qemu and --hwvirt use that
verdict), and a clock returning CLOCK_MONOTONIC nanoseconds. The measurements live in
cycles.py, memory.py, floor.py and vm/; interrupts.py owns Ctrl-C and the clean-up.
"""

from __future__ import annotations

import dataclasses
import signal
import time
from collections.abc import Callable

from virtprobe.benchmark import environment as env_mod
from virtprobe.benchmark.backend import Backend, Clock, Progress, no_progress
from virtprobe.benchmark.cycles import run_parallel, run_samples
from virtprobe.benchmark.floor import run_floor
from virtprobe.benchmark.guest import probe_image
from virtprobe.benchmark.interrupts import Terminated, cleanup_guard, signals_interrupt
from virtprobe.benchmark.memory import measure_memory
from virtprobe.benchmark.noise import noise_warnings
from virtprobe.benchmark.options import BenchOptions
from virtprobe.benchmark.ownership import new_run_id
from virtprobe.benchmark.result import BenchResult, ContainerSection, HwvirtSection, ImageInfo, VmBaseline
from virtprobe.detect.model import DetectResult
from virtprobe.errors import Interrupted


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
) -> ContainerSection:
    """Cycles, then memory, then parallel density: the `container` section."""
    samples = run_samples(backend, clock, image, run_id, options, probe, progress)
    memory = None
    mem_image = image if probe else probe_image_for_memory
    if options.memory_containers > 0 and mem_image is not None:
        memory = measure_memory(backend, mem_image, run_id, options.memory_containers, progress, sleep)
    parallel = None
    if options.parallel > 1:
        n = max(options.runs, 2 * options.parallel)
        parallel = run_parallel(backend, clock, image, run_id, options.parallel, n, probe, progress)
    return ContainerSection(
        image=ImageInfo(name=image, probe=probe, build_s=build_s),
        timing_basis="first_instruction" if probe else "first_output",
        samples=tuple(samples),
        memory=memory,
        parallel=parallel,
    )


def run_bench(
    options: BenchOptions,
    backend: Backend,
    detected: DetectResult,
    progress: Progress = no_progress,
    clock: Clock = time.monotonic_ns,
    sleep: Callable[[float], None] = time.sleep,
) -> BenchResult:
    """Measure under the clean-up guard and assemble the result. Ctrl-C/SIGTERM -> Interrupted."""
    # SIGTERM ends the whole run the way Ctrl-C does (exit 130), so every cleanup
    # runs, not only the containers': a QEMU guest or a floor runtime too.
    # Typer turns a KeyboardInterrupt into a silent exit 130, so it becomes our
    # Interrupted here, with its one line. (Inside the cleanup guard it already is.)
    try:
        with signals_interrupt(signal.SIGTERM):
            return _run_bench(options, backend, detected, progress, clock, sleep)
    except KeyboardInterrupt as err:
        what = "terminated" if isinstance(err, Terminated) else "interrupted"
        raise Interrupted(f"{what}; nothing virtprobe started is left running") from err


def _run_bench(
    options: BenchOptions,
    be: Backend,
    detected: DetectResult,
    progress: Progress,
    clock: Clock,
    sleep: Callable[[float], None],
) -> BenchResult:
    from virtprobe.benchmark.vm.baselines import vm_preflight

    vm_preflight(list(options.vm), options.kernel, options.profiles)
    info = be.engine_info()
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
    with cleanup_guard(be, run_id):
        container = run_containers(
            be,
            clock,
            options,
            progress,
            run_id=run_id,
            image=image,
            probe=probe,
            probe_image_for_memory=probe_tag,
            build_s=build_s if probe else None,
            sleep=sleep,
        )
    if options.floor:
        key = probe_image.normalize_arch(info.arch or "")
        if key is not None:
            floor = run_floor(probe_image.build_elf(key), options.runs, progress)
            container = dataclasses.replace(container, floor=floor)
    bad_exits = sorted({s.exit_code for s in container.samples if s.exit_code})
    if bad_exits:
        warnings.append(f"the image exited with status {', '.join(map(str, bad_exits))}")
    vm, hw = _vm_sections(options, detected, progress)
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
    )


def _vm_sections(
    options: BenchOptions, detected: DetectResult, progress: Progress
) -> tuple[tuple[VmBaseline, ...], HwvirtSection | None]:
    """The VM baselines (always the simulated profiles; QEMU with --vm qemu) and --hwvirt."""
    from virtprobe.benchmark.vm.baselines import hwvirt_section, vm_section

    def say(message: str) -> None:
        progress(message, 0, 0)

    seed = options.seed if options.seed is not None else 1
    vm = vm_section(list(options.vm), options.runs, seed, options.kernel, options.profiles, detected.kvm, progress=say)
    hw = hwvirt_section(options.runs, detected.kvm, progress=say) if options.hwvirt else None
    return vm, hw
