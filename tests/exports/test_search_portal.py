"""The portal's search page over the search index: facet filters with counts, the event
history, bad filters as form errors, and nothing from another organisation's private lots."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client

from tests.exports.test_search import world  # noqa: F401  (the fixture)
from webapp.organisations.models import Member, Organisation

PASSWORD = "correct horse battery staple"
pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="SQLite keeps the simple search"),
]


def person(organisation: Organisation) -> Client:
    user = get_user_model().objects.create_user(
        username=f"{organisation.slug}-person", password=PASSWORD
    )
    Member.objects.create(user=user, organisation=organisation)
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def page(client: Client, **params: Any) -> str:
    response = client.get("/search", params)
    assert response.status_code == 200
    return str(response.content.decode())


def test_the_search_page_lists_lots_with_facet_counts(world: dict[str, Any]) -> None:  # noqa: F811
    html = page(person(world["mine"]), q="cobalt")
    assert '<tr data-lot="1">' in html
    assert 'data-lot="2"' not in html
    assert 'id="search-facets"' in html
    assert '<option value="lot">lot (1)</option>' in html


def test_facet_filters_and_events(world: dict[str, Any]) -> None:  # noqa: F811
    client = person(world["auditor"])
    html = page(client, q="cobalt", organisation="refinery")
    assert '<tr data-lot="2">' in html
    assert '<tr data-lot="1">' not in html
    events = page(client, q="LotRegistered", type="event")
    assert 'data-event="1:1"' in events
    assert 'href="/lots/1"' in events


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"from": "yesterday"}, "should be a date"),
        ({"type": "widget"}, "type should be one of"),
        ({"colour": "red"}, "Unknown parameter"),
    ],
)
def test_a_bad_filter_is_a_form_error(
    world: dict[str, Any],  # noqa: F811
    params: dict[str, str],
    reason: str,
) -> None:
    html = page(person(world["mine"]), q="cobalt", **params)
    assert 'id="search-error"' in html
    assert reason in html
    assert "data-lot=" not in html


def test_a_typed_lot_id_goes_to_the_lot(world: dict[str, Any]) -> None:  # noqa: F811
    response = person(world["mine"]).get("/search", {"q": "1"})
    assert response["Location"] == "/lots/1"
    assert person(world["refinery"]).get("/search", {"q": "1"}).status_code == 200
