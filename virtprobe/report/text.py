"""Small text helpers every renderer shares: numbers with units, the one-line verdict, Markdown-safe cells."""

from __future__ import annotations

import re
from typing import Any

from virtprobe.benchmark.result import DetectSummary
from virtprobe.detection.model import show_value


def format_value(value: float | None, unit: str) -> str:
    """A number with its unit, at a precision a person can compare at a glance."""
    if value is None:
        return "–"
    if unit == "s":
        if value < 1:
            return f"{value * 1000:.3g} ms" if value < 0.01 else f"{value * 1000:.1f} ms"
        return f"{value:.3f} s"
    if unit == "bytes":
        if value >= 1024 * 1024:
            return f"{value / (1024 * 1024):.1f} MiB"
        return f"{value / 1024:.0f} KiB"
    if unit == "1/s":
        return f"{value:.2f}/s"
    return f"{value:g}"


def cell(value: Any) -> str:
    """Text safe inside a Markdown table cell (or a one-line quote)."""
    text = "–" if value is None else str(value)
    text = " ".join(text.split()).replace("|", "\\|")
    # "<kernel vmlinuz-6.1>" would be taken for an HTML tag and vanish on GitHub;
    # "<= 125 ms" and "<0.001" are not tags and stay as they are.
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", text)


def verdict_line(summary: DetectSummary | None) -> str:
    """hypervisor · container · cloud · WSL · KVM, in one line."""
    s = summary or DetectSummary(None, None, None, None, None, None, None)
    hv = show_value(s.hypervisor) + (f" ({s.vmm})" if s.vmm else "")
    kvm = {True: "usable", False: "not usable", None: "unknown"}[s.kvm_usable]
    if s.kvm_module:
        kvm += f" ({s.kvm_module})"
    return (
        f"hypervisor: {hv} · container: {show_value(s.container)} · cloud: {show_value(s.cloud)} · "
        f"WSL: {show_value(s.wsl)} · KVM: {kvm}"
    )
