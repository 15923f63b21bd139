"""What a reorganisation does to the streams (called from the indexer's reorg transaction,
before it deletes the events above the fork). Webhooks:

- Messages formed but not yet acknowledged lose the removed facts (a message left empty
  goes): nobody confirmed receiving them, so they are not retracted either.
- Every removed fact a subscription already delivered (at or below its checkpoint, seen
  by its view) becomes a `retraction_payload`, queued in messages of its batch size
  ahead of anything formed later. The facts of the new branch get new sequence numbers,
  above every checkpoint, so they flow as usual.

Live subscriptions: every removed fact already read for a connection (acknowledged or
not) is replaced by its retraction (`<id>_retracted`), acknowledged like an event. EPCIS
subscriptions: `webapp.streams.epcis_subscriptions.epcis_retractions_queue`.
"""

from __future__ import annotations

from django.utils import timezone

from webapp.chain.models import ChainEvent
from webapp.streams.delivery import message_id
from webapp.streams.epcis_subscriptions import epcis_retractions_queue
from webapp.streams.models import LiveCursor, LiveDelivery, Message, Subscription
from webapp.streams.payloads import retraction_payloads
from webapp.streams.selectors import events_matching, subscription_view


def streams_rollback(*, chain_id: int, to_block: int) -> int:
    """Queue retractions for the facts above `to_block`; returns how many were queued."""
    removed = list(
        ChainEvent.objects.filter(chain_id=chain_id, block_number__gt=to_block).order_by("id")
    )
    if not removed:
        return 0
    first = removed[0].pk
    now = timezone.now()
    queued = 0
    # EPCIS subscriptions count EPCIS event ids, not facts (`epcis_retractions_queue`).
    queued += epcis_retractions_queue(chain_id=chain_id, to_block=to_block, now=now)
    live = Subscription.objects.select_for_update().filter(
        chain_id=chain_id, transport=Subscription.Transport.WEBSOCKET
    )
    for subscription in live.select_related("organisation"):
        queued += _live_retract(subscription, removed, first)
    subscriptions = Subscription.objects.select_for_update().filter(
        chain_id=chain_id, checkpoint__gte=first, transport=Subscription.Transport.WEBHOOK
    )
    for subscription in subscriptions.select_related("organisation"):
        unacknowledged = _trim_messages(subscription, first)
        delivered = [
            e for e in removed if e.pk <= subscription.checkpoint and e.pk not in unacknowledged
        ]
        if not delivered:
            continue
        view = subscription_view(subscription=subscription)
        facts = events_matching(view=view, events=delivered)
        size = subscription.batch_size
        batch = size > 1
        for start in range(0, len(facts), size):
            chunk = facts[start : start + size]
            payloads = retraction_payloads(chunk, format=subscription.format)
            Message.objects.create(
                subscription=subscription,
                message_id=message_id(payloads, batch=batch, kind=Message.Kind.RETRACTIONS),
                kind=Message.Kind.RETRACTIONS,
                first_sequence=chunk[0].pk,
                last_sequence=chunk[-1].pk,
                data=payloads,
                batch=batch,
                next_attempt_at=now,
                created_at=now,
            )
            queued += len(chunk)
    # Facts formed into a message after the fork for subscriptions whose checkpoint is
    # still below it (ordered mode waiting for a 2xx).
    for message in Message.objects.filter(
        subscription__chain_id=chain_id,
        subscription__transport=Subscription.Transport.WEBHOOK,
        kind=Message.Kind.EVENTS,
        last_sequence__gte=first,
    ):
        _trim(message, first)
    return queued


def _live_retract(subscription: Subscription, removed: list[ChainEvent], first: int) -> int:
    """A live subscription: every removed fact read for it (sent to a connection, whether
    acknowledged or not) becomes a retraction row in its place, unleased, so the next
    connection asking gets it before anything of the new branch (whose sequences are
    higher); the rows of the removed facts go. Returns how many were queued."""
    cursor = LiveCursor.objects.select_for_update().filter(subscription=subscription).first()
    if cursor is None:
        return 0
    sent = [e for e in removed if e.pk <= cursor.read_through]
    LiveDelivery.objects.filter(subscription=subscription, sequence__gte=first).delete()
    if not sent:
        return 0
    facts = events_matching(view=subscription_view(subscription=subscription), events=sent)
    payloads = retraction_payloads(facts, format=subscription.format)
    LiveDelivery.objects.bulk_create(
        LiveDelivery(
            subscription=subscription,
            sequence=event.pk,
            event_id=f"{payload['id']}_retracted",
            data=payload,
            deliveries=0,
        )
        for event, payload in zip(facts, payloads, strict=True)
    )
    return len(facts)


def _trim_messages(subscription: Subscription, first: int) -> set[int]:
    """Drop the removed facts from the subscription's unacknowledged event messages;
    returns their sequences."""
    dropped: set[int] = set()
    for message in subscription.messages.filter(kind=Message.Kind.EVENTS, last_sequence__gte=first):
        dropped |= _trim(message, first)
    return dropped


def _trim(message: Message, first: int) -> set[int]:
    data = list(message.data)
    kept = [p for p in data if int(p["sequence"]) < first]
    dropped = {int(p["sequence"]) for p in data} - {int(p["sequence"]) for p in kept}
    if not kept:
        message.delete()
    elif dropped:
        message.data = kept
        message.last_sequence = int(kept[-1]["sequence"])
        message.message_id = message_id(kept, batch=message.batch, kind=message.kind)
        message.save(update_fields=["data", "last_sequence", "message_id"])
    return dropped
