"""Published snapshot-restore figures: each a cited, simulated row beside the restore measured here.

One row per source, with the exact figure and where in the source it stands. A row
whose figure could not be checked against its source is kept with `figure_s` None
and says so, rather than carrying a number nobody checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from virtprobe.benchmark.result import SIMULATED, RestoreRow, Source


@dataclass(frozen=True)
class CitedRestore:
    name: str
    label: str
    citation: str
    url: str
    where: str  # the page, section or table that holds the figure
    host: str | None
    method: str
    figure_s: float | None  # None: not verified against the source


FIRECRACKER = CitedRestore(
    name="firecracker-snapshot",
    label="Firecracker snapshot restore (published)",
    citation="Firecracker documentation: Snapshotting support (docs/snapshotting/snapshot-support.md)",
    url="https://github.com/firecracker-microvm/firecracker/blob/main/docs/snapshotting/snapshot-support.md",
    where="docs/snapshotting/snapshot-support.md",
    host=None,
    method="the LoadSnapshot API request until the microVM resumes, as Firecracker reports it",
    figure_s=None,
)

NOT_VERIFIED = (
    "figure not shown: it could not be checked against the cited page from the machine this "
    "virtprobe was built on (no internet there); a row carries a published number only once someone "
    "has read it in the source"
)

SOURCES = (FIRECRACKER,)


def cited_row(src: CitedRestore) -> RestoreRow:
    """The simulated row of one source: its figure as the one sample, or no sample and why."""
    source = Source(citation=f"{src.citation}, {src.where}", url=src.url, host=src.host, method=src.method)
    if src.figure_s is None:
        return RestoreRow(src.name, src.label, SIMULATED, (), src.method, source=source, refused=NOT_VERIFIED)
    return RestoreRow(src.name, src.label, SIMULATED, (src.figure_s,), src.method, source=source)
