"""Live streams: flow control for subscriptions of transport `websocket`, whatever carries
them (`webapp.streams.asgi` serves them over WebSocket and Server-Sent Events).

Modelled on Hyperledger FireFly's WebSocket subscriptions. A connection `start`s a
subscription with a `readAhead`; it holds at most that many events unacknowledged, and
gets more only as it acknowledges. State lives in PostgreSQL, not in the process:

- `LiveCursor.read_through` is how far the store was read for the subscription; the
  events it let through wait in `LiveDelivery` rows until acknowledged.
- A connection leases rows (its `owner` id, a lease renewed while it lives). Free rows
  (released by a closed connection, or whose lease ran out with a dead process) are taken
  first, oldest first, with SELECT ... FOR UPDATE SKIP LOCKED, so two connections never
  hold one event; then new rows are read from the store under the cursor's row lock.
  Several connections on one subscription thus share its events (load-balanced), and an
  event not acknowledged is sent again after a reconnect (`redelivery`).
- An ack deletes the connection's row; the subscription's checkpoint moves to the
  sequence before the oldest row left (the contiguous acknowledged prefix), or to
  `read_through` when none is left. It never moves back here; a rewind through the API
  moves it back, and the live rows are then dropped and read again from there.

Visibility is the webhooks' (`webapp.streams.selectors`): what a connection receives is
`events_matching` of the subscription's view, never past the streams consumer's horizon.
The payload is `webapp.streams.payloads.fact_payloads` in the subscription's `format`,
the one shape every transport uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from webapp.chain.models import ChainEvent
from webapp.organisations.models import Organisation
from webapp.streams.models import LiveCursor, LiveDelivery, Subscription
from webapp.streams.payloads import fact_payloads
from webapp.streams.selectors import (
    SubscriptionView,
    events_matching,
    stream_horizon,
)
from webapp.streams.services import Start, subscription_create

#: How long a connection holds its events without renewing (a dead process's events go
#: to another connection after this).
LEASE = timedelta(seconds=60)
MAX_READ_AHEAD = 1000
#: Events read from the store per query.
SCAN = 500

#: Close codes (WebSocket) a refusal carries; documented in `webapp.streams.asgi`.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_YOURS = 4403
CLOSE_NOT_LIVE = 4409


class LiveRefused(Exception):
    """The subscription cannot be started: `code` is the close code, the message the reason."""

    def __init__(self, reason: str, *, code: int) -> None:
        super().__init__(reason)
        self.code = code


class LiveProtocolError(Exception):
    """A message the protocol does not allow; nothing of it was applied."""


@dataclass(frozen=True)
class LiveEvent:
    sequence: int
    event_id: str
    data: dict[str, Any]
    redelivery: bool


def live_subscription_create(
    *,
    organisation: Organisation,
    name: str,
    start: Start,
    filters: dict[str, Any] | None = None,
    confirmations: int = 0,
    format: str = "rest",
) -> Subscription:
    """A subscription consumed over WebSocket or Server-Sent Events (no URL, no secret):
    `webapp.streams.services.subscription_create` with transport `websocket`, which the
    API and the portal call."""
    return subscription_create(
        organisation=organisation,
        name=name,
        url="",
        start=start,
        filters=filters or {},
        options={"confirmations": confirmations, "format": format},
        transport=Subscription.Transport.WEBSOCKET,
    ).subscription


def live_subscription_of(*, organisation: Organisation, reference: str) -> Subscription:
    """The organisation's live subscription named by id or name, or LiveRefused. Another
    organisation's subscription is answered exactly as one that does not exist."""
    rows = (
        Subscription.objects.filter(organisation=organisation)
        .exclude(transport=Subscription.Transport.EPCIS)  # served under /epcis/
        .select_related("organisation")
    )
    try:
        found = rows.filter(pk=UUID(reference)).first()
    except ValueError:
        found = rows.filter(name=reference).order_by("created_at").first()
    if found is None:
        raise LiveRefused(
            f"{organisation.name} has no subscription {reference!r}.", code=CLOSE_NOT_YOURS
        )
    if found.transport != Subscription.Transport.WEBSOCKET:
        raise LiveRefused(
            f"Subscription {found.name!r} is delivered by {found.transport}, not live.",
            code=CLOSE_NOT_LIVE,
        )
    if found.state != Subscription.State.ACTIVE:
        raise LiveRefused(
            f"Subscription {found.name!r} is {found.state}; resume it first.", code=CLOSE_NOT_LIVE
        )
    return found


def read_ahead_checked(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_READ_AHEAD:
        raise LiveProtocolError(f"readAhead is a whole number from 1 to {MAX_READ_AHEAD}.")
    return int(value)


def _cursor(subscription_id: UUID) -> LiveCursor:
    """The cursor, locked; made at the checkpoint, reset there after a rewind."""
    checkpoint = Subscription.objects.values_list("checkpoint", flat=True).get(pk=subscription_id)
    cursor, made = LiveCursor.objects.select_for_update().get_or_create(
        subscription_id=subscription_id,
        defaults={"read_through": checkpoint, "checkpoint": checkpoint},
    )
    if not made and cursor.checkpoint != checkpoint:
        # Alert rows (negative sequences: `webapp.streams.alerts`) are not read from the
        # store again: they stay.
        LiveDelivery.objects.filter(subscription_id=subscription_id, sequence__gt=0).delete()
        cursor.read_through = cursor.checkpoint = checkpoint
        cursor.save()
    return cursor


def _reset_if_rewound(subscription_id: UUID) -> None:
    """Drop the live rows before any is leased again if a rewind moved the checkpoint."""
    cursor = LiveCursor.objects.filter(subscription_id=subscription_id).first()
    checkpoint = Subscription.objects.filter(pk=subscription_id).values_list(
        "checkpoint", flat=True
    )
    if cursor is not None and cursor.checkpoint not in checkpoint:
        with transaction.atomic():
            _cursor(subscription_id)


def live_refusal(*, subscription_id: UUID) -> LiveRefused | None:
    """Why a started subscription can no longer be served (deleted, paused, disabled)."""
    state = Subscription.objects.filter(pk=subscription_id).values_list("state", flat=True).first()
    if state is None:
        return LiveRefused("The subscription was deleted.", code=CLOSE_NOT_LIVE)
    if state != Subscription.State.ACTIVE:
        return LiveRefused(f"The subscription is {state} now.", code=CLOSE_NOT_LIVE)
    return None


def _advance(cursor: LiveCursor) -> int:
    """Move the checkpoint over the acknowledged prefix; returns it. Runs under the lock."""
    oldest = LiveDelivery.objects.filter(subscription_id=cursor.subscription_id).aggregate(
        oldest=Min("sequence")
    )["oldest"]
    target = cursor.read_through if oldest is None else int(oldest) - 1
    if target > cursor.checkpoint:
        moved = Subscription.objects.filter(
            pk=cursor.subscription_id, checkpoint=cursor.checkpoint
        ).update(checkpoint=target, updated_at=timezone.now())
        if moved:
            cursor.checkpoint = target
            cursor.save(update_fields=["checkpoint"])
    return cursor.checkpoint


def live_claim(
    *,
    subscription: Subscription,
    view: SubscriptionView,
    owner: str,
    read_ahead: int,
    now: datetime | None = None,
) -> list[LiveEvent]:
    """Lease the next events for connection `owner`, so that it holds at most `read_ahead`:
    free rows first (oldest first), then events read from the store."""
    now = now or timezone.now()
    until = now + LEASE
    held = LiveDelivery.objects.filter(
        subscription=subscription, lease_owner=owner, leased_until__gt=now
    ).count()
    want = read_ahead - held
    if want <= 0:
        return []
    _reset_if_rewound(subscription.pk)
    out: list[LiveEvent] = []
    with transaction.atomic():
        free = list(
            LiveDelivery.objects.select_for_update(skip_locked=True)
            .filter(subscription=subscription)
            .filter(Q(lease_owner="") | Q(leased_until__lte=now))
            .order_by("sequence")[:want]
        )
        for row in free:
            # A retraction a reorganisation queued has not been sent before.
            again = row.deliveries > 0
            row.lease_owner, row.leased_until, row.deliveries = owner, until, row.deliveries + 1
            out.append(LiveEvent(row.sequence, row.event_id, row.data, redelivery=again))
        LiveDelivery.objects.bulk_update(free, ["lease_owner", "leased_until", "deliveries"])
    if len(out) < want:
        out += _read(subscription, view, owner, want - len(out), until)
    return out


def _read(
    subscription: Subscription, view: SubscriptionView, owner: str, want: int, until: datetime
) -> list[LiveEvent]:
    horizon = stream_horizon(subscription=subscription)
    with transaction.atomic():
        cursor = _cursor(subscription.pk)
        if horizon <= cursor.read_through:
            return []
        events = ChainEvent.objects.filter(chain_id=subscription.chain_id, id__lte=horizon)
        if view.types is not None:
            events = events.filter(event__in=view.types)
        matched: list[ChainEvent] = []
        scanned = cursor.read_through
        while len(matched) < want:
            chunk = list(events.filter(id__gt=scanned).order_by("id")[:SCAN])
            matched += events_matching(view=view, events=chunk)
            scanned = chunk[-1].pk if len(chunk) == SCAN else horizon
            if len(chunk) < SCAN:
                break
        if len(matched) >= want:
            matched = matched[:want]
            scanned = matched[-1].pk
        rows = [
            LiveDelivery(
                subscription=subscription,
                sequence=event.pk,
                event_id=payload["id"],
                data=payload,
                lease_owner=owner,
                leased_until=until,
                deliveries=1,
            )
            for event, payload in zip(
                matched, fact_payloads(matched, format=subscription.format), strict=True
            )
        ]
        LiveDelivery.objects.bulk_create(rows)
        cursor.read_through = scanned
        cursor.save(update_fields=["read_through"])
        _advance(cursor)
    return [LiveEvent(r.sequence, r.event_id, r.data, redelivery=False) for r in rows]


def live_ack(*, subscription: Subscription, owner: str, event_ids: list[str] | None) -> int:
    """Acknowledge events the connection holds (None: its oldest); returns the checkpoint.
    An id the connection does not hold refuses the whole ack."""
    with transaction.atomic():
        held = LiveDelivery.objects.select_for_update().filter(
            subscription=subscription, lease_owner=owner
        )
        if event_ids is None:
            rows = list(held.order_by("sequence")[:1])
            if not rows:
                raise LiveProtocolError("Nothing is waiting for an ack on this connection.")
        else:
            rows = list(held.filter(event_id__in=event_ids))
            missing = sorted(set(event_ids) - {r.event_id for r in rows})
            if missing:
                raise LiveProtocolError(
                    f"Not waiting for an ack on this connection: {', '.join(missing[:10])}."
                )
        LiveDelivery.objects.filter(pk__in=[r.pk for r in rows]).delete()
        return _advance(_cursor(subscription.pk))


def live_renew(*, subscription: Subscription, owner: str, now: datetime | None = None) -> int:
    """Extend the leases of what the connection holds; returns how many it holds."""
    now = now or timezone.now()
    return LiveDelivery.objects.filter(subscription=subscription, lease_owner=owner).update(
        leased_until=now + LEASE
    )


def live_release(*, subscription: Subscription, owner: str) -> int:
    """The connection closed: what it held goes to the next connection at once."""
    return LiveDelivery.objects.filter(subscription=subscription, lease_owner=owner).update(
        lease_owner="", leased_until=None
    )


def live_read(
    *, subscription: Subscription, view: SubscriptionView, after: int, limit: int = 100
) -> tuple[list[dict[str, Any]], int]:
    """Up to `limit` payloads after sequence `after` that the subscription receives, in
    order, without leasing anything (Server-Sent Events: the client's Last-Event-ID is its
    cursor), and the sequence read through (past events it may not or does not want to see).
    """
    horizon = stream_horizon(subscription=subscription)
    events = ChainEvent.objects.filter(chain_id=subscription.chain_id, id__lte=horizon)
    if view.types is not None:
        events = events.filter(event__in=view.types)
    out: list[dict[str, Any]] = []
    scanned = after
    while len(out) < limit and scanned < horizon:
        chunk = list(events.filter(id__gt=scanned).order_by("id")[:SCAN])
        out += fact_payloads(events_matching(view=view, events=chunk), format=subscription.format)
        scanned = chunk[-1].pk if len(chunk) == SCAN else horizon
    if len(out) > limit:
        out = out[:limit]
        scanned = int(out[-1]["sequence"])
    return out, max(scanned, after)
