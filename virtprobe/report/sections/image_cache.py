"""Builder of the `--image-cache` section: each phase cold and warm, the load as a phase of its own."""

from __future__ import annotations

from virtprobe import stats
from virtprobe.benchmark.result import BenchResult, ImageCacheSection, Phase, measured_values
from virtprobe.report.labels import IMAGE_LOAD_LABEL, phase_label
from virtprobe.report.page import (
    Cell,
    Chart,
    ChartKind,
    Column,
    ColumnKind,
    Note,
    NoteKind,
    Section,
    Series,
    Table,
    Tone,
)
from virtprobe.report.sections.common import value_cell

# The load first, as it comes first in a cold cycle; then the cycle's own phases (labels.py names them all).
LOAD = "load_s"
CYCLE_PHASES: tuple[Phase, ...] = ("create_s", "start_s", "first_instruction_s", "run_to_exit_s", "remove_s", "cycle_s")
PHASE_ROWS: tuple[tuple[str, str], ...] = (
    (LOAD, IMAGE_LOAD_LABEL),
    *((p, phase_label(p) + (" (without the load)" if p == "cycle_s" else "")) for p in CYCLE_PHASES),
)
STACKED = ("load_s", "create_s", "start_s", "run_to_exit_s", "remove_s")


def _values(cache: ImageCacheSection, phase: str, cold: bool) -> list[float]:
    if phase == LOAD:
        return cache.measured_load_s() if cold else []
    cycle_phase = next(p for p in CYCLE_PHASES if p == phase)
    return measured_values(cache.cold if cold else cache.warm, cycle_phase)


def _cell(values: list[float], q: str = "median") -> Cell:
    s = stats.summarize(values)
    return value_cell(s.median if q == "median" else s.p99)


def image_cache_section(result: BenchResult) -> Section | None:
    cache = result.image_cache
    if cache is None:
        return None
    if cache.refused:
        return Section("bench.image_cache", "Cold and warm image", (Note(cache.refused, NoteKind.warning),))
    columns = (
        Column("phase", ColumnKind.label, metric="phase"),
        Column("warm median", ColumnKind.seconds, metric="image_warm_median"),
        Column("cold median", ColumnKind.seconds, metric="image_cold_median"),
        Column("cold p99", ColumnKind.seconds, metric="image_cold_p99"),
        Column("cold − warm", ColumnKind.seconds, metric="image_cold_cost"),
    )
    rows = []
    for phase, label in PHASE_ROWS:
        warm, cold = _values(cache, phase, False), _values(cache, phase, True)
        if not warm and not cold:
            continue
        wm, cm = stats.summarize(warm).median, stats.summarize(cold).median
        if phase == "load_s" and cm is not None:
            wm = 0.0  # a warm cycle loads nothing
        cost = value_cell(cm - wm if cm is not None and wm is not None else None, Tone.strong)
        warm_cell = Cell(0.0, "none") if phase == "load_s" else _cell(warm)
        rows.append((Cell(label), warm_cell, _cell(cold), _cell(cold, "p99"), cost))
    table = Table("bench.image_cache", columns, tuple(rows), title=f"Image cache: {cache.mode}")
    blocks: list[Table | Note | Chart] = [table]
    if cache.mode == "both":
        categories = ("warm", "cold")
        series = tuple(
            Series(label, tuple(stats.summarize(_values(cache, phase, c)).median or 0.0 for c in (False, True)))
            for phase, label in PHASE_ROWS
            if phase in STACKED
        )
        blocks.append(Chart("bench.image_cache.chart", ChartKind.stacked_bar, "Cycle phases, warm and cold image",
                            "s", series, categories=categories))  # fmt: skip
    how = (
        "pulled from a registry before each cycle (a real pull)"
        if cache.method == "pull"
        else f"loaded back from an archive of {cache.archive_bytes or 0} bytes (/images/load)"
    )
    method = (
        f"Cold: the run's own image ({cache.image}) removed from the engine's store before each cycle and {how}; "
        "that step is timed as a phase of its own."
    )
    blocks.append(Note(method, NoteKind.info))
    if cache.page_cache:
        blocks.append(Note(f"Page cache: {cache.page_cache}", NoteKind.caveat))
    blocks += [Note(n, NoteKind.info) for n in cache.notes]
    return Section("bench.image_cache", "Cold and warm image", tuple(blocks))
