"""Issue 19's sections without an engine: the runner against a scripted engine, the pure decisions, the
typed results and their schema, and the section builders."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import ROOTS
from tests.scripted import FakeClock, ScriptedBackend
from virtprobe.benchmark import criu, density, image_cache, runner
from virtprobe.benchmark.options import BenchOptions
from virtprobe.benchmark.result import (
    MEASURED,
    REFUSED,
    BenchResult,
    DensityLevel,
    DensitySection,
    EngineCostSection,
    least_squares_slope,
)
from virtprobe.detection.run import detect
from virtprobe.machine.roots import open_source
from virtprobe.report.document import BenchReport, dumps, new_report, to_document
from virtprobe.report.load import check_document, load_report
from virtprobe.report.page import Chart, ChartKind, Page, Table, Tone
from virtprobe.report.sections.density import density_levels_section
from virtprobe.report.sections.engine_cost import engine_cost_section
from virtprobe.report.sections.image_cache import image_cache_section
from virtprobe.report.sections.restore import restore_citations, restore_section
from virtprobe.report.sections.scaling import scaling_section

MS = 1_000_000
FIX = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def detected() -> Any:
    # Any captured machine will do: the runner only reads its KVM verdict (--snapshot).
    root = next(p for p in sorted(ROOTS.iterdir()) if p.is_dir())
    return detect(open_source(str(root)), kvm_probe=False)


def bench(detected: Any, **kw: Any) -> tuple[BenchResult, ScriptedBackend]:
    clock = FakeClock()
    backend = ScriptedBackend(clock)
    opts = BenchOptions(**{"runs": 4, "warmup": 1, "memory_containers": 0, "seed": 1, **kw})
    result = runner.run_bench(opts, backend, detected, clock=clock, sleep=lambda s: None)
    return result, backend


def test_cold_cycles_load_the_image_first_and_warm_ones_do_not(detected: Any) -> None:
    result, backend = bench(detected, image_cache="both")
    cache = result.image_cache
    assert cache is not None and cache.mode == "both" and cache.method == "load"
    assert len(cache.cold) == len(cache.warm) == len(cache.load_s) == 5
    # The scripted load costs 50 ms plus one clock read; cold and warm cycles alike otherwise.
    assert all(s == pytest.approx(0.051) for s in cache.load_s)
    assert [s.cycle_s for s in cache.cold] == pytest.approx([s.cycle_s for s in cache.warm])
    names = [c for c, _ in backend.calls]
    # Each cold cycle: the image removed, loaded, then created from; the run's image removed at the end.
    first_load = names.index("load_image")
    assert names[first_load - 1] == "remove_run_image" and names[first_load + 1] == "create"
    assert names[-1] == "remove_run_image" and not backend.images
    assert backend.containers == {}


def test_with_a_registry_cold_cycles_pull_the_image(detected: Any) -> None:
    result, backend = bench(detected, image_cache="cold", registry="127.0.0.1:5000")
    cache = result.image_cache
    assert cache is not None and cache.method == "pull" and cache.archive_bytes is None
    assert all(s == pytest.approx(0.081) for s in cache.load_s)  # the scripted pull: 80 ms + a clock read
    ref = f"127.0.0.1:5000/virtprobe/probe-cold:{result.run_id}"
    names = [c for c, _ in backend.calls]
    assert ("push_image", ref) in backend.calls and "save_image" not in names
    assert [arg for c, arg in backend.calls if c == "remove_run_image"].count(ref) >= len(cache.cold)
    assert not backend.images and backend.containers == {}


def test_image_cache_refuses_a_user_image(detected: Any) -> None:
    result, backend = bench(detected, image_cache="cold", image="alpine:3")
    assert result.image_cache is not None and "never removes an image it did not build" in (
        result.image_cache.refused or ""
    )
    assert ("build_run_image", "virtprobe/probe-cold:" + result.run_id) not in backend.calls


def test_density_levels_in_order_with_the_slope_of_their_memory(detected: Any) -> None:
    result, backend = bench(detected, density=(3, 0, 6))
    d = result.density
    assert d is not None and [lv.idle for lv in d.levels] == [0, 3, 6]
    assert all(len(lv.samples) == 5 and lv.refused is None for lv in d.levels)
    # The scripted engine charges 3.3 MB of anonymous memory per idle (pause) container.
    assert d.slope_bytes_per_container("kernel_anon") == pytest.approx(3_300_000)
    assert d.slope_bytes_per_container("mem_available") == pytest.approx(3_300_000)
    assert backend.roles.count("density") == 6  # 3 for the level 3, 3 more for 6: never re-created
    assert backend.containers == {}


def test_a_level_past_the_limits_is_refused_and_the_others_run(detected: Any) -> None:
    limits = density.Limits(mem_available_bytes=100 * density.MIB, tasks_now=100, tasks_max=32768,
                            daemon_fds_now=10, daemon_nofile=1024)  # fmt: skip
    clock = FakeClock()
    backend = ScriptedBackend(clock)
    opts = BenchOptions(runs=2, warmup=0, density=(0, 2, 50))
    section = density.run_density(
        backend,
        clock,
        opts,
        lambda *a: None,
        image="img",
        probe=True,
        run_id="vp-t",
        engine=backend.engine,
        judge=None,
        sleep=lambda s: None,
        limits=lambda: limits,
    )
    assert [(lv.idle, lv.refused is None) for lv in section.levels] == [(0, True), (2, True), (50, False)]
    assert "memory: 48 more idle containers" in (section.levels[2].refused or "")
    assert backend.containers == {}


def test_refusal_names_the_limit_it_hit() -> None:
    big = density.Limits(10**12, 100, 32768, 10, 1 << 20)
    assert density.refusal(0, density.Limits(0, 0, 1, 0, 0)) is None
    assert density.refusal(100, big) is None
    assert "pids" in (density.refusal(3000, big) or "")
    assert "RLIMIT_NOFILE of 64" in (density.refusal(10, density.Limits(10**12, 1, 10**6, 60, 64)) or "")
    assert density.refusal(10, density.Limits(None, None, None, None, None)) is None
    assert density.parse_tasks("0.52 0.58 0.59 3/469 12345\n") == 469
    assert density.parse_tasks("garbage") is None


def test_least_squares_slope() -> None:
    assert least_squares_slope([(0, 1.0), (1, 3.0), (2, 5.0)]) == pytest.approx(2.0)
    assert least_squares_slope([(5, 1.0), (5, 2.0)]) is None


def test_scaling_levels_run_every_cycle_and_keep_them(detected: Any) -> None:
    result, backend = bench(detected, parallel_levels=(1, 2, 4))
    sc = result.scaling
    assert sc is not None and [lv.parallel for lv in sc.levels] == [1, 2, 4]
    assert [len(lv.samples) for lv in sc.levels] == [4, 4, 8]  # max(runs, 2 x level)
    assert all(lv.wall_s and lv.wall_s > 0 and lv.containers_per_s for lv in sc.levels)
    assert result.container is not None and result.container.parallel is None
    assert backend.containers == {}


def test_page_cache_plan_and_drop(tmp_path: Path) -> None:
    from tests.scripted import scripted_engine_info

    assert image_cache.page_cache_plan(scripted_engine_info(), 0) is None
    assert "only root" in (image_cache.page_cache_plan(scripted_engine_info(), 1000) or "")
    remote = scripted_engine_info(on_this_machine=False, location_reason="another host")
    assert "another host" in (image_cache.page_cache_plan(remote, 0) or "")
    (tmp_path / "a").write_bytes(b"x" * 8192)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "b").write_bytes(b"y")
    os.symlink("/etc/passwd", tmp_path / "d" / "link")
    dropped, problems = image_cache.drop_page_cache([str(tmp_path)])
    assert dropped == 2 and problems == []


# What `criu check` printed on this development VM's 6.18 kernel (MEASURED.md: CRIU 3.17).
CRIU_CHECK_HERE = """\
Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds
Error (criu/vdso.c:613): vdso: Failed to fill self vdso symtable
Error (criu/kerndat.c:1615): kerndat_vdso_fill_symtable failed when initializing kerndat.
Error (criu/crtools.c:260): Could not initialize kernel features detection.
"""


def test_criu_check_is_read_in_its_own_words() -> None:
    ok, said = criu.parse_check(1, CRIU_CHECK_HERE)
    assert not ok and said.startswith("Error (criu/vdso.c:381): vdso: Unexpected rt vDSO area bounds")
    assert criu.parse_check(0, "Looks good.\n") == (True, "Looks good.")
    assert criu.parse_check(0, "")[0] is False


def test_criu_row_refused_with_checks_words_before_any_container() -> None:
    from tests.scripted import scripted_engine_info

    clock = FakeClock()
    backend = ScriptedBackend(clock)
    row = criu.run_criu(backend, "img", "vp-t", scripted_engine_info(), 3, check=lambda: (False, "words of criu"))
    assert row.kind == REFUSED and row.refused == "criu check: words of criu" and backend.created == 0
    remote = scripted_engine_info(on_this_machine=False, location_reason="another host")
    assert "another host" in (criu.run_criu(backend, "img", "vp-t", remote, 3).refused or "")


def _full_result(detected: Any) -> BenchResult:
    import dataclasses

    from virtprobe.benchmark.result import RestoreRow, RestoreSection, Source

    result, _ = bench(detected, image_cache="both", density=(0, 2), parallel_levels=(1, 2))
    cost = EngineCostSection(
        available=True,
        reason=None,
        cpu_s=(0.16, 0.18),
        cpu_s_by_process={"dockerd": (0.06, 0.07), "containerd": (0.02, 0.03), "containerd-shim": (0.08, 0.08)},
        process_name="containerd-shim",
        process_pss_bytes=(7.6e6, 7.7e6),
        engine_pids=(1, 2),
        method="m",
        notes=("n",),
    )
    rows = (
        RestoreRow("kvm-snapshot", "KVM snapshot restore", MEASURED, (0.0005, 0.0006), "meaning", memory_bytes=64),
        RestoreRow(
            "firecracker-snapshot",
            "Firecracker",
            "simulated",
            (0.004,),
            "m",
            source=Source("a paper", "https://x", None, "m"),
        ),
        RestoreRow("criu", "CRIU", REFUSED, (), "m", refused="criu check: no"),
    )
    return dataclasses.replace(result, engine_cost=cost, restore=RestoreSection(rows))


def test_round_trip_and_the_1_2_schema(detected: Any, tmp_path: Path) -> None:
    result = _full_result(detected)
    doc = to_document(new_report(result))
    assert doc["schema_version"] == "1.2"
    again = BenchResult.from_dict(json.loads(dumps(doc)))
    assert again == result
    check_document(json.loads(dumps(doc)), "t")  # valid against bench-1.2
    sample = doc["image_cache"]["cold"][0]
    assert len(sample["timeline_ns"]) == 7 and sample["timeline_ns"] == sorted(sample["timeline_ns"])
    bad = json.loads(dumps(doc))
    bad["density"]["levels"][0]["idle"] = -1
    with pytest.raises(Exception, match="schema"):
        check_document(bad, "t")


def test_a_1_1_report_loads_with_the_new_sections_absent() -> None:
    report = load_report(FIX / "reports" / "bench-1.1-runtimes-function.json")
    assert isinstance(report, BenchReport) and report.header.schema_version == "1.2"
    r = report.result
    assert (r.image_cache, r.density, r.scaling, r.engine_cost, r.restore) == (None, None, None, None, None)
    assert r.container is not None and all(s.timeline_ns is None for s in r.container.samples)


def test_builders_turn_every_section_into_tables_notes_and_charts(detected: Any) -> None:
    result = _full_result(detected)
    sections = [f(result) for f in (image_cache_section, density_levels_section, scaling_section, engine_cost_section,
                                    restore_section)]  # fmt: skip
    assert all(s is not None for s in sections)
    page = Page("bench", "t", tuple(s for s in sections if s), citations=restore_citations(result))
    tables = {b.key: b for s in page.sections for b in s.blocks if isinstance(b, Table)}
    charts = {b.key: b for s in page.sections for b in s.blocks if isinstance(b, Chart)}
    cache = tables["bench.image_cache"]
    assert cache.rows[0][0].value == "load (image into the store)"
    assert cache.rows[0][2].value == pytest.approx(0.051)  # cold median of the load
    assert charts["bench.image_cache.chart"].kind == ChartKind.stacked_bar
    assert [r[0].value for r in tables["bench.density"].rows] == [0, 2]
    assert charts["bench.density.chart"].x == (0.0, 2.0)
    scaling = tables["bench.scaling"]
    assert [r[0].value for r in scaling.rows] == [1, 2] and scaling.rows[0][3].value == pytest.approx(1.0)
    assert charts["bench.scaling.throughput"].kind == ChartKind.line
    cost = tables["bench.engine_cost"]
    assert cost.rows[-1][1].value == pytest.approx(0.17) and cost.rows[0][0].value == "containerd-shim"
    restore = tables["bench.restore"]
    assert [r[1].value for r in restore.rows] == ["measured here", "published (simulated)", "refused"]
    assert restore.rows[1][0].tone == Tone.simulated
    assert restore.cites == tuple(c.key for c in restore_citations(result)) and len(restore.cites) == 1
    criu = restore.rows[2][5].value
    assert isinstance(criu, str) and "criu check: no" in criu
    assert density_levels_section(BenchResult.from_dict({})) is None


def test_density_section_says_why_a_level_was_refused() -> None:
    d = DensitySection(levels=(DensityLevel(idle=500, samples=(), refused="memory: too much"),))
    result = BenchResult.from_dict({"density": d.to_dict()})
    section = density_levels_section(result)
    assert section is not None
    table = next(b for b in section.blocks if isinstance(b, Table))
    assert table.rows[0][-1].value == "refused: memory: too much" and table.rows[0][1].tone == Tone.muted


def test_engine_cost_unavailable_says_why() -> None:
    result = BenchResult.from_dict({"engine_cost": {"available": False, "reason": "the engine runs elsewhere"}})
    section = engine_cost_section(result)
    assert section is not None and "the engine runs elsewhere" in section.blocks[0].text  # type: ignore[union-attr]


@given(st.text())
def test_the_readers_of_outside_text_never_raise(text: str) -> None:
    # /proc/loadavg and criu's output are read from outside: any text gives an answer, never an error.
    tasks = density.parse_tasks(text)
    assert tasks is None or tasks >= 0
    ok, said = criu.parse_check(0, text)
    assert isinstance(ok, bool) and len(said) <= criu.MAX_REASON
