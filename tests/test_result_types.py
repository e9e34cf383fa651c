"""One result-type convention, with its one documented exception (docs/architecture.md, "Result types").

Types read on a start-up target's path are NamedTuples: detection/ and machine/ (detect's
path, on every platform) and report/page.py (the page `detect` and `detect --check` print),
because `import dataclasses` pulls in `inspect` (10-15 ms here), and each frozen dataclass
costs about 0.4 ms to define, which those commands cannot afford. The rest of benchmark/,
report/ and stats.py use frozen dataclasses. cli/ is not scanned: its option tables
(cli/commands.py, cli/detect_options.py) are not results.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "virtprobe"
DETECT_PATH = ("detection", "machine", "report/page.py")
DATACLASS_SIDE = ("benchmark", "report", "stats.py")


def _modules(*parts: str) -> list[Path]:
    out: list[Path] = []
    for part in parts:
        path = PACKAGE / part
        out += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return out


def _dataclass_side() -> list[Path]:
    """benchmark/, report/ and stats.py, less the start-up path's modules inside them (report/page.py)."""
    startup = set(_modules(*DETECT_PATH))
    return [p for p in _modules(*DATACLASS_SIDE) if p not in startup]


def _name(node: ast.expr) -> str:
    """The dotted name of a decorator, base class or callee: `dataclass`, `typing.NamedTuple`."""
    if isinstance(node, ast.Call):
        return _name(node.func)
    if isinstance(node, ast.Attribute):
        return f"{_name(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def dataclass_uses(source: str) -> list[str]:
    """Every use of dataclasses in a module: the import, and each decorated class."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(a.name == "dataclasses" for a in node.names):
            found.append(f"line {node.lineno}: import dataclasses")
        elif isinstance(node, ast.ImportFrom) and node.module == "dataclasses":
            found.append(f"line {node.lineno}: from dataclasses import ...")
        elif isinstance(node, ast.ClassDef) and any(_name(d).endswith("dataclass") for d in node.decorator_list):
            found.append(f"line {node.lineno}: @dataclass class {node.name}")
    return found


def not_frozen_dataclass_results(source: str) -> list[str]:
    """Every NamedTuple (class or namedtuple()) and every dataclass that is not frozen=True."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ClassDef):
            if any(_name(b).split(".")[-1] == "NamedTuple" for b in node.bases):
                found.append(f"line {node.lineno}: class {node.name}(NamedTuple)")
            for d in node.decorator_list:
                if not _name(d).endswith("dataclass"):
                    continue
                frozen = isinstance(d, ast.Call) and any(
                    k.arg == "frozen" and isinstance(k.value, ast.Constant) and k.value.value is True
                    for k in d.keywords
                )
                if not frozen:
                    found.append(f"line {node.lineno}: class {node.name} is a dataclass, not frozen")
        elif isinstance(node, ast.Call) and _name(node).split(".")[-1] in ("namedtuple", "NamedTuple"):
            found.append(f"line {node.lineno}: {_name(node)}(...)")
    return found


@pytest.mark.parametrize("path", _modules(*DETECT_PATH), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_detect_path_uses_no_dataclasses(path: Path) -> None:
    assert dataclass_uses(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", _dataclass_side(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_benchmark_and_report_use_frozen_dataclasses(path: Path) -> None:
    assert not_frozen_dataclass_results(path.read_text(encoding="utf-8")) == []


def test_the_scanners_see_each_kind_of_break() -> None:
    """The scans above can fail: each form they look for is found in a module that has it."""
    bad = (
        "import dataclasses\nfrom dataclasses import dataclass\nfrom typing import NamedTuple\n"
        "import collections\n\n"
        "@dataclass\nclass A:\n    x: int\n\n"
        "@dataclasses.dataclass(frozen=False)\nclass B:\n    x: int\n\n"
        "class C(NamedTuple):\n    x: int\n\n"
        "D = collections.namedtuple('D', 'x')\n\n"
        "@dataclass(frozen=True)\nclass E:\n    x: int\n"
    )
    assert [f.split(": ", 1)[1] for f in dataclass_uses(bad)] == [
        "import dataclasses",
        "from dataclasses import ...",
        "@dataclass class A",
        "@dataclass class B",
        "@dataclass class E",
    ]
    assert [f.split(": ", 1)[1] for f in not_frozen_dataclass_results(bad)] == [
        "class A is a dataclass, not frozen",
        "class B is a dataclass, not frozen",
        "class C(NamedTuple)",
        "collections.namedtuple(...)",
    ]


def test_detect_path_modules_load_neither_dataclasses_nor_inspect() -> None:
    """The measured reason, checked: importing detection/, machine/ and report/page.py leaves both out."""
    names = [
        ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        for p in _modules(*DETECT_PATH)
    ]
    code = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n    importlib.import_module(name)\n"
        "print(' '.join(m for m in ('dataclasses', 'inspect') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, *names], capture_output=True, text=True, cwd=PACKAGE.parent, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [], f"loaded by detection/, machine/ or report/page.py: {proc.stdout.strip()}"


def typing_namedtuple_imports(source: str) -> list[str]:
    """Every run-time `from typing import NamedTuple` (records come from virtprobe.lean_typing)."""
    tree = ast.parse(source)
    guarded = {  # imports under `if TYPE_CHECKING:` are for the type checker only
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and _name(node.test).split(".")[-1] == "TYPE_CHECKING"
        for n in ast.walk(node)
    }
    return [
        f"line {node.lineno}: from typing import NamedTuple"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module == "typing"
        and any(a.name == "NamedTuple" for a in node.names)
        and id(node) not in guarded
    ]


@pytest.mark.parametrize(
    "path", [p for p in _modules(".") if p.name != "lean_typing.py"], ids=lambda p: str(p.relative_to(PACKAGE))
)
def test_records_are_lean_typing_namedtuples(path: Path) -> None:
    """One record base everywhere: typing.NamedTuple would bring typing (3-4 ms) back onto detect's path."""
    assert typing_namedtuple_imports(path.read_text(encoding="utf-8")) == []


def test_the_typing_scan_sees_a_runtime_import() -> None:
    bad = "from typing import Any, NamedTuple\nif TYPE_CHECKING:\n    from typing import NamedTuple\n"
    assert typing_namedtuple_imports(bad) == ["line 1: from typing import NamedTuple"]
