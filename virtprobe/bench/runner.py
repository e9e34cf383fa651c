"""The container benchmark: phase timings, memory, parallel density and the floor ladder.

The runner takes a backend (DockerBackend, or a scripted one in tests) and a
clock returning CLOCK_MONOTONIC nanoseconds (time.monotonic_ns). The probe
prints its own CLOCK_MONOTONIC at its first instruction; containers share the
host's monotonic clock (no time namespace is created), so "first instruction"
is the probe's reading minus the host's reading taken just before the start
request.

Cleanup: every container carries io.virtprobe.run=<run id>. `cleanup_guard`
removes all of them on normal exit, on errors, on Ctrl-C and on SIGTERM.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from types import FrameType
from typing import Any, Protocol

from virtprobe.bench.guest import probe_image
from virtprobe.bench.model import BenchOptions
from virtprobe.errors import EngineError, Interrupted, UnrunnableError

Clock = Callable[[], int]
# progress(task, done, total): the CLI turns it into a Rich progress bar.
Progress = Callable[[str, int, int], None]

USER_OUTPUT_TIMEOUT_S = 30.0
MEMORY_SETTLE_S = 1.0

MEMORY_METHOD = (
    "N probe containers started in pause mode and left idle. Per container: the memory charged to its "
    "cgroup (v1 memory.usage_in_bytes, v2 memory.current, found through /proc/<init pid>/cgroup) and "
    "the PSS of its containerd-shim (the parent of the container's init, psutil memory_full_info). "
    "Host: the drop in /proc/meminfo MemAvailable across the N containers, after a settle, divided by N "
    "(method of the benchmark-containerd-runtimes study). MemAvailable moves with everything else on the "
    "host (page cache, other processes), so the growth of the kernel and anonymous counters "
    "(AnonPages, PageTables, KernelStack, Slab, VmallocUsed) per container is kept too, with the raw "
    "before/after values."
)

# The meminfo counters that grow with each idle container (MEASURED.md); their sum
# is steadier than MemAvailable on a busy host.
KERNEL_ANON_FIELDS = ("AnonPages", "PageTables", "KernelStack", "Slab", "VmallocUsed")


def _per_container_drop(
    before: dict[str, int] | None, after: dict[str, int] | None, n: int
) -> tuple[float | None, float | None]:
    """(MemAvailable drop / n, growth of KERNEL_ANON_FIELDS / n); None where a field is missing."""
    if before is None or after is None or n <= 0:
        return None, None
    avail = None
    if "MemAvailable" in before and "MemAvailable" in after:
        avail = (before["MemAvailable"] - after["MemAvailable"]) / n
    kernel = None
    if all(k in before and k in after for k in KERNEL_ANON_FIELDS):
        kernel = sum(after[k] - before[k] for k in KERNEL_ANON_FIELDS) / n
    return avail, kernel


class Backend(Protocol):
    def create(
        self, image: str, run_id: str, command: list[str] | None = None, role: str = "bench"
    ) -> str: ...
    def start(self, cid: str) -> None: ...
    def wait(self, cid: str, timeout_s: float = ...) -> int: ...
    def logs(self, cid: str) -> bytes: ...
    def remove(self, cid: str) -> None: ...
    def attach_first_output(self, cid: str, clock: Clock) -> Any: ...
    def container_memory(self, cid: str) -> tuple[int | None, int | None, str | None]: ...
    def meminfo(self) -> dict[str, int] | None: ...
    def remove_labelled(self, run_id: str | None = None) -> list[str]: ...


def _noop_progress(task: str, done: int, total: int) -> None:
    return None


def _s(ns: int) -> float:
    return ns / 1e9


def one_cycle(
    backend: Backend, clock: Clock, image: str, run_id: str, index: int, warmup: bool, probe: bool
) -> dict[str, Any]:
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
    return {
        "index": index,
        "warmup": warmup,
        "create_s": _s(t_created - t_create),
        "start_s": _s(t_started - t_start_req),
        "first_instruction_s": first_instruction_s,
        "first_output_s": first_output_s,
        "run_to_exit_s": _s(t_exited - t_started),
        "remove_s": _s(t_removed - t_remove),
        "cycle_s": _s(t_removed - t_create),
        "exit_code": code,
    }


def run_samples(
    backend: Backend,
    clock: Clock,
    image: str,
    run_id: str,
    options: BenchOptions,
    probe: bool,
    progress: Progress,
) -> list[dict[str, Any]]:
    """Warmup then measured runs, serially; the sample index is the run order."""
    total = options.warmup + options.runs
    samples = []
    for i in range(total):
        samples.append(one_cycle(backend, clock, image, run_id, i, i < options.warmup, probe))
        progress("cycles", i + 1, total)
    return samples


def measure_memory(
    backend: Backend,
    image: str,
    run_id: str,
    n: int,
    progress: Progress,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """N idle probe containers: cgroup bytes, shim PSS, and the host MemAvailable drop per container."""
    sleep(MEMORY_SETTLE_S)
    before = backend.meminfo()
    ids: list[str] = []
    notes: list[str] = []
    try:
        for i in range(n):
            with held_interrupts():
                cid = backend.create(image, run_id, command=[probe_image.PAUSE_ARG], role="memory")
                ids.append(cid)
                backend.start(cid)
            progress("memory", i + 1, n)
        sleep(MEMORY_SETTLE_S)
        after = backend.meminfo()
        cgroup: list[int] = []
        pss: list[int] = []
        for cid in ids:
            cg, shim, note = backend.container_memory(cid)
            if cg is not None:
                cgroup.append(cg)
            if shim is not None:
                pss.append(shim)
            if note:
                notes.append(note)
    finally:
        for cid in ids:
            with held_interrupts():
                backend.remove(cid)
    drop, kernel_anon = _per_container_drop(before, after, n)
    keep = ("MemAvailable", *KERNEL_ANON_FIELDS)
    return {
        "n": n,
        "cgroup_bytes": cgroup,
        "shim_pss_bytes": pss or None,
        "host_available_drop_bytes_per_container": drop,
        "host_kernel_anon_growth_bytes_per_container": kernel_anon,
        "host_meminfo_before_bytes": {k: before[k] for k in keep if k in before} if before else None,
        "host_meminfo_after_bytes": {k: after[k] for k in keep if k in after} if after else None,
        "settle_s": MEMORY_SETTLE_S,
        "method": MEMORY_METHOD,
        "notes": sorted(set(notes)),
    }


def run_parallel(
    backend: Backend,
    clock: Clock,
    image: str,
    run_id: str,
    parallel: int,
    n: int,
    probe: bool,
    progress: Progress,
) -> dict[str, Any]:
    """n full cycles on a pool of `parallel` threads: containers per second, cycle under load."""
    stop = threading.Event()
    done = 0
    lock = threading.Lock()

    def job(i: int) -> dict[str, Any] | None:
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
    futures: list[Future[dict[str, Any] | None]] = []
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
        with _signals_ignored():
            pool.shutdown(wait=True, cancel_futures=True)
        raise
    wall = clock() - t0
    pool.shutdown(wait=True)
    samples = [s for s in (f.result() for f in futures) if s is not None]
    return {
        "parallel": parallel,
        "n": len(samples),
        "wall_s": _s(wall),
        "containers_per_s": len(samples) / _s(wall) if wall > 0 else None,
        "cycle_s": [s["cycle_s"] for s in samples],
        "start_s": [s["start_s"] for s in samples],
    }


def run_containers(
    backend: Backend,
    clock: Clock,
    options: BenchOptions,
    progress: Progress = _noop_progress,
    *,
    run_id: str,
    image: str,
    probe: bool,
    probe_image_for_memory: str | None = None,
    build_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """The `container` section of the bench document (docs/report-format.md)."""
    samples = run_samples(backend, clock, image, run_id, options, probe, progress)
    memory = None
    mem_image = image if probe else probe_image_for_memory
    if options.memory_containers > 0 and mem_image is not None:
        memory = measure_memory(backend, mem_image, run_id, options.memory_containers, progress, sleep)
    parallel = None
    if options.parallel > 1:
        n = max(options.runs, 2 * options.parallel)
        parallel = run_parallel(backend, clock, image, run_id, options.parallel, n, probe, progress)
    return {
        "image": {"name": image, "probe": probe, "build_s": build_s},
        "timing_basis": "first_instruction" if probe else "first_output",
        "samples": samples,
        "memory": memory,
        "parallel": parallel,
        "floor": None,
    }


# --- cleanup ---------------------------------------------------------------------------


class _Terminated(KeyboardInterrupt):
    """SIGTERM, delivered in the main thread like Ctrl-C so the same cleanup runs."""


# Signals are process-wide and their handlers run in the main thread only, so this
# state is module-level: how deep the main thread is in engine calls that must not be
# cut in half, and the interrupt that arrived meanwhile.
_hold_depth = 0
_held: KeyboardInterrupt | None = None


def _on_signal(signum: int, frame: FrameType | None) -> None:
    global _held
    err = _Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
    if _hold_depth and _held is None:
        _held = err
        return
    # Outside a held call, or a second signal while one is held: stop now.
    raise err


@contextmanager
def held_interrupts() -> Iterator[None]:
    """Hold Ctrl-C/SIGTERM until the engine call inside has returned, then raise it.

    An interrupt that cuts a create request in half leaves the daemon to finish it:
    the container appears after the sweep has listed the run's containers, with an id
    virtprobe never learnt, and leaks (seen in CI). Cutting a start or remove request
    in half makes the sweep race the daemon on the same container. So these calls run
    to their end; a second Ctrl-C still stops at once. Only the main thread's calls
    need holding: workers are never interrupted, and the pool drains before the sweep.
    """
    global _hold_depth, _held
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _hold_depth += 1
    try:
        yield
    finally:
        _hold_depth -= 1
        if _hold_depth == 0 and _held is not None:
            err, _held = _held, None
            raise err


@contextmanager
def _signal_handler(handler: Any, *signums: signal.Signals) -> Iterator[None]:
    """Within: `handler` for these signals, then the previous ones again (main thread only:
    Python installs signal handlers nowhere else)."""
    main = threading.current_thread() is threading.main_thread()
    old = {sig: signal.signal(sig, handler) for sig in signums} if main else {}
    try:
        yield
    finally:
        for sig, previous in old.items():
            signal.signal(sig, previous)


def _signals_interrupt(*signums: signal.Signals) -> contextlib.AbstractContextManager[None]:
    """Within: these signals raise KeyboardInterrupt (SIGTERM: _Terminated) in the main thread."""
    return _signal_handler(_on_signal, *signums)


@contextmanager
def cleanup_guard(backend: Backend, run_id: str) -> Iterator[None]:
    """Remove every container of this run however the body ends; Ctrl-C/SIGTERM -> Interrupted."""
    with _signals_interrupt(signal.SIGINT, signal.SIGTERM), _guarded(backend, run_id):
        yield


@contextmanager
def _guarded(backend: Backend, run_id: str) -> Iterator[None]:
    global _held
    try:
        yield
    except KeyboardInterrupt as err:
        _sweep(backend, run_id)
        what = "terminated" if isinstance(err, _Terminated) else "interrupted"
        raise Interrupted(f"{what}; every container of run {run_id} has been removed") from err
    except BaseException:
        # The original error (e.g. the daemon died) is the one to report.
        with contextlib.suppress(EngineError):
            _sweep(backend, run_id)
        raise
    else:
        _sweep(backend, run_id)
    finally:
        _held = None


def _signals_ignored() -> contextlib.AbstractContextManager[None]:
    """A second Ctrl-C/SIGTERM must not abandon a cleanup half way."""
    return _signal_handler(signal.SIG_IGN, signal.SIGINT, signal.SIGTERM)


def _sweep(backend: Backend, run_id: str) -> None:
    with _signals_ignored():
        backend.remove_labelled(run_id)


# --- the floor ladder --------------------------------------------------------------------


def _time_cmd(argv: list[str], runs: int, cwd: str | None = None) -> tuple[list[float], str | None]:
    """Wall time of `runs` executions of argv; (samples, None) or ([], why it failed).

    One untimed run through subprocess first, to warm caches and to capture
    stderr if the command fails. The timed runs use posix_spawn with output to
    /dev/null, which costs far less than subprocess's pipes and pre-exec work.
    """
    try:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return [], f"{argv[0]}: {err}"
    if proc.returncode != 0:
        lines = (proc.stderr or proc.stdout).decode(errors="replace").strip().splitlines()
        return [], f"{' '.join(argv[:2])} failed (status {proc.returncode}): {lines[-1] if lines else ''}"
    out: list[float] = []
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        actions = [(os.POSIX_SPAWN_DUP2, devnull, 1), (os.POSIX_SPAWN_DUP2, devnull, 2)]
        for _ in range(runs):
            t0 = time.perf_counter_ns()
            pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
            try:
                _, status = os.waitpid(pid, 0)
            except KeyboardInterrupt:
                # Let the runtime finish the probe (it exits at once) and delete its
                # container; killing runc half way would strand its state and cgroup.
                with _signals_ignored():
                    os.waitpid(pid, 0)
                raise
            t1 = time.perf_counter_ns()
            code = os.waitstatus_to_exitcode(status)
            if code != 0:
                return [], f"{' '.join(argv[:2])} failed (status {code}) during timed runs"
            out.append(_s(t1 - t0))
    finally:
        os.close(devnull)
    return out, None


def _bundle(base: str, elf: bytes, runtime: str) -> tuple[str | None, str | None]:
    """An OCI bundle whose rootfs holds only the probe; config from `<runtime> spec`, then edited."""
    bundle = os.path.join(base, f"bundle-{runtime}")
    rootfs = os.path.join(bundle, "rootfs")
    os.makedirs(rootfs)
    with open(os.path.join(rootfs, "probe"), "wb") as fh:
        fh.write(elf)
    os.chmod(os.path.join(rootfs, "probe"), 0o755)
    try:
        proc = subprocess.run([runtime, "spec"], cwd=bundle, capture_output=True, check=False, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        return None, f"{runtime} spec: {err}"
    if proc.returncode != 0:
        return None, f"{runtime} spec failed: {proc.stderr.decode(errors='replace').strip()}"
    path = os.path.join(bundle, "config.json")
    with open(path, encoding="utf-8") as fh:
        config = json.load(fh)
    config["root"] = {"path": "rootfs", "readonly": True}
    config["process"]["terminal"] = False
    config["process"]["args"] = ["/probe"]
    # A fresh, empty network namespace (no "path" to join an existing one): no network.
    for ns in config.get("linux", {}).get("namespaces", []):
        ns.pop("path", None)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(config, fh, indent=2)
    return bundle, None


def _time_runtime(runtime: str, base: str, elf: bytes, runs: int) -> tuple[list[float] | None, str | None]:
    exe = shutil.which(runtime)
    if exe is None:
        return None, f"{runtime} not found on PATH; skipped"
    bundle, why = _bundle(base, elf, runtime)
    if bundle is None:
        return None, why
    state = os.path.join(base, f"state-{runtime}")
    # runc removes a container that exits on its own when run without --detach,
    # so one id can be reused run after run.
    samples, why = _time_cmd(
        [exe, "--root", state, "run", "--bundle", bundle, f"virtprobe-floor-{os.getpid()}"], runs
    )
    return (samples or None), why


def run_floor(elf: bytes, runs: int, progress: Progress = _noop_progress) -> dict[str, Any]:
    """The same probe run by fork/exec, by unshare into new namespaces, and by runc/crun alone."""
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="virtprobe-floor-") as base:
        exe = os.path.join(base, "probe")
        with open(exe, "wb") as fh:
            fh.write(elf)
        os.chmod(exe, 0o755)
        fork_exec, why = _time_cmd([exe], runs)
        if why:
            notes.append(why)
        progress("floor", 1, 4)
        unshare_bin = shutil.which("unshare")
        unshare: list[float] | None = None
        if unshare_bin is None:
            notes.append("unshare not found on PATH; skipped")
        else:
            samples, why = _time_cmd(
                [unshare_bin, "--fork", "--pid", "--mount", "--net", "--uts", "--ipc", exe], runs
            )
            unshare = samples or None
            if why:
                notes.append(why)
        progress("floor", 2, 4)
        runc, why = _time_runtime("runc", base, elf, runs)
        if why:
            notes.append(why)
        progress("floor", 3, 4)
        crun, why = _time_runtime("crun", base, elf, runs)
        if why:
            notes.append(why)
        progress("floor", 4, 4)
    return {
        "fork_exec_s": fork_exec or None,
        "unshare_s": unshare,
        "runc_s": runc,
        "crun_s": crun,
        "notes": notes,
    }


# --- the whole bench command -------------------------------------------------------------


def run_bench(
    options: BenchOptions,
    progress: Progress = _noop_progress,
    clock: Clock = time.monotonic_ns,
    backend: Any = None,
) -> dict[str, Any]:
    """Connect, build or check the image, measure under the cleanup guard, assemble the document."""
    # SIGTERM ends the whole run the way Ctrl-C does (exit 130), so every cleanup
    # runs, not only the containers': a QEMU guest or a floor runtime too.
    # Typer turns a KeyboardInterrupt into a silent exit 130, so it becomes our
    # Interrupted here, with its one line. (Inside the cleanup guard it already is.)
    try:
        with _signals_interrupt(signal.SIGTERM):
            return _run_bench(options, progress, clock, backend)
    except KeyboardInterrupt as err:
        what = "terminated" if isinstance(err, _Terminated) else "interrupted"
        raise Interrupted(f"{what}; nothing virtprobe started is left running") from err


def _run_bench(options: BenchOptions, progress: Progress, clock: Clock, backend: Any) -> dict[str, Any]:
    from virtprobe.bench import model
    from virtprobe.bench.docker_backend import DockerBackend
    from virtprobe.bench.vm.baselines import vm_preflight
    from virtprobe.detect.run import detect
    from virtprobe.machine.source import LiveSource

    vm_preflight(list(options.vm), options.kernel, options.profiles)
    be = backend if backend is not None else DockerBackend()
    info = be.engine_info()
    warnings: list[str] = []
    probe_tag, build_s = be.ensure_probe_image(info.arch)
    if options.image:
        be.check_user_image(options.image)
        image, probe = options.image, False
        warnings.append("--image: timings use the first byte of output, not the probe's first instruction")
    else:
        image, probe = probe_tag, True
    detected = detect(LiveSource(), kvm_probe=True)
    run_id = model.new_run_id()
    load_start = model.load_average()
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
        )
    if options.floor:
        key = probe_image.normalize_arch(info.arch or "")
        if key is not None:
            container["floor"] = run_floor(probe_image.build_elf(key), options.runs, progress)
    bad_exits = sorted({s["exit_code"] for s in container["samples"] if s.get("exit_code")})
    if bad_exits:
        warnings.append(f"the image exited with status {', '.join(map(str, bad_exits))}")
    vm, hw = _vm_sections(options, progress)
    env = model.environment(info.to_dict(), detected)
    load_end = model.load_average()
    env["load_average_start"] = load_start
    env["load_average_end"] = load_end
    busy = model.busy_warning(load_start, env.get("cpu_count"))
    if busy:
        warnings.append(busy)
    return model.bench_document(run_id, options, env, container, warnings, vm=vm, hwvirt=hw)


def _vm_sections(options: BenchOptions, progress: Progress) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The VM baselines (always the simulated profiles; QEMU with --vm qemu) and --hwvirt."""
    from virtprobe.bench.vm.baselines import hwvirt_section, vm_section

    def say(message: str) -> None:
        progress(message, 0, 0)

    seed = options.seed if options.seed is not None else 1
    vm = vm_section(list(options.vm), options.runs, seed, options.kernel, options.profiles, progress=say)
    hw = hwvirt_section(options.runs, progress=say) if options.hwvirt else None
    return vm, hw


def clean(
    images: bool = False, include_running: bool = False, backend: Any = None
) -> tuple[list[str], list[str], list[str]]:
    """Remove the containers of crashed virtprobe runs; probe images with images=True.

    Returns (removed, kept because their run is still going, removed images).
    Only containers with virtprobe's run label are ever looked at.
    """
    from virtprobe.bench.docker_backend import OWNER_LABEL, DockerBackend, owner_alive

    be = backend if backend is not None else DockerBackend()
    removed: list[str] = []
    running: list[str] = []
    for cid, labels in be.labelled_containers(None):
        if not include_running and owner_alive(labels.get(OWNER_LABEL)):
            running.append(cid)
            continue
        be.remove(cid)
        removed.append(cid)
    removed_images = be.remove_probe_images() if images else []
    return removed, running, removed_images
