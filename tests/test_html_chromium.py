"""The HTML report renders in headless Chromium: a screenshot, no console errors, charts drawn and painted."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import live_skip
from tests.pngpixels import colour_counts, near
from virtprobe.report.compare import compare
from virtprobe.report.formats import OutputFormat, render_comparison
from virtprobe.report.load import load_report
from virtprobe.report.sections.bench import build_bench_page
from virtprobe.report.writers import html as html_writer
from virtprobe.report.writers.svg import PALETTE

FIX = Path(__file__).parent / "fixtures" / "reports"
REPORTS = Path(__file__).parent.parent / "reports"
CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.chromium


def _chromium(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        live_skip("headless Chromium not installed (/usr/bin/chromium); apt-get install chromium")
    exe = CHROMIUM if Path(CHROMIUM).exists() else str(shutil.which("chromium"))
    # Flags keep Chromium from reaching any network service on its own.
    argv = [
        exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--user-data-dir=" + str(tmp_path / "profile"),
        "--enable-logging=stderr", "--v=0", *extra,
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


@pytest.fixture
def page(tmp_path: Path) -> Path:
    base, new = load_report(FIX / "bench-base.json"), load_report(FIX / "bench-new-slower.json")
    cmp = compare(base, new, base_name="base.json", new_name="new.json")
    html = render_comparison(cmp, [base, new], ["base.json", "new.json"], OutputFormat.html)
    assert isinstance(html, str)
    f = tmp_path / "report.html"
    f.write_text(html, encoding="utf-8")
    return f


def _console_errors(stderr: str) -> list[str]:
    return [
        line
        for line in stderr.splitlines()
        if "Uncaught" in line or ("CONSOLE" in line and ("error" in line.lower() or "ERROR" in line))
        or "Failed to load resource" in line or "net::ERR_" in line
    ]  # fmt: skip


def test_screenshot(page: Path, tmp_path: Path) -> None:
    png = tmp_path / "report.png"
    proc = _chromium(tmp_path, f"--screenshot={png}", "--window-size=1200,2000", page.as_uri())
    assert png.exists(), proc.stderr[-2000:]
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 50_000  # a blank 1200x2000 page compresses to a few KB
    assert _console_errors(proc.stderr) == []


def test_dom_has_drawn_charts(page: Path, tmp_path: Path) -> None:
    proc = _chromium(tmp_path, "--dump-dom", page.as_uri())
    dom = proc.stdout
    assert "<h1>virtprobe compare: base.json → new.json</h1>" in dom, proc.stderr[-2000:]
    assert _console_errors(proc.stderr) == []
    svgs = re.findall(r"<svg\b.*?</svg>", dom, re.S)
    assert len(svgs) >= 8
    for svg in svgs:
        drawn = re.findall(r'<path[^>]*\bd="M[^"]+"', svg) + re.findall(r'<rect[^>]*\bheight="[1-9]', svg)
        assert drawn, svg[:300]


def _hex(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def test_the_charts_are_painted(tmp_path: Path) -> None:
    """Every chart of a real report, alone on a page: Chromium paints the series in their colours."""
    report = load_report(REPORTS / "bench-firecracker.json")
    page = html_writer.write([build_bench_page(report.result, report.header)])  # type: ignore[arg-type]
    figures = re.findall(r'<figure class="chart">.*?</figure>', page, re.S)
    assert len(figures) >= 8
    (tmp_path / "charts.html").write_text(
        "<!DOCTYPE html><html><body style='margin:0;width:900px'>" + "".join(figures) + "</body></html>",
        encoding="utf-8",
    )
    png = tmp_path / "charts.png"
    proc = _chromium(tmp_path, f"--screenshot={png}", "--window-size=900,5200", "--hide-scrollbars",
                     (tmp_path / "charts.html").as_uri())  # fmt: skip
    assert png.exists(), proc.stderr[-2000:]
    counts = colour_counts(png.read_bytes())
    painted = {c: near(counts, _hex(c)) for c in PALETTE[:6]}
    # The stacked bars, the memory bars and the box plots fill areas in the first six colours.
    assert all(n > 300 for n in painted.values()), painted
    white = near(counts, (255, 255, 255), 0)
    assert white < 0.97 * sum(counts.values())  # not a blank page
