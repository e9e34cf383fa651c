"""The public Python API, used the way a user's script uses it: import, detect, load, compare."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOTS

FIX = Path(__file__).parent / "fixtures" / "reports"
REPO = Path(__file__).resolve().parent.parent


def _script(code: str) -> subprocess.CompletedProcess[str]:
    """A fresh interpreter, as a user's script starts."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)


def test_import_is_cheap_and_loads_nothing_heavy() -> None:
    proc = _script(
        "import sys, virtprobe; "
        "print(sorted(m for m in ('docker', 'rich', 'typer', 'jsonschema', 'psutil', 'pygal') if m in sys.modules))"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_detect_a_snapshot_returns_the_typed_result_twice() -> None:
    # Twice: a subpackage named like the function would replace it after the first call.
    code = (
        "import virtprobe\n"
        f"r = virtprobe.detect(root={str(ROOTS / 'aws_nitro')!r}, kvm_probe=False)\n"
        f"again = virtprobe.detect(root={str(ROOTS / 'aws_nitro')!r}, kvm_probe=False)\n"
        "assert isinstance(r, virtprobe.DetectResult) and r == again\n"
        "print(r.hypervisor.id, r.cloud.id)\n"
    )
    proc = _script(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["amazon", "amazon"]


def test_load_and_compare_bench_reports_without_the_cli() -> None:
    code = (
        "import sys, virtprobe\n"
        f"base = virtprobe.load_report({str(FIX / 'bench-base.json')!r})\n"
        f"new = virtprobe.load_report({str(FIX / 'bench-new-slower.json')!r})\n"
        "assert isinstance(base, virtprobe.BenchReport)\n"
        "c = virtprobe.compare(base, new, threshold_pct=10)\n"
        "print(base.result.container.summary('cycle_s').median, [m.name for m in c.regressions])\n"
        "assert 'typer' not in sys.modules and 'rich' not in sys.modules\n"
    )
    proc = _script(code)
    assert proc.returncode == 0, proc.stderr
    median, regressions = proc.stdout.split(" ", 1)
    assert float(median) > 0
    assert "container" in regressions  # the fixture's new report is slower (tests/fixtures/reports/README.md)


def test_compare_refuses_other_machines_unless_told_to_warn() -> None:
    import virtprobe
    from virtprobe.errors import InputError

    base = virtprobe.load_report(FIX / "bench-base.json")
    other = virtprobe.load_report(FIX / "bench-other-machine.json")
    with pytest.raises(InputError, match="different environments"):
        virtprobe.compare(base, other)
    assert virtprobe.compare(base, other, env_mismatch="warn").env_differences


def test_threshold_is_a_percent_in_the_api_as_in_the_cli() -> None:
    import virtprobe

    base = virtprobe.load_report(FIX / "bench-base.json")
    new = virtprobe.load_report(FIX / "bench-new-slower.json")
    assert virtprobe.compare(base, new, threshold_pct=10).threshold == pytest.approx(0.10)
    loose = virtprobe.compare(base, new, threshold_pct=10_000)
    assert virtprobe.compare(base, new, threshold_pct=10).regressions and not loose.regressions


def test_load_report_errors_are_typed_and_name_the_file(tmp_path: Path) -> None:
    import virtprobe
    from virtprobe.errors import ReportFormatError

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema_version": "9.0", "kind": "bench"}))
    with pytest.raises(ReportFormatError, match=str(bad)):
        virtprobe.load_report(bad)


def test_all_names_are_there() -> None:
    import virtprobe

    for name in virtprobe.__all__:
        assert getattr(virtprobe, name) is not None, name
    with pytest.raises(AttributeError):
        virtprobe.no_such_name  # noqa: B018
