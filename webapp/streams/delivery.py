"""Webhook delivery: what the `streams.deliver` task runs for every active subscription.

Request body (JSON, UTF-8):

- `batch_size` 1: one event per request, ``{"type": <the payload's type>, "data": <payload>}``;
- `batch_size` > 1: ``{"type": "batch", "data": [<payload>, ...]}`` (up to `batch_size`
  payloads in sequence order; fewer once the oldest waited `batch_timeout_s`).

A payload is `webapp.streams.payloads.fact_payloads` in the subscription's `format`
(`rest`, `epcis`, `both`), or a `retraction_payloads` one (type
`retracted`) for a fact a reorganisation removed after it was delivered. `webhook-id` is
the payload id for one event (`<payload id>_retracted` for a retraction) and, for a batch,
``batch_`` + a hash of its first and last payload ids; a retry, a worker restarted
mid-send, a replayed dead letter or a rewind sends the same id for the same message.

Flow per subscription: claim it (a row lock with SKIP LOCKED sets a lease, so two workers
never deliver one subscription at once), send the oldest messages due, then form the next
messages from the events after the checkpoint (no further than the streams consumer's
cursor, and `confirmations` blocks below the head), store them (up to `FORM_AHEAD` in
one commit), send them one by one. The 2xx answers are recorded together (message
removed, log row, checkpoint) every `FORM_AHEAD` messages, before a failure is recorded
and at the end of the run: a worker killed in between sends those messages again under
the same webhook-ids, the duplicates a deduplicating receiver drops. Attempts follow
`RETRY_DELAYS`; 410 Gone disables the subscription. Ordered: the checkpoint moves only on
2xx, a failing message holds the stream, and running out of retries disables it.
Unordered: the checkpoint moves when a message is formed, a failing message is retried on
its own schedule and becomes a dead letter when its retries run out.
"""

from __future__ import annotations

import hashlib
import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from webapp.chain.models import ChainEvent
from webapp.streams.models import DeliveryAttempt, Message, Subscription
from webapp.streams.payloads import fact_payloads
from webapp.streams.request import message_send, signer_for
from webapp.streams.selectors import (
    SubscriptionView,
    events_matching,
    stream_horizon,
    subscription_view,
)
from webapp.streams.ssrf import Destination, DestinationRefused, destination_check
from webapp.streams.storage import attempts_store, messages_store

log = logging.getLogger(__name__)

#: Seconds to wait before attempt 1, 2, ... (Standard Webhooks' published schedule).
RETRY_DELAYS = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
#: How long a claim holds a subscription (a worker killed mid-run loses it after this).
LEASE = timedelta(minutes=5)
#: The most events read per query while forming a message.
SCAN = 500
#: Messages sent per subscription per run, so every subscription gets its turn.
PER_RUN = 200
#: Messages formed and stored together (one commit) when that many are ready.
FORM_AHEAD = 50


def message_id(payloads: list[dict[str, Any]], *, batch: bool, kind: str) -> str:
    suffix = "_retracted" if kind == Message.Kind.RETRACTIONS else ""
    if not batch:
        return f"{payloads[0]['id']}{suffix}"
    ends = f"{payloads[0]['id']}:{payloads[-1]['id']}{suffix}"
    return "batch_" + hashlib.sha256(ends.encode()).hexdigest()[:32]


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


@dataclass
class _ReadAhead:
    """The events in (`start`, `scanned`] the subscription receives, read ahead of the
    messages formed from them within one run: a read and its visibility check cost the
    same for 500 events as for one, and a batch of one would otherwise pay them per event."""

    start: int = -1
    scanned: int = -1
    matched: deque[ChainEvent] = field(default_factory=deque)

    def reset(self, start: int) -> None:
        self.start = self.scanned = start
        self.matched.clear()


def _run(subscription: Subscription, now: datetime) -> int:
    delivered = 0
    # What the subscription sees, worked out once per run (its scope and filter's lots
    # cost queries; a run is short).
    view = subscription_view(subscription=subscription)
    ahead = _ReadAhead()
    signer = signer_for(subscription=subscription, at=now)
    # The destination checked once per run (a refused one is checked, and refused, again
    # per message, so each attempt records why).
    try:
        destination: Destination | None = destination_check(subscription.url)
    except DestinationRefused:
        destination = None
    queue: deque[Message] = deque()
    sent: list[tuple[Message, DeliveryAttempt]] = []  # answered 2xx, not yet recorded
    try:
        for turn in range(PER_RUN):
            if not queue:
                _acknowledge(subscription, sent)
                queue.extend(_pending(subscription, now))
            if not queue:
                count = min(FORM_AHEAD, PER_RUN - turn)
                # Nothing was pending: what is formed now is what `_pending` would read.
                queue.extend(_form(subscription, now, view=view, ahead=ahead, count=count))
                if not queue:
                    break
            message = queue.popleft()
            if message.next_attempt_at > now:
                break  # ordered: the stream waits for this message's next attempt
            code, error, duration = message_send(
                subscription=subscription,
                message=message,
                now=now,
                signer=signer,
                destination=destination,
            )
            log_row = _log_row(subscription, message, now, code, error, duration)
            if not error:
                sent.append((message, log_row))
                delivered += 1
                continue
            _acknowledge(subscription, sent)
            _failed(subscription, message, now, log_row)
            if subscription.ordered or subscription.state != Subscription.State.ACTIVE:
                break
    finally:
        _acknowledge(subscription, sent)
    return delivered


def _pending(subscription: Subscription, now: datetime) -> list[Message]:
    """The messages to send next, oldest first (ordered: the head even when it waits)."""
    pending = subscription.messages.filter(status=Message.Status.PENDING).order_by("id")
    if not subscription.ordered:
        pending = pending.filter(next_attempt_at__lte=now)
    return list(pending[:FORM_AHEAD])


def _form(
    subscription: Subscription,
    now: datetime,
    *,
    view: SubscriptionView,
    ahead: _ReadAhead | None = None,
    count: int = 1,
) -> list[Message]:
    """Store the next messages (up to `count` full ones) from the events after the
    checkpoint and return them, oldest first; none when nothing is ready (nothing new, or
    a short batch still inside its timeout). Messages stored together share one commit;
    each is still sent, acknowledged and retried on its own, oldest first."""
    horizon = stream_horizon(subscription=subscription)
    start = subscription.checkpoint
    if horizon <= start:
        return []
    size = subscription.batch_size
    full, matched, scanned = _batches(
        subscription, view, start, horizon, ahead or _ReadAhead(), count
    )
    with transaction.atomic():
        current = (
            Subscription.objects.select_for_update()
            .filter(pk=subscription.pk)
            .values_list("checkpoint", "state")
            .first()
        )
        if current != (start, Subscription.State.ACTIVE):
            return []  # rewound, paused or deleted meanwhile: the next run starts afresh
        if matched and not ChainEvent.objects.filter(pk=matched[-1].pk).exists():
            # A reorganisation removed events read ahead (it removes everything above its
            # fork, so the last one is gone whenever any is): read them again next run.
            if ahead is not None:
                ahead.reset(-1)
            return []
        if not matched:
            subscription.checkpoint = scanned
            subscription.batch_started_at = None
            subscription.save(update_fields=["checkpoint", "batch_started_at", "updated_at"])
            return []
        if len(matched) < size:
            # A short batch: skip what comes before it, wait for more until the timeout.
            subscription.checkpoint = matched[0].pk - 1
            started = subscription.batch_started_at
            if started is None:
                subscription.batch_started_at = started = now
            if now - started < timedelta(seconds=subscription.batch_timeout_s):
                subscription.save(update_fields=["checkpoint", "batch_started_at", "updated_at"])
                return []
        groups = [(events, events[-1].pk) for events in full[:-1]] + [(matched, scanned)]
        # The payloads of every message formed now in one go (the EPCIS format reads the
        # names of the lots and parties once for all of them).
        payloads = iter(
            fact_payloads([e for events, _ in groups for e in events], format=subscription.format)
        )
        formed = [
            _message(subscription, events, [next(payloads) for _ in events], last, now)
            for events, last in groups
        ]
        messages = messages_store(formed)
        subscription.batch_started_at = None
        if not subscription.ordered:
            subscription.checkpoint = scanned
        subscription.save(update_fields=["checkpoint", "batch_started_at", "updated_at"])
    return messages


def _batches(
    subscription: Subscription,
    view: SubscriptionView,
    start: int,
    horizon: int,
    ahead: _ReadAhead,
    count: int,
) -> tuple[list[list[ChainEvent]], list[ChainEvent], int]:
    """Up to `count` full batches after `start`, then what the next message holds and
    its last sequence: the last full batch, or (with none) `_scan`'s answer."""
    size = subscription.batch_size
    full: list[list[ChainEvent]] = []
    matched, scanned = _scan(subscription, view, start, horizon, ahead)
    while len(matched) == size:
        full.append(matched)
        if len(full) >= count:
            break
        matched, scanned = _scan(subscription, view, scanned, horizon, ahead)
    if full:  # a short batch after full ones waits for a later turn
        return full, full[-1], full[-1][-1].pk
    return full, matched, scanned


def _message(
    subscription: Subscription,
    events: list[ChainEvent],
    payloads: list[dict[str, Any]],
    last_sequence: int,
    now: datetime,
) -> Message:
    batch = subscription.batch_size > 1
    return Message(
        subscription=subscription,
        message_id=message_id(payloads, batch=batch, kind=Message.Kind.EVENTS),
        kind=Message.Kind.EVENTS,
        first_sequence=events[0].pk,
        last_sequence=last_sequence,
        data=payloads,
        batch=batch,
        next_attempt_at=now,
        created_at=now,
    )


def _scan(
    subscription: Subscription, view: SubscriptionView, start: int, horizon: int, ahead: _ReadAhead
) -> tuple[list[ChainEvent], int]:
    """Up to `batch_size` events after `start` the subscription receives, and the last
    sequence seen (everything before it that is not in the list is skipped). Reads on
    from what `ahead` holds when it covers `start`."""
    if not ahead.start <= start <= ahead.scanned <= horizon:
        ahead.reset(start)  # a new run, a rewind, or a reorganisation moved the horizon back
    while ahead.matched and ahead.matched[0].pk <= start:
        ahead.matched.popleft()
    ahead.start = start
    size = subscription.batch_size
    while len(ahead.matched) < size and ahead.scanned < horizon:
        events = ChainEvent.objects.filter(
            chain_id=subscription.chain_id, id__gt=ahead.scanned, id__lte=horizon
        )
        if view.types is not None:
            events = events.filter(event__in=view.types)
        chunk = list(events.order_by("id")[:SCAN])
        ahead.matched.extend(events_matching(view=view, events=chunk))
        # A short chunk: every event up to the horizon was seen.
        ahead.scanned = chunk[-1].pk if len(chunk) == SCAN else horizon
    if len(ahead.matched) >= size:
        matched = [ahead.matched[i] for i in range(size)]
        return matched, matched[-1].pk
    return list(ahead.matched), ahead.scanned


def _log_row(
    subscription: Subscription,
    message: Message,
    now: datetime,
    code: int | None,
    error: str,
    duration: int,
) -> DeliveryAttempt:
    return DeliveryAttempt(
        subscription=subscription,
        message_id=message.message_id,
        kind=message.kind,
        first_sequence=message.first_sequence,
        last_sequence=message.last_sequence,
        attempt=message.attempts + 1,
        response_code=code,
        duration_ms=duration,
        error=error[:2000],
        attempted_at=now,
    )


def _acknowledge(subscription: Subscription, sent: list[tuple[Message, DeliveryAttempt]]) -> None:
    """Record the messages the receiver took (2xx), in one transaction: they go, their
    log rows are written and (ordered) the checkpoint moves to the last of them. A worker
    killed before this sends them again, under the same webhook-ids."""
    if not sent:
        return
    with transaction.atomic():
        # Losing this to a database crash only sends the messages again under their
        # webhook-ids: the commit need not wait for the disk.
        _commit_without_waiting_for_the_disk()
        ids = [message.pk for message, _ in sent]
        present = set(
            Message.objects.select_for_update().filter(pk__in=ids).values_list("pk", "message_id")
        )
        # A rewind or a reorganisation took the others away or trimmed them meanwhile (a
        # trimmed message has another id and goes out again as it is now).
        taken = [(m, row) for m, row in sent if (m.pk, m.message_id) in present]
        Message.objects.filter(pk__in=[m.pk for m, _ in taken]).delete()
        for _, row in taken:
            row.status = DeliveryAttempt.Status.DELIVERED
        attempts_store([row for _, row in taken])
        last = max(
            (m.last_sequence for m, _ in taken if m.kind == Message.Kind.EVENTS), default=None
        )
        if subscription.ordered and last is not None:
            moved = Subscription.objects.filter(pk=subscription.pk, checkpoint__lt=last).update(
                checkpoint=last, updated_at=timezone.now()
            )
            if moved:
                subscription.checkpoint = last
    sent.clear()


def _failed(
    subscription: Subscription, message: Message, now: datetime, log_row: DeliveryAttempt
) -> None:
    """Record a failed attempt: schedule the next one, or give up (disable the
    subscription, or in unordered mode make the message a dead letter)."""
    code, error, attempt = log_row.response_code, log_row.error, log_row.attempt
    with transaction.atomic():
        if not Message.objects.filter(pk=message.pk).exists():
            return  # a rewind or a reorganisation took it away meanwhile
        message.attempts = attempt
        message.last_error = error
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


def _commit_without_waiting_for_the_disk() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _disable(subscription: Subscription, reason: str) -> None:
    subscription.state = Subscription.State.DISABLED
    subscription.disabled_reason = reason
    Subscription.objects.filter(pk=subscription.pk).update(
        state=subscription.state, disabled_reason=reason, updated_at=timezone.now()
    )
    log.warning("streams: subscription %s disabled: %s", subscription.pk, reason)
