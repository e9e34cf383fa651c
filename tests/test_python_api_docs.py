"""docs/python-api.md and README.md: every Python example passes `mypy --strict` and runs (none needs an engine)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "python-api.md"
README = REPO / "README.md"


def _python(path: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", path.read_text(encoding="utf-8"), flags=re.S | re.M)


def blocks() -> list[str]:
    """Every Python block: docs/python-api.md's, then README.md's."""
    doc, readme = _python(DOC), _python(README)
    assert len(doc) >= 6, "docs/python-api.md lost its examples"
    assert len(readme) >= 1, "README.md lost its Python example"
    return doc + readme


def test_examples_pass_mypy_strict(tmp_path: Path) -> None:
    paths = []
    for i, code in enumerate(blocks()):
        path = tmp_path / f"example_{i}.py"
        path.write_text(code, encoding="utf-8")
        paths.append(str(path))
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--python-version", "3.11", *paths],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # not the checkout's pyproject: a user's project has its own mypy settings
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_refuses_a_misspelt_keyword_and_metric(tmp_path: Path) -> None:
    """The API's types can fail: `bench(runz=10)` and `summary("startup_s")` are mypy errors."""
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import virtprobe\n"
        "def f() -> None:\n"
        "    run = virtprobe.bench(runz=10)\n"
        "    if run.container is not None:\n"
        "        run.container.summary('startup_s')\n"
        "    virtprobe.compare(virtprobe.load_report('a'), virtprobe.load_report('b'), threshold=0.1)\n",
        encoding="utf-8",
    )
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(bad)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 1
    assert 'Unexpected keyword argument "runz"' in proc.stdout
    assert "Literal['startup_s']" in proc.stdout
    assert 'Unexpected keyword argument "threshold"' in proc.stdout


def test_every_example_is_run() -> None:
    assert len(blocks()) == EXAMPLES, "a Python block was added or removed: set EXAMPLES"


EXAMPLES = 8  # docs/python-api.md's 7 and README.md's 1


@pytest.mark.parametrize("index", range(EXAMPLES))
def test_examples_run(index: int) -> None:
    code = blocks()[index]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
