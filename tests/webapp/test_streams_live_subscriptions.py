"""Live subscriptions made through the API and the portal (as webhooks are), read over a
real WebSocket; and what a reorganisation does to live and EPCIS subscriptions: the facts
they already received come again as retractions (live: `retracted` events acknowledged
like any other; EPCIS: the events again with an `errorDeclaration`, reason
`did_not_occur`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.webapp.portal_subscriptions import NEW, form, member_of, page_of, text
from tests.webapp.streams_world import Store, json_body, lot_registered, organisation
from tests.webapp.test_epcis_subscriptions import TOKEN, deliver_until, subscribe
from tests.webapp.test_epcis_subscriptions import Receiver as EpcisReceiver
from tests.webapp.test_streams_api import BASE, Api
from tests.webapp.test_streams_live import open_socket, server, token_of
from webapp.chain.models import ChainEvent
from webapp.chain.pipeline import consumers_rollback
from webapp.epcis.consumers import chain_facts_record
from webapp.epcis.models import EpcisEvent
from webapp.epcis.validation import problems
from webapp.streams.live import live_ack, live_claim
from webapp.streams.models import LiveDelivery, Subscription
from webapp.streams.selectors import subscription_view
from webapp.streams.services import Start, subscription_create

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

__all__ = ["server"]  # the uvicorn fixture, shared with the live tests


@pytest.fixture(autouse=True)
def _loopback(settings: Any) -> None:
    settings.STREAMS_ALLOW_HTTP_LOOPBACK = True
    settings.STREAMS_ALLOWED_PRIVATE_NETWORKS = []
    settings.STREAMS_READ_TIMEOUT_S = 5


@pytest.fixture
def epcis_receiver() -> Iterator[EpcisReceiver]:
    found = EpcisReceiver().up()
    yield found
    found.down()


def test_the_api_makes_a_live_subscription_that_a_websocket_reads(server: str) -> None:
    alpha = Api(organisation("alpha", 0xA1))
    store = Store()
    events = [store.add("LotRegistered", lot_registered(alpha.org, lot)) for lot in (1, 2)]
    response = alpha.post(
        BASE, {"name": "dash", "transport": "websocket", "start": "oldest", "format": "both"}
    )
    assert response.status_code == 201, response.content
    created = json_body(response)
    assert created["transport"] == "websocket"
    assert created["secret"] is None
    assert created["destination"] == ""
    assert created["format"] == "both"
    assert [s["id"] for s in json_body(alpha.get(BASE))["results"]] == [created["id"]]
    # What only a webhook has is refused, and changes nothing.
    url = created["url"]
    assert alpha.post(f"{url}/rotate-secret").status_code == 400
    assert alpha.post(f"{url}/test").status_code == 400
    assert alpha.patch(url, {"url": "https://erp.example.com/hooks"}).status_code == 400
    assert alpha.patch(url, {"ed25519": True}).status_code == 400
    assert json_body(alpha.patch(url, {"confirmations": 0, "name": "board"}))["name"] == "board"
    # A webhook still needs its URL; a live one refuses one.
    assert alpha.post(BASE, {"name": "x"}).status_code == 400
    refused = alpha.post(BASE, {"name": "x", "transport": "websocket", "url": "https://a.example"})
    assert refused.status_code == 400
    assert Subscription.objects.count() == 1

    subscription = Subscription.objects.get()
    with open_socket(server, token_of(alpha.org)) as ws:
        ws.start(subscription, read_ahead=5)
        got = ws.events(2)
        assert [m["sequence"] for m in got] == [e.pk for e in events]
        assert got[0]["data"]["epcis"]["type"] == "ObjectEvent"
        assert ws.ack(*(m["id"] for m in got)) == events[-1].pk


def test_the_portal_makes_and_changes_a_live_subscription() -> None:
    alice = member_of(organisation("alpha", 0xA1), "alice")
    response = alice.post(NEW, form("", transport="websocket", format="epcis"))
    assert response.status_code == 302, text(response)
    subscription = Subscription.objects.get()
    assert subscription.transport == "websocket"
    assert subscription.format == "epcis"
    assert not subscription.secrets.exists()
    page = text(alice.get(page_of(subscription)))
    assert "/streams/ws" in page
    assert f"/streams/sse/{subscription.pk}" in page
    assert 'id="send-test"' not in page
    assert 'id="rotate"' not in page
    assert "read live" in text(alice.get("/subscriptions"))
    edit = f"{page_of(subscription)}/edit"
    assert 'name="url"' not in text(alice.get(edit))
    changed = alice.post(
        edit, {"name": "board", "confirmations": "2", "format": "rest", "batch_size": "1"}
    )
    assert changed.status_code == 302, text(changed)
    subscription.refresh_from_db()
    assert (subscription.name, subscription.confirmations) == ("board", 2)
    # A webhook made by the same form still needs its URL.
    assert alice.post(NEW, form("", name="hooks")).status_code == 400
    assert alice.post(NEW, form("", name="x", transport="websocket", ed25519="on")).status_code == (
        400
    )


def test_a_reorganisation_retracts_what_a_live_subscription_was_sent() -> None:
    alpha = organisation("alpha", 0xA1)
    store = Store()
    kept = store.add("LotRegistered", lot_registered(alpha, 1))
    fork = kept.block_number
    gone = [store.add("LotRegistered", lot_registered(alpha, lot)) for lot in (2, 3, 4)]
    subscription = subscription_create(
        organisation=alpha,
        name="dash",
        url="",
        start=Start("oldest"),
        filters={},
        options={},
        transport=Subscription.Transport.WEBSOCKET,
    ).subscription
    view = subscription_view(subscription=subscription)
    sent = live_claim(subscription=subscription, view=view, owner="one", read_ahead=10)
    assert [e.sequence for e in sent] == [kept.pk, *(e.pk for e in gone)]
    # One removed fact acknowledged, two still held by the connection.
    live_ack(subscription=subscription, owner="one", event_ids=[sent[0].event_id, sent[1].event_id])

    consumers_rollback(chain_id=store.chain_id, to_block=fork)
    ChainEvent.objects.filter(block_number__gt=fork).delete()
    store.block = fork
    fresh = store.add("LotRegistered", lot_registered(alpha, 5))

    after = live_claim(subscription=subscription, view=view, owner="two", read_ahead=10)
    assert [e.event_id for e in after] == [
        *(f"{e.data['id']}_retracted" for e in sent[1:]),
        after[-1].event_id,
    ]
    assert [e.data["type"] for e in after] == ["retracted"] * 3 + ["LotRegistered"]
    assert [e.data["retractedType"] for e in after[:3]] == ["LotRegistered"] * 3
    assert not any(e.redelivery for e in after)
    assert after[-1].sequence == fresh.pk
    checkpoint = live_ack(
        subscription=subscription, owner="two", event_ids=[e.event_id for e in after]
    )
    assert checkpoint == fresh.pk
    assert not LiveDelivery.objects.filter(subscription=subscription).exists()


def test_a_reorganisation_declares_delivered_epcis_events_in_error(
    epcis_receiver: EpcisReceiver,
) -> None:
    alpha = organisation("alpha", 0xA1)
    store = Store()
    kept = store.add("LotRegistered", lot_registered(alpha, 1))
    gone = store.add("LotRegistered", lot_registered(alpha, 2))
    api = Api(alpha)
    query = {"name": "lots", "query": {"eventType": ["ObjectEvent"]}}
    assert (
        api.client.post("/epcis/queries", query, content_type="application/json").status_code == 201
    )
    created = subscribe(
        api.client, {"dest": epcis_receiver.url, "signatureToken": TOKEN, "stream": True}, "lots"
    )
    assert created.status_code == 201, created.content
    chain_facts_record(chain_id=store.chain_id, events=[kept, gone])  # after: a stream starts now
    deliver_until(lambda: len(epcis_receiver.event_ids()) == 2)
    removed = EpcisEvent.objects.get(block_number=gone.block_number)

    consumers_rollback(chain_id=store.chain_id, to_block=kept.block_number)
    EpcisEvent.objects.filter(block_number__gt=kept.block_number).delete()
    ChainEvent.objects.filter(block_number__gt=kept.block_number).delete()
    deliver_until(lambda: len(epcis_receiver.documents) == 2)

    declared = epcis_receiver.documents[-1]
    assert problems(declared) == []
    (event,) = declared["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert event["eventID"] == (removed.event_id or removed.event_hash)
    assert event["errorDeclaration"]["reason"] == "did_not_occur"
    assert "declarationTime" in event["errorDeclaration"]
    assert epcis_receiver.unverified == 0
