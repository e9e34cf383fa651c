"""Wording that more than one page kind shows: the verdict line, the footer, column and cell helpers."""

from __future__ import annotations

from virtprobe.detection.model import DetectResult, show_value
from virtprobe.lean_typing import TYPE_CHECKING
from virtprobe.report.page import Cell, Column, ColumnKind, Tone

if TYPE_CHECKING:  # not imported at run time: the detect page stays clear of the bench modules and of
    # report/envelope.py, whose dataclass would import `dataclasses` on `detect`'s path
    from virtprobe.benchmark.result import DetectSummary
    from virtprobe.report.envelope import Header


def verdict_text(hypervisor: str | None, vmm: str | None, container: str | None, cloud: str | None,
                 wsl: str | None, kvm_usable: bool | None, kvm_module: str | None) -> str:  # fmt: skip
    """hypervisor · container · cloud · WSL · KVM, in one line (ids as the JSON holds them)."""
    hv = show_value(hypervisor) + (f" ({vmm})" if vmm else "")
    kvm = {True: "usable", False: "not usable", None: "unknown"}[kvm_usable]
    if kvm_module:
        kvm += f" ({kvm_module})"
    return (
        f"hypervisor: {hv} · container: {show_value(container)} · cloud: {show_value(cloud)} · "
        f"WSL: {show_value(wsl)} · KVM: {kvm}"
    )


def verdict_line(summary: DetectSummary | None) -> str:
    """The verdict line of the machine a bench report ran on."""
    if summary is None:
        return verdict_text(None, None, None, None, None, None, None)
    s = summary
    return verdict_text(s.hypervisor, s.vmm, s.container, s.cloud, s.wsl, s.kvm_usable, s.kvm_module)


def detect_verdict_line(r: DetectResult) -> str:
    """The same line from a detect result."""
    return verdict_text(r.hypervisor.id, r.hypervisor.vmm, r.container.id, r.cloud.id, r.wsl.id, r.kvm.usable,
                        r.kvm.module)  # fmt: skip


def footer(header: Header | None, extra: str | None = None) -> str | None:
    """ "virtprobe 0.1.0, schema 1.1, 2026-12-01T08:18:34Z": which tool wrote the report, and when."""
    if header is None:
        return None
    parts = [f"{header.tool_name} {header.tool_version}", f"schema {header.schema_version}"]
    return ", ".join([*parts, *(p for p in (header.created_utc, extra) if p)])


def label(title: str, metric: str | None = None) -> Column:
    return Column(title, ColumnKind.label, metric=metric)


def text(value: str | None, tone: Tone = Tone.plain) -> Cell:
    return Cell(value, tone=tone)


def count(value: int | None) -> Cell:
    return Cell(value)


# No figure: the writer shows its one "no value" mark, muted.
MUTED = Cell(None, tone=Tone.muted)


def value_cell(value: float | None, tone: Tone = Tone.plain) -> Cell:
    """A number (the writer formats it by its column's kind), or MUTED for None."""
    return MUTED if value is None else Cell(value, tone=tone)


NOT_MEASURED = "not measured"
