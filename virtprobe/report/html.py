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

from virtprobe.bench.model import measured
from virtprobe.report.compare import (
    SETUP_WARNING,
    Comparison,
    format_change,
    format_p,
    format_value,
    summary_line,
    verdict,
)
from virtprobe.report.document import KIND_BENCH, KIND_DETECT
from virtprobe.report.load import PHASES, recompute_summaries
from virtprobe.report.markdown import (
    PHASE_LABELS,
    TCG_CAVEAT,
    _detect_line_from_detect_doc,
    detect_verdict_line,
)
from virtprobe.report.metrics import (
    container_memory_per_instance,
    container_startup_phase,
    floor_rows,
    hwvirt_rows,
    source_text,
    vm_memory,
)

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


def startup_box_chart(doc: dict[str, Any]) -> str | None:
    """Box plots (Tukey whiskers) of each container phase, in ms."""
    import pygal

    container = doc.get("container") or {}
    samples = container.get("samples") or []
    chart = pygal.Box(**_config("Container startup by phase (ms, warmup excluded)", box_mode="tukey"))
    added = False
    for phase in PHASES:
        values = _ms(measured(samples, phase))
        if values:
            chart.add(PHASE_LABELS[phase], values)
            added = True
    return _svg(chart) if added else None


def baseline_box_chart(doc: dict[str, Any]) -> str | None:
    """The container's startup against each VM baseline's boot time, log scale, in ms."""
    import pygal

    container = doc.get("container") or {}
    baselines = (doc.get("vm") or {}).get("baselines") or []
    if not baselines:
        return None
    phase = container_startup_phase(container)
    samples = container.get("samples") or []
    chart = pygal.Box(**_config("Container startup vs VM boot (ms, log scale)", box_mode="tukey", logarithmic=True))
    everything: list[float] = []
    values = [v for v in _ms(measured(samples, phase)) if v > 0]
    if values:
        chart.add(f"container: {PHASE_LABELS[phase]}", values)
        everything += values
    for b in baselines:
        boot = [v for v in _ms(b.get("boot_samples_s") or ()) if v > 0]
        if boot:
            chart.add(_baseline_name(b), boot)
            everything += boot
    if not everything:
        return None
    chart.y_labels = _log_labels(everything)
    return _svg(chart)


def _baseline_name(b: dict[str, Any]) -> str:
    name = str(b.get("label") or b.get("name"))
    if b.get("kind") == "simulated" and "simulated" not in name.lower():
        name += " (simulated)"
    if b.get("kind") == "measured" and b.get("accel") and str(b.get("accel")).lower() not in name.lower():
        name += f" [{b.get('accel')}]"
    return name


def memory_bar_chart(doc: dict[str, Any]) -> str | None:
    """Memory per instance in MiB: the container against each VM profile."""
    import pygal

    container = doc.get("container") or {}
    cont, basis = container_memory_per_instance(container)
    chart = pygal.HorizontalBar(
        **_config("Memory per instance (MiB)", print_values=True, value_formatter=lambda v: f"{v:.1f} MiB")
    )
    added = False
    if cont is not None:
        chart.add(f"container ({basis})", [cont / MIB])
        added = True
    for b in (doc.get("vm") or {}).get("baselines") or []:
        value, vbasis = vm_memory(b)
        if value is not None:
            chart.add(f"{_baseline_name(b)} ({vbasis})", [value / MIB])
            added = True
    return _svg(chart) if added else None


def _bench_section(doc: dict[str, Any], name: str) -> str:
    doc = recompute_summaries(doc)
    env = doc.get("environment") or {}
    det = env.get("detect") or {}
    docker = env.get("docker") or {}
    container = doc.get("container") or {}
    summary = container.get("summary") or {}
    out = [
        f"<h2>bench: {_e(name)}</h2>",
        '<p class="verdict">'
        + _e(
            detect_verdict_line(
                det.get("hypervisor"),
                det.get("vmm"),
                det.get("container"),
                det.get("cloud"),
                det.get("wsl"),
                det.get("kvm_usable"),
                det.get("kvm_module"),
            )
        )
        + "</p>",
        f'<p class="meta">host {_e(env.get("hostname"))} · kernel {_e(env.get("kernel"))} · '
        f"{_e(env.get('cpu_model'))} × {_e(env.get('cpu_count'))} · "
        f"Docker {_e(docker.get('engine_version'))} "
        f"(runc {_e(docker.get('runc_version'))}, cgroup v{_e(docker.get('cgroup_version'))}) · "
        f"{_e(doc.get('created_utc'))} · run {_e(doc.get('run_id'))}</p>",
        "<h3>Container startup</h3>",
        "<table><tr><th>phase</th><th>median</th><th>p99</th><th>n</th></tr>",
    ]
    for phase in PHASES:
        s = summary.get(phase) or {}
        if s.get("n"):
            out.append(
                f"<tr><td>{_e(PHASE_LABELS[phase])}{' (noisy)' if s.get('noisy') else ''}</td>"
                f'<td class="num">{_e(format_value(s.get("median"), "s"))}</td>'
                f'<td class="num">{_e(format_value(s.get("p99"), "s"))}</td>'
                f'<td class="num">{_e(s["n"])}</td></tr>'
            )
    out.append("</table>")
    for chart in (startup_box_chart(doc), baseline_box_chart(doc)):
        if chart:
            out.append(chart)
    baselines = (doc.get("vm") or {}).get("baselines") or []
    if baselines:
        out.append(
            "<h3>VM baselines</h3><table><tr><th>baseline</th><th>boot median</th><th>boot p99</th>"
            "<th>memory</th><th>kind</th></tr>"
        )
        for b in baselines:
            bs = b.get("boot_summary") or {}
            value, vbasis = vm_memory(b)
            out.append(
                f"<tr><td>{_e(_baseline_name(b))}</td>"
                f'<td class="num">{_e(format_value(bs.get("median"), "s"))}'
                f'</td><td class="num">{_e(format_value(bs.get("p99"), "s"))}</td>'
                f'<td class="num">{_e(format_value(value, "bytes"))} ({_e(vbasis)})</td>'
                f"<td>{_baseline_kind_html(b)}</td></tr>"
            )
        out.append("</table>")
    out.append("<h3>Memory per instance</h3>")
    chart = memory_bar_chart(doc)
    out.append(chart or "<p>No memory figures in this report.</p>")
    ladder = floor_rows(container)
    if ladder:
        out.append(
            "<h3>Where Docker's time goes</h3><table><tr><th>what starts the probe</th><th>median</th><th>n</th></tr>"
        )
        out += [
            f'<tr><td>{_e(label)}</td><td class="num">{_e(format_value(med, "s") if n else "not measured")}</td>'
            f'<td class="num">{n}</td></tr>'
            for label, med, n in ladder
        ]
        out.append("</table>")
        notes = (container.get("floor") or {}).get("notes") or []
        if notes:
            out.append("<ul>" + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    hw = doc.get("hwvirt") or {}
    if hw:
        out.append(f"<h3>Hardware virtualization itself (/dev/kvm via {_e(hw.get('kvm_module'))}, no VMM)</h3>")
        rows = hwvirt_rows(hw)
        if rows:
            out.append("<table><tr><th>measure</th><th>median</th><th>what it shows</th></tr>")
            out += [
                f'<tr><td>{_e(label)}</td><td class="num">{_e(value)}</td><td>{_e(meaning)}</td></tr>'
                for label, value, meaning in rows
            ]
            out.append("</table>")
        else:
            out.append(f"<p>Not available: {_e(hw.get('reason'))}</p>")
    warnings = [w for w in doc.get("warnings") or () if isinstance(w, str)]
    if warnings:
        out.append("<h3>Warnings</h3><ul>" + "".join(f"<li>{_e(w)}</li>" for w in warnings) + "</ul>")
    return "\n".join(out)


def _baseline_kind_html(b: dict[str, Any]) -> str:
    if b.get("kind") == "simulated":
        # The URL is plain text on purpose: the page must not link or load anything.
        text = source_text(b)
        return '<span class="sim">simulated</span>' + (f" — source: {_e(text)}" if text else "")
    accel = b.get("accel")
    text = f"measured, accel {_e(accel or 'unknown')}"
    if accel == "tcg":
        text += f' <span class="caveat">⚠ {_e(TCG_CAVEAT)}</span>'
    return text


def _detect_section(doc: dict[str, Any], name: str) -> str:
    rows = []
    for section in ("host", "cpu", "kvm", "hypervisor", "cloud", "container", "wsl"):
        data = doc.get(section)
        if isinstance(data, dict):
            shown = ", ".join(f"{k}: {v}" for k, v in data.items() if v not in (None, [], "") and k != "layers")
            rows.append(f"<tr><th>{_e(section)}</th><td>{_e(shown)}</td></tr>")
    return "\n".join(
        [
            f"<h2>detect: {_e(name)}</h2>",
            f'<p class="verdict">{_e(_detect_line_from_detect_doc(doc))}</p>',
            "<table>",
            *rows,
            "</table>",
        ]
    )


def comparison_chart(base: dict[str, Any], new: dict[str, Any]) -> str | None:
    """Box plots of base against new for each container phase and measured VM boot, ms, log scale."""
    import pygal

    chart = pygal.Box(**_config("Base vs new (ms, log scale)", box_mode="tukey", logarithmic=True, height=480))
    everything: list[float] = []
    for phase in ("start_s", "cycle_s"):  # base and new side by side, phase by phase
        for label, doc in (("base", base), ("new", new)):
            samples = (doc.get("container") or {}).get("samples") or []
            values = [v for v in _ms(measured(samples, phase)) if v > 0]
            if values:
                chart.add(f"{label}: {PHASE_LABELS[phase]}", values)
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


def _comparison_section(c: Comparison, docs: Sequence[dict[str, Any]]) -> str:
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
    # The comparison's base and new are the first two documents (compare passes exactly those).
    if len(docs) >= 2 and docs[0].get("kind") == docs[1].get("kind") == KIND_BENCH:
        chart = comparison_chart(docs[0], docs[1])
        if chart:
            out.append(chart)
    chart = change_bar_chart(c)
    if chart:
        out.append(chart)
    return "\n".join(out)


def render_html(
    docs: Sequence[dict[str, Any]], names: Sequence[str] | None = None, comparison: Comparison | None = None
) -> str:
    """A complete HTML page: one section per report, then the comparison if one is given."""
    names = list(names) if names is not None else [f"report {i + 1}" for i in range(len(docs))]
    body = []
    if comparison is not None:
        body.append(_comparison_section(comparison, docs))
    for doc, name in zip(docs, names, strict=True):
        if doc.get("kind") == KIND_BENCH:
            body.append(_bench_section(doc, name))
        elif doc.get("kind") == KIND_DETECT:
            body.append(_detect_section(doc, name))
    title = "virtprobe compare" if comparison is not None else "virtprobe report"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{_e(title)}</title>'
        f"<style>{CSS}</style></head><body>\n<h1>{_e(title)}</h1>\n" + "\n".join(body) + "\n</body></html>\n"
    )
