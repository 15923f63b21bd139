"""The live streams' ASGI app: `uvicorn webapp.streams.asgi:app --port 8001`.

A small Starlette app beside Django rather than Django Channels: it needs two routes and
no channel layer (the shared state is in PostgreSQL, `webapp.streams.live`), so it adds
two light packages instead of Channels, Daphne and a Redis channel layer, and the WSGI
site stays as it is. Django is set up here; every ORM call runs through asgiref's
`sync_to_async` (one thread, as Django's connections are per thread).

WebSocket `/streams/ws` (FireFly-style), authenticated by `Authorization: Bearer <API
token>` on the handshake (a read-and-write token: acks move the checkpoint). Client to
server (JSON text frames):

- `{"type": "start", "subscription": "<id or name>", "readAhead": 10}`
- `{"type": "ack", "id": "<event id>"}`, `{"type": "ack", "ids": [...]}` (a batch), or
  `{"type": "ack"}` (the oldest event held)

Server to client: `started`, `event` (`data` is the payload every stream sends), `acked`
(with the checkpoint) and `protocol_error` (the connection stays usable). Refusals send a
`protocol_error` then close: 4401 no valid read-and-write API token, 4403 not a
subscription of the token's organisation (also when it does not exist), 4409 not a live
subscription, or paused, disabled or deleted (a started one is looked at again every
`VIEW_S` seconds).

Server-Sent Events `/streams/sse/<id or name>`: the events in order (`id:` the sequence),
from the `Last-Event-ID` header (a browser's EventSource sends it when it reconnects) or,
without it, from the subscription's checkpoint. It leases and acknowledges nothing (there
is no channel back), so it never takes events from the WebSocket consumers. EventSource
cannot send headers, so the token may also come as `?token=`; the access log redacts it.
Alert events the subscription asked for (`webapp.streams.alerts`) come as they are raised
while the stream is open, without an `id:` (they are not in the event store's sequence).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
django.setup()

from asgiref.sync import sync_to_async  # noqa: E402
from django.db import InterfaceError, OperationalError, connection, connections  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse, Response, StreamingResponse  # noqa: E402
from starlette.routing import Route, WebSocketRoute  # noqa: E402
from starlette.websockets import WebSocket, WebSocketDisconnect  # noqa: E402

from webapp.organisations.models import Organisation  # noqa: E402
from webapp.organisations.services import api_token_authenticate  # noqa: E402
from webapp.startup import restore_recursion_limit  # noqa: E402
from webapp.streams.alerts import alert_events_for, alert_events_latest  # noqa: E402
from webapp.streams.live import (  # noqa: E402
    CLOSE_NOT_YOURS,
    CLOSE_UNAUTHENTICATED,
    LEASE,
    LiveProtocolError,
    LiveRefused,
    live_ack,
    live_claim,
    live_read,
    live_refusal,
    live_release,
    live_renew,
    live_subscription_of,
    read_ahead_checked,
)
from webapp.streams.models import Subscription  # noqa: E402
from webapp.streams.selectors import SubscriptionView, subscription_view  # noqa: E402

restore_recursion_limit()
log = logging.getLogger(__name__)

#: Seconds between looks at the store when nothing is due (an ack looks at once).
POLL_S = 0.5
#: A subscription's view (its organisation's stock scope) is worked out again this often.
VIEW_S = 30.0
#: An idle Server-Sent Events stream sends a comment this often (proxies close silent ones).
KEEPALIVE_S = 15.0
DEFAULT_READ_AHEAD = 1

T = TypeVar("T")


def _db_call(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    try:
        return function(*args, **kwargs)
    except (InterfaceError, OperationalError):
        connection.close()  # a broken connection is opened afresh on the next call
        raise


async def db(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    return await sync_to_async(_db_call)(function, *args, **kwargs)


def _organisation_of(token: str, *, write: bool = False) -> Organisation | None:
    row = api_token_authenticate(token=token) if token else None
    if row is None or (write and not row.can_write):
        return None
    return row.organisation


def _bearer(headers: Any) -> str:
    scheme, _, token = str(headers.get("authorization", "")).partition(" ")
    return token.strip() if scheme == "Bearer" else ""


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class LiveConnection:
    """One WebSocket: at most one started subscription, its events pumped while it lives."""

    def __init__(self, websocket: WebSocket, organisation: Organisation) -> None:
        self.websocket = websocket
        self.organisation = organisation
        self.owner = uuid.uuid4().hex
        self.subscription: Subscription | None = None
        self.read_ahead = DEFAULT_READ_AHEAD
        self.wake = asyncio.Event()
        self.sending = asyncio.Lock()
        self.closed = False

    async def send(self, message: dict[str, Any]) -> None:
        async with self.sending:
            await self.websocket.send_text(_dumps(message))

    async def run(self) -> None:
        pump: asyncio.Task[None] | None = None
        try:
            while True:
                text = await self.websocket.receive_text()
                try:
                    started = await self.handle(text)
                except LiveProtocolError as exc:
                    await self.send({"type": "protocol_error", "error": str(exc)})
                    continue
                except LiveRefused as exc:
                    await self.send({"type": "protocol_error", "error": str(exc)})
                    await self.websocket.close(exc.code, str(exc)[:120])
                    return
                if started:
                    pump = asyncio.create_task(self.pump())
        except WebSocketDisconnect:
            pass
        finally:
            self.closed = True
            if pump is not None:
                pump.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pump
            if self.subscription is not None:
                await db(live_release, subscription=self.subscription, owner=self.owner)

    async def handle(self, text: str) -> bool:
        """Apply one message; returns whether it started the subscription."""
        try:
            message = json.loads(text)
        except ValueError as exc:
            raise LiveProtocolError("A message is one JSON object.") from exc
        if not isinstance(message, dict):
            raise LiveProtocolError("A message is one JSON object.")
        kind = message.get("type")
        if kind == "start":
            await self.start(message)
            return True
        if kind == "ack":
            await self.ack(message)
            return False
        raise LiveProtocolError(f"Unknown message type {kind!r}: send `start` or `ack`.")

    async def start(self, message: dict[str, Any]) -> None:
        if self.subscription is not None:
            raise LiveProtocolError("A subscription is already started on this connection.")
        reference = message.get("subscription")
        if not isinstance(reference, str) or not reference:
            raise LiveProtocolError("`start` names a subscription by id or name.")
        read_ahead = read_ahead_checked(message.get("readAhead", DEFAULT_READ_AHEAD))
        subscription = await db(
            live_subscription_of, organisation=self.organisation, reference=reference
        )
        self.subscription, self.read_ahead = subscription, read_ahead
        await self.send(
            {
                "type": "started",
                "subscription": str(subscription.pk),
                "name": subscription.name,
                "readAhead": read_ahead,
                "checkpoint": subscription.checkpoint,
            }
        )

    async def ack(self, message: dict[str, Any]) -> None:
        if self.subscription is None:
            raise LiveProtocolError("Send `start` before `ack`.")
        ids: list[str] | None
        if "id" in message:
            ids = [message["id"]]
        elif "ids" in message:
            ids = message["ids"]
        else:
            ids = None
        if ids is not None and (
            not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids)
        ):
            raise LiveProtocolError("`id` is an event id; `ids` a non-empty list of them.")
        checkpoint = await db(
            live_ack, subscription=self.subscription, owner=self.owner, event_ids=ids
        )
        await self.send({"type": "acked", "ids": ids, "checkpoint": checkpoint})
        self.wake.set()

    async def pump(self) -> None:
        subscription = self.subscription
        assert subscription is not None
        loop = asyncio.get_running_loop()
        view: SubscriptionView | None = None
        view_at = renewed_at = loop.time()
        try:
            while not self.closed:
                if view is None or loop.time() - view_at > VIEW_S:
                    refusal = await db(live_refusal, subscription_id=subscription.pk)
                    if refusal is not None:
                        await self.send({"type": "protocol_error", "error": str(refusal)})
                        await self.websocket.close(refusal.code, str(refusal))
                        return
                    view = await db(subscription_view, subscription=subscription)
                    view_at = loop.time()
                if loop.time() - renewed_at > LEASE.total_seconds() / 3:
                    await db(live_renew, subscription=subscription, owner=self.owner)
                    renewed_at = loop.time()
                self.wake.clear()
                events = await db(
                    live_claim,
                    subscription=subscription,
                    view=view,
                    owner=self.owner,
                    read_ahead=self.read_ahead,
                )
                for event in events:
                    await self.send(
                        {
                            "type": "event",
                            "subscription": str(subscription.pk),
                            "id": event.event_id,
                            "sequence": event.sequence,
                            "redelivery": event.redelivery,
                            "data": event.data,
                        }
                    )
                if not events:
                    # asyncio.timeout, not wait_for: wait_for (before 3.12) can swallow a
                    # cancellation that meets a completed wait, and the pump would outlive
                    # its connection.
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(POLL_S):
                            await self.wake.wait()
        except (WebSocketDisconnect, asyncio.CancelledError):
            raise
        except Exception:
            log.exception("live streams: the pump of %s failed", subscription.pk)
            with contextlib.suppress(Exception):
                await self.websocket.close(1011, "Internal error; reconnect.")


async def live_socket(websocket: WebSocket) -> None:
    await websocket.accept()
    # Acks move the checkpoint: a write, so a read-only token is refused as the API does.
    organisation = await db(_organisation_of, _bearer(websocket.headers), write=True)
    if organisation is None:
        reason = "Send `Authorization: Bearer <API token>`: a live read-and-write token."
        await websocket.send_text(_dumps({"type": "protocol_error", "error": reason}))
        await websocket.close(CLOSE_UNAUTHENTICATED, reason)
        return
    await LiveConnection(websocket, organisation).run()


def _problem(status: int, detail: str) -> Response:
    return JSONResponse({"status": status, "detail": detail}, status_code=status)


async def live_events(request: Request) -> Response:
    token = _bearer(request.headers) or request.query_params.get("token", "")
    organisation = await db(_organisation_of, token)
    if organisation is None:
        return _problem(401, "Send `Authorization: Bearer <API token>` (or `?token=`).")
    try:
        subscription = await db(
            live_subscription_of,
            organisation=organisation,
            reference=request.path_params["subscription"],
        )
    except LiveRefused as exc:
        return _problem(404 if exc.code == CLOSE_NOT_YOURS else 409, str(exc))
    last = request.headers.get("last-event-id", request.query_params.get("lastEventId"))
    if last is not None and not (last.isascii() and last.isdigit() and len(last) < 19):
        return _problem(400, "Last-Event-ID is an event's sequence number.")
    after = int(last) if last is not None else subscription.checkpoint
    return StreamingResponse(
        _event_stream(subscription, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _event_stream(subscription: Subscription, after: int) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    view = await db(subscription_view, subscription=subscription)
    view_at = quiet_since = loop.time()
    alerts_after = await db(alert_events_latest)
    yield "retry: 2000\n\n"
    while True:
        if loop.time() - view_at > VIEW_S:
            view = await db(subscription_view, subscription=subscription)
            view_at = loop.time()
        # Alert events raised while connected, without an `id:` (Last-Event-ID stays the
        # last fact's sequence): `webapp.streams.alerts`.
        alerts, alerts_after = await db(
            alert_events_for, subscription=subscription, after=alerts_after
        )
        for alert in alerts:
            yield f"data: {_dumps(alert)}\n\n"
        payloads, after = await db(live_read, subscription=subscription, view=view, after=after)
        for payload in payloads:
            yield f"id: {payload['sequence']}\ndata: {_dumps(payload)}\n\n"
        if payloads or alerts:
            quiet_since = loop.time()
            continue
        if loop.time() - quiet_since > KEEPALIVE_S:
            yield ": keepalive\n\n"
            quiet_since = loop.time()
        await asyncio.sleep(POLL_S)


class _TokenRedacted(logging.Filter):
    """Keep `?token=` (Server-Sent Events from a browser) out of the access log."""

    pattern = re.compile(r"(token=)[^&\s]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self.pattern.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                for a in record.args
            )
        return True


logging.getLogger("uvicorn.access").addFilter(_TokenRedacted())


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    await sync_to_async(connections.close_all)()


app = Starlette(
    routes=[
        WebSocketRoute("/streams/ws", live_socket),
        Route("/streams/sse/{subscription}", live_events),
    ],
    lifespan=lifespan,
)
