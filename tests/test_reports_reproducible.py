"""reports/ is reproduced byte for byte from its JSON, and a render never depends on the run that made it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "render-reports.py"


def _run(*args: str, seed: str = "0") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300,
                          env=env, cwd=REPO, check=False)  # fmt: skip


def test_every_rendered_file_in_reports_matches_its_json() -> None:
    proc = _run("--check")
    assert proc.returncode == 0, "run scripts/render-reports.py:\n" + proc.stderr
    for json_file in sorted((REPO / "reports").glob("*.json")):
        for suffix in (".txt", ".md", ".html", ".prom"):
            assert json_file.with_suffix(suffix).is_file(), json_file.with_suffix(suffix)


def test_the_check_fails_on_a_stale_file(tmp_path: Path) -> None:
    """The check above can fail: a file edited by hand is named."""
    source = REPO / "reports" / "detect-firecracker.json"
    (tmp_path / source.name).write_text(source.read_text())
    assert _run(str(tmp_path)).returncode == 0  # renders into the copy
    txt = tmp_path / "detect-firecracker.txt"
    txt.write_text(txt.read_text().replace("KVM", "kvm", 1))
    proc = _run("--check", str(tmp_path))
    assert proc.returncode == 1 and "detect-firecracker.txt" in proc.stderr


@pytest.mark.parametrize("seed", ["1", "4242"])
def test_two_renders_in_two_processes_are_byte_identical(tmp_path: Path, seed: str) -> None:
    """Set iteration, ids or time must not leak into any output: another hash seed, the same bytes."""
    sums = {}
    for run, hash_seed in enumerate(("0", seed)):
        folder = tmp_path / str(run)
        folder.mkdir()
        for source in (REPO / "reports").glob("*.json"):
            (folder / source.name).write_text(source.read_text())
        assert _run(str(folder), seed=hash_seed).returncode == 0
        sums[run] = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}
    assert sums[0] == sums[1]
