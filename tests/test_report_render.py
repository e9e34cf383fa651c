"""Markdown (golden text), self-contained HTML, anonymization, and no secrets in reports."""

from __future__ import annotations

import getpass
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from virtprobe.report.anonymize import anonymize, stable_hash
from virtprobe.report.compare import compare
from virtprobe.report.compare_render import render_comparison_markdown
from virtprobe.report.document import BenchReport, from_document, new_report, to_document
from virtprobe.report.html import render_html
from virtprobe.report.load import load_document, load_report
from virtprobe.report.markdown import render_markdown

FIX = Path(__file__).parent / "fixtures" / "reports"
GOLDEN = FIX / "golden"
REPORTS = Path(__file__).parent.parent / "reports"
# VIRTPROBE_REGEN_GOLDEN=1 rewrites the golden files; review the diff before committing.
REGEN = os.environ.get("VIRTPROBE_REGEN_GOLDEN") == "1"


def _bench(name: str) -> BenchReport:
    report = load_report(FIX / name)
    assert isinstance(report, BenchReport)
    return report


def _edited(name: str, edit: Any) -> BenchReport:
    """A fixture report with its document edited first (for text a real report could hold)."""
    doc = load_document(FIX / name)
    edit(doc)
    report = from_document(doc)
    assert isinstance(report, BenchReport)
    return report


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if REGEN:
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["bench-base", "detect-firecracker", "detect-docker-on-metal"])
def test_markdown_golden(name: str) -> None:
    _golden(f"{name}.md", render_markdown(load_report(FIX / f"{name}.json")))


def test_compare_markdown_golden() -> None:
    base, new = load_report(FIX / "bench-base.json"), load_report(FIX / "bench-new-slower.json")
    _golden(
        "compare-slower.md", render_comparison_markdown(compare(base, new, base_name="base", new_name="new"))
    )


def test_markdown_labels_simulated_and_tcg() -> None:
    md = render_markdown(load_report(FIX / "bench-base.json"))
    ratio_rows = [line for line in md.splitlines() if "×" in line]
    sim = next(line for line in ratio_rows if line.startswith("| Firecracker (simulated) |"))
    assert "**simulated** — source: Firecracker SPECIFICATION.md" in sim
    tcg = next(line for line in ratio_rows if line.startswith("| QEMU microvm (measured) |"))
    assert "measured, accel tcg" in tcg and "not representative of hardware virtualization" in tcg
    assert "hypervisor: kvm (firecracker) · container: none" in md


def test_markdown_escapes_table_cells() -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["vm"]["baselines"][0]["label"] = "a|b\nc"

    md = render_markdown(_edited("bench-base.json", edit))
    assert "| a\\|b c |" in md


def _html() -> str:
    base, new = load_report(FIX / "bench-base.json"), load_report(FIX / "bench-new-slower.json")
    det = load_report(FIX / "detect-firecracker.json")
    cmp = compare(base, new, base_name="base.json", new_name="new.json")
    return render_html([base, new, det], ["base.json", "new.json", "detect.json"], comparison=cmp)


def test_html_is_self_contained() -> None:
    page = _html()
    # Nothing may load: no src/href/url() at all, no scripts, no @import.
    assert not re.search(r"""\b(src|href)\s*=""", page, re.I)
    assert "<script" not in page.lower()
    assert "url(" not in page.lower()
    assert "@import" not in page.lower()
    # URLs only as plain text in citations.
    for m in re.finditer(r"https?://", page):
        before = page[max(0, m.start() - 300) : m.start()]
        assert "source:" in before, page[m.start() - 80 : m.start() + 40]
    assert len(page) < 1_000_000


def test_html_has_charts() -> None:
    page = _html()
    svgs = re.findall(r"<svg\b.*?</svg>", page, re.S)
    # per bench doc: phases box, baselines box, memory bars; plus compare box and change bars
    assert len(svgs) >= 8
    for svg in svgs:
        assert re.search(r'<path[^>]* d="M[^"]+"', svg) or re.search(r"<rect\b", svg)
    for title in (
        "Container startup by phase",
        "Container startup vs VM boot",
        "Memory per instance (MiB)",
        "Base vs new",
        "Change of medians",
    ):
        assert title in page


def test_html_escapes_report_text() -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["environment"]["hostname"] = "<script>alert(1)</script>"
        doc["vm"]["baselines"][0]["label"] = "<img src=x onerror=alert(1)>"

    page = render_html([_edited("bench-base.json", edit)], ["<b>name</b>"])
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>name</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_anonymize_stable_and_idempotent() -> None:
    report = _bench("bench-base.json")
    a = anonymize(report)
    env = a.result.environment
    assert env.hostname == stable_hash("vm")
    assert env.hostname.startswith("anon-") and len(env.hostname) == 17
    assert report.result.environment.machine_id and env.machine_id == stable_hash(report.result.environment.machine_id)
    assert anonymize(a) == a
    assert report.result.environment.hostname == "vm"  # the input is not changed
    assert anonymize(_bench("bench-base.json")) == a  # stable across runs


def _strings(doc: Any) -> list[str]:
    if isinstance(doc, dict):
        return [s for k, v in doc.items() for s in (str(k), *_strings(v))]
    if isinstance(doc, list):
        return [s for v in doc for s in _strings(v)]
    return [doc] if isinstance(doc, str) else []


def _live_bench_doc() -> dict[str, Any]:
    # The environment section as the bench runner collects it on this machine,
    # around constructed measurements.
    import dataclasses

    from virtprobe.benchmark.environment import environment
    from virtprobe.detection.run import detect
    from virtprobe.machine.source import LiveSource

    fixture = _bench("bench-base.json").result
    env = environment(fixture.environment.engine, detect(LiveSource(), kvm_probe=True))
    return to_document(anonymize(new_report(dataclasses.replace(fixture, environment=env))))


def test_reports_hold_no_env_values_or_user_name() -> None:
    user = getpass.getuser()
    # "root" is also an English word in reports ("the root filesystem", "read-only
    # root"): for root, look for its home directory instead of the bare word.
    user_pattern = (
        r"(?<![\w-])/root(?![\w-])" if user == "root" else rf"(?<![\w-]){re.escape(user)}(?![\w-])"
    )
    docs = [_live_bench_doc(), *(json.loads(p.read_text()) for p in sorted(REPORTS.glob("*.json")))]
    secrets = {k: v for k, v in os.environ.items() if len(v) >= 8}
    for doc in docs:
        # The hostname is recorded on purpose (and hashed by --anonymize); HOSTNAME may equal it.
        strings = _strings(doc if "anon-" in json.dumps(doc) else to_document(anonymize(from_document(doc))))
        for s in strings:
            for k, v in secrets.items():
                assert v not in s, f"value of ${k} found in a report string: {s[:80]!r}"
            assert not re.search(user_pattern, s), f"user name in {s[:80]!r}"


def test_cli_report_formats(tmp_path: Path) -> None:
    import subprocess
    import sys

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "virtprobe", "report", *args], capture_output=True, text=True, timeout=120
        )

    src = str(FIX / "bench-base.json")
    out = tmp_path / "again.json"
    assert run(src, "--format", "json", "--anonymize", "-o", str(out)).returncode == 0
    again = load_report(out)  # what report writes is a valid report
    assert isinstance(again, BenchReport) and again.result.environment.hostname == stable_hash("vm")
    assert run(src, "--format", "json", "-o", str(out)).returncode == 1  # never overwritten silently
    assert run(src, "--format", "json", "-o", str(out), "--force").returncode == 0
    table = run(src, str(FIX / "detect-firecracker.json"))
    assert table.returncode == 0 and "Container start" in table.stdout and "KVM" in table.stdout
    html_out = tmp_path / "r.html"
    assert run(src, "--format", "html", "-o", str(html_out)).returncode == 0
    assert html_out.read_text().startswith("<!DOCTYPE html>")
    md = run(src, "--format", "markdown")
    assert md.stdout == render_markdown(load_report(FIX / "bench-base.json"))
