"""Charts as inline SVG for the HTML writer: small, static, and deterministic (same chart, same bytes).

Why our own and not pygal: pygal put a random id in every chart (no two renders of
a report were equal), loaded its tooltip script from a URL unless told not to, has
no ECDF and cannot label box plots on their axis or mark simulated series apart.
What is needed here is a few fixed chart forms, which this module draws in about
400 lines, with no dependency, no script, no id and no URL.

Every category chart is horizontal, with its labels on the left axis, so long
names ("Kata Containers on Cloud Hypervisor (simulated)") stay readable. A value
axis is logarithmic where the chart asks for it, or, when the chart leaves it to
the writer, where its values span more than a decade (box plots, ECDFs, run-order
and line charts; never bars, whose length must be proportional). Simulated series
are drawn with a dashed outline and a light fill, never like measured ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import assert_never

from virtprobe import stats
from virtprobe.report.page import Chart, ChartKind, ColumnKind, Mark, Series, Tone
from virtprobe.report.writers.cells import figure
from virtprobe.report.writers.htmltext import esc

WIDTH = 880
CHAR_W = 7.0  # the mean advance of a 12 px sans-serif glyph, generously: enough to lay labels out
PALETTE = ("#3366cc", "#dc3912", "#ff9900", "#109618", "#990099", "#0099c6", "#dd4477", "#66aa00", "#b82e2e",
           "#316395")  # fmt: skip
GRID = "#e3e6ee"
INK = "#1d2330"
SOFT = "#667"
FONT = "system-ui, -apple-system, Segoe UI, Roboto, sans-serif"


def tone_color(tone: Tone, index: int) -> str:
    match tone:
        case Tone.plain | Tone.strong | Tone.simulated:
            return PALETTE[index % len(PALETTE)]
        case Tone.good:
            return "#2e7d32"
        case Tone.bad:
            return "#c62828"
        case Tone.warn:
            return "#ef6c00"
        case Tone.muted:
            return "#9e9e9e"
        case _:
            assert_never(tone)


def _n(x: float) -> str:
    """A coordinate, always written the same way (deterministic bytes)."""
    text = f"{x:.1f}"
    return "0" if text == "-0.0" else text[:-2] if text.endswith(".0") else text


def _text(x: float, y: float, body: str, anchor: str = "start", size: int = 12, fill: str = INK,
          weight: str = "normal") -> str:  # fmt: skip
    extra = f' font-weight="{weight}"' if weight != "normal" else ""
    return (f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" font-size="{size}" fill="{fill}"{extra}>'
            f"{esc(body)}</text>")  # fmt: skip


def _fit(label: str, width: float) -> str:
    room = max(4, int(width / CHAR_W))
    return label if len(label) <= room else label[: room - 1] + "…"


# --- value axes -----------------------------------------------------------------------------


def unit_kind(unit: str) -> ColumnKind:
    return {"s": ColumnKind.seconds, "bytes": ColumnKind.bytes, "%": ColumnKind.percent, "1/s": ColumnKind.rate,
            "×": ColumnKind.ratio}.get(unit, ColumnKind.number)  # fmt: skip


def value_label(value: float, unit: str) -> str:
    kind = unit_kind(unit)
    return figure(value, kind, unit if kind is ColumnKind.number and unit else None)


def _g(x: float) -> str:
    return f"{round(x, 6):g}"


def tick_label(value: float, unit: str) -> str:
    """A tick as short as it can be: "5 ms", "1.5 s", "12 MiB", "+10%"."""
    match unit_kind(unit):
        case ColumnKind.seconds:
            a = abs(value)
            if a == 0:
                return "0"
            if a < 1e-3:
                return f"{_g(value * 1e6)} µs"
            return f"{_g(value * 1e3)} ms" if a < 1 else f"{_g(value)} s"
        case ColumnKind.bytes:
            scale, name = _byte_scale(abs(value))
            return "0" if value == 0 else f"{_g(value / scale)} {name}"
        case ColumnKind.percent:
            return f"{_g(value * 100)}%"
        case ColumnKind.rate:
            return f"{_g(value)}/s"
        case ColumnKind.ratio:
            return f"{_g(value)}×"
        case _:
            return _g(value) + (f" {unit}" if unit else "")


def _byte_scale(value: float) -> tuple[float, str]:
    for scale, name in ((1024.0**3, "GiB"), (1024.0**2, "MiB"), (1024.0, "KiB")):
        if value >= scale:
            return scale, name
    return 1.0, "B"


def _nice_step(span: float, count: int, scale: float = 1.0) -> float:
    """A 1-2-2.5-5 step in the unit people read (MiB for bytes), so ticks read 5, 10, 15 MiB."""
    raw = span / scale / count
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw) * scale


@dataclass(frozen=True)
class Axis:
    lo: float
    hi: float
    log: bool
    a: float  # pixel of lo
    b: float  # pixel of hi
    step: float = 1.0  # linear axes: the distance between ticks

    def px(self, v: float) -> float:
        if self.log:
            v = max(v, self.lo)
            f = (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        else:
            f = (v - self.lo) / (self.hi - self.lo)
        return self.a + f * (self.b - self.a)

    def ticks(self) -> list[float]:
        if self.log:
            decades = math.log10(self.hi) - math.log10(self.lo)
            mults = (1, 2, 5) if decades <= 4 else (1,)
            lo_e, hi_e = math.floor(math.log10(self.lo)), math.ceil(math.log10(self.hi))
            out = [m * 10.0**e for e in range(lo_e, hi_e + 1) for m in mults]
            return [round(t, 12) for t in out if self.lo * 0.999 <= t <= self.hi * 1.001]
        first = math.ceil(self.lo / self.step - 1e-9)
        return [round(k * self.step, 12) for k in range(first, math.floor(self.hi / self.step + 1e-9) + 1)]


def _log_bounds(lo: float, hi: float) -> tuple[float, float]:
    steps = [m * 10.0**e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 2)
             for m in (1, 2, 5)]  # fmt: skip
    return max(t for t in steps if t <= lo * 1.0000001), min(t for t in steps if t >= hi / 1.0000001)


def make_axis(values: Sequence[float], a: float, b: float, log: bool | None, zero: bool, unit: str = "",
              exact: bool = False) -> Axis:  # fmt: skip
    """An axis over the values: logarithmic if asked, or (log None) if they span more than a decade.

    `zero`: the axis includes 0 (bars); `exact`: it spans exactly the values (run numbers).
    """
    vals = [v for v in values if math.isfinite(v)]
    if not vals:
        vals = [0.0, 1.0]
    lo, hi = min(vals), max(vals)
    positive = [v for v in vals if v > 0]
    use_log = bool(positive) and (log is True or (log is None and not zero and lo > 0 and hi / lo > 10))
    if use_log:
        lo, hi = _log_bounds(min(positive), max(positive))
        return Axis(lo, hi if hi > lo else lo * 10, True, a, b)
    if zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi == lo:
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = (lo - pad if not zero or lo < 0 else lo), hi + pad
    scale = _byte_scale(max(abs(lo), abs(hi)))[0] if unit_kind(unit) is ColumnKind.bytes else 1.0
    step = _nice_step(hi - lo, 6, scale)
    if exact:  # run numbers, concurrency levels: whole numbers get whole steps
        whole = all(float(v).is_integer() for v in vals)
        return Axis(lo, hi, False, a, b, max(1.0, math.ceil(step)) if whole else step)
    if not zero or lo < 0:
        lo = math.floor(lo / step - 1e-9) * step
    hi = math.ceil(hi / step - 1e-9) * step
    return Axis(lo, hi, False, a, b, step)


def _x_axis(axis: Axis, y0: float, y1: float, unit: str) -> list[str]:
    """Vertical grid lines and tick labels under a horizontal value axis from y0 (top) to y1 (bottom)."""
    out = []
    for t in axis.ticks():
        x = axis.px(t)
        out.append(f'<line x1="{_n(x)}" y1="{_n(y0)}" x2="{_n(x)}" y2="{_n(y1)}" stroke="{GRID}"/>')
        out.append(_text(x, y1 + 14, tick_label(t, unit), "middle", 11, SOFT))
    if axis.log:
        out.append(_text(axis.b, y1 + 28, "log scale", "end", 10, SOFT))
    return out


def _y_axis(axis: Axis, x0: float, x1: float, label: Callable[[float], str]) -> list[str]:
    """Horizontal grid lines and tick labels left of a vertical value axis from x0 to x1."""
    out = []
    for t in axis.ticks():
        y = axis.px(t)
        out.append(f'<line x1="{_n(x0)}" y1="{_n(y)}" x2="{_n(x1)}" y2="{_n(y)}" stroke="{GRID}"/>')
        out.append(_text(x0 - 6, y + 4, label(t), "end", 11, SOFT))
    return out


# --- shared pieces --------------------------------------------------------------------------


def _swatch(x: float, y: float, color: str, tone: Tone) -> str:
    if tone is Tone.simulated:
        return (f'<rect x="{_n(x)}" y="{_n(y)}" width="12" height="12" fill="{color}" fill-opacity="0.15" '
                f'stroke="{color}" stroke-dasharray="3 2"/>')  # fmt: skip
    return f'<rect x="{_n(x)}" y="{_n(y)}" width="12" height="12" fill="{color}"/>'


def _legend(series: Sequence[Series], y: float) -> tuple[list[str], float]:
    """Swatches and names in rows across the chart; returns the markup and the height used."""
    out: list[str] = []
    x, row = 12.0, 0
    for i, s in enumerate(series):
        w = 22 + len(s.name) * CHAR_W + 14
        if x + w > WIDTH - 12 and x > 12:
            x, row = 12.0, row + 1
        yy = y + row * 18
        out.append(_swatch(x, yy, tone_color(s.tone, i), s.tone))
        out.append(_text(x + 18, yy + 10, s.name, size=11))
        x += w
    return out, (row + 1) * 18 + 4 if series else 0


def _mark_lines_x(marks: Sequence[Mark], axis: Axis, y0: float, y1: float, colors: dict[str, str]) -> list[str]:
    """Vertical dashed lines at marked values, labels staggered so neighbours do not overlap."""
    out = []
    for i, m in enumerate(sorted(marks, key=lambda m: (m.value, m.label))):
        if not (axis.lo <= m.value <= axis.hi) or (axis.log and m.value <= 0):
            continue
        x = axis.px(m.value)
        color = colors.get(m.series or "", INK)
        out.append(f'<line x1="{_n(x)}" y1="{_n(y0)}" x2="{_n(x)}" y2="{_n(y1)}" stroke="{color}" '
                   f'stroke-dasharray="4 3" stroke-width="1.2"/>')  # fmt: skip
        anchor = "end" if x > WIDTH * 0.75 else "start"
        out.append(_text(x + (-3 if anchor == "end" else 3), y0 + 10 + (i % 3) * 12, m.label, anchor, 10, color))
    return out


def _mark_lines_y(marks: Sequence[Mark], axis: Axis, x0: float, x1: float, colors: dict[str, str]) -> list[str]:
    out = []
    for m in marks:
        if not (axis.lo <= m.value <= axis.hi) or (axis.log and m.value <= 0):
            continue
        y = axis.px(m.value)
        color = colors.get(m.series or "", INK)
        out.append(f'<line x1="{_n(x0)}" y1="{_n(y)}" x2="{_n(x1)}" y2="{_n(y)}" stroke="{color}" '
                   f'stroke-dasharray="4 3" stroke-width="1.2"/>')  # fmt: skip
        out.append(_text(x1 - 2, y - 3, m.label, "end", 10, color))
    return out


def _frame(chart: Chart, height: float, body: list[str]) -> str:
    head = (f'<svg viewBox="0 0 {WIDTH} {_n(height)}" width="{WIDTH}" height="{_n(height)}" role="img" '
            f'aria-label="{esc(chart.title)}" font-family="{FONT}">')  # fmt: skip
    title = _text(12, 20, chart.title, size=14, weight="600")
    return "\n".join([head, f'<rect width="{WIDTH}" height="{_n(height)}" fill="white"/>', title, *body, "</svg>"])


def _label_width(labels: Sequence[str]) -> float:
    longest = max((len(x) for x in labels), default=0)
    return min(max(longest * CHAR_W + 24, 90), 360)


def _row_label(x: float, y: float, label: str, width: float) -> str:
    shown = _fit(label, width - 12)
    tip = f"<title>{esc(label)}</title>" if shown != label else ""
    return (f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="end" font-size="12" fill="{INK}">{tip}'
            f"{esc(shown)}</text>")  # fmt: skip


def _finite(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


# --- box plots (horizontal, labelled) -------------------------------------------------------


@dataclass(frozen=True)
class _Box:
    q1: float
    median: float
    q3: float
    low: float
    high: float
    outliers: tuple[float, ...]


def _box(values: Sequence[float]) -> _Box:
    xs = sorted(values)
    q1, med, q3 = (stats.percentile(xs, q) for q in (25, 50, 75))
    iqr = q3 - q1
    inside = [v for v in xs if q1 - 1.5 * iqr <= v <= q3 + 1.5 * iqr] or xs
    return _Box(q1, med, q3, inside[0], inside[-1], tuple(v for v in xs if v < inside[0] or v > inside[-1]))


def box_chart(chart: Chart) -> str:
    rows = [(i, s, _finite(s.values)) for i, s in enumerate(chart.series)]
    rows = [(i, s, v) for i, s, v in rows if v]
    label_w = _label_width([s.name for _, s, _ in rows])
    top, row_h = 40.0, 30.0
    x0, x1 = label_w, WIDTH - 96
    everything = [v for _, _, vs in rows for v in vs] + [m.value for m in chart.marks]
    axis = make_axis(everything, x0, x1, chart.log, zero=False, unit=chart.unit)
    if axis.log:
        rows = [(i, s, [v for v in vs if v > 0]) for i, s, vs in rows]
    bottom = top + row_h * len(rows)
    body = _x_axis(axis, top, bottom, chart.unit)
    colors = {s.name: tone_color(s.tone, i) for i, s, _ in rows}
    for r, (_, s, vs) in enumerate(rows):
        if not vs:
            continue
        b = _box(vs)
        cy = top + r * row_h + row_h / 2
        color = colors[s.name]
        dash = ' stroke-dasharray="4 3"' if s.tone is Tone.simulated else ""
        opacity = "0.12" if s.tone is Tone.simulated else "0.35"
        body.append(_row_label(x0 - 8, cy + 4, s.name, label_w))
        xl, xh = axis.px(b.low), axis.px(b.high)
        body.append(f'<line x1="{_n(xl)}" y1="{_n(cy)}" x2="{_n(xh)}" y2="{_n(cy)}" stroke="{color}"{dash}/>')
        for xw in (xl, xh):
            body.append(f'<line x1="{_n(xw)}" y1="{_n(cy - 6)}" x2="{_n(xw)}" y2="{_n(cy + 6)}" stroke="{color}"/>')
        xq1, xq3 = axis.px(b.q1), axis.px(b.q3)
        body.append(f'<rect x="{_n(xq1)}" y="{_n(cy - 9)}" width="{_n(max(xq3 - xq1, 1))}" height="18" '
                    f'fill="{color}" fill-opacity="{opacity}" stroke="{color}" stroke-width="1.4"{dash}/>')  # fmt: skip
        xm = axis.px(b.median)
        body.append(f'<line x1="{_n(xm)}" y1="{_n(cy - 9)}" x2="{_n(xm)}" y2="{_n(cy + 9)}" stroke="{color}" '
                    'stroke-width="2.5"/>')  # fmt: skip
        for v in b.outliers:
            body.append(f'<circle cx="{_n(axis.px(v))}" cy="{_n(cy)}" r="2.5" fill="none" stroke="{color}"/>')
        body.append(_text(x1 + 8, cy + 4, value_label(b.median, chart.unit), size=11, fill=SOFT))
    body += _mark_lines_x(chart.marks, axis, top, bottom, colors)
    return _frame(chart, bottom + 40, body)


# --- bars: grouped, and stacked -------------------------------------------------------------


def bar_chart(chart: Chart) -> str:
    series = list(chart.series)
    legend, legend_h = _legend(series, 32) if len(series) > 1 else ([], 0.0)
    label_w = _label_width(chart.categories)
    bar_h, gap = 14.0, 10.0
    top = 40.0 + legend_h
    group_h = bar_h * len(series) + gap
    x0, x1 = label_w, WIDTH - 110
    values = [v for s in series for v in _finite(s.values)]
    values += [x for s in series for iv in s.intervals if iv is not None for x in iv]
    values += [m.value for m in chart.marks]
    axis = make_axis(values, x0, x1, chart.log if chart.log else False, zero=True, unit=chart.unit)
    bottom = top + group_h * len(chart.categories)
    body = [*legend, *_x_axis(axis, top, bottom, chart.unit)]
    origin = axis.px(axis.lo if axis.log else 0.0)
    for c, category in enumerate(chart.categories):
        gy = top + c * group_h + gap / 2
        body.append(_row_label(x0 - 8, gy + group_h / 2 - 1, category, label_w))
        for i, s in enumerate(series):
            v = s.values[c] if c < len(s.values) else None
            if v is None or not math.isfinite(v):
                continue
            tone = s.tones[c] if c < len(s.tones) else s.tone
            color = tone_color(tone, i)
            y = gy + i * bar_h
            xv = axis.px(v)
            left, w = min(origin, xv), abs(xv - origin)
            sim = tone is Tone.simulated
            style = (f'fill="{color}" fill-opacity="0.15" stroke="{color}" stroke-dasharray="4 3"' if sim
                     else f'fill="{color}"')  # fmt: skip
            body.append(f'<rect x="{_n(left)}" y="{_n(y + 1)}" width="{_n(max(w, 1))}" height="{_n(bar_h - 2)}" '
                        f"{style}/>")  # fmt: skip
            interval = s.intervals[c] if c < len(s.intervals) else None
            end = xv
            if interval is not None:
                xa, xb = axis.px(interval[0]), axis.px(interval[1])
                cy = y + bar_h / 2
                body.append(f'<line x1="{_n(xa)}" y1="{_n(cy)}" x2="{_n(xb)}" y2="{_n(cy)}" stroke="{INK}"/>')
                for xe in (xa, xb):
                    body.append(f'<line x1="{_n(xe)}" y1="{_n(cy - 4)}" x2="{_n(xe)}" y2="{_n(cy + 4)}" '
                                f'stroke="{INK}"/>')  # fmt: skip
                end = max(end, xa, xb) if v >= 0 else min(end, xa, xb)
            anchor = "start" if v >= 0 else "end"
            body.append(_text(end + (5 if v >= 0 else -5), y + bar_h - 3, value_label(v, chart.unit), anchor, 11))
    body += _mark_lines_x(chart.marks, axis, top, bottom, {})
    return _frame(chart, bottom + 40, body)


def stacked_bar_chart(chart: Chart) -> str:
    series = list(chart.series)
    legend, legend_h = _legend(series, 32)
    label_w = _label_width(chart.categories)
    bar_h, row_h = 20.0, 30.0
    top = 40.0 + legend_h
    x0, x1 = label_w, WIDTH - 44
    totals = [sum(max(0.0, s.values[c] or 0.0) for s in series if c < len(s.values))
              for c in range(len(chart.categories))]  # fmt: skip
    axis = make_axis([*totals, *(m.value for m in chart.marks)], x0, x1, False, zero=True, unit=chart.unit)
    bottom = top + row_h * len(chart.categories)
    body = [*legend, *_x_axis(axis, top, bottom, chart.unit)]
    for c, category in enumerate(chart.categories):
        y = top + c * row_h + (row_h - bar_h) / 2
        body.append(_row_label(x0 - 8, y + bar_h / 2 + 4, category, label_w))
        acc = 0.0
        for i, s in enumerate(series):
            v = s.values[c] if c < len(s.values) else None
            if v is None or not math.isfinite(v) or v <= 0:
                continue
            color = tone_color(s.tone, i)
            xa, xb = axis.px(acc), axis.px(acc + v)
            body.append(f'<rect x="{_n(xa)}" y="{_n(y)}" width="{_n(max(xb - xa, 0.5))}" height="{_n(bar_h)}" '
                        f'fill="{color}" stroke="white" stroke-width="0.8"><title>{esc(s.name)}: '
                        f"{esc(value_label(v, chart.unit))}</title></rect>")  # fmt: skip
            label = value_label(v, chart.unit)
            if xb - xa > len(label) * 6 + 6:
                body.append(_text((xa + xb) / 2, y + bar_h / 2 + 4, label, "middle", 10, "white"))
            acc += v
    body += _mark_lines_x(chart.marks, axis, top, bottom, {})
    return _frame(chart, bottom + 40, body)


# --- distributions over a value axis: ECDF ---------------------------------------------------


def ecdf_chart(chart: Chart) -> str:
    series = [s for s in chart.series if _finite(s.values)]
    legend, legend_h = _legend(series, 32)
    top = 40.0 + legend_h + 36  # room for staggered mark labels
    x0, x1, height = 64.0, WIDTH - 44.0, 260.0
    values = [v for s in series for v in _finite(s.values)] + [m.value for m in chart.marks]
    axis = make_axis(values, x0, x1, chart.log, zero=False, unit=chart.unit)
    frac = Axis(0.0, 1.0, False, top + height, top, 0.2)
    body = [*legend, *_x_axis(axis, top, top + height, chart.unit)]
    body += _y_axis(frac, x0, x1, lambda t: f"{t * 100:.0f}%")
    colors = {s.name: tone_color(s.tone, i) for i, s in enumerate(series)}
    for s in series:
        xs = sorted(v for v in _finite(s.values) if not axis.log or v > 0)
        if not xs:
            continue
        n = len(xs)
        d = [f"M{_n(axis.px(xs[0]))},{_n(frac.px(0))}"]
        for k, v in enumerate(xs, 1):
            d.append(f"H{_n(axis.px(v))}V{_n(frac.px(k / n))}")
        dash = ' stroke-dasharray="5 3"' if s.tone is Tone.simulated else ""
        body.append(f'<path d="{"".join(d)}" fill="none" stroke="{colors[s.name]}" stroke-width="1.8"{dash}/>')
    body += _mark_lines_x(chart.marks, axis, top - 36, top + height, colors)
    return _frame(chart, top + height + 44, body)


# --- values in order: run order and lines ----------------------------------------------------


def _xy_chart(chart: Chart, xs_of: list[list[float]], joined: int) -> str:
    """Points of every series over an x axis; the first `joined` series are also joined by a line."""
    series = list(chart.series)
    legend, legend_h = _legend(series, 32)
    top = 40.0 + legend_h
    x0, x1, height = 80.0, WIDTH - 44.0, 240.0
    xvals = [x for xs in xs_of for x in xs] or [0.0, 1.0]
    xaxis = make_axis(xvals + [m.value for m in chart.marks if m.axis == "x"], x0, x1, False, zero=False, exact=True)
    yvals = [v for s in series for v in _finite(s.values)] + [m.value for m in chart.marks if m.axis == "y"]
    yaxis = make_axis(yvals, top + height, top, chart.log, zero=False, unit=chart.unit)
    body = [*legend, *_y_axis(yaxis, x0, x1, lambda t: tick_label(t, chart.unit))]
    for t in xaxis.ticks():
        body.append(_text(xaxis.px(t), top + height + 14, f"{t:g}", "middle", 11, SOFT))
    if chart.x_title:
        body.append(_text((x0 + x1) / 2, top + height + 30, chart.x_title, "middle", 11, SOFT))
    if yaxis.log:
        body.append(_text(x1, top - 4, "log scale", "end", 10, SOFT))
    colors = {s.name: tone_color(s.tone, i) for i, s in enumerate(series)}
    for k, (s, xs) in enumerate(zip(series, xs_of, strict=True)):
        pts = [(xaxis.px(x), yaxis.px(v)) for x, v in zip(xs, s.values, strict=False)
               if v is not None and math.isfinite(v) and (not yaxis.log or v > 0)]  # fmt: skip
        color = colors[s.name]
        if k < joined and len(pts) > 1:
            dash = ' stroke-dasharray="5 3"' if s.tone is Tone.simulated else ""
            d = "M" + "L".join(f"{_n(x)},{_n(y)}" for x, y in pts)
            body.append(f'<path d="{d}" fill="none" stroke="{color}" stroke-width="1.3"{dash}/>')
        r = "3.6" if s.tone is Tone.bad else "2.4"
        fill = "none" if s.tone is Tone.bad else color
        for x, y in pts:
            body.append(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{r}" fill="{fill}" stroke="{color}"/>')
    body += _mark_lines_x([m for m in chart.marks if m.axis == "x"], xaxis, top, top + height, colors)
    body += _mark_lines_y([m for m in chart.marks if m.axis == "y"], yaxis, x0, x1, colors)
    return _frame(chart, top + height + 44, body)


def run_order_chart(chart: Chart) -> str:
    # Only the first (plain) series is joined by a line: drift shows as its slope; other
    # series (warmups, outliers) are points over it.
    xs_of = [[float(i + 1) for i in range(len(s.values))] for s in chart.series]
    return _xy_chart(chart, xs_of, joined=1)


def line_chart(chart: Chart) -> str:
    xs_of = [list(chart.x[: len(s.values)]) for s in chart.series]
    return _xy_chart(chart, xs_of, joined=len(chart.series))


def render(chart: Chart) -> str:
    """The chart as an <svg> element (no XML declaration, no namespace attribute: HTML5 inline SVG)."""
    match chart.kind:
        case ChartKind.box:
            return box_chart(chart)
        case ChartKind.bar:
            return bar_chart(chart)
        case ChartKind.stacked_bar:
            return stacked_bar_chart(chart)
        case ChartKind.ecdf:
            return ecdf_chart(chart)
        case ChartKind.run_order:
            return run_order_chart(chart)
        case ChartKind.line:
            return line_chart(chart)
        case _:
            assert_never(chart.kind)
