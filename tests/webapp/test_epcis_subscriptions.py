"""EPCIS query subscriptions (`/epcis/queries/{name}/subscriptions`, webhook form): the
resource as the REST binding describes it, refusals with its exception types, and delivery
of `EPCISQueryDocument`s signed with `GS1-Signature` to a receiver on loopback that checks
the signature itself; visibility as for `GET /epcis/events`; streams and schedules."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.db import connections, transaction
from django.test import Client
from django.utils import timezone

from contracts.chain.domain import Role
from webapp.epcis.columns import event_columns
from webapp.epcis.documents import EPCIS_CONTEXT
from webapp.epcis.hashing import event_hash
from webapp.epcis.models import EpcisEvent
from webapp.epcis.validation import problems
from webapp.organisations.models import ApiToken, Organisation
from webapp.organisations.services import api_token_create, organisation_create
from webapp.streams.epcis_subscriptions import epcis_subscriptions_deliver_due
from webapp.streams.models import DeliveryAttempt, EpcisSubscription, Message, Subscription

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PROBLEM = "application/problem+json"
TOKEN = "13df38d8275b13f05704629e5f1cf3d45d6132d5"
START = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


@dataclass
class Receiver:
    """A callback URL on 127.0.0.1 that verifies `GS1-Signature` with its own HMAC and
    answers `status` (a list is used up one answer per request, then 200)."""

    token: str = TOKEN
    answers: list[int] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)  # verified and 2xx
    bodies: list[bytes] = field(default_factory=list)  # every request
    unverified: int = 0
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/epcis-callback"

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        self.bodies.append(body)
        expected = "sha256=" + hmac.new(self.token.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(headers.get("gs1-signature", ""), expected):
            self.unverified += 1
            return 401
        status = self.answers.pop(0) if self.answers else 200
        if 200 <= status < 300:
            self.documents.append(json.loads(body))
        return status

    def event_ids(self) -> list[str]:
        return [
            e["eventID"]
            for d in self.documents
            for e in d["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        ]

    def up(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                status = receiver.handle(body, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


@pytest.fixture(autouse=True)
def _loopback(settings: Any) -> None:
    settings.STREAMS_ALLOW_HTTP_LOOPBACK = True
    settings.STREAMS_ALLOWED_PRIVATE_NETWORKS = []
    settings.STREAMS_READ_TIMEOUT_S = 5


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver().up()
    yield found
    found.down()


@pytest.fixture
def orgs() -> dict[str, Organisation]:
    out = {
        "mine": organisation_create(name="Mine", roles=Role.MINER, slug="mine"),
        "refinery": organisation_create(name="Refinery", roles=Role.MANUFACTURER, slug="refinery"),
    }
    for number, org in enumerate(out.values(), start=1):
        org.address = "0x" + f"{number:02d}" * 20
        org.save(update_fields=["address"])
    return out


def client_of(organisation: Organisation) -> Client:
    token, _ = api_token_create(organisation=organisation, name="erp", scope=ApiToken.Scope.WRITE)
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def mine(orgs: dict[str, Organisation]) -> Client:
    client = client_of(orgs["mine"])
    query = {"name": "shipments", "query": {"eventType": ["ObjectEvent"]}}
    created = client.post("/epcis/queries", query, content_type="application/json")
    assert created.status_code == 201, created.content
    return client


_serial = iter(range(1, 10_000))


def capture(organisation: Organisation, kind: str = "ObjectEvent") -> EpcisEvent:
    """One event stored as a capture by `organisation` would store it."""
    serial = next(_serial)
    event: dict[str, Any] = {
        "type": kind,
        "eventTime": (START + timedelta(seconds=serial)).isoformat().replace("+00:00", "Z"),
        "eventTimeZoneOffset": "+00:00",
        "action": "OBSERVE" if kind == "ObjectEvent" else "ADD",
        "bizStep": "shipping" if kind == "ObjectEvent" else "packing",
    }
    if kind == "ObjectEvent":
        event["epcList"] = [f"urn:epc:id:sgtin:4012345.011111.{serial}"]
    else:
        event["parentID"] = f"urn:epc:id:sscc:4012345.{serial:010d}"
        event["childEPCs"] = [f"urn:epc:id:sgtin:4012345.011111.{serial}"]
    return EpcisEvent.objects.create(
        event_hash=event_hash(event, [EPCIS_CONTEXT]),
        record_time=timezone.now(),
        document=event,
        source=EpcisEvent.Source.CAPTURED,
        organisation=organisation,
        **event_columns(event),
    )


def subscribe(client: Client, body: dict[str, Any], query: str = "shipments") -> Any:
    return client.post(
        f"/epcis/queries/{query}/subscriptions", body, content_type="application/json"
    )


def deliver(rounds: int = 3, *, now: datetime | None = None) -> int:
    """A few delivery runs (for what must not arrive)."""
    return sum(epcis_subscriptions_deliver_due(now=now) for _ in range(rounds))


def deliver_until(done: Callable[[], bool], *, now: datetime | None = None) -> None:
    """Delivery runs until `done()`, within a deadline. An event goes out once every
    transaction open when it was seen has ended (this server's other sessions too), so
    it may take more than one run."""
    deadline = time.monotonic() + 30
    while True:
        epcis_subscriptions_deliver_due(now=now)
        if done():
            return
        if time.monotonic() > deadline:
            raise AssertionError("the expected delivery did not happen in 30 s")
        time.sleep(0.05)


def eid(event: EpcisEvent) -> str:
    return event.event_id or event.event_hash


def test_a_subscription_is_created_listed_read_and_deleted(
    mine: Client, orgs: dict[str, Organisation], receiver: Receiver
) -> None:
    created = subscribe(mine, {"dest": receiver.url, "signatureToken": TOKEN, "stream": True})
    assert created.status_code == 201, created.content
    body = created.json()
    location = created["Location"]
    assert location.endswith(f"/epcis/queries/shipments/subscriptions/{body['subscriptionID']}")
    assert body["stream"] is True
    assert body["dest"] == receiver.url
    assert body["queryName"] == "shipments"
    assert "createdAt" in body
    assert "signatureToken" not in json.dumps(body)
    assert TOKEN not in json.dumps(body)
    listed = mine.get("/epcis/queries/shipments/subscriptions")
    assert listed.status_code == 200
    assert listed.json() == [body]
    assert mine.get(location).json() == body
    # Another organisation sees neither the query nor its subscriptions.
    other = client_of(orgs["refinery"])
    assert other.get(location).status_code == 404
    assert other.delete(location).status_code == 404
    # The webhooks API keeps to webhook subscriptions.
    webhooks = mine.get("/api/v1/subscriptions")
    assert webhooks.status_code == 200
    assert webhooks.json()["results"] == []
    assert mine.get(f"/api/v1/subscriptions/{body['subscriptionID']}").status_code == 404
    assert mine.delete(location).status_code == 204
    assert mine.get(location).status_code == 404
    assert mine.get("/epcis/queries/shipments/subscriptions").json() == []
    assert not Subscription.objects.exists()
    assert not EpcisSubscription.objects.exists()


def test_a_scheduled_subscription_reads_back_its_schedule(mine: Client, receiver: Receiver) -> None:
    schedule = {"hour": "1", "minute": "5"}
    created = subscribe(mine, {"dest": receiver.url, "reportIfEmpty": True, "schedule": schedule})
    assert created.status_code == 201, created.content
    body = mine.get(created["Location"]).json()
    assert body["schedule"] == schedule
    assert body["reportIfEmpty"] is True
    assert "stream" not in body
    row = EpcisSubscription.objects.get()
    assert row.next_run_at is not None
    assert (row.next_run_at.hour, row.next_run_at.minute, row.next_run_at.second) == (1, 5, 0)


@pytest.mark.parametrize(
    ("body", "kind", "says"),
    [
        ({"stream": True}, "ValidationException", "dest"),
        ({"dest": "http://93.184.215.14/hook", "stream": True}, "ValidationException", "https"),
        ({"dest": "https://10.1.2.3/hook", "stream": True}, "ValidationException", "private"),
        ({"dest": "https://[::1", "stream": True}, "ValidationException", "not valid"),
        ({"dest": "{url}"}, "SubscriptionControlsException", "either"),
        ({"dest": "{url}", "stream": False}, "SubscriptionControlsException", "stream"),
        (
            {"dest": "{url}", "stream": True, "schedule": {"hour": "1"}},
            "SubscriptionControlsException",
            "either",
        ),
        (
            {"dest": "{url}", "schedule": {"second": "0/30"}},
            "SubscriptionControlsException",
            "0/30",
        ),
        ({"dest": "{url}", "schedule": {"minute": "*"}}, "SubscriptionControlsException", "'*'"),
        ({"dest": "{url}", "schedule": {"hour": "24"}}, "SubscriptionControlsException", "0 to 23"),
        ({"dest": "{url}", "schedule": {"week": "1"}}, "SubscriptionControlsException", "week"),
        ({"dest": "{url}", "schedule": {}}, "SubscriptionControlsException", "at least one"),
        (
            {"dest": "{url}", "schedule": {"month": "2", "dayOfMonth": "30"}},
            "SubscriptionControlsException",
            "never",
        ),
        (
            {"dest": "{url}", "stream": True, "reportIfEmpty": True},
            "SubscriptionControlsException",
            "reportIfEmpty",
        ),
        ({"dest": "{url}", "stream": True, "secret": "x"}, "ValidationException", "secret"),
        ({"dest": "{url}", "stream": True, "signatureToken": 5}, "ValidationException", "Token"),
        (
            {"dest": "{url}", "stream": True, "initialRecordTime": "yesterday"},
            "ValidationException",
            "initialRecordTime",
        ),
    ],
)
def test_a_bad_body_is_refused_with_the_bindings_exception_and_nothing_made(
    mine: Client, receiver: Receiver, body: dict[str, Any], kind: str, says: str
) -> None:
    if body.get("dest") == "{url}":
        body = {**body, "dest": receiver.url}
    refused = subscribe(mine, body)
    assert refused.status_code == 400, refused.content
    assert refused["Content-Type"] == PROBLEM
    problem = refused.json()
    assert problem["type"] == f"epcisException:{kind}"
    assert says in problem["detail"]
    assert not Subscription.objects.exists()


def test_an_unknown_query_is_not_found_and_a_body_that_is_no_object_is_refused(
    mine: Client, receiver: Receiver
) -> None:
    missing = subscribe(mine, {"dest": receiver.url, "stream": True}, query="nothing")
    assert missing.status_code == 404
    assert missing["Content-Type"] == PROBLEM
    assert missing.json()["type"] == "epcisException:NoSuchResourceException"
    listed = mine.get("/epcis/queries/nothing/subscriptions")
    assert listed.status_code == 404
    wrong = mine.post(
        "/epcis/queries/shipments/subscriptions", "[1]", content_type="application/json"
    )
    assert wrong.status_code == 400
    assert wrong.json()["type"] == "epcisException:ValidationException"
    unknown = mine.get("/epcis/queries/shipments/subscriptions/not-a-uuid")
    assert unknown.status_code == 404
    assert not Subscription.objects.exists()


def test_a_stream_sends_the_matching_visible_events_stored_after_it_signed_and_valid(
    mine: Client, orgs: dict[str, Organisation], receiver: Receiver
) -> None:
    before = capture(orgs["mine"])
    created = subscribe(mine, {"dest": receiver.url, "signatureToken": TOKEN, "stream": True})
    subscription_id = created.json()["subscriptionID"]
    first = capture(orgs["mine"])
    capture(orgs["mine"], "AggregationEvent")  # not what the query asks for
    capture(orgs["refinery"])  # the mine may not see it
    second = capture(orgs["mine"])
    deliver_until(lambda: len(receiver.event_ids()) >= 2)
    assert len(receiver.documents) == 1
    assert receiver.unverified == 0
    assert receiver.event_ids() == [eid(first), eid(second)]
    assert eid(before) not in receiver.event_ids()
    document = receiver.documents[0]
    assert problems(document) == []
    assert document["type"] == "EPCISQueryDocument"
    results = document["epcisBody"]["queryResults"]
    assert results["subscriptionID"] == subscription_id
    assert results["queryName"] == "shipments"
    # Nothing more until more is stored; then only the new event.
    assert deliver() == 0
    third = capture(orgs["mine"])
    deliver_until(lambda: len(receiver.event_ids()) >= 3)
    assert receiver.event_ids() == [eid(first), eid(second), eid(third)]
    shown = mine.get(created["Location"]).json()
    assert "lastNotifiedAt" in shown


def test_an_initial_record_time_sends_the_stored_events_recorded_since_then_first(
    mine: Client, orgs: dict[str, Organisation], receiver: Receiver
) -> None:
    old = capture(orgs["mine"])
    EpcisEvent.objects.filter(pk=old.pk).update(record_time=START - timedelta(days=1))
    recent = capture(orgs["mine"])
    created = subscribe(
        mine,
        {
            "dest": receiver.url,
            "signatureToken": TOKEN,
            "stream": True,
            "initialRecordTime": START.isoformat(),
        },
    )
    assert created.json()["initialRecordTime"] == "2026-12-02T09:00:00.000Z"
    after = capture(orgs["mine"])
    deliver_until(lambda: len(receiver.event_ids()) >= 2)
    assert receiver.event_ids() == [eid(recent), eid(after)]


def test_an_event_still_being_stored_below_a_stored_one_is_waited_for_not_skipped(
    mine: Client, orgs: dict[str, Organisation], receiver: Receiver
) -> None:
    subscribe(mine, {"dest": receiver.url, "signatureToken": TOKEN, "stream": True})
    inserted, release = threading.Event(), threading.Event()
    slow: list[EpcisEvent] = []

    def capture_slowly() -> None:
        try:
            with transaction.atomic():
                slow.append(capture(orgs["mine"]))
                inserted.set()
                assert release.wait(timeout=30)
        finally:
            connections.close_all()

    worker = threading.Thread(target=capture_slowly)
    worker.start()
    assert inserted.wait(timeout=30)
    later = capture(orgs["mine"])  # a higher id, visible before the lower one
    deliver()
    assert receiver.event_ids() == []  # the open transaction holds the stream back
    release.set()
    worker.join(timeout=30)
    assert not worker.is_alive()
    deliver_until(lambda: len(receiver.event_ids()) >= 2)
    assert receiver.event_ids() == [eid(slow[0]), eid(later)]


def test_a_failing_receiver_gets_the_same_document_again_on_the_webhook_schedule(
    mine: Client, orgs: dict[str, Organisation], receiver: Receiver
) -> None:
    subscribe(mine, {"dest": receiver.url, "signatureToken": TOKEN, "stream": True})
    event = capture(orgs["mine"])
    receiver.answers = [500]
    now = timezone.now()
    deliver_until(lambda: len(receiver.bodies) >= 1, now=now)
    assert receiver.documents == []
    assert len(receiver.bodies) == 1
    failed = DeliveryAttempt.objects.get()
    assert failed.status == DeliveryAttempt.Status.FAILED
    assert failed.response_code == 500
    assert failed.next_attempt_at == now + timedelta(seconds=5)
    later = capture(orgs["mine"])
    deliver(now=now + timedelta(seconds=4))
    assert len(receiver.bodies) == 1  # not due yet, and nothing overtakes it
    deliver_until(lambda: len(receiver.event_ids()) >= 2, now=now + timedelta(seconds=5))
    assert receiver.bodies[1] == receiver.bodies[0]  # the same bytes again
    assert receiver.event_ids() == [eid(event), eid(later)]


def test_410_disables_the_subscription(
    mine: Client, orgs: dict[str, Organisation], receiver: Receiver
) -> None:
    subscribe(mine, {"dest": receiver.url, "signatureToken": TOKEN, "stream": True})
    capture(orgs["mine"])
    receiver.answers = [410]
    deliver_until(lambda: len(receiver.bodies) >= 1)
    subscription = Subscription.objects.get()
    assert subscription.state == Subscription.State.DISABLED
    assert "410" in subscription.disabled_reason
    capture(orgs["mine"])
    deliver()
    assert len(receiver.bodies) == 1


def test_a_schedule_sends_what_is_new_at_its_times_and_empty_runs_only_if_asked(
    mine: Client, orgs: dict[str, Organisation], receiver: Receiver
) -> None:
    quiet = Receiver().up()
    try:
        schedule = {"minute": "[0-59]", "second": "0"}  # every minute on the minute
        subscribe(mine, {"dest": receiver.url, "signatureToken": TOKEN, "schedule": schedule})
        body = {"dest": quiet.url, "signatureToken": TOKEN, "schedule": schedule}
        subscribe(mine, {**body, "reportIfEmpty": False})
        reporting = EpcisSubscription.objects.get(subscription__url=receiver.url)
        EpcisSubscription.objects.filter(pk=reporting.pk).update(report_if_empty=True)
        run = EpcisSubscription.objects.get(pk=reporting.pk).next_run_at
        assert run is not None
        assert run.second == 0
        # The first run finds nothing: an empty document only where reportIfEmpty.
        deliver_until(lambda: len(receiver.documents) >= 1, now=run)
        assert len(receiver.documents) == 1
        assert receiver.event_ids() == []
        assert problems(receiver.documents[0]) == []
        assert quiet.bodies == []
        # Stored between runs: sent at the next run, not before.
        stored = [capture(orgs["mine"]), capture(orgs["mine"])]
        capture(orgs["refinery"])
        deliver(now=run + timedelta(seconds=30))
        assert len(receiver.documents) == 1
        assert quiet.bodies == []
        deliver_until(
            lambda: len(receiver.event_ids()) >= 2 and len(quiet.event_ids()) >= 2,
            now=run + timedelta(minutes=1),
        )
        assert receiver.event_ids() == [eid(e) for e in stored]
        assert quiet.event_ids() == [eid(e) for e in stored]
        assert all(problems(d) == [] for d in receiver.documents + quiet.documents)
    finally:
        quiet.down()


def test_deleting_the_named_query_unsubscribes_its_subscriptions(
    mine: Client, orgs: dict[str, Organisation], receiver: Receiver
) -> None:
    subscribe(mine, {"dest": receiver.url, "signatureToken": TOKEN, "stream": True})
    assert mine.delete("/epcis/queries/shipments").status_code == 204
    assert not EpcisSubscription.objects.exists()
    capture(orgs["mine"])
    deliver()
    assert receiver.bodies == []
    assert not Subscription.objects.exists()
    assert not Message.objects.exists()
