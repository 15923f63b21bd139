"""The dashboard's charts and filters without a chain: what the SVG says, how labels are
cut, and which filter values are refused and why."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from django.utils import timezone

from webapp.portal.charts import FONT_PX, Bar, bar_chart, clip, column_chart, nice_ceiling
from webapp.sustainability.dashboard import BadFilter, Filters

pytestmark = pytest.mark.unit


def bars_of(svg: str) -> list[dict[str, float]]:
    """The data bars of a chart (not the legend's swatch), as their numbers."""
    found = re.findall(r'<rect class="bar" x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" '
                       r'height="([\d.]+)"', svg)  # fmt: skip
    return [dict(zip(("x", "y", "width", "height"), map(float, f), strict=True)) for f in found]


def test_one_month_is_one_tall_bar_with_its_value_and_round_ticks() -> None:
    svg = column_chart(
        [Bar("Dec 2026", 9000.0, "9 kg CO2e")],
        title="Footprint by month",
        legend="CO2e of certified lots",
        axis="CO2e",
        across="Month of registration",
        tick=lambda grams: f"{grams / 1000:g} kg CO2e",
    )
    (bar,) = bars_of(svg)
    assert bar["width"] >= 24
    assert bar["height"] >= 120  # of a 200 px plot: not a sliver, not a dot
    for text in ("9 kg CO2e", "Dec 2026", "Month of registration", "CO2e of certified lots"):
        assert f">{text}<" in svg
    assert [f">{t} kg CO2e<" in svg for t in ("0", "3", "6", "9", "12")] == [True] * 5


def test_a_long_label_is_cut_at_a_word_with_an_ellipsis_and_kept_whole_in_the_tooltip() -> None:
    name = "Recycled cathode copper from the northern smelter, batch 17"
    svg = bar_chart(
        [Bar(name, 2.0, "2 g CO2e per kg"), Bar("Ore", 1.0, "1 g CO2e per kg")],
        title="Footprint",
        legend="Footprint per unit",
        axis="CO2e per unit",
        label_room=160,
    )
    shown = clip(name, 160)
    assert shown.endswith("…")
    assert name.startswith(shown[:-1])
    assert name[len(shown) - 1] == " "  # cut between two words
    assert f">{shown}</text>" in svg
    assert f"<title>{name}: 2 g CO2e per kg</title>" in svg
    bars = bars_of(svg)
    assert bars[0]["width"] == pytest.approx(2 * bars[1]["width"])
    assert FONT_PX >= 12


def test_a_word_too_long_to_fit_is_cut_inside_it_still_with_the_ellipsis() -> None:
    assert clip("Supercalifragilisticexpialidocious", 80).endswith("…")
    assert len(clip("Supercalifragilisticexpialidocious", 80)) <= 10
    assert clip("Short", 80) == "Short"


def test_labels_are_escaped() -> None:
    svg = bar_chart(
        [Bar("<script>alert(1)</script>", 1.0, "1 & 2")], title="t", legend="l", axis="a"
    )
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg
    assert "1 &amp; 2" in svg


def test_nothing_to_chart_says_so() -> None:
    assert "Nothing to chart" in bar_chart([], title="t", legend="l", axis="a")
    assert "Nothing to chart" in column_chart(
        [], title="t", legend="l", axis="a", across="x", tick=str
    )


@pytest.mark.parametrize(("value", "top"), [(0, 1), (9, 10), (10.35, 12), (0.7, 0.8), (101, 120)])
def test_an_axis_ends_on_a_round_number_close_above_the_tallest_bar(
    value: float, top: float
) -> None:
    assert nice_ceiling(value) == pytest.approx(top)


def test_filters_read_from_a_query_string_and_back() -> None:
    filters = Filters.parse({"from": "2026-01-01", "to": "2026-01-31", "line": " Cobalt ",
                             "kind": "raw_material"})  # fmt: skip
    assert filters == Filters(date(2026, 1, 1), date(2026, 1, 31), "Cobalt", "raw_material")
    assert filters.query() == "from=2026-01-01&to=2026-01-31&line=Cobalt&kind=raw_material"
    assert Filters.parse({}) == Filters()
    assert Filters.parse({"from": "", "line": ""}).query() == ""


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"from": "01/02/2026"}, "'from' must be a date written like 2026-12-31"),
        ({"to": "2026-13-01"}, "'to' must be a date"),
        ({"from": "2026-02-02", "to": "2026-02-01"}, "is after the end date"),
        ({"kind": "bundle"}, "No kind 'bundle'"),
        ({"to": "9999-12-31"}, "'to' must be a date between 1970-01-01 and 9998-12-31"),
        ({"from": "0001-01-01"}, "'from' must be a date between"),
        ({"line": "y" * 201}, "at most 200 characters"),
    ],
)
def test_a_filter_value_that_makes_no_sense_is_refused_with_the_reason(
    params: dict[str, str], reason: str
) -> None:
    with pytest.raises(BadFilter, match=re.escape(reason)):
        Filters.parse(params)


def test_a_date_range_takes_whole_days_in_the_readers_time_zone() -> None:
    day = Filters(since=date(2026, 3, 1), until=date(2026, 3, 1))
    just_after_midnight_in_tokyo = datetime(2026, 2, 28, 15, 30, tzinfo=UTC)
    with timezone.override("Asia/Tokyo"):
        assert day.admits(line="x", kind=1, born=just_after_midnight_in_tokyo)
    with timezone.override("UTC"):
        assert not day.admits(line="x", kind=1, born=just_after_midnight_in_tokyo)
        assert day.admits(line="x", kind=1, born=datetime(2026, 3, 1, 23, 59, tzinfo=UTC))
        assert not day.admits(line="x", kind=1, born=datetime(2026, 3, 2, tzinfo=UTC))
        assert not day.admits(line="x", kind=1, born=None)
    assert Filters().admits(line="x", kind=1, born=None)
    assert not Filters(line="Cobalt").admits(line="Ore", kind=1, born=None)
    assert not Filters(kind="product").admits(line="Ore", kind=1, born=None)
