"""Markdown (golden text), self-contained HTML, anonymization, and no secrets in reports."""

from __future__ import annotations

import getpass
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.render import html
from tests.render import markdown as render_markdown
from virtprobe.report.anonymize import anonymize, stable_hash
from virtprobe.report.compare import compare
from virtprobe.report.document import BenchReport, Report, from_document, new_report, to_document
from virtprobe.report.formats import OutputFormat, render_comparison
from virtprobe.report.load import load_document, load_report

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


def _comparison(fmt: OutputFormat, base: Report, new: Report) -> str:
    c = compare(base, new, base_name="base.json", new_name="new.json")
    out = render_comparison(c, [base, new], ["base.json", "new.json"], fmt)
    assert isinstance(out, str)
    return out


def test_compare_markdown_golden() -> None:
    base, new = load_report(FIX / "bench-base.json"), load_report(FIX / "bench-new-slower.json")
    _golden("compare-slower.md", _comparison(OutputFormat.markdown, base, new))


def test_markdown_labels_simulated_and_tcg() -> None:
    md = render_markdown(load_report(FIX / "bench-base.json"))
    ratio_rows = [line for line in md.splitlines() if "×" in line]
    sim = next(line for line in ratio_rows if line.startswith("| _Firecracker (simulated)_ |"))
    assert "| _simulated_ |" in sim
    # The source is cited once, in the page's sources, and the note names the rows it covers.
    sources = md[md.index("**Sources**") :]
    assert sources.count("Firecracker SPECIFICATION.md") == 1 and md.count("Firecracker SPECIFICATION.md") == 1
    note = next(line for line in md.splitlines() if line.startswith("- _Simulated from this source: Firecracker"))
    assert note.endswith("[1]")
    tcg = next(line for line in ratio_rows if line.startswith("| QEMU microvm (measured) [tcg] |"))
    assert "| measured here (tcg) |" in tcg
    # The measured row says it was emulated: its own note here ("TCG: software emulation, ..."), else the caveat.
    assert "- QEMU microvm (measured) [tcg]: TCG: software emulation, not representative of hardware" in md
    assert "hypervisor: kvm (firecracker) · container: none" in md


def test_markdown_escapes_table_cells() -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["vm"]["baselines"][0]["label"] = "a|b\nc"

    md = render_markdown(_edited("bench-base.json", edit))
    assert "| _a\\|b c (simulated)_ |" in md


def _html() -> str:
    base, new = load_report(FIX / "bench-base.json"), load_report(FIX / "bench-new-slower.json")
    return _comparison(OutputFormat.html, base, new)


def test_html_is_self_contained() -> None:
    page = _html()
    # Nothing may load: no src/href/url() at all, no scripts, no @import.
    assert not re.search(r"""\b(src|href)\s*=""", page, re.I)
    assert "<script" not in page.lower()
    assert "url(" not in page.lower()
    assert "@import" not in page.lower()
    # URLs only as plain text in the sources each page lists.
    sources = "".join(re.findall(r'<ol class="sources">.*?</ol>', page, re.S))
    outside = re.sub(r'<ol class="sources">.*?</ol>', "", page, flags=re.S)
    assert "https://" in sources and not re.search(r"https?://", outside)
    assert len(page) < 1_000_000


def test_html_has_charts() -> None:
    page = _html()
    svgs = re.findall(r"<svg\b.*?</svg>", page, re.S)
    assert len(svgs) >= 8
    for svg in svgs:
        assert re.search(r'<path[^>]* d="M[^"]+"', svg) or re.search(r"<rect\b", svg)
    for title in (
        "Where a container&#x27;s cycle goes, per engine and runtime",
        "Distribution of the whole cycle (ECDF), p50 and p99 marked",
        "Every phase, runtime runc: box plots",
        "Whole cycle in run order, runtime runc",
        "Container startup beside VM boot",
        "Memory of one idle container, by measure",
        "VM memory per instance: committed",
        "Base vs new, every sample",
        "Change of medians",
    ):
        assert title in page, title


def test_html_escapes_report_text() -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["environment"]["hostname"] = "<script>alert(1)</script>"
        doc["vm"]["baselines"][0]["label"] = "<img src=x onerror=alert(1)>"

    page = html([_edited("bench-base.json", edit)], ["<b>name</b>"])
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
        if "anon-" not in json.dumps(doc):
            report = from_document(doc)  # anonymize() takes one kind; a detect report holds nothing it hashes
            doc = to_document(anonymize(report) if isinstance(report, BenchReport) else report)
        strings = _strings(doc)
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
    assert md.stdout == render_markdown(load_report(FIX / "bench-base.json"), src)
