"""The readings chart: a pure function from points, bounds and excursions to SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from webapp.monitoring.chart import readings_chart

pytestmark = pytest.mark.unit

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
SVG = "{http://www.w3.org/2000/svg}"


def points(*values: float) -> list[tuple[datetime, Decimal]]:
    return [(T0 + timedelta(minutes=5 * i), Decimal(str(v))) for i, v in enumerate(values)]


def parsed(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_the_chart_draws_the_series_each_bound_and_one_band_per_excursion() -> None:
    svg = readings_chart(
        title="Temperature",
        unit="CEL",
        points=points(5, 6, 9, 10, 7, 5, 9, 5),
        bounds=[Decimal(8), Decimal(2)],
        excursions=[
            (T0 + timedelta(minutes=10), T0 + timedelta(minutes=20)),
            (T0 + timedelta(minutes=30), None),  # still going: to the right edge
            (T0 - timedelta(days=2), T0 - timedelta(days=1)),  # before the chart: left out
        ],
    )
    root = parsed(svg)
    assert root.tag == f"{SVG}svg"
    bounds = root.findall(f"{SVG}line[@class='bound']")
    assert len(bounds) == 2
    labels = [t.text for t in root.findall(f"{SVG}text[@class='bound-label']")]
    assert labels == ["8", "2"]
    bands = root.findall(f"{SVG}rect[@class='excursion']")
    assert len(bands) == 2
    (series,) = root.findall(f"{SVG}polyline[@class='series']")
    assert len(series.attrib["points"].split()) == 8
    # The 8 °C line sits above the 2 °C one, and both inside the frame.
    (frame,) = root.findall(f"{SVG}rect[@class='frame']")
    top, height = float(frame.attrib["y"]), float(frame.attrib["height"])
    y8, y2 = (float(b.attrib["y1"]) for b in bounds)
    assert top < y8 < y2 < top + height
    # The still-going band ends at the right edge of the frame.
    right = float(frame.attrib["x"]) + float(frame.attrib["width"])
    last = bands[1]
    assert abs(float(last.attrib["x"]) + float(last.attrib["width"]) - right) < 0.2


def test_text_from_data_is_escaped_and_an_empty_chart_says_so() -> None:
    svg = readings_chart(title="<script>x</script>", unit="&", points=[])
    root = parsed(svg)
    assert "<script>" not in svg
    assert "No readings." in "".join(root.itertext())
    flat = readings_chart(title="Shock", unit="", points=points(1, 1, 1))
    assert parsed(flat).findall(f"{SVG}line[@class='bound']") == []
