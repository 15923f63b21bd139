"""`GET /epcis/epcs` for whoever sees every event walks the EPC table the migration keeps
by triggers: the same EPCs, in order and paged, as the events' `epcs` hold, and it follows
inserts, updates, deletes and a truncate of the events."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client

from tests.webapp.test_epcis_query import (  # noqa: F401 (fixtures)
    client_of,
    events,
    mine,
    orgs,
)
from webapp.epcis.models import EpcisEvent
from webapp.epcis.selectors import _epc_names, _visible_epc_walk, events_visible_to
from webapp.organisations.models import Organisation

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def _all_pages(client: Client, per_page: int) -> list[str]:
    collected: list[str] = []
    url: str | None = f"/epcis/epcs?perPage={per_page}"
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        collected += response.json()["member"]
        link = response.get("Link")
        matched = re.search(r"<http://testserver([^>]+)>", link) if link else None
        url = matched.group(1) if matched else None
    return collected


def _stored_epcs() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT DISTINCT e FROM epcis_epcisevent, unnest(epcs) AS e ORDER BY e")
        return [row[0] for row in cursor.fetchall()]


def test_an_auditor_pages_through_every_stored_epc_once_in_order(
    orgs: dict[str, Organisation],  # noqa: F811
    events: dict[str, list[EpcisEvent]],  # noqa: F811
) -> None:
    auditor = client_of(orgs["auditor"])
    collected = _all_pages(auditor, 4)
    assert collected == _stored_epcs()
    assert len(collected) > 14
    assert _all_pages(auditor, 1000) == collected


def test_the_epc_list_follows_updates_deletes_and_truncates(
    orgs: dict[str, Organisation],  # noqa: F811
    events: dict[str, list[EpcisEvent]],  # noqa: F811
) -> None:
    auditor = client_of(orgs["auditor"])
    changed = events["object_events"][0]
    EpcisEvent.objects.filter(pk=changed.pk).update(epcs=["urn:test:only-here"])
    # An update that leaves `epcs` alone keeps the event's EPCs listed.
    EpcisEvent.objects.filter(pk=events["object_events"][1].pk).update(public=True)
    assert _all_pages(auditor, 5) == _stored_epcs()
    assert "urn:test:only-here" in _stored_epcs()
    EpcisEvent.objects.filter(pk=changed.pk).delete()
    assert "urn:test:only-here" not in _all_pages(auditor, 5)
    assert _all_pages(auditor, 5) == _stored_epcs()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred FK checks run first
        cursor.execute("TRUNCATE epcis_epcisevent CASCADE")
    assert _all_pages(auditor, 5) == []


def test_a_bad_page_size_or_token_on_the_epc_list_is_refused(
    orgs: dict[str, Organisation],  # noqa: F811
    events: dict[str, list[EpcisEvent]],  # noqa: F811
) -> None:
    auditor = client_of(orgs["auditor"])
    assert auditor.get("/epcis/epcs?perPage=0").json()["parameter"] == "perPage"
    assert auditor.get("/epcis/epcs?nextPageToken=forged").json()["parameter"] == "nextPageToken"
    assert auditor.get("/epcis/epcs?EQ_bizStep=shipping").status_code == 400


@pytest.mark.parametrize("who", ["mine", "refinery"])
@pytest.mark.parametrize("per_page", [1, 3, 1000])
def test_a_members_epc_pages_walked_or_sorted_are_the_same(
    orgs: dict[str, Organisation],  # noqa: F811
    events: dict[str, list[EpcisEvent]],  # noqa: F811
    who: str,
    per_page: int,
) -> None:
    # The refinery sees one public event of the mine's: few visible events among many.
    EpcisEvent.objects.filter(pk=events["object_events"][2].pk).update(public=True)
    rows = events_visible_to(organisation=orgs[who])
    expected: list[str] = []
    after: str | None = None
    while True:
        names, after = _epc_names(rows, per_page=per_page, after=after)
        expected += names
        if after is None:
            break
    assert _all_pages(client_of(orgs[who]), per_page) == expected
    walked, after = [], None
    while True:
        page = _visible_epc_walk(rows, per_page=per_page, after=after)
        if page is None:  # the budget ran out: the sorted path answers instead
            assert who == "refinery"
            return
        walked += page[0]
        after = page[1]
        if after is None:
            break
    assert walked == expected
