"""Issue 16's rendering rows, end to end through the CLI: hostile strings in a snapshot or a report stay text.

A snapshot's os-release and a report's host, image and engine names carry terminal
escape sequences, Rich markup, GitHub workflow commands and raw HTML. Every command
that shows them (detect, report in every format, compare, fleet reports) exits as
usual, prints no escape byte, parses no markup, and writes no line a CI runner would
take for a command.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOTS

FIX = Path(__file__).parent / "fixtures" / "reports"
EVIL = (
    "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\ \x1b[2J[/] [blink]x[/blink]"
    "\n::error::pwned <script>alert(1)</script> | # h"
)
ESCAPE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "virtprobe", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, check=False)  # fmt: skip


def _clean(out: str) -> None:
    assert not ESCAPE.search(out.replace("\n", "")), repr(ESCAPE.search(out.replace("\n", "")))
    for line in out.splitlines():
        assert not line.lstrip().startswith("::"), line
    assert "Traceback" not in out


def _evil_bench(tmp_path: Path, name: str = "evil.json", source: str = "bench-base.json") -> Path:
    doc: dict[str, Any] = json.loads((FIX / source).read_text())
    doc["environment"]["hostname"] = EVIL
    doc["container"]["image"]["name"] = EVIL
    for engine in (doc["environment"].get("engine"), doc["environment"].get("docker")):  # 1.1, and 1.0
        if isinstance(engine, dict):
            engine["runtime"] = EVIL
    doc["vm"]["baselines"][0]["label"] = EVIL
    doc["warnings"] = [EVIL]
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_detect_shows_hostile_os_release_as_text(tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(ROOTS / "firecracker_this_machine", root, symlinks=True)
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc" / "os-release").write_text(f'PRETTY_NAME="{EVIL.replace(chr(10), " ")}"\n')
    proc = _cli("detect", "--root", str(root), env={"COLUMNS": "400"})
    assert proc.returncode == 0, proc.stderr
    _clean(proc.stdout)
    assert "[/] [blink]x[/blink]" in proc.stdout  # shown, not interpreted
    prom = _cli("detect", "--root", str(root), "--format", "prometheus")
    assert prom.returncode == 0 and "# EOF" in prom.stdout


@pytest.mark.parametrize("fmt", ["table", "markdown", "html", "csv", "prometheus"])
def test_report_shows_hostile_report_strings_as_text(tmp_path: Path, fmt: str) -> None:
    proc = _cli("report", str(_evil_bench(tmp_path)), "--format", fmt)
    assert proc.returncode == 0, proc.stderr
    _clean(proc.stdout)
    if fmt == "html":
        assert "<script>alert" not in proc.stdout and "&lt;script&gt;" in proc.stdout
    if fmt == "markdown":
        assert "<script" not in proc.stdout


@pytest.mark.parametrize("fmt", ["table", "markdown", "html"])
def test_compare_shows_hostile_differences_as_text(tmp_path: Path, fmt: str) -> None:
    base = _evil_bench(tmp_path, "base.json")
    new = _evil_bench(tmp_path, "new.json", "bench-new-slower.json")
    proc = _cli("compare", str(base), str(new), "--format", fmt)
    assert proc.returncode == 3, proc.stderr  # the regressions, as without hostile text
    _clean(proc.stdout)


def test_fleet_markdown_of_hostile_members_writes_no_workflow_command(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.json"
    merged = _cli("merge", str(_evil_bench(tmp_path)), str(FIX / "detect-firecracker.json"), "-o", str(fleet))
    assert merged.returncode == 0, merged.stderr
    for fmt in ("table", "markdown", "html"):
        proc = _cli("report", str(fleet), "--format", fmt)
        assert proc.returncode == 0, proc.stderr
        _clean(proc.stdout)


def test_report_honours_columns(tmp_path: Path) -> None:
    src = str(FIX / "bench-base.json")
    narrow = _cli("report", src, env={"COLUMNS": "60"})
    assert narrow.returncode == 0 and max(len(line) for line in narrow.stdout.splitlines()) <= 60
    piped = _cli("report", src, env={"COLUMNS": ""})
    widest = max(len(line) for line in piped.stdout.splitlines())
    assert 60 < widest <= 120  # a pipe without COLUMNS: 120, not Rich's 80
    out = tmp_path / "r.txt"
    assert _cli("report", src, "-o", str(out), env={"COLUMNS": "70"}).returncode == 0
    assert max(len(line) for line in out.read_text().splitlines()) <= 70
