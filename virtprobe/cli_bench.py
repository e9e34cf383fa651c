"""CLI commands `bench` and `clean` (thin: options -> core -> render -> exit code)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from virtprobe.errors import InputError

_TASK_LABELS = {
    "cycles": "container cycles",
    "memory": "idle containers for memory",
    "parallel": "parallel cycles",
    "floor": "floor ladder",
}


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Any]:
    """A Rich progress bar on stderr; yields progress(task, done, total)."""
    if not enabled:
        yield lambda task, done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from virtprobe.render import stderr_console

    tasks: dict[str, Any] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr_console(),
        transient=True,
    ) as bar:

        def progress(task: str, done: int, total: int) -> None:
            if task not in tasks:
                tasks[task] = bar.add_task(_TASK_LABELS.get(task, task), total=total)
            bar.update(tasks[task], completed=done, total=total)

        yield progress


def bench(
    runs: Annotated[int, typer.Option("--runs", "-n", min=1, help="Measured container cycles.")] = 20,
    warmup: Annotated[
        int, typer.Option("--warmup", min=0, help="Cycles run first and kept out of the statistics.")
    ] = 2,
    parallel: Annotated[
        int, typer.Option("--parallel", min=1, help="Also start this many containers at a time (density).")
    ] = 1,
    image: Annotated[
        str | None,
        typer.Option(
            "--image", help="Benchmark this local image instead of virtprobe's probe (time to first output)."
        ),
    ] = None,
    memory: Annotated[
        int, typer.Option("--memory", min=0, help="Idle containers used to measure memory; 0 skips memory.")
    ] = 10,
    floor: Annotated[
        bool, typer.Option("--floor", help="Also time the probe under fork/exec, unshare, runc and crun.")
    ] = False,
    json_out: Annotated[
        str | None, typer.Option("--json", help="Write the JSON report to FILE ('-' for stdout only).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the --json file if it exists.")] = False,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed recorded in the report (for simulated baselines).")
    ] = 1,
) -> None:
    """Time container startup phase by phase, and memory, against VM baselines."""
    from virtprobe.bench.model import BenchOptions
    from virtprobe.bench.runner import run_bench
    from virtprobe.report.model import dumps, write_text

    # Refuse before a minute of measuring, not after.
    if json_out not in (None, "-") and os.path.exists(json_out) and not force:
        raise InputError(f"{json_out} already exists; pass --force to overwrite it")
    options = BenchOptions(
        runs=runs,
        warmup=warmup,
        parallel=parallel,
        image=image,
        memory_containers=memory,
        floor=floor,
        seed=seed,
    )
    with _progress_bar(enabled=True) as progress:
        doc = run_bench(options, progress)
    if json_out is not None:
        write_text(dumps(doc), json_out, force=force)
        if json_out == "-":
            return
    from virtprobe.render import stdout_console
    from virtprobe.report.table import render_bench

    stdout_console().print(render_bench(doc))


def clean(
    images: Annotated[bool, typer.Option("--images", help="Also remove virtprobe's probe images.")] = False,
) -> None:
    """Remove containers and images left by crashed virtprobe runs (only virtprobe's own)."""
    from virtprobe.bench.runner import clean as run_clean

    containers, removed_images = run_clean(images=images)
    typer.echo(
        f"removed {len(containers)} container(s) labelled io.virtprobe.run"
        + (f" and {len(removed_images)} probe image(s)" if images else ""),
        err=True,
    )
