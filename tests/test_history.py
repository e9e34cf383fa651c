"""history's two decisions on fixed data (E-Divisive change points, the newest-point test) and its Page."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.test_cli import vp
from virtprobe.report import history as h
from virtprobe.report.page import ChartKind, Table, Tone
from virtprobe.report.sections.history import build_history_page


def test_q_statistic_is_largest_at_the_step() -> None:
    xs = [1.0, 1.1, 0.9, 1.0, 2.0, 2.1, 1.9, 2.0]
    best = h.best_split(xs)
    assert best is not None and best[0] == 4
    assert h.q_statistic(xs, 4) > h.q_statistic(xs, 2)


def test_change_points_find_steps_and_leave_a_steady_series_alone() -> None:
    assert h.change_points([1, 1.1, 0.9, 1, 1.05, 2, 2.1, 1.9, 2, 2.05]) == [5]
    assert h.change_points([1, 1.1, 0.9, 1, 1.05, 0.95, 1.02]) == []
    # Each part is tested again on its own: 4 + 4 points can be told apart at p < 0.05 by a
    # permutation test (2 of the 70 orders split perfectly), 3 + 3 could not (2 of 20).
    assert h.change_points([1, 1.1, 1, 0.9, 3, 3.1, 3, 2.9, 6, 6.1, 6, 6.05]) == [4, 8]
    assert h.change_points([]) == [] and h.change_points([5.0] * 8) == []


def test_the_permutation_test_is_seeded() -> None:
    xs = [1.0, 1.2, 0.8, 1.1, 1.4, 1.3, 1.5, 1.2]
    assert h.change_points(xs, seed=3) == h.change_points(xs, seed=3)


def _reports(rng: random.Random, n: int, centre: float = 1.0) -> list[list[float]]:
    return [[rng.gauss(centre, 0.05) for _ in range(20)] for _ in range(n)]


def test_judge_newest() -> None:
    rng = random.Random(7)
    base = _reports(rng, 4)
    same = h.judge_newest(base, [rng.gauss(1.0, 0.05) for _ in range(20)], higher_is_better=False)
    assert same.status == h.NO_CHANGE and same.baseline_reports == 4
    slow = h.judge_newest(base, [x * 1.5 for x in base[0]], higher_is_better=False)
    assert slow.status == h.REGRESSION and slow.change == pytest.approx(0.5, abs=0.05)
    assert slow.p_value is not None and slow.p_value < 0.01
    # Higher is better (containers/s): a drop is the regression, a rise the improvement.
    assert h.judge_newest(base, [x * 0.5 for x in base[0]], higher_is_better=True).status == h.REGRESSION
    assert h.judge_newest(base, [x * 0.5 for x in base[0]], higher_is_better=False).status == h.IMPROVEMENT
    # A real but tiny change is not a regression; nor is anything with too little history.
    assert h.judge_newest(base, [x * 1.04 for x in base[0]], higher_is_better=False).status == h.NO_CHANGE
    assert h.judge_newest(base[:2], [x * 3 for x in base[0]], higher_is_better=False).status == h.TOO_FEW
    assert h.judge_newest(base, [], higher_is_better=False).status == h.NOT_MEASURED


def test_a_noisy_history_needs_a_larger_move() -> None:
    rng = random.Random(1)
    noisy = [_reports(rng, 1, c)[0] for c in (1.0, 1.4, 0.8, 1.2)]
    verdict = h.judge_newest(noisy, [x * 1.3 for x in noisy[0]], higher_is_better=False)
    assert verdict.threshold is not None and verdict.threshold > 0.3 and verdict.status == h.NO_CHANGE
    assert h.relative_spread([1.0, 1.0, 1.0]) == 0.0


def test_page_of_a_history() -> None:
    points = tuple(h.Point(i, (1.0 + i * 0.01,)) for i in range(5))
    newest = h.Newest(h.REGRESSION, 4, 1.0, 2.0, 1.0, 0.001, 0.1)
    metric = h.MetricHistory("container cycle_s", "s", False, points, (3,), newest)
    refs = tuple(h.ReportRef(f"r{i}.json", f"2026-12-0{i + 1}T00:00:00Z", f"vp-{i}") for i in range(5))
    page = build_history_page(h.History(refs, (metric,), 0.1))
    assert page.kind == "history" and page.headline is not None and "REGRESSION" in page.headline
    table = next(b for b in page.sections[0].blocks if isinstance(b, Table))
    row = table.rows[0]
    assert row[0].value == "container cycle_s" and row[-1].value == h.REGRESSION and row[-1].tone == Tone.bad
    assert row[3].text == "2e+03 ms" or row[3].value == 2.0
    chart = page.sections[1].blocks[0]
    assert chart.kind == ChartKind.line and chart.x == (1.0, 2.0, 3.0, 4.0, 5.0)  # type: ignore[union-attr]
    assert [m.value for m in chart.marks if m.axis == "x"] == [4.0]  # type: ignore[union-attr]
    assert {c.key for c in page.citations} == {"matteson-james-2014", "daly-2020"}


def test_a_regression_in_the_newest_cannot_hide_behind_its_own_change_point() -> None:
    """A real Docker series of this machine (first-instruction samples of five `bench -n 8` runs, from
    tests/test_history_live.py), the newest doubled. Searched with the newest included, E-Divisive puts
    a change point at report 3 and leaves the newest a baseline of one report ("too few reports").
    The baseline's change points come from the reports before the newest, so the doubling is judged
    against all four and called a regression."""
    per_report = [
        [0.169770931, 0.162188024, 0.178296795, 0.15314397, 0.167287642, 0.16246315, 0.177342138, 0.164139036],
        [0.165438623, 0.16455092, 0.191490992, 0.187415344, 0.182736636, 0.183069503, 0.158711081, 0.168942997],
        [0.166007544, 0.180018997, 0.182907234, 0.183687, 0.174596033, 0.162275311, 0.185227281, 0.164798842],
        [0.181364821, 0.18998667, 0.172327869, 0.190692036, 0.17589674, 0.200276887, 0.199278844, 0.206994846],
        [0.315150322, 0.368549318, 0.352393048, 0.386058544, 0.320956094, 0.330582808, 0.380659576, 0.367183392],
    ]
    metric = h._metric("container first_instruction_s", "s", False, per_report, 0.1)
    assert metric.change_points == (3,)  # the whole series does have its step before the newest ...
    assert metric.newest.baseline_reports == 4  # ... but the newest is judged against all four before it
    assert metric.newest.status == h.REGRESSION and metric.newest.change is not None and metric.newest.change > 0.8


# --- environments: the fields compare refuses on, noted (or refused) between consecutive reports -----

FIXTURES = Path(__file__).parent / "fixtures" / "reports"
SAME = [FIXTURES / "bench-base.json", FIXTURES / "bench-new-same.json"]
MOVED = [FIXTURES / "bench-base.json", FIXTURES / "bench-other-machine.json", FIXTURES / "bench-new-same.json"]


def test_each_change_of_environment_between_consecutive_reports_is_noted() -> None:
    assert h.environment_changes(h.load_history([str(p) for p in SAME])) == ()
    changes = h.environment_changes(h.load_history([str(p) for p in MOVED]))
    assert len(changes) == 2  # onto the other machine, and back
    assert changes[0].startswith(f"the environment changed between {MOVED[0]} and {MOVED[1]}: kernel: 6.18.44")
    assert h.history(h.load_history([str(p) for p in MOVED])).notes == changes


def test_history_warns_of_a_moved_environment_by_default_and_refuses_when_asked() -> None:
    warned = vp("history", *map(str, MOVED), "--json")
    assert warned.returncode == 0, warned.stderr
    lines = warned.stderr.splitlines()
    assert len(lines) == 2 and all(line.startswith("virtprobe: warning: the environment changed") for line in lines)
    assert len(json.loads(warned.stdout)["notes"]) == 2  # in the report too, for whoever reads it later
    refused = vp("history", *map(str, MOVED), "--env-mismatch", "refuse")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and "Pass --env-mismatch warn" in refused.stderr
    same = vp("history", *map(str, SAME), "--env-mismatch", "refuse", "--json")
    assert same.returncode == 0 and same.stderr == "", same.stderr
