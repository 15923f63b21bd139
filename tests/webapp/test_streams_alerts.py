"""Alert events on the streams: a rule breach reaches the webhook (signed, verified by
`standardwebhooks`), live and JetStream subscribers of the organisation whose rule fired
that asked for `alert.raised` / `alert.cleared`, and nobody else."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from django.test import Client as HttpClient

from tests.streams.test_jetstream import NatsServer, read_stream
from tests.webapp.portal_subscriptions import NEW, alpha, create, form  # noqa: F401
from tests.webapp.streams_world import Receiver, Store, lot_registered, organisation
from tests.webapp.test_streams_live import open_socket, server, token_of  # noqa: F401
from webapp.monitoring.alerts import alert_clear
from webapp.monitoring.models import Alert, Rule
from webapp.monitoring.rule_services import rule_create
from webapp.monitoring.services import Measurement, sensor_readings_record
from webapp.organisations.models import Organisation
from webapp.organisations.services import api_token_create, member_invite
from webapp.streams.alerts import alert_event_queue
from webapp.streams.delivery import streams_deliver_due
from webapp.streams.jetstream import JetStreamPublisher
from webapp.streams.jetstream_link import JetStreamConfig, JetStreamLink
from webapp.streams.live import live_subscription_create
from webapp.streams.models import AlertEvent, Message, Subscription
from webapp.streams.services import Start, subscription_create

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

T0 = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
TEMP = "gs1:Temperature"
ALERTS = ["alert.cleared", "alert.raised"]


@pytest.fixture(autouse=True)
def _loopback(settings: Any) -> None:
    settings.STREAMS_ALLOW_HTTP_LOOPBACK = True
    settings.STREAMS_ALLOWED_PRIVATE_NETWORKS = []
    settings.STREAMS_READ_TIMEOUT_S = 5
    settings.OPERATIONS_DISPATCH = False


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver().up()
    yield found
    found.down()


@pytest.fixture
def orgs() -> dict[str, Organisation]:
    return {"a": organisation("alpha", 0xA1), "b": organisation("beta", 0xB2)}


def subscribe(org: Organisation, receiver: Receiver, name: str, **filters: Any) -> Subscription:
    created = subscription_create(
        organisation=org,
        name=name,
        url=receiver.url,
        start=Start("oldest"),
        filters=filters,
        options={},
    )
    receiver.secrets.append(created.secret)
    return created.subscription


def cold_rule(org: Organisation, lot_ids: list[int]) -> Rule:
    return rule_create(
        organisation=org,
        name="vaccines",
        kind="temperature_above",
        threshold=Decimal(8),
        duration_s=0,
        lot_ids=lot_ids,
        quarantine=False,
    )


def breach(lot_ids: list[int], *values: float) -> Alert:
    sensor_readings_record(
        lot_ids=lot_ids,
        measurements=[
            Measurement(
                time=T0 + timedelta(minutes=i),
                type=TEMP,
                value=Decimal(str(v)),
                unit="CEL",
                device_id="logger-1",
            )
            for i, v in enumerate(values)
        ],
        source="device",
    )
    return Alert.objects.order_by("-id").first()  # type: ignore[return-value]


def cleared(alert: Alert, org: Organisation) -> Alert:
    member_invite(organisation=org, username="quality", password="x-long-password-1", is_admin=True)
    user = get_user_model().objects.get(username="quality")
    return alert_clear(alert=alert, user=user, reason="probe outside the box")


def deliver() -> None:
    for _ in range(5):
        if not streams_deliver_due():
            return


def test_a_breach_and_its_clearing_reach_the_opted_in_webhook_only(
    orgs: dict[str, Organisation], receiver: Receiver
) -> None:
    a, b = orgs["a"], orgs["b"]
    wanted = subscribe(a, receiver, "alerts", event_types=ALERTS)
    subscribe(a, receiver, "facts")  # every fact, no alerts
    subscribe(a, receiver, "raised-elsewhere", event_types=["alert.raised"], lot_ids=[999])
    subscribe(b, receiver, "other-org", event_types=ALERTS)
    cold_rule(a, [101, 102])
    alert = breach([101, 102], 7, 9.5, 11.25, 10)
    assert alert is not None
    assert alert.organisation_id == a.pk
    deliver()
    assert receiver.unverified == 0
    assert [d.webhook_id for d in receiver.accepted] == [f"alert_{alert.pk}_raised"]
    (delivery,) = receiver.accepted
    assert delivery.headers["webhook-signature"].startswith("v1,")
    body = delivery.body
    assert body["type"] == "alert.raised"
    data = body["data"]
    assert data["organisation"] == "alpha"
    assert data["alert"]["id"] == alert.pk
    assert data["alert"]["state"] == "open"
    assert data["alert"]["lotIds"] == [101, 102]
    assert data["alert"]["rule"]["threshold"] == "8"
    assert data["alert"]["window"]["maxValue"] == "11.25"
    assert data["alert"]["window"]["minValue"] == "9.5"
    assert data["alert"]["window"]["devices"] == ["logger-1"]
    assert data["links"]["api"] == f"/api/v1/alerts/{alert.pk}"
    # Sent once: no message left, nothing more on the next run.
    assert not Message.objects.filter(subscription=wanted).exists()
    deliver()
    assert len(receiver.requests) == 1

    cleared(alert, a)
    deliver()
    assert [d.webhook_id for d in receiver.accepted][-1] == f"alert_{alert.pk}_cleared"
    last = receiver.accepted[-1].body["data"]
    assert last["type"] == "alert.cleared"
    assert last["alert"]["state"] == "cleared"
    assert last["alert"]["clearReason"] == "probe outside the box"
    assert len(receiver.accepted) == 2
    # A fact subscription's checkpoint is not moved by alerts; nothing was sent to it.
    assert all(p["type"].startswith("alert.") for p in [d.body["data"] for d in receiver.accepted])


def test_an_alert_is_queued_in_the_transaction_that_raises_it(
    orgs: dict[str, Organisation], receiver: Receiver
) -> None:
    subscribe(orgs["a"], receiver, "alerts", event_types=["alert.raised"])
    cold_rule(orgs["a"], [101])
    alert = breach([101], 9)
    assert AlertEvent.objects.filter(event_id=f"alert_{alert.pk}_raised").count() == 1
    assert Message.objects.filter(kind="alerts").count() == 1


def test_a_rolled_back_breach_leaves_no_alert_event_and_a_second_queue_no_double(
    orgs: dict[str, Organisation], receiver: Receiver
) -> None:
    subscribe(orgs["a"], receiver, "alerts", event_types=["alert.raised"])
    cold_rule(orgs["a"], [101])

    def dies_before_the_commit() -> None:
        with transaction.atomic():
            breach([101], 9)
            assert Message.objects.filter(kind="alerts").count() == 1
            raise RuntimeError("the process dies before the commit")

    with pytest.raises(RuntimeError):
        dies_before_the_commit()
    assert not Alert.objects.exists()
    assert not AlertEvent.objects.exists()
    assert not Message.objects.exists()
    alert = breach([101], 9)
    alert_event_queue(alert, "raised")  # queued again: the same event, nothing doubled
    assert AlertEvent.objects.count() == 1
    assert Message.objects.filter(kind="alerts").count() == 1


def test_a_failing_receiver_gets_the_same_webhook_id_again(
    orgs: dict[str, Organisation], receiver: Receiver
) -> None:
    subscribe(orgs["a"], receiver, "alerts", event_types=["alert.raised"])
    cold_rule(orgs["a"], [101])
    answers = iter([500, 200])
    receiver.status_for = lambda payloads: next(answers)
    alert = breach([101], 9)
    streams_deliver_due()
    assert not receiver.accepted
    message = Message.objects.get(kind="alerts")
    assert message.attempts == 1
    streams_deliver_due(now=message.next_attempt_at)
    assert [d.webhook_id for d in receiver.requests] == [f"alert_{alert.pk}_raised"] * 2
    assert len(receiver.accepted) == 1


def api(org: Organisation) -> HttpClient:
    token = api_token_create(organisation=org, name="erp")[0]
    return HttpClient(HTTP_AUTHORIZATION=f"Bearer {token}")


def test_bad_event_type_names_are_refused_with_a_reason(
    orgs: dict[str, Organisation], receiver: Receiver
) -> None:
    client = api(orgs["a"])
    body = {"name": "x", "url": receiver.url, "event_types": ["alert.raised", "alert.exploded"]}
    answer = client.post(
        "/api/v1/subscriptions", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k1"
    )
    assert answer.status_code == 400
    assert "alert.exploded" in answer.content.decode()
    assert not Subscription.objects.exists()
    body["event_types"] = ["alert.raised", "alert.cleared"]
    made = client.post(
        "/api/v1/subscriptions", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k2"
    )
    assert made.status_code == 201, made.content
    assert made.json()["event_types"] == ["alert.cleared", "alert.raised"]


def test_a_live_client_receives_the_alert(
    server: str,  # noqa: F811
    orgs: dict[str, Organisation],
) -> None:
    a, b = orgs["a"], orgs["b"]
    store = Store()
    store.add("LotRegistered", lot_registered(b, 1))  # a public fact before the alert
    subscription = live_subscription_create(
        organisation=a,
        name="live",
        start=Start("oldest"),
        filters={"event_types": ["LotRegistered", "alert.raised"]},
    )
    live_subscription_create(
        organisation=b, name="live", start=Start("oldest"), filters={"event_types": ALERTS}
    )
    cold_rule(a, [101])
    alert = breach([101], 12)
    with open_socket(server, token_of(a)) as client:
        client.start(subscription, 5)
        got = client.events(2)
        assert [e["id"] for e in got] == [f"alert_{alert.pk}_raised", got[1]["id"]]
        assert got[0]["data"]["type"] == "alert.raised"
        assert got[1]["data"]["type"] == "LotRegistered"
        client.ack(got[0]["id"], got[1]["id"])
        assert client.quiet()
    # The other organisation's live subscription holds nothing.
    assert not b.subscriptions.get().live_deliveries.exists()


def test_jetstream_gets_the_alert_on_the_organisations_subject(
    tmp_path: Path, orgs: dict[str, Organisation]
) -> None:
    nats_server = NatsServer(tmp_path)
    nats_server.start()
    config = JetStreamConfig(url=nats_server.url, duplicate_window_s=600, timeout_s=2.0)
    link = JetStreamLink(config)
    try:
        cold_rule(orgs["a"], [101])
        alert = breach([101], 12)
        publisher = JetStreamPublisher(link=link)
        assert publisher.publish_pending(chain_ids=[]) == 1
        assert publisher.publish_pending(chain_ids=[]) == 0  # published once
        (message,) = read_stream(config)
        assert message["subject"] == f"{config.subject_prefix}.org-alpha.alerts"
        assert message["msg_id"] == f"alert_{alert.pk}_raised"
        assert message["body"]["alert"]["id"] == alert.pk
    finally:
        link.close()
        nats_server.stop()


def test_a_server_sent_events_client_receives_alerts_raised_while_connected(
    server: str,  # noqa: F811
    orgs: dict[str, Organisation],
) -> None:
    a = orgs["a"]
    subscription = live_subscription_create(
        organisation=a, name="sse", start=Start("oldest"), filters={"event_types": ALERTS}
    )
    cold_rule(a, [101])
    host, port = server.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(
            "GET",
            f"/streams/sse/{subscription.pk}",
            headers={"Authorization": f"Bearer {token_of(a)}"},
        )
        response = conn.getresponse()
        assert response.status == 200
        # The stream has started (its alert watermark is set) once `retry:` arrives.
        assert response.readline().startswith(b"retry:")
        alert = breach([101], 12)
        line = b""
        while not line.startswith(b"data: "):
            line = response.readline()  # the connection's timeout bounds the wait
            assert not line.startswith(b"id: ")  # alerts carry no sequence
        payload = json.loads(line[6:])
        assert payload["id"] == f"alert_{alert.pk}_raised"
    finally:
        conn.close()


def test_the_portal_form_offers_the_alert_events_and_refuses_unknown_ones(
    alpha: HttpClient,  # noqa: F811
    receiver: Receiver,
) -> None:
    page = alpha.get(NEW).content.decode()
    assert 'value="alert.raised"' in page
    assert 'value="alert.cleared"' in page
    refused = alpha.post(NEW, form(receiver.url, event_types=["alert.exploded"]))
    assert refused.status_code in (200, 400)
    assert "alert.exploded is not one of the available choices" in refused.content.decode()
    assert not Subscription.objects.exists()
    made = create(alpha, receiver, event_types=["alert.raised", "alert.cleared"])
    assert made.event_types == ["alert.cleared", "alert.raised"]
