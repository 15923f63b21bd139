"""Live streams over a real uvicorn serving `webapp.streams.asgi:app` in a thread, with the
`websockets` client and plain HTTP for Server-Sent Events: readAhead flow control, acks
moving the checkpoint over the acknowledged prefix, redelivery after a reconnect, two
connections sharing one subscription, SSE order and resume, and the refusals.

Every wait has a deadline; "nothing more arrives" is a bounded wait over several polls."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import uvicorn
from django.core.management import CommandError, call_command
from django.utils import timezone
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.webapp.streams_world import Store, handoff, lot_registered, organisation
from webapp.chain.models import ChainEvent
from webapp.organisations.models import ApiToken, Organisation
from webapp.organisations.services import api_token_create
from webapp.streams import asgi
from webapp.streams.live import (
    LEASE,
    LiveProtocolError,
    live_ack,
    live_claim,
    live_read,
    live_renew,
    live_subscription_create,
)
from webapp.streams.models import LiveDelivery, Subscription
from webapp.streams.selectors import SubscriptionView, subscription_view
from webapp.streams.services import Start, subscription_pause, subscription_rewind

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

WAIT_S = 10.0
#: Long enough for several polls of the server (POLL_S is set to 0.05 below).
QUIET_S = 0.6


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(asgi, "POLL_S", 0.05)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(asgi.app, host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not running.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"127.0.0.1:{port}"
    running.should_exit = True
    thread.join(WAIT_S)
    assert not thread.is_alive()


@pytest.fixture
def world() -> dict[str, Any]:
    a = organisation("alpha", 0xA1)
    b = organisation("beta", 0xB2)
    c = organisation("gamma", 0xC3)
    store = Store()
    subscription = live_subscription_create(organisation=a, name="erp", start=Start("oldest"))
    visible = []
    for lot in range(1, 7):
        visible.append(store.add("LotRegistered", lot_registered(b, lot)))  # public
        if lot == 3:
            store.add("HandoffInitiated", handoff(b, c, 50))  # not a's
    return {
        "a": a,
        "b": b,
        "store": store,
        "subscription": subscription,
        "visible": [e.pk for e in visible],
        "token_a": token_of(a),
        "token_b": token_of(b),
    }


def token_of(org: Organisation) -> str:
    return api_token_create(organisation=org, name="erp")[0]


class Client:
    """A WebSocket client that keeps events arriving between a request and its answer
    (the server pumps events while it answers) for the next `events` call."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.buffered: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any] | str) -> None:
        self.ws.send(message if isinstance(message, str) else json.dumps(message))

    def receive(self, timeout: float = WAIT_S) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.ws.recv(timeout=timeout))
        return found

    def answer(self) -> dict[str, Any]:
        """The next message that is not an event."""
        while True:
            message = self.receive()
            if message["type"] != "event":
                return message
            self.buffered.append(message)

    def events(self, count: int) -> list[dict[str, Any]]:
        while len(self.buffered) < count:
            message = self.receive()
            assert message["type"] == "event", message
            self.buffered.append(message)
        out, self.buffered = self.buffered[:count], self.buffered[count:]
        return out

    def quiet(self) -> bool:
        """Nothing arrives within QUIET_S."""
        if self.buffered:
            return False
        try:
            self.buffered.append(self.receive(timeout=QUIET_S))
        except TimeoutError:
            return True
        return False

    def start(self, subscription: Subscription, read_ahead: int) -> dict[str, Any]:
        self.send({"type": "start", "subscription": str(subscription.pk), "readAhead": read_ahead})
        started = self.answer()
        assert started["type"] == "started", started
        return started

    def ack(self, *ids: str) -> int:
        self.send({"type": "ack", "ids": list(ids)})
        acked = self.answer()
        assert acked["type"] == "acked", acked
        return int(acked["checkpoint"])


@contextlib.contextmanager
def open_socket(host: str, token: str) -> Iterator[Client]:
    with connect(
        f"ws://{host}/streams/ws",
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=WAIT_S,
        close_timeout=WAIT_S,
    ) as ws:
        yield Client(ws)


def checkpoint_of(subscription: Subscription) -> int:
    subscription.refresh_from_db()
    return subscription.checkpoint


def test_a_connection_holds_at_most_read_ahead_and_acks_move_the_checkpoint(
    server: str, world: dict[str, Any]
) -> None:
    subscription, visible = world["subscription"], world["visible"]
    with open_socket(server, world["token_a"]) as ws:
        ws.start(subscription, read_ahead=2)
        first = ws.events(2)
        assert [m["sequence"] for m in first] == visible[:2]
        assert first[0]["data"]["type"] == "LotRegistered"
        assert first[0]["id"] == first[0]["data"]["id"]
        assert ws.quiet()
        assert checkpoint_of(subscription) == visible[0] - 1

        # Acking the second only: the first still holds the checkpoint back.
        assert ws.ack(first[1]["id"]) == visible[0] - 1
        held = ws.events(1)
        assert held[0]["sequence"] == visible[2]
        assert ws.quiet()
        assert ws.ack(first[0]["id"]) == visible[1]
        assert checkpoint_of(subscription) == visible[1]

        # The rest, acking the oldest held each time; the invisible event is never sent.
        got = [held[0]["sequence"]]
        while got[-1] != visible[-1]:
            message = ws.events(1)[0]
            got.append(message["sequence"])
            ws.ack(held.pop(0)["id"])
            held.append(message)
        assert got == visible[2:]
        assert ws.ack(held[0]["id"]) == visible[-1]
    assert checkpoint_of(subscription) == visible[-1]
    assert not LiveDelivery.objects.filter(subscription=subscription).exists()


def test_unacked_events_come_again_after_a_reconnect(server: str, world: dict[str, Any]) -> None:
    subscription, visible = world["subscription"], world["visible"]
    with open_socket(server, world["token_a"]) as ws:
        ws.start(subscription, read_ahead=3)
        first = ws.events(3)
        assert ws.ack(first[0]["id"]) == visible[0]
        assert not ws.events(1)[0]["redelivery"]  # the fourth, not acked either
    with open_socket(server, world["token_a"]) as ws:
        ws.start(subscription, read_ahead=3)
        again = ws.events(3)
        assert [m["sequence"] for m in again] == visible[1:4]
        assert all(m["redelivery"] for m in again)
        assert [m["id"] for m in again[:2]] == [m["id"] for m in first[1:]]
    assert checkpoint_of(subscription) == visible[0]


def test_two_connections_share_a_subscription_without_overlap(
    server: str, world: dict[str, Any]
) -> None:
    subscription, visible = world["subscription"], world["visible"]
    with open_socket(server, world["token_a"]) as one, open_socket(server, world["token_a"]) as two:
        one.start(subscription, read_ahead=2)
        two.start(subscription, read_ahead=2)
        held = {one: one.events(2), two: two.events(2)}
        seen = [m["sequence"] for m in held[one] + held[two]]
        assert len(set(seen)) == 4
        assert one.quiet()
        assert two.quiet()
        for ws, messages in held.items():
            for message in messages:
                ws.ack(message["id"])
        # Each may hold two more now: the last two go to one or the other.
        deadline = time.monotonic() + WAIT_S
        while len(seen) < len(visible):
            assert time.monotonic() < deadline, seen
            for ws in (one, two):
                if ws.quiet():
                    continue
                message = ws.events(1)[0]
                seen.append(message["sequence"])
                ws.ack(message["id"])
        assert sorted(seen) == visible
        assert one.quiet()
        assert two.quiet()
    assert checkpoint_of(subscription) == visible[-1]


def test_another_organisations_token_cannot_start_the_subscription(
    server: str, world: dict[str, Any]
) -> None:
    with open_socket(server, world["token_b"]) as ws:
        ws.send({"type": "start", "subscription": str(world["subscription"].pk)})
        refusal = ws.receive()
        assert refusal["type"] == "protocol_error"
        assert "has no subscription" in refusal["error"]
        with pytest.raises(ConnectionClosed) as closed:
            ws.receive()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4403
    assert not LiveDelivery.objects.exists()


@pytest.mark.parametrize("kind", ["unknown", "read-only"])
def test_an_unknown_or_read_only_token_is_refused_with_4401(
    server: str, world: dict[str, Any], kind: str
) -> None:
    token = "pvn_not-a-token"
    if kind == "read-only":
        token = api_token_create(organisation=world["a"], name="bi", scope=ApiToken.Scope.READ)[0]
    with open_socket(server, token) as ws:
        assert "read-and-write token" in ws.receive()["error"]
        with pytest.raises(ConnectionClosed) as closed:
            ws.receive()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4401


def test_bad_messages_get_an_error_and_the_connection_stays_usable(
    server: str, world: dict[str, Any]
) -> None:
    subscription = world["subscription"]
    with open_socket(server, world["token_a"]) as ws:
        for bad in (
            "not json",
            "[1]",
            json.dumps({"type": "nope"}),
            json.dumps({"type": "ack", "id": "evt_x"}),  # before start
            json.dumps({"type": "start", "subscription": str(subscription.pk), "readAhead": 0}),
            json.dumps({"type": "start"}),
        ):
            ws.send(bad)
            answer = ws.answer()
            assert answer["type"] == "protocol_error", (bad, answer)
        ws.start(subscription, read_ahead=1)
        message = ws.events(1)[0]
        for bad_ack in ({"type": "ack", "id": "evt_unknown"}, {"type": "ack", "ids": []}):
            ws.send(bad_ack)
            assert ws.answer()["type"] == "protocol_error"
        ws.send({"type": "start", "subscription": str(subscription.pk)})
        assert "already started" in ws.answer()["error"]
        assert checkpoint_of(subscription) == message["sequence"] - 1
        ws.send({"type": "ack"})  # the oldest held
        assert ws.answer()["checkpoint"] == message["sequence"]
        assert ws.events(1)[0]["sequence"] == world["visible"][1]


def sse_read(host: str, path: str, headers: dict[str, str], count: int) -> list[dict[str, Any]]:
    """The first `count` events of a Server-Sent Events stream (id and data)."""
    host_name, port = host.split(":")
    conn = http.client.HTTPConnection(host_name, int(port), timeout=WAIT_S)
    try:
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        assert response.status == 200, response.read()
        assert response.getheader("content-type", "").startswith("text/event-stream")
        found: list[dict[str, Any]] = []
        event: dict[str, Any] = {}
        while len(found) < count:
            line = response.fp.readline().decode().rstrip("\n")
            if line.startswith("id: "):
                event["id"] = int(line[4:])
            elif line.startswith("data: "):
                event["data"] = json.loads(line[6:])
            elif line == "" and "data" in event:
                found.append(event)
                event = {}
        return found
    finally:
        conn.close()


def test_server_sent_events_arrive_in_order_and_resume_from_last_event_id(
    server: str, world: dict[str, Any]
) -> None:
    subscription, visible = world["subscription"], world["visible"]
    path = f"/streams/sse/{subscription.pk}"
    auth = {"Authorization": f"Bearer {world['token_a']}"}
    first = sse_read(server, path, auth, 3)
    assert [e["id"] for e in first] == visible[:3]
    assert [e["data"]["sequence"] for e in first] == visible[:3]
    rest = sse_read(server, path, {**auth, "Last-Event-ID": str(first[-1]["id"])}, 3)
    assert [e["id"] for e in rest] == visible[3:]
    # A browser's EventSource cannot send headers: the token in the query.
    by_query = sse_read(server, f"{path}?token={world['token_a']}", {}, 1)
    assert by_query[0]["id"] == visible[0]
    # SSE leases nothing: the WebSocket consumers' state is untouched.
    assert checkpoint_of(subscription) == 0
    assert not LiveDelivery.objects.exists()


def test_server_sent_events_refusals(server: str, world: dict[str, Any]) -> None:
    host_name, port = server.split(":")
    path = f"/streams/sse/{world['subscription'].pk}"
    cases = [
        ({}, 401),
        ({"Authorization": f"Bearer {world['token_b']}"}, 404),
        ({"Authorization": f"Bearer {world['token_a']}", "Last-Event-ID": "x1"}, 400),
    ]
    for headers, status in cases:
        conn = http.client.HTTPConnection(host_name, int(port), timeout=WAIT_S)
        try:
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            assert response.status == status, headers
            assert json.loads(response.read())["detail"]
        finally:
            conn.close()


def view_of(subscription: Subscription) -> SubscriptionView:
    return subscription_view(subscription=subscription)


def test_a_dead_connections_lease_runs_out_and_another_takes_its_events(
    world: dict[str, Any],
) -> None:
    subscription, visible = world["subscription"], world["visible"]
    view = view_of(subscription)
    now = timezone.now()
    taken = live_claim(subscription=subscription, view=view, owner="dead", read_ahead=2, now=now)
    assert [e.sequence for e in taken] == visible[:2]
    alive = live_claim(subscription=subscription, view=view, owner="alive", read_ahead=2, now=now)
    assert [e.sequence for e in alive] == visible[2:4]
    later = now + LEASE + timedelta(seconds=1)
    # "alive" renews; "dead" never does, so its two go to the next asking, oldest first.
    live_renew(subscription=subscription, owner="alive", now=later - timedelta(seconds=2))
    again = live_claim(subscription=subscription, view=view, owner="next", read_ahead=3, now=later)
    assert [e.sequence for e in again] == [*visible[:2], visible[4]]
    assert [e.redelivery for e in again] == [True, True, False]
    with pytest.raises(LiveProtocolError):
        live_ack(subscription=subscription, owner="dead", event_ids=[taken[0].event_id])


def test_a_rewind_through_the_api_reads_the_live_stream_again(world: dict[str, Any]) -> None:
    subscription, visible = world["subscription"], world["visible"]
    view = view_of(subscription)
    taken = live_claim(subscription=subscription, view=view, owner="one", read_ahead=3)
    checkpoint = live_ack(
        subscription=subscription, owner="one", event_ids=[e.event_id for e in taken]
    )
    assert checkpoint == visible[2]
    subscription.refresh_from_db()
    subscription_rewind(subscription=subscription, to=Start("oldest"))
    again = live_claim(subscription=subscription, view=view, owner="two", read_ahead=3)
    assert [e.sequence for e in again] == visible[:3]


def test_another_organisations_events_never_reach_a_live_subscription(
    world: dict[str, Any],
) -> None:
    subscription, store = world["subscription"], world["store"]
    private = store.add("HandoffInitiated", handoff(world["b"], world["a"], 60))
    view = view_of(subscription)
    taken = live_claim(subscription=subscription, view=view, owner="one", read_ahead=100)
    hidden = {e.pk for e in ChainEvent.objects.filter(event="HandoffInitiated", args__lotId=50)}
    sequences = [e.sequence for e in taken]
    assert sequences == [*world["visible"], private.pk]  # a's own handoff: visible
    assert not hidden & set(sequences)
    payloads, through = live_read(subscription=subscription, view=view, after=0)
    assert [p["sequence"] for p in payloads] == sequences
    assert through == private.pk


def test_the_command_creates_a_live_subscription(world: dict[str, Any]) -> None:
    out = io.StringIO()
    call_command("live_subscribe", "alpha", "dashboard", "--start", "oldest", stdout=out)
    made = Subscription.objects.get(pk=out.getvalue().strip())
    assert made.transport == Subscription.Transport.WEBSOCKET
    assert made.checkpoint == 0
    with pytest.raises(CommandError):
        call_command("live_subscribe", "nobody", "x")
    with pytest.raises(CommandError):
        call_command("live_subscribe", "alpha", "x", "--event-type", "Nope")
    assert Subscription.objects.count() == 2


def test_pausing_a_started_subscription_closes_its_connections(
    server: str, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(asgi, "VIEW_S", 0.1)
    subscription = world["subscription"]
    with open_socket(server, world["token_a"]) as ws:
        ws.start(subscription, read_ahead=1)
        ws.events(1)
        subscription_pause(subscription=subscription)
        refusal = ws.answer()
        assert refusal["type"] == "protocol_error"
        assert "paused" in refusal["error"]
        with pytest.raises(ConnectionClosed) as closed:
            ws.receive()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4409
    # What it held is released for a connection once the subscription is resumed.
    deadline = time.monotonic() + WAIT_S
    while LiveDelivery.objects.get(subscription=subscription).lease_owner:
        assert time.monotonic() < deadline, "the lease was never released"
        time.sleep(0.05)
