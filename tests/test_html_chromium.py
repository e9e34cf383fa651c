"""The HTML report renders in headless Chromium: a screenshot, no console errors, charts drawn."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import live_skip
from virtprobe.report.compare import compare
from virtprobe.report.html import render_html
from virtprobe.report.load import load_report

FIX = Path(__file__).parent / "fixtures" / "reports"
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
    html = render_html([base, new], ["base.json", "new.json"], comparison=cmp)
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
    assert "<h1>virtprobe compare</h1>" in dom, proc.stderr[-2000:]
    assert _console_errors(proc.stderr) == []
    svgs = re.findall(r"<svg\b.*?</svg>", dom, re.S)
    assert len(svgs) >= 8
    for svg in svgs:
        drawn = re.findall(r'<path[^>]*\bd="M[^"]+"', svg) + re.findall(r'<rect[^>]*\bheight="[1-9]', svg)
        assert drawn, svg[:300]
