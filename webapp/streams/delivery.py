"""Webhook delivery: what the `streams.deliver` task runs for every active subscription.

Request body (JSON, UTF-8):

- `batch_size` 1: one event per request, ``{"type": <the payload's type>, "data": <payload>}``;
- `batch_size` > 1: ``{"type": "batch", "data": [<payload>, ...]}`` (up to `batch_size`
  payloads in sequence order; fewer once the oldest waited `batch_timeout_s`).

A payload is `webapp.streams.payloads.fact_payload`, or `retraction_payload` (type
`retracted`) for a fact a reorganisation removed after it was delivered. `webhook-id` is
the payload id for one event (`<payload id>_retracted` for a retraction) and, for a batch,
``batch_`` + a hash of its first and last payload ids; a retry, a worker restarted
mid-send, a replayed dead letter or a rewind sends the same id for the same message.

Flow per subscription: claim it (a row lock with SKIP LOCKED sets a lease, so two workers
never deliver one subscription at once), send the oldest message due, then form the next
message from the events after the checkpoint (no further than the streams consumer's
cursor, and `confirmations` blocks below the head), store it, send it. Attempts follow
`RETRY_DELAYS`; 410 Gone disables the subscription. Ordered: the checkpoint moves only on
2xx, a failing message holds the stream, and running out of retries disables it.
Unordered: the checkpoint moves when a message is formed, a failing message is retried on
its own schedule and becomes a dead letter when its retries run out.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from webapp.chain.models import ChainEvent
from webapp.streams.models import DeliveryAttempt, Message, Subscription
from webapp.streams.payloads import fact_payload
from webapp.streams.selectors import (
    SubscriptionView,
    events_matching,
    secrets_active,
    stream_horizon,
    subscription_view,
)
from webapp.streams.sender import DeliveryFailed, http_post
from webapp.streams.signing import signed_headers
from webapp.streams.ssrf import DestinationRefused, destination_check

log = logging.getLogger(__name__)

#: Seconds to wait before attempt 1, 2, ... (Standard Webhooks' published schedule).
RETRY_DELAYS = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
#: How long a claim holds a subscription (a worker killed mid-run loses it after this).
LEASE = timedelta(minutes=5)
#: The most events read per query while forming a message.
SCAN = 500
#: Messages sent per subscription per run, so every subscription gets its turn.
PER_RUN = 200


def message_id(payloads: list[dict[str, Any]], *, batch: bool, kind: str) -> str:
    suffix = "_retracted" if kind == Message.Kind.RETRACTIONS else ""
    if not batch:
        return f"{payloads[0]['id']}{suffix}"
    ends = f"{payloads[0]['id']}:{payloads[-1]['id']}{suffix}"
    return "batch_" + hashlib.sha256(ends.encode()).hexdigest()[:32]


def message_body(message: Message) -> bytes:
    data: Any = message.data
    if message.batch:
        body: dict[str, Any] = {"type": "batch", "data": data}
    else:
        body = {"type": data[0]["type"], "data": data[0]}
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def streams_deliver_due(*, now: datetime | None = None) -> int:
    """Deliver what is due for every active subscription; returns the messages delivered.
    One subscription's failure is logged and never stops the others."""
    delivered = 0
    ids = Subscription.objects.filter(
        state=Subscription.State.ACTIVE, transport=Subscription.Transport.WEBHOOK
    ).values_list("id", flat=True)
    for subscription_id in list(ids):
        try:
            delivered += subscription_deliver(subscription_id=subscription_id, now=now)
        except Exception:
            log.exception("streams: subscription %s raised; the others go on", subscription_id)
    return delivered


def subscription_deliver(*, subscription_id: UUID, now: datetime | None = None) -> int:
    """Deliver what is due for one subscription unless another worker holds it; returns
    the messages delivered."""
    now = now or timezone.now()
    subscription = _claim(subscription_id, now)
    if subscription is None:
        return 0
    try:
        return _run(subscription, now)
    finally:
        Subscription.objects.filter(
            pk=subscription.pk, leased_until=subscription.leased_until
        ).update(leased_until=None)


def _claim(subscription_id: UUID, now: datetime) -> Subscription | None:
    with transaction.atomic():
        subscription = (
            Subscription.objects.select_for_update(skip_locked=True)
            .select_related("organisation")
            .filter(pk=subscription_id, state=Subscription.State.ACTIVE)
            .filter(transport=Subscription.Transport.WEBHOOK)
            .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
            .first()
        )
        if subscription is None:
            return None
        subscription.leased_until = now + LEASE
        subscription.save(update_fields=["leased_until"])
        return subscription


def _run(subscription: Subscription, now: datetime) -> int:
    delivered = 0
    # What the subscription sees, worked out once per run (its scope and filter's lots
    # cost queries; a run is short).
    view = subscription_view(subscription=subscription)
    for _ in range(PER_RUN):
        pending = subscription.messages.filter(status=Message.Status.PENDING).order_by("id")
        if not subscription.ordered:
            pending = pending.filter(next_attempt_at__lte=now)
        message = pending.first()
        if message is not None and message.next_attempt_at > now:
            break  # ordered: the stream waits for this message's next attempt
        if message is None:
            message = _form(subscription, now, view=view)
        if message is None:
            break
        if _attempt(subscription, message, now):
            delivered += 1
        elif subscription.ordered:
            break
        if subscription.state != Subscription.State.ACTIVE:
            break
    return delivered


def _form(subscription: Subscription, now: datetime, *, view: SubscriptionView) -> Message | None:
    """Store the next message from the events after the checkpoint, or None when nothing
    is ready (nothing new, or a short batch still inside its timeout)."""
    horizon = stream_horizon(subscription=subscription)
    start = subscription.checkpoint
    if horizon <= start:
        return None
    matched, scanned = _scan(subscription, view, start, horizon)
    size = subscription.batch_size
    with transaction.atomic():
        current = (
            Subscription.objects.select_for_update()
            .filter(pk=subscription.pk)
            .values_list("checkpoint", "state")
            .first()
        )
        if current != (start, Subscription.State.ACTIVE):
            return None  # rewound, paused or deleted meanwhile: the next run starts afresh
        if not matched:
            subscription.checkpoint = scanned
            subscription.batch_started_at = None
            subscription.save(update_fields=["checkpoint", "batch_started_at", "updated_at"])
            return None
        if len(matched) < size:
            # A short batch: skip what comes before it, wait for more until the timeout.
            subscription.checkpoint = matched[0].pk - 1
            started = subscription.batch_started_at
            if started is None:
                subscription.batch_started_at = started = now
            if now - started < timedelta(seconds=subscription.batch_timeout_s):
                subscription.save(update_fields=["checkpoint", "batch_started_at", "updated_at"])
                return None
        payloads = [fact_payload(e) for e in matched]
        batch = size > 1
        message = Message.objects.create(
            subscription=subscription,
            message_id=message_id(payloads, batch=batch, kind=Message.Kind.EVENTS),
            kind=Message.Kind.EVENTS,
            first_sequence=matched[0].pk,
            last_sequence=scanned,
            data=payloads,
            batch=batch,
            next_attempt_at=now,
            created_at=now,
        )
        subscription.batch_started_at = None
        if not subscription.ordered:
            subscription.checkpoint = scanned
        subscription.save(update_fields=["checkpoint", "batch_started_at", "updated_at"])
    return message


def _scan(
    subscription: Subscription, view: SubscriptionView, start: int, horizon: int
) -> tuple[list[ChainEvent], int]:
    """Up to `batch_size` events after `start` the subscription receives, and the last
    sequence seen (everything before it that is not in the list is skipped)."""
    events = ChainEvent.objects.filter(chain_id=subscription.chain_id, id__lte=horizon)
    if view.types is not None:
        events = events.filter(event__in=view.types)
    matched: list[ChainEvent] = []
    scanned = start
    size = subscription.batch_size
    # Read a little more than a batch, then more and more while few events match: a
    # small batch costs a small read, a sparse filter few queries.
    read = min(SCAN, max(2 * size, 16))
    while True:
        chunk = list(events.filter(id__gt=scanned).order_by("id")[:read])
        matched += events_matching(view=view, events=chunk)
        if len(matched) >= size:
            matched = matched[:size]
            return matched, matched[-1].pk
        if len(chunk) < read:
            return matched, horizon  # every event up to the horizon was seen
        scanned = chunk[-1].pk
        read = min(SCAN, read * 2)


def message_send(
    *, subscription: Subscription, message: Message, now: datetime
) -> tuple[int | None, str, int]:
    """One signed POST of `message`: (status code or None, error, duration in ms)."""
    body = message_body(message)
    began = time.monotonic()
    code: int | None = None
    error = ""
    try:
        destination = destination_check(subscription.url)
        headers = signed_headers(
            secrets=secrets_active(subscription=subscription, at=now),
            message_id=message.message_id,
            # The time of sending, from the wall clock (`now` schedules; receivers check
            # the timestamp against their own clock).
            timestamp=int(time.time()),
            body=body,
        )
        code = http_post(destination=destination, headers=headers, body=body)
        if not 200 <= code < 300:
            error = f"the receiver answered {code}"
    except (DestinationRefused, DeliveryFailed, ValueError) as exc:
        error = str(exc)
    return code, error, int((time.monotonic() - began) * 1000)


def _attempt(subscription: Subscription, message: Message, now: datetime) -> bool:
    """One attempt at `message`; returns whether the receiver took it (2xx)."""
    code, error, duration = message_send(subscription=subscription, message=message, now=now)
    attempt = message.attempts + 1
    log_row = DeliveryAttempt(
        subscription=subscription,
        message_id=message.message_id,
        kind=message.kind,
        first_sequence=message.first_sequence,
        last_sequence=message.last_sequence,
        attempt=attempt,
        response_code=code,
        duration_ms=duration,
        error=error[:2000],
        attempted_at=now,
    )
    with transaction.atomic():
        if not Message.objects.filter(pk=message.pk).exists():
            return False  # a rewind or a reorganisation took it away meanwhile
        if not error:
            log_row.status = DeliveryAttempt.Status.DELIVERED
            log_row.save()
            message.delete()
            if subscription.ordered and message.kind == Message.Kind.EVENTS:
                moved = Subscription.objects.filter(
                    pk=subscription.pk, checkpoint__lt=message.last_sequence
                ).update(checkpoint=message.last_sequence, updated_at=now)
                if moved:
                    subscription.checkpoint = message.last_sequence
            return True
        message.attempts = attempt
        message.last_error = error[:2000]
        gone = code == 410
        if gone or attempt >= len(RETRY_DELAYS):
            log_row.status = DeliveryAttempt.Status.GAVE_UP
            if gone or subscription.ordered:
                reason = (
                    "The endpoint answered 410 Gone."
                    if gone
                    else f"{attempt} attempts failed; the last: {error}"
                )
                _disable(subscription, reason)
                message.attempts = 0  # a resume starts its schedule afresh
            else:
                message.status = Message.Status.DEAD
        else:
            log_row.status = DeliveryAttempt.Status.FAILED
            message.next_attempt_at = now + timedelta(seconds=RETRY_DELAYS[attempt])
            log_row.next_attempt_at = message.next_attempt_at
        message.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
        log_row.save()
    return False


def _disable(subscription: Subscription, reason: str) -> None:
    subscription.state = Subscription.State.DISABLED
    subscription.disabled_reason = reason
    Subscription.objects.filter(pk=subscription.pk).update(
        state=subscription.state, disabled_reason=reason, updated_at=timezone.now()
    )
    log.warning("streams: subscription %s disabled: %s", subscription.pk, reason)
