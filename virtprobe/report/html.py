"""One self-contained HTML page for reports and comparisons, with charts that work offline.

Charts are drawn by pygal, a pure-Python SVG library: its SVG is inlined in
the page, with its CSS inside the SVG. pygal's optional tooltip script is
loaded from a URL by default, so it is turned off (`js=[]`); the charts are
static, and the page loads nothing from anywhere. pygal's credit comments
(which hold URLs) are stripped so that the page holds no URL outside the
visible text of citations. All text from a report goes through html.escape.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from typing import Any

from virtprobe import stats
from virtprobe.benchmark.environment import detect_summary
from virtprobe.benchmark.result import PHASES, BenchResult, VmBaseline
from virtprobe.report.compare import Comparison
from virtprobe.report.compare_render import SETUP_WARNING, format_change, format_p, summary_line, verdict
from virtprobe.report.document import KIND_DETECT, BenchReport, DetectReport, Report
from virtprobe.report.labels import TCG_CAVEAT, baseline_name, phase_label
from virtprobe.report.metrics import (
    BILLING_RULE,
    BILLING_SOURCE,
    clock_line,
    container_memory_per_instance,
    container_startup_phase,
    engine_line,
    floor_rows,
    function_clock_note,
    function_row_label,
    function_rows,
    hwvirt_rows,
    outlier_lines,
    process_label,
    runtime_rows,
    source_text,
    vm_memory,
)
from virtprobe.report.text import format_value, verdict_line

MIB = 1024 * 1024
_COMMENT_RE = re.compile(r"<!--.*?-->", re.S)
_SCRIPT_RE = re.compile(r"<script\b.*?</script>", re.S)

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1100px;
     color:#1d2330;line-height:1.4;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.2rem;border-bottom:1px solid #ccd;padding-bottom:.2rem;margin-top:2rem}
h3{font-size:1.05rem}
table{border-collapse:collapse;margin:.5rem 0 1rem}
td,th{border:1px solid #ccd;padding:.25rem .5rem;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.verdict{font-weight:600;background:#eef3fb;padding:.5rem .75rem;border-radius:4px}
.regression{color:#b00020;font-weight:700}.improvement{color:#1b7f3b}
.sim{color:#7a4b00}.caveat{color:#b00020}
.chart{max-width:1000px}.chart svg{width:100%;height:auto}
.meta{color:#667;font-size:.85rem}
"""


def _e(value: Any) -> str:
    return html.escape("–" if value is None else str(value))


def _style() -> Any:
    import pygal.style

    return pygal.style.Style(
        background="white",
        plot_background="white",
        font_family="sans-serif",
        colors=("#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6", "#dd4477", "#66aa00"),
    )


def _svg(chart: Any) -> str:
    svg = _COMMENT_RE.sub("", chart.render(is_unicode=True))
    # pygal inlines a config <script> for its tooltip library, which we do not load.
    svg = _SCRIPT_RE.sub("", svg)
    # Inline <svg> in HTML is in the SVG namespace without the attribute; dropping it
    # leaves no URL in the markup at all.
    svg = svg.replace(' xmlns="http://www.w3.org/2000/svg"', "", 1)
    return '<div class="chart">' + svg + "</div>"


def _config(title: str, **extra: Any) -> dict[str, Any]:
    # js=[]: pygal would otherwise add a <script> loaded from the network.
    return {
        "js": [],
        "disable_xml_declaration": True,
        "title": title,
        "style": _style(),
        "width": 1000,
        "height": 420,
        "legend_at_bottom": True,
        # Two columns: VM labels such as "Kata Containers on Cloud Hypervisor
        # (simulated)" overlap each other in pygal's default of four.
        "legend_at_bottom_columns": 2,
        "truncate_legend": -1,
        **extra,
    }


def _log_labels(values: Sequence[float]) -> list[float]:
    """1-2-5 ticks spanning the data: pygal's own log ticks are too sparse to read off."""
    lo, hi = min(values), max(values)
    ticks = [m * 10.0**e for e in range(-3, 7) for m in (1, 2, 5)]
    below = [t for t in ticks if t <= lo]
    above = [t for t in ticks if t >= hi]
    start = below[-1] if below else ticks[0]
    end = above[0] if above else ticks[-1]
    return [t for t in ticks if start <= t <= end]


def _ms(values: Sequence[Any]) -> list[float]:
    return [float(v) * 1000 for v in values if isinstance(v, int | float) and not isinstance(v, bool)]


def startup_box_chart(r: BenchResult) -> str | None:
    """Box plots (Tukey whiskers) of each container phase, in ms."""
    import pygal

    if r.container is None:
        return None
    chart = pygal.Box(**_config("Container startup by phase (ms, warmup excluded)", box_mode="tukey"))
    added = False
    for phase in PHASES:
        values = _ms(r.container.measured(phase))
        if values:
            chart.add(phase_label(phase), values)
            added = True
    return _svg(chart) if added else None


def baseline_box_chart(r: BenchResult) -> str | None:
    """The container's startup against each VM baseline's boot time, log scale, in ms."""
    import pygal

    if not r.baselines:
        return None
    chart = pygal.Box(**_config("Container startup vs VM boot (ms, log scale)", box_mode="tukey", logarithmic=True))
    everything: list[float] = []
    if r.container is not None:
        phase = container_startup_phase(r.container)
        values = [v for v in _ms(r.container.measured(phase)) if v > 0]
        if values:
            chart.add(f"container: {phase_label(phase)}", values)
            everything += values
    for b in r.baselines:
        boot = [v for v in _ms(b.boot_samples_s) if v > 0]
        if boot:
            chart.add(baseline_name(b), boot)
            everything += boot
    if not everything:
        return None
    chart.y_labels = _log_labels(everything)
    return _svg(chart)


def memory_bar_chart(r: BenchResult) -> str | None:
    """Memory per instance in MiB: the container against each VM profile."""
    import pygal

    cont, basis = container_memory_per_instance(r.container)
    chart = pygal.HorizontalBar(
        **_config("Memory per instance (MiB)", print_values=True, value_formatter=lambda v: f"{v:.1f} MiB")
    )
    added = False
    if cont is not None:
        chart.add(f"container ({basis})", [cont / MIB])
        added = True
    for b in r.baselines:
        value, vbasis = vm_memory(b)
        if value is not None:
            chart.add(f"{baseline_name(b)} ({vbasis})", [value / MIB])
            added = True
    return _svg(chart) if added else None


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: frozenset[int] = frozenset()) -> str:
    """An HTML table; every cell is already escaped; columns in `numeric` align right."""
    head = "<tr>" + "".join(f"<th>{h}</th>" for h in headers) + "</tr>"
    body = [
        "<tr>"
        + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in rows
    ]
    return "<table>" + head + "".join(body) + "</table>"


def _bench_head(report: BenchReport, name: str) -> list[str]:
    r = report.result
    env = r.environment
    return [
        f"<h2>bench: {_e(name)}</h2>",
        f'<p class="verdict">{_e(verdict_line(env.detect))}</p>',
        f'<p class="meta">host {_e(env.hostname)} · kernel {_e(env.kernel)} · '
        f"{_e(env.cpu_model)} × {_e(env.cpu_count)} · "
        f"{_e(report.header.created_utc)} · run {_e(r.run_id)}</p>",
        f'<p class="meta">engine: {_e(engine_line(env.engine))}</p>',
    ]


def _startup_html(r: BenchResult) -> list[str]:
    runtime = r.container.runtime if r.container is not None else None
    out = ["<h3>Container startup" + (f" (runtime {_e(runtime)})" if runtime else "") + "</h3>"]
    if r.container is not None and r.container.refused:
        out.append(f"<p>refused: {_e(r.container.refused)}</p>")
    rows = []
    for phase in PHASES:
        s = r.container.summary(phase) if r.container is not None else None
        if s is not None and s.n:
            label = phase_label(phase) + (" (noisy)" if s.noisy else "")
            rows.append([_e(label), _e(format_value(s.median, "s")), _e(format_value(s.p99, "s")), _e(s.n)])
    out.append(_table(["phase", "median", "p99", "n"], rows, frozenset({1, 2, 3})))
    if r.container is not None:
        out.append(f"<p>{_e(clock_line(r.container))}</p>")
    outliers = outlier_lines(r.container)
    if outliers:
        out.append("<ul>" + "".join(f"<li>Outliers: {_e(line)}</li>" for line in outliers) + "</ul>")
    return out


def _runtimes_html(r: BenchResult) -> list[str]:
    if not r.other_runtimes:
        return []
    rows = []
    for row in runtime_rows(r):
        if row.refused:
            rows.append([_e(row.runtime), "–", "–", "–", "–", "0", f"refused: {_e(row.refused)}"])
            continue
        fi = format_value(row.first_instruction.median, "s") if row.first_instruction is not None else "own clock"
        ratio = "–" if row.cycle_ratio is None else f"{row.cycle_ratio:.2f}×"
        rows.append(
            [
                _e(row.runtime),
                _e(format_value(row.start.median, "s")),
                _e(fi),
                _e(format_value(row.cycle.median, "s")),
                _e(ratio),
                _e(row.cycle.n),
                _e(row.clock),
            ]
        )
    headers = ["runtime", "start (API call)", "first instruction", "whole cycle", "ratio", "n", "clock"]
    notes = [f"<li>{_e(o.runtime)}: {_e(clock_line(o))}</li>" for o in r.other_runtimes if not o.refused]
    return [
        "<h3>Runtimes side by side (ratio = whole cycle / the first runtime's)</h3>",
        _table(headers, rows, frozenset({1, 2, 3, 4, 5})),
        "<ul>" + "".join(notes) + "</ul>" if notes else "",
    ]


def _memory_html(r: BenchResult) -> list[str]:
    """Every runtime's memory figures, each named for what it is; unmeasurable ones say why."""
    rows = []
    for sec in r.runtime_sections:
        memory = sec.memory
        if memory is None:
            continue
        who = _e(sec.runtime or "default")
        if memory.host_side_reason:
            rows.append([who, "–", _e(memory.host_side_reason)])
            continue
        cg, proc = stats.summarize(memory.cgroup_bytes), stats.summarize(memory.process_pss_bytes or ())
        if cg.median is not None:
            rows.append([who, _e(format_value(cg.median, "bytes")), _e(f"cgroup usage, median of {cg.n}")])
        if proc.median is not None:
            rows.append([who, _e(format_value(proc.median, "bytes")), _e(f"{process_label(memory.process_name)} PSS")])
        for value, figure, what in (
            (memory.host_kernel_anon_growth_bytes_per_container, memory.host_kernel_anon, "host kernel+anon growth"),
            (memory.host_available_drop_bytes_per_container, memory.host_available, "host MemAvailable drop"),
        ):
            if value is not None:
                rows.append([who, _e(format_value(value, "bytes")), _e(f"{what} per container")])
            elif figure is not None and figure.reason:
                rows.append([who, _e(figure.reason), _e(f"{what} per container")])
    return [_table(["runtime", "memory", "what"], rows, frozenset({1}))] if rows else []


def _function_html(r: BenchResult) -> list[str]:
    fn = r.function
    if fn is None:
        return []
    rows = []
    for row in function_rows(r):
        label = function_row_label(row)
        if row.wall_s is None:
            rows.append([_e(label), "–", "–", "–", "–", "–", "0"])
            continue
        share = "–" if row.share is None else f"{row.share * 100:.0f}%"
        rows.append(
            [
                _e(label),
                _e(format_value(row.wall_s, "s")),
                _e(format_value(row.work_s, "s")),
                _e(share),
                _e(f"{row.billed_1ms} ms"),
                _e(f"{row.billed_100ms} ms"),
                _e(row.n),
            ]
        )
    headers = ["how it is served", "wall", "function's own work", "share", "billed at 1 ms", "billed at 100 ms", "n"]
    notes = [f"<li>{_e(row.label)}: {_e(row.note)}</li>" for row in function_rows(r) if row.note]
    notes.append(f"<li>Billing: {_e(BILLING_RULE)}; source: {_e(BILLING_SOURCE)}</li>")
    clock_note = function_clock_note(r)
    if clock_note:
        notes.append(f"<li>{_e(clock_note)}</li>")
    runtime = f", runtime {_e(fn.runtime)}" if fn.runtime else ""
    return [
        f"<h3>The serverless cycle: a function of {_e(fn.function_ms)} ms of CPU{runtime}</h3>",
        _table(headers, rows, frozenset({1, 2, 3, 4, 5, 6})),
        "<ul>" + "".join(notes) + "</ul>",
    ]


def _baselines_html(r: BenchResult) -> list[str]:
    if not r.baselines:
        return []
    rows = []
    for b in r.baselines:
        bs = b.boot_summary()
        value, vbasis = vm_memory(b)
        rows.append(
            [
                _e(baseline_name(b)),
                _e(format_value(bs.median, "s")),
                _e(format_value(bs.p99, "s")),
                f"{_e(format_value(value, 'bytes'))} ({_e(vbasis)})",
                _baseline_kind_html(b),
            ]
        )
    table = _table(["baseline", "boot median", "boot p99", "memory", "kind"], rows, frozenset({1, 2, 3}))
    return ["<h3>VM baselines</h3>", table]


def _floor_html(r: BenchResult) -> list[str]:
    ladder = floor_rows(r.container)
    if not ladder:
        return []
    rows = [[_e(label), _e(format_value(med, "s") if n else "not measured"), str(n)] for label, med, n in ladder]
    out = [
        "<h3>Where the engine's time goes</h3>",
        _table(["what starts the probe", "median", "n"], rows, frozenset({1, 2})),
    ]
    notes = r.container.floor.notes if r.container is not None and r.container.floor is not None else ()
    if notes:
        out.append("<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    return out


def _hwvirt_html(r: BenchResult) -> list[str]:
    hw = r.hwvirt
    if hw is None:
        return []
    out = [f"<h3>Hardware virtualization itself (/dev/kvm via {_e(hw.kvm_module)}, no VMM)</h3>"]
    rows = hwvirt_rows(hw)
    if not rows:
        return [*out, f"<p>Not available: {_e(hw.reason)}</p>"]
    cells = [[_e(label), _e(value), _e(meaning)] for label, value, meaning in rows]
    return [*out, _table(["measure", "median", "what it shows"], cells, frozenset({1}))]


def _bench_section(report: BenchReport, name: str) -> str:
    r = report.result
    out = [*_bench_head(report, name), *_startup_html(r), *_runtimes_html(r)]
    out += [chart for chart in (startup_box_chart(r), baseline_box_chart(r)) if chart]
    out += _baselines_html(r)
    out.append("<h3>Memory per instance</h3>")
    out += _memory_html(r)
    out.append(memory_bar_chart(r) or "<p>No memory figures in this report.</p>")
    out += _function_html(r)
    out += _floor_html(r)
    out += _hwvirt_html(r)
    if r.warnings:
        out.append("<h3>Warnings</h3><ul>" + "".join(f"<li>{_e(w)}</li>" for w in r.warnings) + "</ul>")
    return "\n".join(out)


def _baseline_kind_html(b: VmBaseline) -> str:
    if b.simulated:
        # The URL is plain text on purpose: the page must not link or load anything.
        text = source_text(b)
        return '<span class="sim">simulated</span>' + (f" — source: {_e(text)}" if text else "")
    text = f"measured, accel {_e(b.accel or 'unknown')}"
    if b.accel == "tcg":
        text += f' <span class="caveat">⚠ {_e(TCG_CAVEAT)}</span>'
    return text


def _detect_section(report: DetectReport, name: str) -> str:
    rows = []
    sections = report.result.sections()
    for section in ("host", "cpu", "kvm", "hypervisor", "cloud", "container", "wsl", "cvm"):
        data = sections.get(section)
        if isinstance(data, dict):
            shown = ", ".join(f"{k}: {v}" for k, v in data.items() if v not in (None, [], "") and k != "layers")
            if section == "cvm" and data.get("id") is None:
                shown = "id: unknown" + (f", reason: {data['reason']}" if data.get("reason") else "")
            rows.append(f"<tr><th>{_e(section)}</th><td>{_e(shown)}</td></tr>")
    checks = [
        f'<tr><th>{_e(c.target)}</th><td class="check-{_e(c.status)}">{_e(c.status.upper())}</td>'
        f"<td>{_e(c.reason)}</td><td>{_e(c.fix or '')}</td></tr>"
        for c in report.result.checks
    ]
    head = "<tr><th>target</th><th>status</th><th>reason</th><th>fix</th></tr>"
    check_table = ["<h3>Can this host run it?</h3>", "<table>", head, *checks, "</table>"] if checks else []
    return "\n".join(
        [
            f"<h2>detect: {_e(name)}</h2>",
            f'<p class="verdict">{_e(verdict_line(detect_summary(report.result)))}</p>',
            "<table>",
            *rows,
            "</table>",
            *check_table,
        ]
    )


def comparison_chart(base: BenchResult, new: BenchResult) -> str | None:
    """Box plots of base against new for each container phase and measured VM boot, ms, log scale."""
    import pygal

    chart = pygal.Box(**_config("Base vs new (ms, log scale)", box_mode="tukey", logarithmic=True, height=480))
    everything: list[float] = []
    for phase in ("start_s", "cycle_s"):  # base and new side by side, phase by phase
        for label, result in (("base", base), ("new", new)):
            measured = result.container.measured(phase) if result.container is not None else []
            values = [v for v in _ms(measured) if v > 0]
            if values:
                chart.add(f"{label}: {phase_label(phase)}", values)
                everything += values
    if not everything:
        return None
    chart.y_labels = _log_labels(everything)
    return _svg(chart)


def change_bar_chart(c: Comparison) -> str | None:
    import pygal

    rows = [m for m in c.metrics if m.change is not None]
    if not rows:
        return None
    chart = pygal.HorizontalBar(
        **_config(
            f"Change of medians, new vs base (%; threshold {c.threshold * 100:g}%)",
            print_values=True,
            value_formatter=lambda v: f"{v:+.1f}%",
            height=max(300, 40 * len(rows) + 160),
            show_legend=False,
        )
    )
    chart.x_labels = [m.name for m in rows]
    chart.add(
        "change",
        [{"value": (m.change or 0.0) * 100, "color": "#b00020" if m.regression else "#3366cc"} for m in rows],
    )
    return _svg(chart)


def _comparison_section(c: Comparison, reports: Sequence[Report]) -> str:
    out = [f"<h2>compare: {_e(c.base_name)} → {_e(c.new_name)}</h2>"]
    if c.env_differences:
        out.append(
            f'<p class="caveat">Environments differ (compared with --force): {_e("; ".join(c.env_differences))}</p>'
        )
    if c.setup_differences:
        text = SETUP_WARNING[:1].upper() + SETUP_WARNING[1:] + "; ".join(c.setup_differences)
        out.append(f'<p class="caveat">{_e(text)}</p>')
    klass = "regression" if c.regressions else "verdict"
    out.append(f'<p class="{klass}">{_e(summary_line(c))}</p>')
    if c.kind == KIND_DETECT:
        out.append("<table><tr><th>verdict</th><th>base</th><th>new</th></tr>")
        out += [f"<tr><td>{_e(f)}</td><td>{_e(b)}</td><td>{_e(n)}</td></tr>" for f, b, n in c.verdict_changes]
        out.append("</table>")
        return "\n".join(out)
    out.append(
        "<table><tr><th>metric</th><th>base</th><th>new</th><th>change [95% CI]</th><th>p</th><th>verdict</th></tr>"
    )
    for m in c.metrics:
        klass = ' class="regression"' if m.regression else (' class="improvement"' if m.improvement else "")
        out.append(
            f'<tr><td>{_e(m.name)}</td><td class="num">{_e(format_value(m.base_median, m.unit))}</td>'
            f'<td class="num">{_e(format_value(m.new_median, m.unit))}</td>'
            f'<td class="num">{_e(format_change(m))}</td><td class="num">{_e(format_p(m.p_value))}</td>'
            f"<td{klass}>{_e(verdict(m))}</td></tr>"
        )
    out.append("</table>")
    # The comparison's base and new are the first two reports (compare passes exactly those).
    if len(reports) >= 2 and isinstance(reports[0], BenchReport) and isinstance(reports[1], BenchReport):
        chart = comparison_chart(reports[0].result, reports[1].result)
        if chart:
            out.append(chart)
    chart = change_bar_chart(c)
    if chart:
        out.append(chart)
    return "\n".join(out)


def render_html(
    reports: Sequence[Report], names: Sequence[str] | None = None, comparison: Comparison | None = None
) -> str:
    """A complete HTML page: the comparison if one is given, then one section per report."""
    names = list(names) if names is not None else [f"report {i + 1}" for i in range(len(reports))]
    body = []
    if comparison is not None:
        body.append(_comparison_section(comparison, reports))
    for report, name in zip(reports, names, strict=True):
        if isinstance(report, BenchReport):
            body.append(_bench_section(report, name))
        else:
            body.append(_detect_section(report, name))
    title = "virtprobe compare" if comparison is not None else "virtprobe report"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{_e(title)}</title>'
        f"<style>{CSS}</style></head><body>\n<h1>{_e(title)}</h1>\n" + "\n".join(body) + "\n</body></html>\n"
    )
