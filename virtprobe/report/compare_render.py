"""Rendering a comparison (pure): a Rich table for the terminal, and Markdown for CI summaries."""

from __future__ import annotations

from typing import Any

from virtprobe.report.compare import ALPHA, Comparison, MetricChange
from virtprobe.report.document import KIND_DETECT
from virtprobe.report.text import cell, format_value

SETUP_WARNING = "measured differently, so a change may come from the setup, not the machine: "


def format_change(m: MetricChange) -> str:
    if m.change is None:
        return "–"
    text = f"{m.change * 100:+.1f}%"
    if m.ci_low is not None and m.ci_high is not None:
        text += f" [{m.ci_low * 100:+.1f}%, {m.ci_high * 100:+.1f}%]"
    return text


def format_p(p: float | None) -> str:
    if p is None:
        return "–"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def verdict(m: MetricChange) -> str:
    if m.regression:
        return "REGRESSION"
    if m.improvement:
        return "improvement"
    if m.note:
        return m.note
    if m.significant:
        return "significant, within threshold"
    return "no significant change"


def summary_line(c: Comparison) -> str:
    if c.kind == KIND_DETECT:
        n = len(c.verdict_changes)
        return "no verdict changed" if n == 0 else f"{n} verdict{'s' if n != 1 else ''} changed"
    regs = c.regressions
    if regs:
        return (
            f"{len(regs)} regression{'s' if len(regs) != 1 else ''} "
            f"(significant at p < {ALPHA} and worse than "
            f"{c.threshold * 100:g}%): " + ", ".join(m.name for m in regs)
        )
    return f"no regression (threshold {c.threshold * 100:g}%, p < {ALPHA})"


def render_comparison_table(c: Comparison) -> Any:
    """A Rich renderable of the comparison."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = []
    if c.env_differences:
        parts.append(
            Text("environments differ (compared with --force): " + "; ".join(c.env_differences), style="yellow")
        )
    if c.setup_differences:
        parts.append(Text(SETUP_WARNING + "; ".join(c.setup_differences), style="yellow"))
    if c.kind == KIND_DETECT:
        parts.append(Text(f"detect: {c.base_name} -> {c.new_name}", style="bold"))
        table = Table()
        table.add_column("verdict")
        table.add_column("base")
        table.add_column("new")
        for label, b, n in c.verdict_changes:
            table.add_row(label, b, n)
        if c.verdict_changes:
            parts.append(table)
    else:
        parts.append(Text(f"bench: {c.base_name} -> {c.new_name}", style="bold"))
        table = Table()
        for col, justify in (
            ("metric", "left"),
            ("base", "right"),
            ("new", "right"),
            ("change [95% CI]", "right"),
            ("p", "right"),
            ("verdict", "left"),
        ):
            table.add_column(col, justify=justify)  # type: ignore[arg-type]
        for m in c.metrics:
            style = "bold red" if m.regression else ("green" if m.improvement else "")
            table.add_row(
                m.name,
                format_value(m.base_median, m.unit),
                format_value(m.new_median, m.unit),
                format_change(m),
                format_p(m.p_value),
                Text(verdict(m), style=style),
            )
        parts.append(table)
    parts.append(Text(summary_line(c), style="bold red" if c.regressions else "bold"))
    return Group(*parts)


def render_comparison_markdown(c: Comparison) -> str:
    lines = [f"### virtprobe compare: `{c.base_name}` → `{c.new_name}`", ""]
    if c.env_differences:
        lines += [f"> **Environments differ** (compared with --force): {'; '.join(c.env_differences)}", ""]
    if c.setup_differences:
        lines += [f"> **{SETUP_WARNING.rstrip(': ')}**: {cell('; '.join(c.setup_differences))}", ""]
    if c.kind == KIND_DETECT:
        for label, b, n in c.verdict_changes:
            lines.append(f"- {label}: {b} -> {n}")
        if c.verdict_changes:
            lines.append("")
    else:
        lines += ["| metric | base | new | change [95% CI] | p | verdict |", "|---|---:|---:|---:|---:|---|"]
        for m in c.metrics:
            v = verdict(m)
            lines.append(
                f"| {m.name} | {format_value(m.base_median, m.unit)} | "
                f"{format_value(m.new_median, m.unit)} | "
                f"{format_change(m)} | {format_p(m.p_value)} | {'**' + v + '**' if m.regression else v} |"
            )
        lines.append("")
    lines += [f"**{summary_line(c)}**", ""]
    return "\n".join(lines)
