"""Small server-drawn SVG charts: no script, no CDN, readable without JavaScript, and the
numbers they draw are the rows of the table beside them (and of its CSV export)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, BAR_H, GAP, LABEL_W, PAD = 640, 18, 8, 210, 6


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float | Decimal):
        return float(value)
    return 0.0


def bar_chart(
    rows: list[list[Any]], *, label: int, value: int, unit: str = "", title: str = ""
) -> SafeString:
    """Horizontal bars, one per row: rows[i][label] as text, rows[i][value] as length."""
    if not rows:
        return mark_safe('<p class="muted">Nothing to chart yet.</p>')
    top = max(_number(r[value]) for r in rows) or 1.0
    height = PAD * 2 + len(rows) * (BAR_H + GAP)
    span = WIDTH - LABEL_W - 90
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" width="100%" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}">'
    ]
    for i, row in enumerate(rows):
        y = PAD + i * (BAR_H + GAP)
        length = max(_number(row[value]) / top * span, 1.0)
        text = escape(str(row[label]))[:34]
        parts.append(
            f'<text x="{LABEL_W - 6}" y="{y + 13}" text-anchor="end">{text}</text>'
            f'<rect class="bar" x="{LABEL_W}" y="{y}" width="{length:.1f}" height="{BAR_H}">'
            f"<title>{text}: {escape(str(row[value]))} {escape(unit)}</title></rect>"
            f'<text x="{LABEL_W + length + 6:.1f}" y="{y + 13}">'
            f"{escape(str(row[value]))} {escape(unit)}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every interpolated value above is escaped


def line_chart(
    rows: list[list[Any]], *, label: int, values: list[int], names: list[str], title: str = ""
) -> SafeString:
    """One polyline per value column over the rows' labels (e.g. months)."""
    if not rows:
        return mark_safe('<p class="muted">Nothing to chart yet.</p>')
    height, left, bottom = 220, 50, 30
    plot_w, plot_h = WIDTH - left - 20, height - bottom - 20
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" width="100%" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}">',
        f'<line class="axis" x1="{left}" y1="{20 + plot_h}" x2="{left + plot_w}" '
        f'y2="{20 + plot_h}"/>',
    ]
    step = plot_w / max(len(rows) - 1, 1)
    for i, row in enumerate(rows):
        x = left + i * step
        parts.append(
            f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle">'
            f"{escape(str(row[label]))}</text>"
        )
    for n, column in enumerate(values):
        top = max(_number(r[column]) for r in rows) or 1.0
        points = " ".join(
            f"{left + i * step:.1f},{20 + plot_h - _number(r[column]) / top * plot_h:.1f}"
            for i, r in enumerate(rows)
        )
        css = "line alt" if n else "line"
        parts.append(f'<polyline class="{css}" points="{points}"/>')
        for point in points.split():
            cx, cy = point.split(",")
            parts.append(f'<circle class="{css}" cx="{cx}" cy="{cy}" r="3.5"/>')
        parts.append(
            f'<text x="{left + 4}" y="{14 + n * 13}" class="legend">'
            f"{'—'} {escape(names[n])} (max {escape(str(top))})</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every interpolated value above is escaped
