"""`virtprobe detect` and `virtprobe snapshot` through the real CLI, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from tests.conftest import ROOTS

REPO = Path(__file__).parent.parent
SCHEMA = json.loads((REPO / "virtprobe/report/schemas/detect-1.2.schema.json").read_text())
GOLDEN = Path(__file__).parent / "fixtures" / "golden"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "100", "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.run(
        [sys.executable, "-m", "virtprobe", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )


def test_detect_json_live_validates() -> None:
    proc = run("detect", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert doc["kind"] == "detect" and proc.stdout.endswith("\n")


def test_detect_json_on_a_root() -> None:
    proc = run("detect", "--json", "--root", str(ROOTS / "windows_host_wsl"))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    jsonschema.Draft202012Validator(SCHEMA).validate(doc)
    assert [d["name"] for d in doc["wsl"]["distributions"]] == ["Ubuntu-22.04", "Debian", "Ubuntu-18.04"]


def test_missing_root_is_one_line_exit_1() -> None:
    proc = run("detect", "--root", "/nonexistent/virtprobe-root")
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not exist" in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_bad_option_is_usage_error() -> None:
    proc = run("detect", "--no-such-option")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr


def test_snapshot_refuses_overwrite(tmp_path: Path) -> None:
    (tmp_path / "snap").mkdir()
    proc = run("snapshot", str(tmp_path / "snap"), "--no-kvm-probe")
    assert proc.returncode == 1 and "--force" in proc.stderr


def test_golden_text_render() -> None:
    """The human view of one fixture at width 100, no colour (regenerate: VIRTPROBE_REGEN_GOLDEN=1)."""
    # A relative --root (cwd is the repo) keeps the golden text independent of the checkout path.
    proc = run("detect", "--root", "tests/fixtures/roots/firecracker_this_machine")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    golden = GOLDEN / "detect_firecracker_this_machine.txt"
    if os.environ.get("VIRTPROBE_REGEN_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(text)
    assert text == golden.read_text()


# Each costs detect --json a measured share of its start-up budget (issue 17: at most virt-what's
# time): docker, rich, jsonschema, typer and click tens of ms each; dataclasses (with inspect) 6-8 ms;
# typing 3-4 ms (virtprobe/lean_typing.py); hashlib (OpenSSL) about 3 ms; base64 is for snapshot
# roots only.
NOT_ON_DETECT_JSON = {
    "docker", "rich", "jsonschema", "typer", "click", "dataclasses", "inspect", "typing", "hashlib", "base64",
}  # fmt: skip


@pytest.mark.parametrize("args", [["--json", "--no-kvm-probe"], ["--vm"], ["--container"]], ids=" ".join)
def test_detect_json_imports_no_heavy_modules(args: list[str]) -> None:
    """`detect --json` and the drop-in modes (the same 1.0x budget) import none of NOT_ON_DETECT_JSON."""
    env = {**os.environ, "PYTHONPROFILEIMPORTTIME": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "virtprobe", "detect", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert proc.returncode in (0, 1), proc.stderr  # a drop-in mode exits 1 on bare metal
    imported = {
        line.split("|")[-1].strip().split(".")[0]
        for line in proc.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "virtprobe" in imported and not imported & NOT_ON_DETECT_JSON, sorted(imported & NOT_ON_DETECT_JSON)
