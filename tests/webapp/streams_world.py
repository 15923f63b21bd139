"""What the streams tests share: a webhook receiver built on the `standardwebhooks` package
(it verifies every request and deduplicates by `webhook-id`, as a partner's would), and a
small event store written directly (the streams read the store, not the chain), with the
streams consumer's cursor moved over it as the pipeline would.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django.conf import settings
from django.db.models import Max
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from contracts.chain.domain import Role
from webapp.chain.models import ChainEvent, Checkpoint, ConsumerCursor
from webapp.organisations.models import Organisation
from webapp.streams.selectors import CONSUMER_NAME

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Delivery:
    webhook_id: str
    body: dict[str, Any]
    raw: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def payloads(self) -> list[dict[str, Any]]:
        data = self.body["data"]
        return data if self.body["type"] == "batch" else [data]


@dataclass
class Receiver:
    """A webhook endpoint on 127.0.0.1: verifies each request with `secrets` (any one
    suffices), answers `status_for(payloads)` (default 200), records what it took."""

    secrets: list[str] = field(default_factory=list)
    status_for: Callable[[list[dict[str, Any]]], int] = lambda payloads: 200
    accepted: list[Delivery] = field(default_factory=list)  # 2xx, deduplicated by id
    requests: list[Delivery] = field(default_factory=list)  # every verified request
    unverified: int = 0
    port: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def verify(self, body: bytes, headers: dict[str, str]) -> dict[str, Any] | None:
        for secret in self.secrets:
            try:
                found: dict[str, Any] = Webhook(secret).verify(body, headers)
                return found
            except WebhookVerificationError:
                continue
        return None

    def handle(self, body: bytes, headers: dict[str, str]) -> int:
        parsed = self.verify(body, headers)
        if parsed is None:
            self.unverified += 1
            return 401
        delivery = Delivery(headers["webhook-id"], parsed, body, headers)
        self.requests.append(delivery)
        status = self.status_for(delivery.payloads)
        if 200 <= status < 300 and all(d.webhook_id != delivery.webhook_id for d in self.accepted):
            self.accepted.append(delivery)
        return status

    def payload_ids(self) -> list[str]:
        """The payload ids taken, in the order they arrived (after deduplication)."""
        return [p["id"] for d in self.accepted for p in d.payloads]

    def sequences(self) -> list[int]:
        return [int(p["sequence"]) for d in self.accepted for p in d.payloads]

    def up(self, tls: ssl.SSLContext | None = None) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                status = receiver.handle(body, {k.lower(): v for k, v in self.headers.items()})
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        ThreadingHTTPServer.allow_reuse_address = True
        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class Store:
    """Events written straight into the event store, one block each."""

    def __init__(self) -> None:
        self.chain_id = int(settings.CHAIN_ID)
        self.block = 100
        self.serial = 0  # a replacing block after a reorganisation has another hash

    def add(self, event: str, args: dict[str, Any], *, pass_consumer: bool = True) -> ChainEvent:
        self.block += 1
        self.serial += 1
        block_hash = "0x" + f"{self.block:032x}{self.serial:032x}"
        row = ChainEvent.objects.create(
            chain_id=self.chain_id,
            block_number=self.block,
            block_hash=block_hash,
            block_timestamp=T0 + timedelta(seconds=self.block),
            transaction_hash="0x" + f"{self.block:064x}",
            transaction_index=0,
            log_index=0,
            contract="Lots",
            address="0x" + "11" * 20,
            event=event,
            args=args,
            content_hash="0x" + "00" * 32,
            running_hash="0x" + "00" * 32,
        )
        Checkpoint.objects.update_or_create(
            chain_id=self.chain_id,
            defaults={"block_number": self.block, "head_number": self.block},
        )
        if pass_consumer:
            self.pass_consumer()
        return row

    def pass_consumer(self) -> None:
        last = ChainEvent.objects.aggregate(last=Max("id"))["last"] or 0
        ConsumerCursor.objects.update_or_create(
            chain_id=self.chain_id, name=CONSUMER_NAME, defaults={"event_id": last}
        )


def organisation(slug: str, address_byte: int, roles: Role = Role.MANUFACTURER) -> Organisation:
    return Organisation.objects.create(
        name=slug.title(), slug=slug, roles=int(roles), address="0x" + f"{address_byte:02x}" * 20
    )


def handoff(sender: Organisation, receiver: Organisation, lot: int) -> dict[str, Any]:
    return {
        "handoffId": lot,
        "lotId": lot,
        "sender": sender.address,
        "receiver": receiver.address,
        "quantity": 1,
    }


def lot_registered(creator: Organisation, lot: int) -> dict[str, Any]:
    return {"lotId": lot, "creator": creator.address, "kind": 0, "quantity": 10}


def json_body(response: Any) -> Any:
    return json.loads(response.content)
