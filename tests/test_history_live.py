"""`virtprobe history` over real reports: five small bench runs on each engine, then the same series with a
regression injected into the last one (its samples scaled), which must exit 3 and name the metric."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import live_skip
from tests.test_bench_platform_live import ENGINES, engine_env, labelled, vp
from virtprobe.benchmark.result import PHASES
from virtprobe.report.history import NEWEST_ALPHA

pytestmark = pytest.mark.docker

REPORTS = 5
SCALE = 2.0  # a doubling: Podman's runs here move by 40% between themselves, so a 50% rise is within their noise
# The machine is shared (other test runs, other engines' work, a load that starts mid-series): a
# run can really be slower than the ones before it, and history is right to say so. The series
# "without a regression" then slides on by one run (the oldest dropped, a new newest made), a
# bounded number of times, so that after a lasting change of load it comes to lie wholly in the
# new regime instead of comparing each new run against the old one.
RETRIES = 5


def make_report(path: Path, env: dict[str, str]) -> Path:
    proc = vp("bench", "-n", "8", "--warmup", "1", "--memory", "0", "-o", str(path), env=env)
    if proc.returncode == 4:
        live_skip(f"engine unreachable: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    return path


def make_reports(folder: Path, env: dict[str, str]) -> list[Path]:
    folder.mkdir()
    return [make_report(folder / f"run-{i:02d}.json", env) for i in range(REPORTS)]


def inject(path: Path, factor: float) -> None:
    """Scale every raw phase sample of the report's containers: the regression a CI run would bring."""
    doc: dict[str, Any] = json.loads(path.read_text())
    for sample in doc["container"]["samples"]:
        for phase in PHASES:
            if sample.get(phase) is not None:
                sample[phase] *= factor
    path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


@pytest.mark.parametrize("engine", ENGINES)
def test_history_flags_an_injected_regression_and_passes_the_series_without_it(engine: str, tmp_path: Path) -> None:
    env = engine_env(engine)
    paths = make_reports(tmp_path / "clean", env)
    assert all(labelled(env, run_id=json.loads(p.read_text())["run_id"]) == [] for p in paths)

    for retry in range(RETRIES):
        out = vp("history", str(tmp_path / "clean"), "--json", env=env)
        if out.returncode != 3:
            break
        paths.pop(0).unlink()
        paths.append(make_report(tmp_path / "clean" / f"run-{REPORTS + retry:02d}.json", env))
    assert out.returncode == 0, out.stdout + out.stderr
    clean = json.loads(out.stdout)
    assert [r["name"] for r in clean["reports"]] == [str(p) for p in paths]
    assert all(m["newest"]["status"] != "regression" for m in clean["metrics"])
    cycle = next(m for m in clean["metrics"] if m["name"] == "container cycle_s")
    assert len(cycle["medians"]) == REPORTS and cycle["newest"]["baseline_reports"] >= 3

    bad = tmp_path / "regressed"
    shutil.copytree(tmp_path / "clean", bad)
    inject(bad / paths[-1].name, SCALE)
    out = vp("history", *(str(bad / p.name) for p in paths), "--json", env=env)
    assert out.returncode == 3, out.stdout + out.stderr
    got = {m["name"]: m["newest"] for m in json.loads(out.stdout)["metrics"]}
    was = {m["name"]: m["newest"] for m in clean["metrics"]}
    flagged = []
    for name, newest in got.items():
        # Only the newest report's samples were scaled, so its change against the same baseline is
        # (1 + the clean change) x SCALE - 1. Where that clears the metric's own noise threshold
        # with room to spare and the rank test finds the samples apart, history must call it a
        # regression. Where it does not, it is right not to: on Podman here a phase such as
        # run-to-exit moves by tens of percent between runs, so a fast newest run doubled can land
        # inside that range, and one slow baseline run (a shared machine) puts eight of the pooled
        # samples beside the doubled ones, so the median moves but p stays above NEWEST_ALPHA.
        expected = SCALE * (1 + was[name]["change"]) - 1
        assert newest["change"] == pytest.approx(expected, rel=0.05), name
        if expected > 1.2 * newest["threshold"] and newest["p_value"] < NEWEST_ALPHA:
            assert newest["status"] == "regression", (name, newest)
            flagged.append(name)
    # The start request is the engine's steadiest phase: a doubling of it always clears its noise.
    assert "container start_s" in flagged and all(n in out.stderr for n in flagged)
    assert "regresses" in out.stderr
