"""Reads for the streams: which events a subscription may and wants to receive, where a
start or a rewind lands in the event store, and an organisation's subscriptions.

Visibility is the one rule of `webapp.lots.selectors.scope.StockScope`, applied per event:
auditors and the operator see every fact; any other member sees its own facts (its
address among the fact's arguments), the facts about lots in its stock scope (lots it
created, holds, held, handed or was offered, or that travelled in such a bundle) and the
public facts (`webapp.epcis.consumers.PUBLIC_FACTS`). The subscription's filter only ever
narrows that.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import Count, Max, QuerySet

from contracts.chain.events import event_specs
from webapp.chain.models import ChainEvent, Checkpoint, ConsumerCursor
from webapp.epcis.consumers import PUBLIC_FACTS
from webapp.epcis.facts import SUBJECT_LOT, wanted
from webapp.lots.selectors.scope import StockScope, stock_scope
from webapp.organisations.models import Organisation
from webapp.projections.models import CertificateVersion
from webapp.provenance.selectors import MAX_DEPTH, LotNotFound, lot_trace
from webapp.streams.models import Message, SigningSecret, Subscription

#: The name of the streams' consumer of the event store (`webapp.streams.consumers`):
#: deliveries never pass its cursor, so a reorganisation always reaches what they sent.
CONSUMER_NAME = "streams"
#: The alert events (`webapp.streams.alerts`): off the chain, sent only to subscriptions
#: that name them in `event_types`.
ALERT_RAISED = "alert.raised"
ALERT_CLEARED = "alert.cleared"
ALERT_EVENT_TYPES = (ALERT_RAISED, ALERT_CLEARED)


@dataclass(frozen=True)
class SubscriptionView:
    """What one subscription receives: its organisation's scope narrowed by its filter."""

    scope: StockScope
    addresses: frozenset[str]  # lower-case
    types: frozenset[str] | None
    lots: frozenset[int] | None
    own_only: bool
    #: {lot id: in the stock scope}, filled as events are matched: a view lives for one
    #: delivery run, short enough that a lot entering the scope meanwhile waits a run.
    covered: dict[int, bool] = field(default_factory=dict)


def lots_descending_from(*, lot_ids: Iterable[int], chain_id: int) -> set[int]:
    """The lots and every lot made from them or packed with them, as the mirror knows it
    now (a bundle it went into, a transformation's outputs, and on down)."""
    found: set[int] = set()
    for lot_id in lot_ids:
        found.add(int(lot_id))
        try:
            trace = lot_trace(
                lot_id=int(lot_id),
                direction="down",
                depth=MAX_DEPTH,
                chain_id=chain_id,
                alive_only=False,
            )
        except LotNotFound:
            continue
        found |= set(trace.nodes)
    return found


def subscription_view(*, subscription: Subscription) -> SubscriptionView:
    scope = stock_scope(organisation=subscription.organisation)
    lots = None
    if subscription.lot_ids:
        lots = frozenset(
            lots_descending_from(lot_ids=subscription.lot_ids, chain_id=subscription.chain_id)
        )
    return SubscriptionView(
        scope=scope,
        addresses=frozenset(a.lower() for a in scope.addresses),
        types=frozenset(subscription.event_types) if subscription.event_types else None,
        lots=lots,
        own_only=subscription.own_only,
    )


def _addresses_in(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        if value.startswith("0x") and len(value) == 42:
            yield value.lower()
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _addresses_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _addresses_in(item)


def _lots_of(events: Sequence[ChainEvent], chain_id: int) -> dict[int, set[int]]:
    """{event id: the lots the fact is about}; a revocation is about its certificate's lot."""
    certificates: set[int] = set()
    lots: dict[int, set[int]] = {}
    for event in events:
        need = wanted([event])
        lots[event.pk] = set(need.lot_ids)
        certificates |= need.certificate_ids
    if certificates:
        subjects = dict(
            CertificateVersion.objects.filter(
                chain_id=chain_id, certificate_id__in=certificates, subject_kind=SUBJECT_LOT
            ).values_list("certificate_id", "subject")
        )
        for event in events:
            if event.event == "CertificateRevoked":
                subject = subjects.get(int(event.args["certificateId"]))
                if subject is not None:
                    lots[event.pk].add(int(subject))
    return lots


def events_matching(*, view: SubscriptionView, events: Sequence[ChainEvent]) -> list[ChainEvent]:
    """The events, in their order, that the subscription may see and asked for."""
    if view.types is not None:
        events = [e for e in events if e.event in view.types]
    if not events:
        return []
    chain_id = events[0].chain_id
    lots = _lots_of(events, chain_id)
    if not view.scope.everything:
        unknown = sorted({i for found in lots.values() for i in found} - set(view.covered))
        if unknown:
            found_now = view.scope.covered(unknown)
            view.covered.update({i: i in found_now for i in unknown})
    covered = {i for i, yes in view.covered.items() if yes}
    out = []
    for event in events:
        about = lots[event.pk]
        own = not view.addresses.isdisjoint(_addresses_in(event.args))
        visible = (
            view.scope.everything or own or event.event in PUBLIC_FACTS or bool(about & covered)
        )
        if not visible:
            continue
        if view.own_only and not own:
            continue
        if view.lots is not None and not (about & view.lots):
            continue
        out.append(event)
    return out


def stream_horizon(*, subscription: Subscription) -> int:
    """The last sequence the subscription may be delivered now: what the streams consumer
    has passed, and with `confirmations` N only events at least N blocks below the head."""
    chain_id = subscription.chain_id
    cursor = (
        ConsumerCursor.objects.filter(chain_id=chain_id, name=CONSUMER_NAME)
        .values_list("event_id", flat=True)
        .first()
    ) or 0
    if subscription.confirmations == 0:
        return int(cursor)
    head = (
        Checkpoint.objects.filter(chain_id=chain_id).values_list("head_number", flat=True).first()
    )
    if head is None:
        return 0
    limit = int(head) - subscription.confirmations
    last = ChainEvent.objects.filter(
        chain_id=chain_id, id__lte=cursor, block_number__lte=limit
    ).aggregate(last=Max("id"))["last"]
    return int(last or 0)


def sequence_before(
    *,
    chain_id: int,
    kind: str,
    sequence: int | None = None,
    block: int | None = None,
    at: datetime | None = None,
) -> int:
    """The checkpoint that makes a stream start at `kind`: "oldest", "newest", the first
    event at or after `sequence`, `block` or time `at`."""
    events = ChainEvent.objects.filter(chain_id=chain_id)
    if kind == "oldest":
        return 0
    if kind == "sequence" and sequence is not None:
        return max(sequence - 1, 0)
    if kind == "block" and block is not None:
        events = events.filter(block_number__lt=block)
    elif kind == "time" and at is not None:
        events = events.filter(block_timestamp__lt=at)
    elif kind != "newest":
        raise ValueError(f"unknown start {kind!r}")
    return int(events.aggregate(last=Max("id"))["last"] or 0)


@functools.cache
def event_types_known() -> list[str]:
    """The names of the events the system's contracts emit, and the alert events
    (`webapp.streams.alerts`), which a subscription gets only when it names them."""
    return sorted({spec.name for spec in event_specs().values()}) + list(ALERT_EVENT_TYPES)


def messages_by_status() -> dict[str, int]:
    """Formed messages not yet acknowledged: pending (due or retrying) and dead letters."""
    counts = dict(
        Message.objects.values("status").annotate(n=Count("id")).values_list("status", "n")
    )
    return {status: counts.get(status, 0) for status in Message.Status.values}


def subscriptions_active() -> bool:
    return Subscription.objects.filter(state=Subscription.State.ACTIVE).exists()


def subscriptions_of(*, organisation: Organisation) -> QuerySet[Subscription]:
    """The organisation's webhook and live subscriptions (its EPCIS ones live under
    /epcis/)."""
    return Subscription.objects.filter(
        organisation=organisation,
        transport__in=[Subscription.Transport.WEBHOOK, Subscription.Transport.WEBSOCKET],
    ).order_by("created_at")


def subscription_of(*, organisation: Organisation, subscription_id: UUID) -> Subscription | None:
    """The organisation's subscription, or None (also for another organisation's)."""
    return subscriptions_of(organisation=organisation).filter(pk=subscription_id).first()


#: How many events after a checkpoint `stream_position` counts at most.
BEHIND_LIMIT = 10_000


@dataclass(frozen=True)
class StreamPosition:
    """Where a subscription stands in the event store."""

    head: int  # the newest sequence in the store
    behind: int  # events after the checkpoint, counted up to BEHIND_LIMIT + 1


def stream_position(*, subscription: Subscription) -> StreamPosition:
    """The newest sequence and how many events lie after the subscription's checkpoint
    (delivered or skipped ones lie before it; the ones after are not yet gone through,
    whether or not its filter wants them)."""
    events = ChainEvent.objects.filter(chain_id=subscription.chain_id)
    head = events.aggregate(last=Max("id"))["last"] or 0
    after = events.filter(id__gt=subscription.checkpoint).values("id")[: BEHIND_LIMIT + 1]
    return StreamPosition(head=int(head), behind=after.count())


def secrets_active(*, subscription: Subscription, at: datetime) -> list[str]:
    """The secrets that sign now, newest first."""
    rows = SigningSecret.objects.filter(subscription=subscription).order_by("-created_at")
    return [s.secret for s in rows if s.expires_at is None or s.expires_at > at]


def dead_letters(*, subscription: Subscription) -> QuerySet[Message]:
    return Message.objects.filter(subscription=subscription, status=Message.Status.DEAD)
