"""The formatting layer: units, grouping, percentages and time zones, as pages, CSV and
the passport show them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.template import Context, Template
from django.utils import timezone

from webapp import formatting

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (2_000_000, "g", "2 t"),
        (400, "kg", "400 kg"),
        (1500, "kg", "1.5 t"),
        (1250, "g", "1.25 kg"),
        (999, "g", "999 g"),
        (0, "kg", "0 g"),
        (Decimal("0.5"), "g", "500 mg"),
        (3, "tonnes", "3 t"),
        (2500, "Kilograms", "2.5 t"),
        (1, "units", "1 unit"),
        (12500, "units", "12,500 units"),
        (2, "pcs", "2 pcs"),
        (1200, "m", "1,200 m"),
        (7, "", "7"),
    ],
)
def test_quantities_keep_their_unit_and_masses_move_to_a_readable_one(
    value: object, unit: str, expected: str
) -> None:
    assert formatting.quantity(value, unit) == expected


@pytest.mark.parametrize(
    ("grams", "expected"),
    [
        (1200, "1.2 kg CO2e"),
        (9_000_000, "9 t CO2e"),
        (850, "850 g CO2e"),
        (Decimal("9000000.000"), "9 t CO2e"),
        (1_234_567_890, "1,234.568 t CO2e"),
    ],
)
def test_carbon_figures_are_masses_of_co2e(grams: object, expected: str) -> None:
    assert formatting.co2e(grams) == expected


def test_a_footprint_per_unit_names_the_unit() -> None:
    assert formatting.co2e_per_unit(1200, "kg") == "1.2 kg CO2e per kg"
    assert formatting.co2e_per_unit(40, "units") == "40 g CO2e per unit"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (2_000_000, "2,000,000"),
        (Decimal("1234.5"), "1,234.5"),
        (Decimal("0.1234"), "0.123"),
        (-1500, "-1,500"),
        ("not a number", ""),
        (None, ""),
        (float("nan"), ""),
    ],
)
def test_numbers_are_grouped_and_trimmed(value: object, expected: str) -> None:
    assert formatting.number(value) == expected


def test_shares_read_the_same_whether_a_fraction_or_per_mille() -> None:
    assert formatting.percent(1) == "100.0%"
    assert formatting.percent(Decimal("0.855")) == "85.5%"
    assert formatting.percent("0.0004") == "0.0%"
    assert formatting.permille(850) == "85.0%"
    assert formatting.permille(1000) == formatting.percent(1)
    assert formatting.percent(None) == ""


def test_times_are_shown_in_the_readers_zone_with_its_name() -> None:
    moment = datetime(2026, 12, 2, 13, 5, tzinfo=UTC)
    assert formatting.when(moment, "Europe/Oslo") == "2 Dec 2026, 14:05 CET"
    assert formatting.when(moment, "Africa/Lubumbashi") == "2 Dec 2026, 15:05 CAT"
    assert formatting.when(moment, "") == "2 Dec 2026, 13:05 UTC"
    summer = datetime(2026, 7, 1, 23, 30, tzinfo=UTC)
    assert formatting.when(summer, "Europe/Oslo") == "2 Jul 2026, 01:30 CEST"
    assert formatting.day(summer, "Europe/Oslo") == "2 Jul 2026"


def test_an_unknown_zone_falls_back_to_utc() -> None:
    moment = datetime(2026, 12, 2, 13, 5, tzinfo=UTC)
    assert formatting.when(moment, "Mars/Olympus_Mons") == "2 Dec 2026, 13:05 UTC"
    assert formatting.when(moment, "../../etc/passwd") == "2 Dec 2026, 13:05 UTC"


def test_the_iso_instant_is_utc_whatever_the_zone() -> None:
    moment = datetime(2026, 12, 2, 14, 5, tzinfo=formatting.zone("Europe/Oslo"))
    assert formatting.iso(moment) == "2026-12-02T13:05:00Z"
    assert formatting.iso(datetime(2026, 12, 2, 13, 5)) == "2026-12-02T13:05:00Z"


def test_templates_use_the_same_functions_and_the_active_zone() -> None:
    moment = datetime(2026, 12, 2, 13, 5, tzinfo=UTC)
    template = Template(
        "{% load formatting %}{{ q|quantity:'g' }} | {{ g|co2e_per_unit:'kg' }} | "
        "{{ s|percent }} | {{ m|when }}"
    )
    with timezone.override(formatting.zone("Europe/Oslo")):
        text = template.render(Context({"q": 2_000_000, "g": 1200, "s": 1, "m": moment}))
    assert text == (
        '2 t | 1.2 kg CO2e per kg | 100.0% | <time datetime="2026-12-02T13:05:00Z" '
        'title="2026-12-02T13:05:00Z">2 Dec 2026, 14:05 CET</time>'
    )
