"""Finding things in the portal: the lots page (tabs, filters, sorting, pages) and the
search box, for two members on a real chain and the real database. A lot whose custody an
organisation never touched is neither listed nor found for it."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from contracts.chain.domain import LotKind
from tests.webapp.network import PASSWORD, Network
from tests.webapp.test_provenance_flow import certify, done
from webapp.lots.services import handoff_accept, handoff_initiate, lot_register
from webapp.operations.calls import ContractCall
from webapp.operations.services import operation_queue
from webapp.portal import lots_views
from webapp.projections.models import HandoffVersion

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]

GTIN = "4006381333931"


def person(slug: str) -> Client:
    client = Client()
    assert client.login(username=slug, password=PASSWORD)
    return client


def register(net: Network, slug: str, name: str, quantity: int, **kwargs: Any) -> int:
    operation = lot_register(
        organisation=net.orgs[slug], name=name, quantity=quantity, unit="kg", **kwargs
    )
    return int(done(net, operation).lot_id or 0)


@pytest.fixture
def lots(network: Network) -> dict[str, int]:
    """The mine's cobalt ore (GTIN, batch B42; 300 of it handed to the refinery, which
    accepts) and its quarantined copper ore, which the refinery never touched; the
    refinery's refined cobalt (a component), which the mine never touched; a certificate
    on the cobalt ore."""
    net = network
    cobalt = register(net, "mine", "Cobalt ore pit 3", 1000, gtin=GTIN, batch="B42")
    copper = register(net, "mine", "Copper ore", 50)
    done(
        net,
        handoff_initiate(
            organisation=net.orgs["mine"],
            lot_id=cobalt,
            receiver=net.orgs["refinery"],
            quantity=300,
        ),
    )
    handoff = HandoffVersion.objects.get(lot_id=cobalt, block_to__isnull=True, status="open")
    done(
        net,
        handoff_accept(organisation=net.orgs["refinery"], handoff_id=int(handoff.handoff_id)),
    )
    refined = register(net, "refinery", "Refined cobalt", 200, kind=LotKind.COMPONENT)
    operation, _ = operation_queue(
        organisation=net.orgs["mine"],
        action="setQuarantine",
        request={"lot_id": copper, "reason": "humidity"},
        call=ContractCall(contract="Lots", function="setQuarantine", args=(copper, "humidity")),
        lot_id=copper,
    )
    done(net, operation)
    certificate = certify(net, cobalt, co2e=4)
    return {
        "cobalt": cobalt,
        "copper": copper,
        "refined": refined,
        "certificate": certificate,
    }


def listed(client: Client, **params: Any) -> list[int]:
    """The lot ids the lots page lists, in order."""
    response = client.get("/lots", params)
    assert response.status_code == 200
    return [int(i) for i in re.findall(r'<tr data-lot="(\d+)">', response.content.decode())]


def test_each_tab_lists_the_organisations_own_lots_and_never_a_strangers(
    lots: dict[str, int],
) -> None:
    mine, refinery = person("mine"), person("refinery")
    cobalt, copper, refined = lots["cobalt"], lots["copper"], lots["refined"]

    assert listed(mine, tab="mine") == [copper, cobalt]
    assert listed(mine, tab="held") == [copper, cobalt]
    assert listed(mine, tab="handled") == [copper, cobalt]
    assert listed(mine) == listed(mine, tab="all") == [copper, cobalt]

    assert listed(refinery, tab="mine") == [refined]
    assert listed(refinery, tab="held") == [refined, cobalt]
    assert listed(refinery, tab="handled") == [refined, cobalt]
    assert listed(refinery, tab="all") == [refined, cobalt]

    for client, stranger, name in ((mine, refined, "Refined"), (refinery, copper, "Copper")):
        page = client.get("/lots", {"tab": "all"}).content.decode()
        assert name not in page
        assert f'data-lot="{stranger}"' not in page
    # The distributor touched none of them.
    for tab in ("mine", "held", "handled", "all"):
        assert listed(person("distributor"), tab=tab) == []


def test_a_row_shows_the_lot_its_holders_and_its_quarantine(lots: dict[str, int]) -> None:
    page = person("mine").get("/lots").content.decode()
    row = re.search(rf'<tr data-lot="{lots["cobalt"]}">(.*?)</tr>', page, re.S)
    assert row is not None
    cells = row.group(1)
    assert f'href="/lots/{lots["cobalt"]}"' in cells
    assert "Cobalt ore pit 3" in cells
    assert "raw material" in cells
    assert "1 t" in cells  # 1000 kg, in the unit that reads best
    assert "Katanga Cobalt Mine, Nordic Refinery" in cells
    today = timezone.now()
    assert any(f'datetime="{day:%Y-%m-%d}T' in cells for day in (today, today - timedelta(days=1)))
    assert "quarantined" not in cells
    copper = re.search(rf'<tr data-lot="{lots["copper"]}">(.*?)</tr>', page, re.S)
    assert copper is not None
    assert 'class="badge failed">quarantined' in copper.group(1)


def test_the_filters_and_sorting_narrow_and_order_the_lots(lots: dict[str, int]) -> None:
    mine, refinery = person("mine"), person("refinery")
    cobalt, copper, refined = lots["cobalt"], lots["copper"], lots["refined"]
    today = timezone.now().date()

    assert listed(refinery, kind="component") == [refined]
    assert listed(refinery, kind="raw_material") == [cobalt]
    assert listed(refinery, kind="product") == []
    assert listed(mine, gtin=GTIN) == [cobalt]
    assert listed(mine, gtin="0" + GTIN) == [cobalt]  # the same GTIN-14
    assert listed(mine, gtin="96385074") == []
    # The refinery holds some of the mine's cobalt; its own cobalt is not the mine's to see.
    assert listed(mine, holder="refinery") == [cobalt]
    assert listed(refinery, holder="refinery") == [refined, cobalt]
    assert listed(mine, holder="distributor") == []
    assert listed(mine, state="quarantined") == [copper]
    assert listed(mine, state="clear") == [cobalt]
    window = {"registered_from": today - timedelta(days=2), "registered_to": today + timedelta(2)}
    assert listed(mine, **window) == [copper, cobalt]
    assert listed(mine, registered_to="2000-01-01") == []
    assert listed(mine, registered_from=today + timedelta(days=3)) == []

    assert listed(mine, sort="id") == [cobalt, copper]
    assert listed(mine, sort="-id") == [copper, cobalt]
    assert listed(mine, sort="name") == [cobalt, copper]
    assert listed(mine, sort="-name") == [copper, cobalt]
    assert listed(mine, sort="quantity") == [copper, cobalt]
    assert listed(mine, sort="-quantity") == [cobalt, copper]
    assert listed(mine, sort="date") == [cobalt, copper]
    assert listed(mine, sort="-date") == [copper, cobalt]
    assert listed(refinery, tab="held", sort="name", kind="raw_material") == [cobalt]


def test_pages_hold_25_lots_and_their_links_keep_the_filters(
    lots: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lots_views, "PER_PAGE", 1)
    refinery = person("refinery")
    first = refinery.get("/lots", {"tab": "held", "sort": "name"}).content.decode()
    assert "page 1 of 2" in first
    assert 'href="?tab=held&amp;sort=name&amp;page=2"' in first
    assert listed(refinery, tab="held", sort="name", page=1) == [lots["cobalt"]]
    assert listed(refinery, tab="held", sort="name", page=2) == [lots["refined"]]
    # A page past the end shows the last; one that is not a number, the first.
    assert listed(refinery, tab="held", sort="name", page=10**40) == [lots["refined"]]
    assert listed(refinery, tab="held", sort="name", page="x") == [lots["cobalt"]]
    assert listed(refinery, tab="held", sort="name", page=-3) == [lots["refined"]]


def test_a_page_of_lots_takes_the_same_queries_however_many_rows(lots: dict[str, int]) -> None:
    refinery = person("refinery")
    refinery.get("/lots")  # the session and the organisation, loaded once
    counts = []
    for tab, rows in (("all", 2), ("mine", 1), ("handled", 2)):
        with CaptureQueriesContext(connection) as queries:
            assert len(listed(refinery, tab=tab)) == rows
        counts.append(len(queries))
    # Where each lot is now costs a fixed few: open handoffs, bundles, transformations and
    # unpacked bundles, one query each for the whole page.
    assert counts[0] == counts[1] == counts[2] <= 16, counts


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"kind": "gadget"}, "Select a valid choice"),
        ({"kind": "gadget", "tab": "held"}, 'name="tab" value="held"'),
        ({"tab": "theirs"}, "Select a valid choice"),
        ({"gtin": "12ab5678"}, "Digits 0-9 only."),
        ({"gtin": "1" * 40}, "at most 14 characters"),
        ({"holder": "nobody"}, "Select a valid choice"),
        ({"state": "on fire"}, "Select a valid choice"),
        ({"registered_from": "2026-02-30"}, "Enter a valid date."),
        ({"registered_from": "2026-03-02", "registered_to": "2026-03-01"}, "comes before"),
        ({"sort": "secret_column"}, "Select a valid choice"),
    ],
)
def test_bad_filter_values_show_the_form_error_and_no_lots(
    network: Network, params: dict[str, str], message: str
) -> None:
    response = person("mine").get("/lots", params)
    assert response.status_code == 200
    page = response.content.decode()
    assert message in page
    assert 'id="filter-errors"' in page
    assert "<tr data-lot=" not in page


def test_search_finds_lots_certificates_and_organisations_within_view(
    lots: dict[str, int],
) -> None:
    mine, refinery = person("mine"), person("refinery")
    cobalt, copper, refined = lots["cobalt"], lots["copper"], lots["refined"]

    jump = mine.get("/search", {"q": str(cobalt)})
    assert jump.status_code == 302
    assert jump["Location"] == f"/lots/{cobalt}"

    def found(client: Client, q: str) -> str:
        response = client.get("/search", {"q": q})
        assert response.status_code == 200
        return response.content.decode()

    by_name = found(mine, "cobalt ORE")
    assert f'<tr data-lot="{cobalt}">' in by_name
    assert f'<tr data-lot="{copper}">' not in by_name
    assert f'<tr data-lot="{cobalt}">' in found(mine, GTIN)
    assert f'<tr data-lot="{cobalt}">' in found(mine, "b42")
    # (a lot the mine sees with the same id as the certificate would be jumped to)
    assert lots["certificate"] not in (cobalt, copper)
    assert f'data-certificate="{lots["certificate"]}"' in found(mine, str(lots["certificate"]))
    # Its issuer finds it too; an organisation that never touched the lot does not.
    assert f'data-certificate="{lots["certificate"]}"' in found(
        person("certifier"), str(lots["certificate"])
    )
    assert "data-certificate" not in found(person("distributor"), str(lots["certificate"]))
    organisations = found(mine, "nordic")
    assert 'data-organisation="refinery"' in organisations
    assert 'href="/lots?holder=refinery"' in organisations

    # The refinery sees its own cobalt by name, never the mine's copper ore.
    assert f'<tr data-lot="{refined}">' in found(refinery, "cobalt")

    # A stranger's lot: not by id, not by name; organisation names are public.
    for client, stranger, name in ((mine, refined, "Refined"), (refinery, copper, "Copper")):
        # (ids and addresses match by substring: a short id may find an organisation whose
        # address holds its digits, so only the lot's absence is certain)
        by_id = found(client, str(stranger))
        assert f'data-lot="{stranger}"' not in by_id
        assert f'data-lot="{stranger}"' not in found(client, name)
    assert f'data-lot="{refined}"' not in by_name
    assert 'data-organisation="distributor"' in found(mine, "EuroLogistics")
    assert "Nothing you may see matches" in found(mine, "zzqq-no-such-thing")
    assert refinery.get("/search", {"q": str(refined)})["Location"] == f"/lots/{refined}"


@pytest.mark.parametrize("q", ["", " ", "x" * 5000, str(2**300), "²", "%", "_", "0", "-1"])
def test_odd_search_text_gets_a_page_not_an_error(network: Network, q: str) -> None:
    response = person("mine").get("/search", {"q": q})
    assert response.status_code == 200


def test_a_nul_in_the_search_is_a_bad_request(network: Network) -> None:
    assert person("mine").get("/search", {"q": "a\x00b"}).status_code == 400


def test_every_page_has_the_search_box_and_the_lots_link(network: Network) -> None:
    page = person("retailer").get("/").content.decode()
    assert '<a href="/lots">Lots</a>' in page
    assert 'action="/search"' in page
    assert 'name="q"' in page


def test_a_certifier_lists_every_lot_but_sees_only_public_facts_of_strangers_stock(
    lots: dict[str, int],
) -> None:
    """A certifier certifies across the consortium, so its lot list and search show every
    lot; who holds a lot it is no party to stays hidden, and the holder filter does not
    reveal it either."""
    certifier = person("certifier")
    cobalt, copper, refined = lots["cobalt"], lots["copper"], lots["refined"]
    assert set(listed(certifier, tab="all")) >= {cobalt, copper, refined}
    assert (
        f'data-lot="{refined}"'
        in person("certifier").get("/search", {"q": "Refined"}).content.decode()
    )
    page = certifier.get("/lots", {"tab": "all"}).content.decode()
    row = re.search(rf'<tr data-lot="{refined}">.*?</tr>', page, re.S)
    assert row is not None
    assert "Nordic Refinery" not in row.group(0)
    assert listed(certifier, tab="all", holder="refinery") == []
    assert listed(person("refinery"), tab="all", holder="refinery") == [refined, cobalt]
    # The mine, no certifier, still never lists the refinery's lot.
    assert refined not in listed(person("mine"), tab="all")
