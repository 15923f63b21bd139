"""A reading chart as server-side SVG: one measurement type over time, the rules' bounds as
dashed lines, the excursions as shaded bands. No script, no library: the page stays static
and works offline. Every text that comes from data is escaped here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from html import escape

Point = tuple[datetime, Decimal]
Interval = tuple[datetime, datetime | None]

MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 52, 12, 24, 28


def readings_chart(
    *,
    title: str,
    unit: str,
    points: Sequence[Point],
    bounds: Sequence[Decimal] = (),
    excursions: Sequence[Interval] = (),
    width: int = 640,
    height: int = 200,
) -> str:
    """The SVG of `points` (time order), with a line per bound and a shaded rectangle per
    excursion that overlaps the charted time (an excursion still going runs to the right
    edge). With no points, a frame that says so."""
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="readings-chart" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f"<title>{escape(title)}</title>"
        f'<text x="{MARGIN_LEFT}" y="16" class="chart-title">{escape(title)}'
        f"{' (' + escape(unit) + ')' if unit else ''}</text>"
    )
    if not points:
        return head + f'<text x="{MARGIN_LEFT}" y="{height // 2}">No readings.</text></svg>'
    t0, t1 = points[0][0], points[-1][0]
    span = max((t1 - t0).total_seconds(), 1.0)
    values = [float(v) for _, v in points] + [float(b) for b in bounds]
    low, high = min(values), max(values)
    pad = (high - low) * 0.08 or 1.0
    low, high = low - pad, high + pad
    plot_w = width - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = height - MARGIN_TOP - MARGIN_BOTTOM

    def x(t: datetime) -> float:
        seconds = min(max((t - t0).total_seconds(), 0.0), span)
        return MARGIN_LEFT + plot_w * seconds / span

    def y(v: float) -> float:
        return MARGIN_TOP + plot_h * (high - v) / (high - low)

    parts = [head]
    for start, end in excursions:
        if start > t1 or (end is not None and end < t0):
            continue
        left, right = x(start), x(end) if end is not None else x(t1)
        parts.append(
            f'<rect class="excursion" x="{left:.1f}" y="{MARGIN_TOP}" '
            f'width="{max(right - left, 1.0):.1f}" height="{plot_h}" fill="#f4b4b4" '
            f'fill-opacity="0.6"><title>excursion from {start:%Y-%m-%d %H:%M}'
            f"{' to ' + format(end, '%Y-%m-%d %H:%M') if end else ', still going'}</title></rect>"
        )
    parts.append(
        f'<rect class="frame" x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{plot_w}" '
        f'height="{plot_h}" fill="none" stroke="#999"/>'
    )
    for bound in bounds:
        level = y(float(bound))
        parts.append(
            f'<line class="bound" x1="{MARGIN_LEFT}" x2="{MARGIN_LEFT + plot_w}" '
            f'y1="{level:.1f}" y2="{level:.1f}" stroke="#c00" stroke-dasharray="4 3"/>'
            f'<text class="bound-label" x="{MARGIN_LEFT + plot_w - 4}" y="{level - 3:.1f}" '
            f'text-anchor="end" fill="#c00">{escape(_number(bound))}</text>'
        )
    line = " ".join(f"{x(t):.1f},{y(float(v)):.1f}" for t, v in points)
    parts.append(f'<polyline class="series" fill="none" stroke="#1f5fa8" points="{line}"/>')
    bottom = height - MARGIN_BOTTOM
    parts.append(
        f'<text x="{MARGIN_LEFT - 4}" y="{MARGIN_TOP + 10}" text-anchor="end">'
        f"{_number(high - pad)}</text>"
        f'<text x="{MARGIN_LEFT - 4}" y="{bottom}" text-anchor="end">{_number(low + pad)}</text>'
        f'<text x="{MARGIN_LEFT}" y="{bottom + 16}">{t0:%Y-%m-%d %H:%M}</text>'
        f'<text x="{MARGIN_LEFT + plot_w}" y="{bottom + 16}" text-anchor="end">'
        f"{t1:%Y-%m-%d %H:%M} UTC</text></svg>"
    )
    return "".join(parts)


def _number(value: Decimal | float) -> str:
    return f"{float(value):.6g}"
