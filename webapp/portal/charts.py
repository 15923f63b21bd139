"""Small server-drawn SVG charts: no script, no CDN, readable without JavaScript, and the
numbers they draw are the rows of the table beside them (and of its CSV export).

A chart keeps its pixel size (text at FONT_PX, never scaled down) and scrolls sideways in
its box on a narrow screen. Text is laid out from a conservative estimate of its width;
a label that would not fit is cut at a word boundary with "…", its full text in a <title>
(the browser's tooltip). Every chart has a legend and an axis title that names its unit.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

#: Size of every text in a chart, in pixels.
FONT_PX = 13
#: Width of one character at FONT_PX, on the generous side, for laying out text.
CHAR_W = 8.0
PAD = 10
LEGEND_H = 28
EMPTY = '<p class="muted">Nothing to chart for these filters.</p>'


@dataclass(frozen=True)
class Bar:
    label: str  # what the bar is ("Cobalt", "Dec 2026")
    value: float  # its length
    text: str  # the value as people read it ("6.667 g CO2e per g")


def text_width(text: str) -> float:
    return len(text) * CHAR_W


def clip(text: str, width: float) -> str:
    """`text` cut to fit `width` pixels: at a word boundary with "…" when one keeps at least
    half the room, else inside the word."""
    if text_width(text) <= width:
        return text
    room = max(int(width / CHAR_W) - 1, 1)
    cut = text[:room]
    if " " in cut and cut.rfind(" ") >= room // 2:
        cut = cut[: cut.rfind(" ")]
    return cut.rstrip(" ·,;:-→") + "…"


def _svg(width: float, height: float, title: str) -> str:
    return (
        f'<svg class="chart" role="img" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>"
    )


def _legend(x: float, y: float, name: str, css: str = "bar") -> str:
    return (
        f'<g class="legend-item"><rect class="{css} swatch" x="{x:.1f}" y="{y:.1f}" width="14" '
        f'height="14" rx="2"/><text class="legend" x="{x + 20:.1f}" y="{y + 11.5:.1f}">'
        f"{escape(name)}</text></g>"
    )


def bar_chart(
    bars: list[Bar], *, title: str, legend: str, axis: str, label_room: float = 240
) -> SafeString:
    """Horizontal bars, one per row, each labelled with its value as people read it.
    `legend` names what the bars are, `axis` what their length measures (with its unit);
    labels get up to `label_room` pixels."""
    if not bars:
        return mark_safe(EMPTY)
    row_h, bar_h, plot_w = 28, 18, 320
    label_w = min(max(text_width(b.label) for b in bars), label_room) + 12
    value_w = max(text_width(b.text) for b in bars) + 14
    width = max(
        PAD + label_w + plot_w + value_w + PAD,
        PAD + text_width(legend) + 40,
        PAD + text_width(axis) + label_w + PAD,
    )
    top = PAD + LEGEND_H
    height = top + len(bars) * row_h + 40
    longest = max((b.value for b in bars), default=0.0) or 1.0
    x0 = PAD + label_w
    parts = [_svg(width, height, title), _legend(PAD, PAD, legend)]
    for i, b in enumerate(bars):
        y = top + i * row_h
        length = max(b.value / longest * plot_w, 1.0) if b.value > 0 else 0.0
        shown = clip(b.label, label_w - 12)
        parts.append(
            f'<g class="row"><title>{escape(b.label)}: {escape(b.text)}</title>'
            f'<text class="label" x="{x0 - 8:.1f}" y="{y + 14:.1f}" text-anchor="end" '
            f'dominant-baseline="middle">{escape(shown)}</text>'
            f'<rect class="bar" x="{x0:.1f}" y="{y + 5:.1f}" width="{length:.1f}" '
            f'height="{bar_h}"/>'
            f'<text class="value" x="{x0 + length + 6:.1f}" y="{y + 14:.1f}" '
            f'dominant-baseline="middle">{escape(b.text)}</text></g>'
        )
    base = top + len(bars) * row_h + 4
    parts.append(
        f'<line class="axis" x1="{x0:.1f}" y1="{top:.1f}" x2="{x0:.1f}" y2="{base:.1f}"/>'
        f'<line class="axis" x1="{x0:.1f}" y1="{base:.1f}" x2="{x0 + plot_w:.1f}" '
        f'y2="{base:.1f}"/>'
        f'<text class="axis-title" x="{x0:.1f}" y="{base + 24:.1f}">{escape(axis)}</text>'
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every interpolated text above is escaped


def nice_ceiling(value: float) -> float:
    """A round axis top at or above `value` whose quarters are round too (1.2, 3, 8 …
    times a power of ten), never far above it: a tall bar stays tall."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 1.2, 1.6, 2, 2.4, 3, 4, 5, 6, 8, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def column_chart(
    bars: list[Bar],
    *,
    title: str,
    legend: str,
    axis: str,
    across: str,
    tick: Callable[[float], str],
) -> SafeString:
    """Vertical bars over ordered labels (months): a y axis with round ticks written by
    `tick` and titled `axis`, the labels along the bottom under the title `across`, each
    bar's value above it. One bar is one readable bar, not a dot in an empty plot."""
    if not bars:
        return mark_safe(EMPTY)
    # Headroom over the tallest bar for the value written above it.
    top_value = nice_ceiling(max(b.value for b in bars) * 1.15)
    ticks = [top_value * i / 4 for i in range(5)]
    left = PAD + max(text_width(tick(t)) for t in ticks) + 10
    column = max(72.0, max(text_width(b.text) for b in bars) + 12, max(
        text_width(b.label) for b in bars) + 12)  # fmt: skip
    plot_w = max(260.0, column * len(bars))
    plot_h = 200
    top = PAD + LEGEND_H + 24  # a row for the axis title
    width = max(
        left + plot_w + PAD,
        PAD + text_width(legend) + 40,
        PAD + text_width(axis) + PAD,
        left + text_width(across),
    )
    height = top + plot_h + 56
    base = top + plot_h
    parts = [_svg(width, height, title), _legend(PAD, PAD, legend)]
    for t in ticks:
        y = base - t / top_value * plot_h
        parts.append(
            f'<line class="tick" x1="{left:.1f}" y1="{y:.1f}" x2="{left + plot_w:.1f}" '
            f'y2="{y:.1f}"/><text class="value" x="{left - 6:.1f}" y="{y:.1f}" '
            f'text-anchor="end" dominant-baseline="middle">{escape(tick(t))}</text>'
        )
    step = plot_w / len(bars)
    bar_w = min(48.0, step * 0.6)
    for i, b in enumerate(bars):
        centre = left + step * (i + 0.5)
        h = b.value / top_value * plot_h
        parts.append(
            f'<g class="column"><title>{escape(b.label)}: {escape(b.text)}</title>'
            f'<rect class="bar" x="{centre - bar_w / 2:.1f}" y="{base - h:.1f}" '
            f'width="{bar_w:.1f}" height="{h:.1f}"/>'
            f'<text class="value" x="{centre:.1f}" y="{base - h - 6:.1f}" '
            f'text-anchor="middle">{escape(b.text)}</text>'
            f'<text class="label" x="{centre:.1f}" y="{base + 18:.1f}" '
            f'text-anchor="middle">{escape(b.label)}</text></g>'
        )
    parts.append(
        f'<line class="axis" x1="{left:.1f}" y1="{top:.1f}" x2="{left:.1f}" y2="{base:.1f}"/>'
        f'<line class="axis" x1="{left:.1f}" y1="{base:.1f}" x2="{left + plot_w:.1f}" '
        f'y2="{base:.1f}"/>'
        f'<text class="axis-title" x="{left:.1f}" y="{base + 42:.1f}">{escape(across)}</text>'
        f'<text class="axis-title" x="{PAD:.1f}" y="{top - 10:.1f}">{escape(axis)}</text>'
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every interpolated text above is escaped
