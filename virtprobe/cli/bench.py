"""CLI commands `bench` and `clean` (thin: options -> core -> render -> exit code)."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from virtprobe.errors import EngineError, GateFailed, InputError

# bench and clean reach engines with the same options, as the docker CLI does.
TlsVerify = Annotated[
    bool, typer.Option("--tlsverify", help="tcp:// hosts: TLS with ca.pem, cert.pem, key.pem from DOCKER_CERT_PATH.")
]


@contextmanager
def _progress() -> Iterator[Any]:
    """progress(task, done, total): a Rich bar on a terminal; on a pipe or a CI log, plain lines on stderr.

    A bar cannot animate in a log, and its transient clean-up would leave a blank line
    before an error's one line; so a log gets a line when a task starts and at each quarter.
    """
    from virtprobe.cli.console import TASK_LABELS, progress_bar, progress_lines, stderr_console

    console = stderr_console()
    if not console.is_terminal:
        yield progress_lines(TASK_LABELS)
        return
    tasks: dict[str, Any] = {}
    with progress_bar(console) as bar:

        def progress(task: str, done: int, total: int) -> None:
            if task not in tasks:
                tasks[task] = bar.add_task(TASK_LABELS.get(task, task), total=total)
            bar.update(tasks[task], completed=done, total=total)

        yield progress


def _json_destination(output: str | None, json_flag: bool) -> str | None:
    """Where the JSON report goes: -o FILE, or stdout ("-") for --json (cli/aliases.py maps `--json FILE`)."""
    if output is not None and json_flag:
        raise InputError("--json prints the report on stdout and -o writes it to a file; give one of them")
    return "-" if json_flag else output


def _write_or_salvage(text: str, dest: str, force: bool, run_id: Any) -> None:
    """Write the report; if that fails after the run (disk full, the folder went away), keep it elsewhere."""
    from virtprobe.cli.output import write_text

    try:
        write_text(text, dest, force=force)
    except InputError as err:
        try:
            fd, saved = tempfile.mkstemp(prefix=f"virtprobe-{run_id or 'bench'}-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as again:
            raise InputError(f"{err.message}; saving it in {tempfile.gettempdir()} failed too: {again}") from err
        raise InputError(f"{err.message}; the report was saved to {saved} instead") from err


def _say_warnings(targets: Any) -> None:
    """Each engine's address warnings (plain TCP off this machine, TLS unverified), one line each, once."""
    for target in targets:
        for warning in target.warnings:
            typer.echo(f"virtprobe: warning: {warning}", err=True)


def _runtime_names(values: list[str]) -> tuple[str, ...]:
    """--runtime a,b --runtime c -> (a, b, c); an empty name is a typo, not the default runtime."""
    names = [n.strip() for v in values for n in v.split(",")]
    if any(not n for n in names):
        raise InputError("--runtime: empty runtime name; give NAME[,NAME...] as `docker info` lists them")
    return tuple(names)


# A registry address as image references name it: a host name or IPv4 address, and a port.
_REGISTRY_RE = re.compile(r"^[A-Za-z0-9.-]{1,253}:[0-9]{1,5}$")


def _levels(text: str | None, option: str, minimum: int) -> tuple[int, ...]:
    """ "0,50,200" -> (0, 50, 200): whole numbers >= minimum, in the order given, each once."""
    if text is None:
        return ()
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < minimum or len(part) > 6:
            raise typer.BadParameter(
                f"{part!r} is not a whole number from {minimum} to 999999; give N[,N...]", param_hint=option
            )
        if int(part) not in out:
            out.append(int(part))
    return tuple(out)


def _parallel(text: str) -> tuple[int, tuple[int, ...]]:
    """--parallel P (one level: the density row of before) or P1,P2,... (the scaling curve)."""
    levels = _levels(text, "--parallel", 1)
    if len(levels) == 1 and "," not in text:
        return levels[0], ()
    return 1, levels


def bench(
    runs: Annotated[int, typer.Option("--runs", "-n", min=1, help="Measured container cycles.")] = 20,
    warmup: Annotated[
        int, typer.Option("--warmup", min=0, help="Cycles run first and kept out of the statistics.")
    ] = 2,
    parallel: Annotated[
        str,
        typer.Option(
            "--parallel",
            metavar="P[,P...]",
            help="Also start P containers at a time; several levels (1,2,4,8,16) give the scaling curve: "
            "throughput and p99 per level.",
        ),
    ] = "1",
    image_cache: Annotated[
        str | None,
        typer.Option(
            "--image-cache",
            metavar="cold|warm|both",
            help="Also time cycles of an image absent from the engine's store (cold: removed, then loaded "
            "back, the load timed as a phase), present (warm), or both.",
        ),
    ] = None,
    registry: Annotated[
        str | None,
        typer.Option(
            "--registry",
            metavar="HOST:PORT",
            help="With --image-cache cold or both: push the run's image to this registry once and pull it "
            "before every cold cycle (a real pull; a registry on 127.0.0.1 is spoken to over plain HTTP).",
        ),
    ] = None,
    density: Annotated[
        str | None,
        typer.Option(
            "--density",
            metavar="N[,N...]",
            help="Also time cycles while N idle containers already run (e.g. 0,50,200): p50, p99, and memory "
            "per extra container. Levels past the host's limits are refused with the reason.",
        ),
    ] = None,
    engine_cost: Annotated[
        bool,
        typer.Option(
            "--engine-cost", help="Also measure the engine's own CPU time per container and its per-container PSS."
        ),
    ] = False,
    snapshot: Annotated[
        bool,
        typer.Option(
            "--snapshot",
            help="Also time snapshot restore: a KVM guest restored from its saved memory and vCPU state, "
            "Firecracker's published figure, and CRIU where it works.",
        ),
    ] = False,
    trace: Annotated[
        str | None,
        typer.Option(
            "--trace",
            metavar="FILE",
            help="Also write a Chrome trace-event JSON file (Perfetto, chrome://tracing): a track per container, "
            "a slice per phase.",
        ),
    ] = None,
    image: Annotated[
        str | None,
        typer.Option("--image", help="Benchmark this local image instead of virtprobe's probe (time to first output)."),
    ] = None,
    memory: Annotated[
        int, typer.Option("--memory", min=0, help="Idle containers used to measure memory; 0 skips memory.")
    ] = 10,
    floor: Annotated[
        bool, typer.Option("--floor", help="Also time the probe under fork/exec, unshare, runc and crun.")
    ] = False,
    output: Annotated[
        str | None, typer.Option("--output", "-o", metavar="FILE", help="Write the JSON report to FILE (atomically).")
    ] = None,
    json_flag: Annotated[
        bool,
        typer.Option("--json", help="Print the JSON report on stdout instead of the table."),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the --output file if it exists.")] = False,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the simulated VM baselines, recorded in the report.")
    ] = 1,
    vm: Annotated[
        list[str] | None,
        typer.Option("--vm", help="Also boot a real VM and measure it: 'qemu' (a QEMU microVM; KVM, else TCG)."),
    ] = None,
    kernel: Annotated[
        str | None,
        typer.Option("--kernel", help="Guest kernel for --vm qemu (default: $VIRTPROBE_KERNEL, then /boot/vmlinuz-*)."),
    ] = None,
    profiles: Annotated[
        str | None, typer.Option("--profiles", help="A JSON file of extra VM profiles to simulate.")
    ] = None,
    hwvirt: Annotated[
        bool,
        typer.Option("--hwvirt", help="Drive /dev/kvm directly: VM floor, VM-exit cost, near-native speed."),
    ] = False,
    runtime: Annotated[
        list[str] | None,
        typer.Option(
            "--runtime",
            help="OCI runtimes to bench, interleaved, one row each: NAME[,NAME...] as the engine offers them "
            "(docker info: Runtimes). The first is the reference of the ratios.",
        ),
    ] = None,
    function: Annotated[
        int | None,
        typer.Option(
            "--function",
            min=1,
            metavar="MS",
            help="Also run the serverless cycle: a function of MS ms of CPU (100 is the usual) called cold, "
            "warm (exec) and paused, with its cost at 1 ms and 100 ms billing.",
        ),
    ] = None,
    max_startup_ms: Annotated[
        float | None,
        typer.Option("--max-startup-ms", min=0, help="Exit 3 if the container startup median is above this."),
    ] = None,
    max_memory_mib: Annotated[
        float | None,
        typer.Option("--max-memory-mib", min=0, help="Exit 3 if memory per container is above this."),
    ] = None,
    anonymize: Annotated[
        bool, typer.Option("--anonymize", help="Replace the hostname and machine id with stable hashes.")
    ] = False,
    hosts: Annotated[
        list[str] | None,
        typer.Option(
            "--host",
            "-H",
            help="Engine to bench: unix://PATH, tcp://HOST:PORT, ssh://USER@HOST[:PORT]. Repeat it (and --context) "
            "to bench several engines at once into one fleet report; exit 4 if any of them failed.",
        ),
    ] = None,
    contexts: Annotated[
        list[str] | None,
        typer.Option("--context", "-c", help="Docker context to bench (docker context ls); repeatable."),
    ] = None,
    tlsverify: TlsVerify = False,
) -> None:
    """Time container startup phase by phase, and memory, against VM baselines."""
    import virtprobe
    from virtprobe.benchmark.options import BenchOptions
    from virtprobe.report.document import dumps, new_report, to_document
    from virtprobe.report.write import check_writable

    json_out = _json_destination(output, json_flag)
    # Refuse before a minute of measuring, not after.
    if max_memory_mib is not None and memory == 0:
        raise InputError("--max-memory-mib needs memory measured; drop --memory 0")
    if json_out is not None:
        check_writable(json_out, force)
    if trace is not None:
        if trace == "-":
            raise typer.BadParameter("give a file name: stdout carries the report", param_hint="--trace")
        check_writable(trace, force)
    if image_cache not in (None, "cold", "warm", "both"):
        raise typer.BadParameter(f"{image_cache!r}: choose cold, warm or both", param_hint="--image-cache")
    if registry is not None and image_cache not in ("cold", "both"):
        raise typer.BadParameter("--registry is where cold images are pulled from: add --image-cache cold or both",
                                 param_hint="--registry")  # fmt: skip
    if registry is not None and not _REGISTRY_RE.match(registry):
        raise typer.BadParameter(f"{registry!r} is not HOST:PORT (e.g. 127.0.0.1:5000)", param_hint="--registry")
    parallel_one, parallel_levels = _parallel(parallel)
    options = BenchOptions(
        runs=runs,
        warmup=warmup,
        parallel=parallel_one,
        parallel_levels=parallel_levels,
        image_cache=image_cache,
        registry=registry,
        density=_levels(density, "--density", 0),
        engine_cost=engine_cost,
        snapshot=snapshot,
        image=image,
        memory_containers=memory,
        floor=floor,
        seed=seed,
        vm=tuple(vm or ()),
        kernel=kernel,
        profiles=profiles,
        hwvirt=hwvirt,
        runtimes=_runtime_names(runtime or []),
        function_ms=function,
    )
    from virtprobe.benchmark.connect import resolve_targets

    # The docker CLI's resolution: --host, --context, DOCKER_HOST, DOCKER_CONTEXT, the current context.
    targets = resolve_targets(hosts or (), contexts or (), tlsverify=tlsverify)
    _say_warnings(targets)
    if len(targets) > 1:
        from virtprobe.cli.bench_fleet import run_fleet_command

        run_fleet_command(
            targets, options, json_out=json_out, force=force, anonymize=anonymize,
            max_startup_ms=max_startup_ms, max_memory_mib=max_memory_mib, write=_write_or_salvage,
        )  # fmt: skip
        return
    died: EngineError | None = None
    with _progress() as progress:
        try:
            result = virtprobe.bench(options, engine=targets[0], progress=progress)
        except EngineError as err:
            # The only engine died mid-run: write what it measured, then exit 4 with the advice.
            from virtprobe.benchmark.result import BenchResult

            if not isinstance(err.partial, BenchResult):
                raise
            result, died = err.partial, err
    report = new_report(result)
    if anonymize:
        from virtprobe.report.anonymize import anonymize as anonymize_report

        report = anonymize_report(report)
    # The report is written before the gates are judged: a failing CI run keeps its evidence.
    if json_out is not None:
        _write_or_salvage(dumps(to_document(report)), json_out, force, result.run_id)
    if trace is not None:
        from virtprobe.cli.output import write_text
        from virtprobe.report.trace import trace_text

        write_text(trace_text(report.result), trace, force=force)
    if json_out != "-":
        from virtprobe.cli.console import stdout_console
        from virtprobe.report.formats import report_page
        from virtprobe.report.writers.terminal import renderable

        stdout_console().print(renderable([report_page(report)]))
    if died is not None:
        raise died
    from virtprobe.report.gates import check_gates

    failures = check_gates(report.result, max_startup_ms, max_memory_mib)
    if failures:
        raise GateFailed("gate exceeded: " + "; ".join(failures))


def clean(
    images: Annotated[bool, typer.Option("--images", help="Also remove virtprobe's probe images.")] = False,
    include_running: Annotated[
        bool,
        typer.Option("--include-running", help="Also remove the containers of virtprobe runs still going."),
    ] = False,
    hosts: Annotated[
        list[str] | None,
        typer.Option("--host", "-H", help="Engine to clean (as bench --host); repeatable."),
    ] = None,
    contexts: Annotated[
        list[str] | None,
        typer.Option("--context", "-c", help="Docker context to clean; repeatable."),
    ] = None,
    tlsverify: TlsVerify = False,
) -> None:
    """Remove containers and images left by crashed virtprobe runs (only virtprobe's own)."""
    from virtprobe.benchmark.clean import clean as run_clean
    from virtprobe.benchmark.connect import resolve_targets
    from virtprobe.benchmark.engines import make_backend

    # The same engines bench would reach: --host, --context, DOCKER_HOST, DOCKER_CONTEXT, the current context.
    targets = resolve_targets(hosts or (), contexts or (), tlsverify=tlsverify)
    _say_warnings(targets)
    for target in targets:
        named = target.origin not in ("DOCKER_HOST", "default")
        backend = make_backend(target)
        removed, running, removed_images = run_clean(backend, images=images, include_running=include_running)
        where = f"{target.name}: " if len(targets) > 1 or named else ""
        message = f"{where}removed {len(removed)} container(s) labelled io.virtprobe.run" + (
            f" and {len(removed_images)} probe image(s)" if images else ""
        )
        if running:
            message += (
                f"; kept {len(running)} that are running or belong to virtprobe runs still going "
                "(--include-running removes them too)"
            )
        typer.echo(message, err=True)
