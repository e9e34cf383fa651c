"""`bench --host/--context`: one engine named the docker CLI's way, or several engines into one fleet report.

Thin: resolve the engines (benchmark/connect.py), run them (benchmark/fleet.py),
build the fleet report (report/fleet.py), write it, render it, pick the exit code.
Exit codes: 0 when every engine gave a result; 4 (EngineError) when any engine
failed, after the report with every other engine's figures has been written;
3 when every engine ran but a --max-* gate was exceeded on one of them.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from virtprobe.benchmark.backend import Progress
from virtprobe.benchmark.connect import EngineTarget
from virtprobe.benchmark.engines import make_backend
from virtprobe.benchmark.fleet import EngineOutcome, run_fleet
from virtprobe.benchmark.options import BenchOptions
from virtprobe.cli.console import TASK_LABELS, progress_bar, progress_lines, stderr_console, stdout_console
from virtprobe.detection.run import detect
from virtprobe.errors import EngineError, GateFailed
from virtprobe.machine.source import LiveSource
from virtprobe.report.envelope import dumps
from virtprobe.report.fleet import anonymize_fleet, fleet_from_outcomes, fleet_to_document
from virtprobe.report.formats import report_page
from virtprobe.report.gates import check_gates
from virtprobe.report.writers.terminal import renderable


def _detected() -> Any:
    # One detect run for the whole fleet: it describes the machine virtprobe runs on.
    return detect(LiveSource(), kvm_probe=True)


@contextmanager
def engine_progress(targets: Sequence[EngineTarget]) -> Iterator[tuple[Any, Any]]:
    """(progress_for(target), on_done(outcome)): one live line per engine on a terminal, else a line per event."""
    console = stderr_console()
    width = max(len(t.name) for t in targets)

    def on_done(o: EngineOutcome) -> None:
        took = f" in {o.elapsed_s:.1f} s" if o.elapsed_s is not None else ""
        state = f"done{took}" if o.ok else f"FAILED{took}: {o.error}"
        console.print(f"{o.target.name:<{width}}  {state}", markup=False, highlight=False)

    if not console.is_terminal:

        def progress_for(target: EngineTarget) -> Progress:
            return progress_lines(TASK_LABELS, prefix=f"{target.name:<{width}}  ")

        yield progress_for, on_done
        return
    with progress_bar(console) as bar:
        rows: dict[str, Any] = {}

        def progress_for_bar(target: EngineTarget) -> Progress:
            row = rows[target.name] = bar.add_task(f"{target.name:<{width}}  connecting", total=None)

            def progress(task: str, done: int, total: int) -> None:
                label = TASK_LABELS.get(task, task)
                bar.update(row, description=f"{target.name:<{width}}  {label}", completed=done, total=total or None)

            return progress

        def on_done_bar(o: EngineOutcome) -> None:
            on_done(o)  # the line that stays, above the live rows
            row = rows.get(o.target.name)
            if row is not None:
                bar.update(row, description=f"{o.target.name:<{width}}  {'done' if o.ok else 'FAILED'}")
                bar.stop_task(row)

        yield progress_for_bar, on_done_bar


def run_fleet_command(
    targets: Sequence[EngineTarget],
    options: BenchOptions,
    *,
    json_out: str | None,
    force: bool,
    anonymize: bool,
    max_startup_ms: float | None,
    max_memory_mib: float | None,
    write: Callable[[str, str, bool, Any], None],
) -> None:
    """`write(text, dest, force, run_id)` is bench's own report writer (it salvages a failed write)."""
    detected = _detected()
    t0 = time.monotonic()
    with engine_progress(targets) as (progress_for, on_done):
        outcomes = run_fleet(
            targets,
            options,
            detected,
            make_backend=make_backend,
            progress_for=progress_for,
            on_done=on_done,
        )
    for o in outcomes:
        if o.traceback:
            # Not a VirtprobeError: a bug. Its traceback goes to stderr, the other engines' results are kept.
            print(f"{o.target.name}: {o.traceback}", file=sys.stderr)
    fleet = fleet_from_outcomes(outcomes)
    if anonymize:
        fleet = anonymize_fleet(fleet)
    if json_out is not None:
        write(dumps(fleet_to_document(fleet)), json_out, force, f"fleet-{int(t0)}")
    if json_out != "-":
        stdout_console().print(renderable([report_page(fleet)]))
    failed = [m for m in fleet.members if not m.ok]
    if failed:
        raise EngineError(
            f"{len(failed)} of {len(fleet.members)} engines failed, the others' results are in the report: "
            + "; ".join(f"{m.name}: {m.error.message if m.error else '?'}" for m in failed)
        )
    gate_failures = [
        f"{o.target.name}: {f}"
        for o in outcomes
        if o.result is not None
        for f in check_gates(o.result, max_startup_ms, max_memory_mib)
    ]
    if gate_failures:
        raise GateFailed("gate exceeded: " + "; ".join(gate_failures))
