"""Origin credit on a real chain: a hand-computed mass balance through a transformation
with two inputs of different origins and a bundle, shares that sum to 100 %, two replays
of the chain that agree, 400s for bad filters, the passport and the report's CSV.

World (hand-computed): the mine registers Ore A (1000 g) and hands it to the refinery,
which registers Scrap (1 kg: a recycler's origin, in another unit). The refinery turns
600 g of Ore A and 1 kg of Scrap into 40 Cells (pieces): 1.6 kg in, so 40 g a cell, mixed
600 : 1000, i.e. mine 37.5 %, refinery 62.5 %. It packs 30 cells and 200 g of Ore A on a
pallet and hands it to the distributor, who hands it to the retailer. At retail: Cells
1.2 kg (mine 0.45 kg, refinery 0.75 kg); Ore A 0.2 kg (mine, 100 %); the pallet 1.4 kg
(mine 0.65 kg = 46.4 %, refinery 0.75 kg = 53.6 %)."""

from __future__ import annotations

import csv
import io
from fractions import Fraction
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from contracts.chain.domain import LotKind
from tests.webapp.network import Network
from tests.webapp.test_provenance_flow import done, hand, member
from tests.webapp.test_sustainability_page import Tables
from webapp.chain.pipeline import consumer_reset
from webapp.lots.services import Output, bundle_create, lot_register, transformation_record
from webapp.projections.models import VERSIONED
from webapp.projections.projector import Projector
from webapp.sustainability.mass_balance import LotFacts, MassBalance, Part, allocated

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]


def _id(net: Network, operation: Any) -> int:
    return int(done(net, operation).lot_id or 0)


@pytest.fixture
def world(network: Network) -> dict[str, Any]:
    net = network
    mine, refinery = net.orgs["mine"], net.orgs["refinery"]
    ore = _id(net, lot_register(organisation=mine, name="Ore A", quantity=1000, unit="g"))
    hand(net, "mine", "refinery", ore, 1000)
    scrap = _id(net, lot_register(organisation=refinery, name="Scrap", quantity=1, unit="kg"))
    cells = _id(
        net,
        transformation_record(
            organisation=refinery,
            inputs=[(ore, 600), (scrap, 1)],
            process="cell line 1",
            outputs=[Output(name="Cells", quantity=40, unit="pieces", kind=LotKind.COMPONENT)],
        ),
    )
    pallet = _id(
        net,
        bundle_create(organisation=refinery, items=[(cells, 30), (ore, 200)], name="Pallet"),
    )
    hand(net, "refinery", "distributor", pallet, 1)
    hand(net, "distributor", "retailer", pallet, 1)
    return {
        "net": net,
        "ore": ore,
        "scrap": scrap,
        "cells": cells,
        "pallet": pallet,
        "mine": mine.address,
        "refinery": refinery.address,
    }


def _credits(rows: list[dict[str, Any]]) -> dict[str, tuple[str, str | None]]:
    return {c["name"]: (c["share"], c["amount"]) for c in rows}


def test_a_product_is_credited_to_its_origins_by_mass_through_a_transformation_and_a_bundle(
    world: dict[str, Any],
) -> None:
    api = member("retailer")
    cells = api.get(f"/api/v1/lots/{world['cells']}/origins").json()
    assert cells["grams_per_unit"] == "40.000"
    assert cells["kilograms"] == "1.600"
    assert _credits(cells["origins"]) == {
        "Nordic Refinery": ("0.625", "1.000"),
        "Katanga Cobalt Mine": ("0.375", "0.600"),
    }
    retail = cells["at_retail"]
    assert (retail["quantity"], retail["kilograms"]) == ("30.000", "1.200")
    assert _credits(retail["origins"]) == {
        "Nordic Refinery": ("0.625", "0.750"),
        "Katanga Cobalt Mine": ("0.375", "0.450"),
    }
    pallet = api.get(f"/api/v1/lots/{world['pallet']}/origins").json()
    assert pallet["kilograms"] == "1.400"
    assert _credits(pallet["origins"]) == {
        "Nordic Refinery": ("0.536", "0.750"),
        "Katanga Cobalt Mine": ("0.464", "0.650"),
    }
    assert sum(Fraction(c["share"]) for c in pallet["origins"]) == 1

    report = api.get("/api/v1/origins").json()
    rows = {(r["product_line"], r["basis"]): r for r in report["periods"]}
    assert set(rows) == {("Cells", "kg"), ("Ore A", "kg")}
    assert rows[("Cells", "kg")]["total"] == "1.200"
    assert _credits(rows[("Cells", "kg")]["origins"]) == {
        "Nordic Refinery": ("0.625", "0.750"),
        "Katanga Cobalt Mine": ("0.375", "0.450"),
    }
    assert _credits(rows[("Ore A", "kg")]["origins"]) == {"Katanga Cobalt Mine": ("1.000", "0.200")}
    for row in report["periods"]:
        assert sum(Fraction(c["share"]) for c in row["origins"]) == 1
    only = api.get("/api/v1/origins", {"product_line": "Ore A"}).json()["periods"]
    assert [r["product_line"] for r in only] == ["Ore A"]
    assert api.get("/api/v1/origins", {"from": "9000-01-01"}).json()["periods"] == []


def _replay(batch: int) -> None:
    chain_id = settings.CHAIN_ID
    for model in VERSIONED:
        model.objects.filter(chain_id=chain_id).delete()
    consumer_reset(chain_id=chain_id, name=Projector.CONSUMER)
    Projector(chain_id).apply_pending(batch=batch)


def test_two_replays_of_the_chain_give_the_same_numbers(world: dict[str, Any]) -> None:
    api = member("retailer")

    def numbers() -> tuple[Any, ...]:
        return (
            api.get("/api/v1/origins").json(),
            api.get(f"/api/v1/lots/{world['pallet']}/origins").json(),
            api.get(f"/api/v1/lots/{world['cells']}/origins").json(),
        )

    before = numbers()
    _replay(batch=1)  # one event at a time
    once = numbers()
    _replay(batch=5000)  # everything in one batch
    assert numbers() == once == before


def test_bad_filters_get_a_400_with_the_reason(world: dict[str, Any]) -> None:
    api = member("retailer")
    for query, words in [
        ({"from": "yesterday"}, "must be a date"),
        ({"from": "2026-05-02", "to": "2026-05-01"}, "is after the end date"),
        ({"product_line": "x" * 201}, "at most 200 characters"),
        ({"line": "Cells"}, "Unknown filter 'line'"),
    ]:
        answer = api.get("/api/v1/origins", query)
        assert answer.status_code == 400, query
        assert words in answer.json()["errors"]["filters"][0]
    assert api.get("/api/v1/lots/987654/origins").status_code == 404
    page = api.get("/sustainability/origins", {"to": "31-12-2026"})
    assert page.status_code == 400
    assert "must be a date" in page.content.decode()
    assert api.get("/sustainability/origins.csv", {"from": "x"}).status_code == 400


def test_the_passport_shows_the_origins_with_their_shares(world: dict[str, Any]) -> None:
    page = Client().get(f"/passport/{world['pallet']}").content.decode()
    assert 'id="origin-credit"' in page
    assert "Katanga Cobalt Mine" in page
    assert "46.4%" in page
    assert "Nordic Refinery" in page
    assert "53.6%" in page


def test_the_csv_holds_the_cells_of_the_page(world: dict[str, Any]) -> None:
    api = member("retailer")
    response = api.get("/sustainability/origins")
    assert response.status_code == 200
    parser = Tables()
    parser.feed(response.content.decode())
    table = parser.tables["origins"]
    download = api.get("/sustainability/origins.csv")
    assert download["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(download.content.decode())))
    assert rows == table
    by_origin = {(r[1], r[3]): r for r in table[1:]}
    assert by_origin[("Cells", "Katanga Cobalt Mine")][4:] == ["0.45 kg", "37.5%"]
    assert "/sustainability/origins" in api.get("/sustainability").content.decode()


# ---------------------------------------------------------------- the rule, without a chain


def test_rounded_shares_always_sum_to_one() -> None:
    thirds = {"0xa": Fraction(1, 3), "0xb": Fraction(1, 3), "0xc": Fraction(1, 3)}
    shares = {k: str(v) for k, v in allocated(thirds).items()}
    assert shares == {"0xa": "0.334", "0xb": "0.333", "0xc": "0.333"}
    assert sum(allocated(thirds).values()) == 1


def test_an_input_without_a_mass_is_weighed_by_quantity_and_says_so() -> None:
    lots = {
        1: LotFacts(creator="0xmine", quantity=10, unit="pieces"),
        2: LotFacts(creator="0xfarm", quantity=500, unit_grams=Fraction(1), unit="g"),
        3: LotFacts(
            creator="0xmaker",
            quantity=5,
            unit="pieces",
            transformation=9,
            inputs=[Part(1, 10), Part(2, 30)],
        ),
    }
    balance = MassBalance(lots, {9: [Part(3, 5)]})
    assert balance.mix(3) == {"0xmine": Fraction(1, 4), "0xfarm": Fraction(3, 4)}
    assert balance.by_quantity(3)
    assert balance.grams_per_unit(3) is None


def test_origins_read_in_a_fixed_number_of_queries(world: dict[str, Any]) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from webapp.organisations.models import Organisation
    from webapp.sustainability.origin_report import origin_report
    from webapp.sustainability.origins import lot_origins

    retailer = Organisation.objects.get(slug="retailer")
    with CaptureQueriesContext(connection) as one:
        lot_origins(lot_id=world["pallet"])
    with CaptureQueriesContext(connection) as report:
        origin_report(organisation=retailer)
    # One lineage walk per end product not reached from another; the rest is fixed.
    assert len(one) <= 16, [q["sql"] for q in one]
    assert len(report) <= 20, [q["sql"] for q in report]
