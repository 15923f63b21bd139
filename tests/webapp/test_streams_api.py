"""The subscriptions API: create (the secret once), list, detail, change, pause, resume,
rewind, rotate, the delivery log, dead letters and their replay, a test event. Bad input
answers a 4xx problem and changes nothing; an organisation never sees another's
subscriptions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from tests.webapp.streams_world import Receiver, Store, json_body, lot_registered, organisation
from webapp.organisations.models import Organisation
from webapp.organisations.services import api_token_create
from webapp.streams.delivery import RETRY_DELAYS, streams_deliver_due
from webapp.streams.models import Message, SigningSecret, Subscription

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

BASE = "/api/v1/subscriptions"


@pytest.fixture(autouse=True)
def _loopback(settings: Any) -> None:
    settings.STREAMS_ALLOW_HTTP_LOOPBACK = True
    settings.STREAMS_ALLOWED_PRIVATE_NETWORKS = []


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver().up()
    yield found
    found.down()


class Api:
    def __init__(self, org: Organisation) -> None:
        self.org = org
        token, _ = api_token_create(organisation=org, name="erp")
        self.client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        self.keys = 0

    def _key(self) -> str:
        self.keys += 1
        return f"key-{self.keys}"

    def post(self, path: str, body: Any = None, *, key: str | None = "") -> Any:
        headers = {} if key is None else {"Idempotency-Key": key or self._key()}
        return self.client.post(path, body or {}, content_type="application/json", headers=headers)

    def get(self, path: str) -> Any:
        return self.client.get(path)

    def patch(self, path: str, body: Any) -> Any:
        return self.client.patch(path, body, content_type="application/json")

    def delete(self, path: str) -> Any:
        return self.client.delete(path)


@pytest.fixture
def alpha() -> Api:
    return Api(organisation("alpha", 0xA1))


@pytest.fixture
def beta() -> Api:
    return Api(organisation("beta", 0xB2))


def create(api: Api, receiver: Receiver, **extra: Any) -> dict[str, Any]:
    response = api.post(BASE, {"name": "erp", "url": receiver.url, "start": "oldest", **extra})
    assert response.status_code == 201, response.content
    body: dict[str, Any] = json_body(response)
    receiver.secrets.append(body["secret"])
    return body


def test_create_shows_the_secret_once_and_an_organisation_sees_only_its_own(
    alpha: Api, beta: Api, receiver: Receiver
) -> None:
    created = create(alpha, receiver, event_types=["LotRegistered"], batch_size=5)
    assert created["secret"].startswith("whsec_")
    assert created["state"] == "active"
    assert created["event_types"] == ["LotRegistered"]
    detail = json_body(alpha.get(created["url"]))
    assert "secret" not in detail
    assert detail["batch_size"] == 5
    listed = json_body(alpha.get(BASE))
    assert [s["id"] for s in listed["results"]] == [created["id"]]
    assert json_body(beta.get(BASE))["results"] == []
    for response in (
        beta.get(created["url"]),
        beta.patch(created["url"], {"name": "mine"}),
        beta.delete(created["url"]),
        beta.post(f"{created['url']}/pause"),
        beta.get(f"{created['url']}/deliveries"),
    ):
        assert response.status_code == 404
        assert response["Content-Type"] == "application/problem+json"
    assert Subscription.objects.get().name == "erp"


def test_the_same_idempotency_key_answers_with_the_same_subscription(
    alpha: Api, receiver: Receiver
) -> None:
    body = {"name": "erp", "url": receiver.url}
    first = json_body(alpha.post(BASE, body, key="once"))
    again = alpha.post(BASE, body, key="once")
    assert json_body(again)["id"] == first["id"]
    assert json_body(again)["secret"] == first["secret"]
    conflict = alpha.post(BASE, {**body, "name": "other"}, key="once")
    assert conflict.status_code == 422
    assert alpha.post(BASE, body, key=None).status_code == 400
    assert Subscription.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "https://10.0.0.5/hook"}, "url"),
        ({"url": "https://169.254.169.254/latest"}, "url"),
        ({"url": "http://example.com/hook"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"event_types": ["NoSuchEvent"]}, "event_types"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 100000}, "batch_size"),
        ({"confirmations": -1}, "confirmations"),
        ({"start": "sequence"}, "sequence"),
        ({"start": "yesterday"}, "start"),
        ({"lot_ids": [0]}, "lot_ids"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_input_is_refused_with_the_reason_and_nothing_is_created(
    alpha: Api, receiver: Receiver, body: dict[str, Any], field: str
) -> None:
    response = alpha.post(BASE, {"name": "erp", "url": receiver.url, **body})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert field in json_body(response)["errors"]
    assert not Subscription.objects.exists()


def test_a_change_is_checked_like_a_create_and_a_refused_one_changes_nothing(
    alpha: Api, receiver: Receiver
) -> None:
    created = create(alpha, receiver)
    refused = alpha.patch(created["url"], {"url": "https://192.168.0.1/", "batch_size": 9})
    assert refused.status_code == 400
    subscription = Subscription.objects.get()
    assert (subscription.url, subscription.batch_size) == (receiver.url, 1)
    changed = alpha.patch(created["url"], {"batch_size": 3, "own_only": True, "ordered": False})
    assert changed.status_code == 200
    assert (json_body(changed)["batch_size"], json_body(changed)["ordered"]) == (3, False)
    assert alpha.delete(created["url"]).status_code == 204
    assert not Subscription.objects.exists()


def test_pause_resume_rewind_and_the_delivery_log(alpha: Api, receiver: Receiver) -> None:
    store = Store()
    beta_org = organisation("beta", 0xB2)
    events = [store.add("LotRegistered", lot_registered(beta_org, i)) for i in range(1, 4)]
    created = create(alpha, receiver)
    url = created["url"]
    assert json_body(alpha.post(f"{url}/pause"))["state"] == "paused"
    streams_deliver_due()
    assert receiver.requests == []
    assert json_body(alpha.post(f"{url}/resume"))["state"] == "active"
    streams_deliver_due()
    assert receiver.sequences() == [e.pk for e in events]
    log = json_body(alpha.get(f"{url}/deliveries"))["results"]
    assert [row["status"] for row in log] == ["delivered"] * 3
    assert log[0]["response_code"] == 200
    forward = alpha.post(f"{url}/rewind", {"to": "sequence", "sequence": events[-1].pk + 5})
    assert forward.status_code == 400
    assert Subscription.objects.get().checkpoint == events[-1].pk
    assert alpha.post(f"{url}/rewind", {"to": "sequence"}).status_code == 400
    rewound = alpha.post(f"{url}/rewind", {"to": "sequence", "sequence": events[1].pk})
    assert json_body(rewound)["checkpoint"] == events[0].pk
    streams_deliver_due()
    assert [p["sequence"] for d in receiver.requests[3:] for p in d.payloads] == [
        e.pk for e in events[1:]
    ]


def test_rotation_returns_a_new_secret_once_and_keeps_the_old_one_for_the_overlap(
    alpha: Api, receiver: Receiver
) -> None:
    created = create(alpha, receiver)
    rotated = json_body(alpha.post(f"{created['url']}/rotate-secret", {"overlap_s": 600}))
    assert rotated["secret"].startswith("whsec_")
    assert rotated["secret"] != created["secret"]
    assert rotated["previous_expires_at"] is not None
    assert SigningSecret.objects.count() == 2
    assert alpha.post(f"{created['url']}/rotate-secret", {"overlap_s": -1}).status_code == 400
    assert SigningSecret.objects.count() == 2


def test_a_test_event_is_signed_and_logged(alpha: Api, receiver: Receiver) -> None:
    created = create(alpha, receiver)
    answer = json_body(alpha.post(f"{created['url']}/test"))
    assert answer["status"] == "delivered"
    assert answer["response_code"] == 200
    (delivery,) = receiver.requests
    assert delivery.body["type"] == "test"
    assert Subscription.objects.get().checkpoint == 0


def test_dead_letters_are_listed_and_replayed_one_or_all(alpha: Api, receiver: Receiver) -> None:
    store = Store()
    beta_org = organisation("beta", 0xB2)
    events = [store.add("LotRegistered", lot_registered(beta_org, i)) for i in range(1, 4)]
    receiver.status_for = lambda payloads: 500
    created = create(alpha, receiver, ordered=False)
    clock = timezone.now()
    streams_deliver_due(now=clock)
    for delay in RETRY_DELAYS[1:]:
        clock += timedelta(seconds=delay)
        streams_deliver_due(now=clock)
    dead = json_body(alpha.get(f"{created['url']}/dead-letters"))["results"]
    assert [d["first_sequence"] for d in dead] == [e.pk for e in events]
    receiver.status_for = lambda payloads: 200
    url = f"{created['url']}/dead-letters"
    assert alpha.post(f"{url}/999999/replay").status_code == 404
    assert json_body(alpha.post(f"{url}/{dead[0]['id']}/replay"))["queued"] == 1
    streams_deliver_due()
    assert receiver.sequences() == [events[0].pk]
    assert json_body(alpha.post(f"{url}/replay"))["queued"] == 2
    streams_deliver_due()
    assert receiver.sequences() == [e.pk for e in events]
    assert not Message.objects.exists()
