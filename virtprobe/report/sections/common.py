"""Wording that more than one page kind shows: the verdict line, the footer, a source as a citation."""

from __future__ import annotations

import hashlib

from virtprobe.benchmark.result import DetectSummary, Source
from virtprobe.detection.model import show_value
from virtprobe.report.envelope import Header
from virtprobe.report.page import Cell, Citation, Column, ColumnKind, Tone


def verdict_line(summary: DetectSummary | None) -> str:
    """hypervisor · container · cloud · WSL · KVM, in one line (ids as the JSON holds them)."""
    s = summary or DetectSummary(None, None, None, None, None, None, None)
    hv = show_value(s.hypervisor) + (f" ({s.vmm})" if s.vmm else "")
    kvm = {True: "usable", False: "not usable", None: "unknown"}[s.kvm_usable]
    if s.kvm_module:
        kvm += f" ({s.kvm_module})"
    return (
        f"hypervisor: {hv} · container: {show_value(s.container)} · cloud: {show_value(s.cloud)} · "
        f"WSL: {show_value(s.wsl)} · KVM: {kvm}"
    )


def footer(header: Header | None, extra: str | None = None) -> str | None:
    """"virtprobe 0.1.0, schema 1.1, 2026-12-01T08:18:34Z": which tool wrote the report, and when."""
    if header is None:
        return None
    parts = [f"{header.tool_name} {header.tool_version}", f"schema {header.schema_version}"]
    return ", ".join([*parts, *(p for p in (header.created_utc, extra) if p)])


def source_citation(source: Source | None) -> Citation | None:
    """A simulated figure's source as a citation whose key is stable for the same source text."""
    if source is None:
        return None
    text = "; ".join(p for p in (source.citation, source.host and f"host {source.host}") if p)
    if not text and not source.url:
        return None
    key = "src-" + hashlib.sha256(f"{text}\n{source.url}".encode()).hexdigest()[:10]
    return Citation(key, text or (source.url or ""), source.url)


def label(title: str, metric: str | None = None) -> Column:
    return Column(title, ColumnKind.label, metric=metric)


def text(value: str | None, tone: Tone = Tone.plain) -> Cell:
    return Cell(value, tone=tone)


def count(value: int | None) -> Cell:
    return Cell(value)


NOT_MEASURED = "not measured"
