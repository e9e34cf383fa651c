"""The bench page: the setup, then one section per thing measured, in reading order.

`BENCH_SECTIONS` is the page's table of contents: each entry is a function
`(result) -> Section | None` (None when the run did not measure that), so a new
bench section is one function appended here. The writers render whatever the
functions return.
"""

from __future__ import annotations

from collections.abc import Callable

from virtprobe.benchmark.result import BenchResult
from virtprobe.report.envelope import Header
from virtprobe.report.metrics import engine_line
from virtprobe.report.page import Cell, Facts, Note, NoteKind, Page, Section
from virtprobe.report.sections.common import footer, verdict_line
from virtprobe.report.sections.density import density_levels_section
from virtprobe.report.sections.engine_cost import engine_cost_section
from virtprobe.report.sections.floor import floor_section
from virtprobe.report.sections.function import function_section
from virtprobe.report.sections.hwvirt import hwvirt_section
from virtprobe.report.sections.image_cache import image_cache_section
from virtprobe.report.sections.memory import memory_section
from virtprobe.report.sections.restore import restore_section
from virtprobe.report.sections.scaling import scaling_section
from virtprobe.report.sections.startup import parallel_section, runtimes_section, startup_section
from virtprobe.report.sections.vm import vm_section

SectionBuilder = Callable[[BenchResult], Section | None]


def setup_section(result: BenchResult) -> Section:
    """Where and how it was measured; the named items are the labels of `virtprobe_bench_info`."""
    env, opts = result.environment, result.options
    engine = env.engine
    image = result.container.image if result.container is not None else None
    cpu = f"{env.cpu_model or 'unknown CPU'} × {env.cpu_count if env.cpu_count is not None else '?'}"
    items: list[tuple[str, Cell, str | None]] = [
        ("host", Cell(env.hostname), None),
        ("kernel", Cell(env.kernel), "kernel"),
        ("CPU", Cell(cpu), None),
        ("runs", Cell(f"{opts.runs} measured after {opts.warmup} warmup"), None),
        ("engine", Cell(engine.product if engine else None, engine_line(engine)), "engine"),
        ("engine version", Cell(engine.product_version or engine.engine_version if engine else None), "engine_version"),
        ("image", Cell(image.name if image else None), "image"),
        ("run id", Cell(result.run_id or None), None),
    ]
    facts = Facts(
        "bench.setup",
        tuple((name, cell) for name, cell, _ in items),
        metric="bench",
        names=tuple(name for _, _, name in items),
    )
    return Section("bench.setup", "Setup", (facts,))


def warnings_section(result: BenchResult) -> Section | None:
    if not result.warnings:
        return None
    return Section("bench.warnings", "Warnings", tuple(Note(w, NoteKind.warning) for w in result.warnings))


BENCH_SECTIONS: tuple[SectionBuilder, ...] = (
    setup_section,
    startup_section,
    runtimes_section,
    image_cache_section,
    parallel_section,
    scaling_section,
    density_levels_section,
    memory_section,
    engine_cost_section,
    vm_section,
    restore_section,
    function_section,
    floor_section,
    hwvirt_section,
    warnings_section,
)


def build_bench_page(result: BenchResult, header: Header | None = None, name: str | None = None) -> Page:
    """The bench report; `name` (the file it was read from) goes in the title when given."""
    sections = [s for build in BENCH_SECTIONS if (s := build(result)) is not None]
    if result.container is None and len(sections) == 1:
        sections.append(Section("bench.empty", "Measurements", (Note("no container measurements in this report"),)))
    where = result.environment.hostname or "unknown host"
    when = header.created_utc if header is not None else None
    title = f"virtprobe bench — {where}" + (f", {when}" if when else "") + (f" ({name})" if name else "")
    return Page.of(
        "bench",
        title,
        tuple(sections),
        headline=verdict_line(result.environment.detect),
        footer=footer(header, f"run {result.run_id}" if result.run_id else None),
    )
