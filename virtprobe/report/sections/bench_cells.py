"""Cells the issue-19 section builders share: a figure, or a muted dash where there is none."""

from __future__ import annotations

from virtprobe.report.page import Cell, Tone

MUTED = Cell(None, "—", Tone.muted)


def value_cell(value: float | None, tone: Tone = Tone.plain) -> Cell:
    """A number (the writer formats it by its column's kind), or a muted dash for None."""
    return MUTED if value is None else Cell(value, tone=tone)
