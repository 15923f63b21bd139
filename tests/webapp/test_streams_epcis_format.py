"""A subscription's `format`: `rest` payloads carry the fact's arguments, `epcis` its EPCIS
2.0 event instead, `both` both; the EPCIS event is the one `webapp.epcis.facts` states for
the fact and conforms to GS1's schema. A retraction in the EPCIS format carries the event
it retracts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.webapp.portal_subscriptions import NEW, form, member_of, page_of, text
from tests.webapp.streams_world import (
    Receiver,
    Store,
    handoff,
    json_body,
    lot_registered,
    organisation,
)
from tests.webapp.test_streams_api import Api, create
from webapp.chain.models import ChainEvent
from webapp.chain.pipeline import consumers_rollback
from webapp.epcis.validation import event_problems
from webapp.streams.delivery import streams_deliver_due
from webapp.streams.models import Subscription

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _loopback(settings: Any) -> None:
    settings.STREAMS_ALLOW_HTTP_LOOPBACK = True
    settings.STREAMS_ALLOWED_PRIVATE_NETWORKS = []


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver().up()
    yield found
    found.down()


def test_each_format_carries_what_it_says_and_the_epcis_event_is_valid(
    receiver: Receiver,
) -> None:
    alpha = Api(organisation("alpha", 0xA1))
    beta = organisation("beta", 0xB2)
    store = Store()
    store.add("LotRegistered", lot_registered(alpha.org, 1))
    store.add("HandoffInitiated", handoff(alpha.org, beta, 1))
    store.add("ParticipantRolesChanged", {"account": alpha.org.address, "roles": 2})
    made = {f: create(alpha, receiver, format=f) for f in ("rest", "epcis", "both")}
    assert {f: body["format"] for f, body in made.items()} == {
        "rest": "rest",
        "epcis": "epcis",
        "both": "both",
    }
    assert streams_deliver_due() == 9
    assert receiver.unverified == 0
    payloads = [p for d in receiver.requests for p in d.payloads]
    rest = [p for p in payloads if "fact" in p and "epcis" not in p]
    epcis = [p for p in payloads if "epcis" in p and "fact" not in p]
    both = [p for p in payloads if "epcis" in p and "fact" in p]
    assert len(rest) == len(epcis) == len(both) == 3
    for payload in epcis + both:
        if payload["type"] == "ParticipantRolesChanged":
            assert payload["epcis"] is None  # EPCIS has no event for it
            continue
        event = payload["epcis"]
        assert event_problems(event) == []
        assert event["type"] == "ObjectEvent"
        assert event["eventID"].startswith("ni:///sha-256;")
        assert event["provenant:transactionHash"] == payload["chain"]["transactionHash"]
    shipping = next(p for p in both if p["type"] == "HandoffInitiated")
    assert shipping["epcis"]["bizStep"] == "shipping"
    assert shipping["fact"]["sender"] == alpha.org.address


def test_a_format_is_checked_and_can_be_changed(receiver: Receiver) -> None:
    alpha = Api(organisation("alpha", 0xA1))
    refused = alpha.post(
        "/api/v1/subscriptions", {"name": "x", "url": receiver.url, "format": "xml"}
    )
    assert refused.status_code == 400
    assert "format" in json_body(refused)["errors"]
    created = create(alpha, receiver)
    assert created["format"] == "rest"
    assert json_body(alpha.patch(created["url"], {"format": "epcis"}))["format"] == "epcis"
    Store().add("LotRegistered", lot_registered(alpha.org, 1))
    streams_deliver_due()
    (payload,) = receiver.accepted[-1].payloads
    assert event_problems(payload["epcis"]) == []
    assert "fact" not in payload


def test_a_retraction_in_the_epcis_format_carries_the_retracted_event(
    receiver: Receiver,
) -> None:
    alpha = Api(organisation("alpha", 0xA1))
    store = Store()
    store.add("LotRegistered", lot_registered(alpha.org, 1))
    create(alpha, receiver, format="both")
    streams_deliver_due()
    (delivered,) = receiver.accepted[-1].payloads
    consumers_rollback(to_block=store.block - 1, chain_id=store.chain_id)
    ChainEvent.objects.filter(block_number__gt=store.block - 1).delete()
    streams_deliver_due()
    (retracted,) = receiver.accepted[-1].payloads
    assert retracted["type"] == "retracted"
    assert retracted["id"] == delivered["id"]
    assert retracted["epcis"]["eventID"] == delivered["epcis"]["eventID"]


def test_the_portal_sets_and_shows_the_format(receiver: Receiver) -> None:
    alpha = member_of(organisation("alpha", 0xA1), "alice")
    assert alpha.post(NEW, form(receiver.url, format="both")).status_code == 200
    subscription = Subscription.objects.get()
    assert subscription.format == "both"
    assert "and its EPCIS 2.0 event" in text(alpha.get(page_of(subscription)))
    assert alpha.post(NEW, form(receiver.url, name="x", format="xml")).status_code == 400
    assert alpha.post(NEW, form(receiver.url, name="y")).status_code == 200
    assert Subscription.objects.get(name="y").format == "rest"
