"""The sustainability page on a real chain: tables people can read, filters that change the
numbers of the charts, tables and CSV alike, footprints that count certified lots only, and
a plain 400 for a filter that makes no sense.

Data: test_provenance_flow's product (ore A 1000 g at 4 g CO2e/g, ore B 500 g at 2 g/g,
refined into 600 g of cobalt: 6.667 g/g), seen by the refinery, plus 600 g of cobalt the
refinery registers as a product without any certificate."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from html import unescape
from html.parser import HTMLParser
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from contracts.chain.domain import LotKind
from tests.webapp.network import Network
from tests.webapp.test_provenance_flow import done, member, product
from webapp.lots.services import lot_register

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]

__all__ = ["product"]  # fixture used below

TABLES = ("product_lines", "monthly", "certified_inputs", "quarantines", "partners")


class Tables(HTMLParser):
    """Every <table> inside a <section id="table-NAME">, as rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.section = ""
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "section" and (found.get("id") or "").startswith("table-"):
            self.section = (found["id"] or "")[len("table-") :]
            self.tables[self.section] = []
        elif tag == "tr" and self.section:
            self.tables[self.section].append([])
        elif tag in ("td", "th") and self.section:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self.cell is not None:
            self.tables[self.section][-1].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "section":
            self.section = ""

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def page_tables(client: Client, query: str = "") -> dict[str, list[list[str]]]:
    response = client.get(f"/sustainability{query}")
    assert response.status_code == 200
    parser = Tables()
    parser.feed(response.content.decode())
    return parser.tables


def csv_rows(client: Client, table: str, query: str = "") -> list[list[str]]:
    response = client.get(f"/sustainability/{table}.csv{query}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode())))


def row(table: list[list[str]], first: str) -> dict[str, str]:
    """The row whose first cell is `first`, by column title."""
    found = [r for r in table[1:] if r[0] == first]
    assert len(found) == 1, (first, table)
    return dict(zip(table[0], found[0], strict=True))


@pytest.fixture
def uncertified(product: dict[str, Any]) -> dict[str, Any]:
    net = product["net"]
    lot = done(
        net,
        lot_register(
            organisation=net.orgs["refinery"],
            name="Cobalt",
            quantity=600,
            unit="g",
            kind=LotKind.PRODUCT,
        ),
    )
    return {**product, "uncertified": int(lot.lot_id or 0)}


def test_uncertified_lots_are_counted_apart_and_never_averaged_into_a_footprint(
    uncertified: dict[str, Any],
) -> None:
    tables = page_tables(member("refinery"))
    cobalt = row(tables["product_lines"], "Cobalt")
    # Averaged in, the uncertified 600 g would halve the line's footprint to 3.333.
    assert cobalt["Footprint per unit (certified lots)"] == "6.667 g CO2e per g"
    assert cobalt["Uncertified lots (not counted)"] == "1"
    assert cobalt["Lots"] == "2"
    assert cobalt["Quantity"] == "1.2 kg"
    ore = row(tables["product_lines"], "Ore A")
    assert ore["Footprint per unit (certified lots)"] == "4 g CO2e per g"
    assert ore["Recycled content"] == "0.0%"
    assert ore["Certified-input share"] == "100.0%"

    month = tables["monthly"][1]
    monthly = dict(zip(tables["monthly"][0], month, strict=True))
    assert monthly["Lots"] == "4"
    assert monthly["Certified lots"] == "3"
    assert monthly["Uncertified lots (not counted)"] == "1"
    # 4 g x 1000 + 2 g x 500 + 6.667 g x 600: the uncertified cobalt adds nothing.
    assert monthly["Footprint of certified lots (CO2e)"] == "9 kg CO2e"
    assert month[0] == timezone.localtime().strftime("%b %Y")


def test_headers_and_cells_are_for_people(uncertified: dict[str, Any]) -> None:
    tables = page_tables(member("refinery"))
    assert set(tables) == set(TABLES)
    for name, table in tables.items():
        for title in table[0]:
            assert "_" not in title, (name, title)
            assert title[0].isupper(), (name, title)
        for cells in table[1:]:
            assert not {"True", "False", "None"} & set(cells), (name, cells)
    partners = row(tables["partners"], "Katanga Cobalt Mine")
    assert partners == {
        "From": "Katanga Cobalt Mine",
        "To": "Nordic Refinery",
        "Handoffs": "2",
        "Quantity": "1.5 kg",
    }


def test_the_csv_has_the_pages_numbers_under_the_same_filters(
    uncertified: dict[str, Any],
) -> None:
    refinery = member("refinery")
    today = timezone.localdate().isoformat()
    for query in ("", "?line=Cobalt", f"?from={today}&kind=raw_material", "?line=Nobody"):
        tables = page_tables(refinery, query)
        for name in TABLES:
            exported = csv_rows(refinery, name, query)
            shown = tables[name]
            assert exported[0] == shown[0], (name, query)
            body = [r for r in shown[1:] if not (len(r) == 1 and r[0].startswith("Nothing"))]
            assert exported[1:] == body, (name, query)


def test_filters_change_the_numbers(uncertified: dict[str, Any]) -> None:
    refinery = member("refinery")
    a, b, c = uncertified["a"], uncertified["b"], uncertified["c"]

    def lots(query: str) -> set[int]:
        return {int(r[0]) for r in csv_rows(refinery, "certified_inputs", query)[1:]}

    def lines(query: str) -> list[str]:
        return [r[0] for r in csv_rows(refinery, "product_lines", query)[1:]]

    everything = lots("")
    assert {a, b, c, uncertified["uncertified"]} <= everything
    assert lines("") == ["Cobalt", "Ore A", "Ore B"]
    assert lots("?line=Cobalt") == {c, uncertified["uncertified"]}
    assert lines("?line=Cobalt") == ["Cobalt"]
    assert lots("?kind=raw_material") == {a, b}
    assert lots("?kind=product") == {c, uncertified["uncertified"]}
    assert lines("?kind=component") == []
    today = timezone.localdate()
    assert lots(f"?from={today}&to={today}") == everything
    assert lots(f"?from={today + timedelta(days=1)}") == set()
    assert lots(f"?to={today - timedelta(days=1)}") == set()
    assert csv_rows(refinery, "monthly", f"?from={today + timedelta(days=1)}")[1:] == []
    # Partners: the mine's ore went to the refinery; the pallet (no product line) did not
    # count under a line filter, the refinery's cobalt never left it.
    assert csv_rows(refinery, "partners", "?line=Ore A")[1:] == [
        ["Katanga Cobalt Mine", "Nordic Refinery", "1", "1 kg"]
    ]
    assert csv_rows(refinery, "partners", "?line=Cobalt")[1:] == []
    # The page's charts follow: one bar per line drawn.
    html = refinery.get("/sustainability?line=Cobalt").content.decode()
    footprint = html.split('id="table-product_lines"')[1].split("</svg>")[0]
    assert footprint.count('class="bar"') == 1
    assert 'value="Cobalt" selected' in html


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("?from=yesterday", "'from' must be a date"),
        ("?to=2026-02-30", "'to' must be a date"),
        ("?from=2026-05-02&to=2026-05-01", "is after the end date"),
        ("?kind=gadget", "No kind 'gadget'"),
        ("?to=9999-12-31", "'to' must be a date between"),
        ("?line=" + "x" * 201, "at most 200 characters"),
    ],
)
def test_a_filter_that_makes_no_sense_gets_a_400_with_the_reason(
    network: Network, query: str, reason: str
) -> None:
    refinery = member("refinery")
    page = refinery.get(f"/sustainability{query}")
    assert page.status_code == 400
    assert reason in unescape(page.content.decode())
    assert 'id="filters"' in page.content.decode()  # the form is there to fix it
    exported = refinery.get(f"/sustainability/monthly.csv{query}")
    assert exported.status_code == 400
    assert reason in exported.content.decode()


def test_a_name_that_looks_like_a_formula_stays_text_in_the_csv(product: dict[str, Any]) -> None:
    net = product["net"]
    formula = "=HYPERLINK(1)"
    lot = done(
        net, lot_register(organisation=net.orgs["refinery"], name=formula, quantity=5, unit="g")
    )
    refinery = member("refinery")
    shown = row(page_tables(refinery)["certified_inputs"], str(lot.lot_id))
    assert shown["Name"] == formula
    exported = csv_rows(refinery, "certified_inputs")
    assert [str(lot.lot_id), f"'{formula}"] == next(
        r[:2] for r in exported if r[0] == str(lot.lot_id)
    )


def test_the_figures_are_kept_a_few_seconds_for_everyone_and_the_page_says_when(
    uncertified: dict[str, Any], settings: Any
) -> None:
    """The roll-up is worked out once per period (PROVENANT_REPORT_CACHE_S) for every
    reader of an organisation under the same filters; the page says when it was."""
    from django.core.cache import cache

    settings.REPORT_CACHE_S = 600
    first, second = member("refinery"), member("refinery")
    before = page_tables(first)
    page = first.get("/sustainability").content.decode()
    assert "Figures as of" in page
    assert "at most every 600 seconds" in page
    net = uncertified["net"]
    done(
        net,
        lot_register(
            organisation=net.orgs["refinery"], name="Cobalt", quantity=600, unit="g",
            kind=LotKind.PRODUCT,
        ),
    )  # fmt: skip
    assert page_tables(second) == before  # another reader, the same kept figures
    assert row(page_tables(second, "?kind=product")["product_lines"], "Cobalt")["Lots"] == "3"
    cache.clear()  # the period is over
    assert row(page_tables(first)["product_lines"], "Cobalt")["Lots"] == "3"


def test_a_cache_that_cannot_be_reached_is_passed_by(
    uncertified: dict[str, Any], settings: Any
) -> None:
    settings.REPORT_CACHE_S = 600
    client = member("refinery")  # signing in counts failures in the cache: before it goes
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens there
        }
    }
    tables = page_tables(client)
    assert row(tables["product_lines"], "Cobalt")["Lots"] == "2"
