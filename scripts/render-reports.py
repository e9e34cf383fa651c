#!/usr/bin/env python3
"""Rebuild reports/ from the JSON reports there: every .txt, .md, .html and .prom, byte for byte.

Nothing is measured: each reports/NAME.json (a real report of a real machine) is
rendered by the same writers the CLI uses, as `virtprobe report NAME.json` would:

    NAME.txt   the terminal table at 80 columns, no colour
    NAME.md    Markdown (for $GITHUB_STEP_SUMMARY)
    NAME.html  the self-contained HTML page with its charts
    NAME.prom  OpenMetrics text (node_exporter's textfile collector)

Usage: scripts/render-reports.py [--check] [DIR]   (DIR defaults to reports/)
--check writes nothing and exits 1 naming every file that differs from its render
(tests/test_reports_reproducible.py runs it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from virtprobe.report.formats import OutputFormat, report_page, write_pages
from virtprobe.report.load import load_any
from virtprobe.report.writers import terminal

REPORTS = Path(__file__).resolve().parent.parent / "reports"
TEXT_WIDTH = 80
FORMATS = {".md": OutputFormat.markdown, ".html": OutputFormat.html, ".prom": OutputFormat.prometheus}


def renders(folder: Path) -> dict[Path, str]:
    """{output path: its text} for every report in the folder."""
    out: dict[Path, str] = {}
    for source in sorted(folder.glob("*.json")):
        page = report_page(load_any(source), source.name)
        out[source.with_suffix(".txt")] = terminal.write([page], TEXT_WIDTH)
        for suffix, fmt in FORMATS.items():
            text = write_pages([page], fmt)
            assert isinstance(text, str)
            out[source.with_suffix(suffix)] = text
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file differs")
    parser.add_argument("folder", nargs="?", type=Path, default=REPORTS)
    args = parser.parse_args(argv)
    stale = []
    for path, text in renders(args.folder).items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        stale.append(path)
        if not args.check:
            path.write_text(text, encoding="utf-8")
    verb = "differ from their render" if args.check else "rewritten"
    for path in stale:
        print(f"{path}: {verb}", file=sys.stderr)
    return 1 if stale and args.check else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
