"""This development VM's runtimes through dockerd: runc measured, crun refused (hybrid cgroups), runsc measured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[2]
# crun 1.8.1 refuses cgroup v1 + v2 hybrid mounts, which this VM has (MEASURED.md).
CRUN_HYBRID = "cgroups in hybrid mode not supported"


def test_runc_crun_runsc_give_one_report_with_three_rows_crun_refused_with_its_reason(tmp_path: Path) -> None:
    out = tmp_path / "three.json"
    proc = subprocess.run(
        [sys.executable, "-m", "virtprobe", "bench", "-n", "3", "--warmup", "1", "--memory", "0",
         "--runtime", "runc,crun,runsc", "--json", str(out)],
        capture_output=True, text=True, cwd=REPO, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json.loads(out.read_text())
    others: list[dict[str, Any]] = doc["other_runtimes"]
    runc, crun, runsc = doc["container"], *others
    assert [r["runtime"] for r in (runc, crun, runsc)] == ["runc", "crun", "runsc"]
    assert runc["refused"] is None and runc["clock"]["mode"] == "same-kernel" and len(runc["samples"]) == 4
    assert crun["samples"] == [] and CRUN_HYBRID in crun["refused"]
    assert runsc["refused"] is None and len(runsc["samples"]) == 4
    assert (
        runsc["clock"]["mode"] == "client-only"
        and "runsc runs containers under a kernel of its own" in (runsc["clock"]["reason"])
    )
    # The terminal table carries the reason too (wrapped in its cell: compare the words).
    assert CRUN_HYBRID in " ".join(proc.stdout.split())
