"""CLI commands `report` and `compare` (thin: options -> core -> render -> exit code)."""

from __future__ import annotations

from virtprobe.errors import InputError


def report() -> None:
    """Render saved reports again as a table, Markdown, HTML or JSON."""
    raise InputError("report is not implemented yet")


def compare() -> None:
    """Compare two reports; exit 3 on a significant regression."""
    raise InputError("compare is not implemented yet")
