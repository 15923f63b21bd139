"""EPCIS 2.0 query subscriptions (the REST binding's `/queries/{name}/subscriptions`,
webhook form) as streams subscriptions of transport `epcis`.

Each subscription is a `Subscription` (the organisation's; `url` = `dest`, its lease, state,
`Message` queue and `DeliveryAttempt` log) with an `EpcisSubscription` beside it. What it
receives is what its organisation would get from `GET /epcis/queries/{name}/events` (the
named query's parameters through `webapp.epcis.query.parse_query`, among the events
`webapp.epcis.selectors.events_visible_to` allows), taken in EPCIS event id order after the
checkpoint. Each delivery POSTs an `EPCISQueryDocument` (with `subscriptionID` and
`queryName`, at most `EVENTS_PER_DOCUMENT` events) to `dest`, through the webhooks' SSRF
guard and sender, signed with `GS1-Signature: sha256=<hex HMAC-SHA256 of the body, keyed
with the UTF-8 bytes of signatureToken>` (no header without a token). The request body
and the resource as the binding spells them: `webapp.streams.epcis_requests`.

- `stream`: a document as soon as matching events are settled (below).
- `schedule` (`webapp.streams.epcis_schedule`, UTC): at each scheduled time the query runs
  over the events stored since the last run (up to the highest id when it fired, sent once
  all of them are settled); a run with none sends an empty document only with
  `reportIfEmpty`.

Delivery is ordered, like an ordered webhook: a document is formed and stored before it is
sent (a retry sends the same bytes); the checkpoint moves to its last id only on a 2xx;
attempts follow the webhooks' `RETRY_DELAYS`, and 410 or running out of them disables
the subscription.

Settled ids: EPCIS events come from captures in concurrent transactions, so an id may
become visible after a higher one. A run notes a fence (the highest id it sees and
PostgreSQL's transaction horizon); once every transaction that was open then has ended,
every id up to the fence is visible and may be passed. Events thus arrive one run later
than they are stored, never skipped. The horizon is the server's: a long writing
transaction in any database of the PostgreSQL server delays deliveries until it ends.

Retractions (`epcis_retractions_queue`, from the streams consumer's rollback, while the
removed events are still stored): EPCIS has no retraction, but it has error declarations,
so an event derived from a fact a reorganisation removed, once delivered, is sent again in
a document of its own with `errorDeclaration: {"declarationTime": <now>, "reason":
"did_not_occur"}` (same eventID), ahead of anything formed later. A document formed but
not yet delivered that holds a removed event is dropped and formed again.

Not here: the WebSocket form of subscriptions, `GS1-EPC-Format` / `GS1-CBV-XML-Format`
(documents go out as stored).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from webapp.epcis.documents import query_document
from webapp.epcis.models import EpcisEvent, NamedQuery
from webapp.epcis.query import parse_query, query_parameters
from webapp.epcis.selectors import events_visible_to
from webapp.streams.delivery import LEASE, RETRY_DELAYS
from webapp.streams.epcis_requests import SubscriptionRequest
from webapp.streams.epcis_schedule import schedule_next, schedule_parse
from webapp.streams.models import DeliveryAttempt, EpcisSubscription, Message, Subscription
from webapp.streams.sender import DeliveryFailed, http_post
from webapp.streams.ssrf import DestinationRefused, destination_check

log = logging.getLogger(__name__)

#: Events per EPCISQueryDocument (the binding: "manageable batches").
EVENTS_PER_DOCUMENT = 100
#: Documents sent per subscription per run.
PER_RUN = 50


def epcis_subscription_create(
    *, query: NamedQuery, request: SubscriptionRequest, now: datetime | None = None
) -> EpcisSubscription:
    """A new subscription to `query`: it receives the events stored from now on (or, with
    `initialRecordTime`, every stored event recorded since then)."""
    now = now or timezone.now()
    start = "newest"
    checkpoint = _highest_id()
    if request.initial_record_time is not None:
        start, checkpoint = f"time:{request.initial_record_time.isoformat()}", 0
    next_run = None
    if request.schedule is not None:
        next_run = schedule_next(schedule_parse(request.schedule), after=now)
    with transaction.atomic():
        subscription = Subscription.objects.create(
            organisation=query.organisation,
            name=f"EPCIS {query.name}"[:100],
            chain_id=settings.CHAIN_ID,
            transport=Subscription.Transport.EPCIS,
            url=request.dest,
            start=start,
            checkpoint=checkpoint,
        )
        return EpcisSubscription.objects.create(
            subscription=subscription,
            query=query,
            signature_token=request.signature_token,
            stream=request.stream,
            schedule=request.schedule,
            report_if_empty=request.report_if_empty,
            initial_record_time=request.initial_record_time,
            next_run_at=next_run,
            settled_sequence=checkpoint,
        )


def epcis_subscriptions_of(*, query: NamedQuery) -> QuerySet[EpcisSubscription]:
    return (
        EpcisSubscription.objects.filter(query=query)
        .select_related("subscription", "query")
        .order_by("subscription__created_at")
    )


def epcis_subscription_of(*, query: NamedQuery, subscription_id: str) -> EpcisSubscription | None:
    try:
        key = UUID(subscription_id)
    except ValueError:
        return None
    return epcis_subscriptions_of(query=query).filter(pk=key).first()


def epcis_subscription_delete(*, epcis: EpcisSubscription) -> None:
    epcis.subscription.delete()  # cascades to the EPCIS side, its messages and its log


def gs1_signature(*, token: str, body: bytes) -> str:
    """The `GS1-Signature` header's value for `body`."""
    return "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def _highest_id() -> int:
    return int(EpcisEvent.objects.aggregate(top=Max("id"))["top"] or 0)


def _settle(epcis: EpcisSubscription) -> int:
    """The highest EPCIS event id below which every event is visible now (see the module
    docstring); moves the fence on. Runs outside any transaction of ours."""
    if connection.vendor != "postgresql":
        return _highest_id()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint,"
            " (SELECT coalesce(max(id), 0) FROM epcis_epcisevent)"
            " FROM pg_current_snapshot() AS s"
        )
        oldest_open, next_xid, top = cursor.fetchone()
    before = (epcis.settled_sequence, epcis.fence_sequence, epcis.fence_xid)
    settled = epcis.settled_sequence
    fence = epcis.fence_sequence
    if fence is not None and epcis.fence_xid is not None and oldest_open >= epcis.fence_xid:
        settled = max(settled, fence)
        fence = None
    if fence is None and top > settled:
        epcis.fence_sequence, epcis.fence_xid = top, next_xid
    elif fence is None:
        epcis.fence_sequence = epcis.fence_xid = None
    epcis.settled_sequence = settled
    if (settled, epcis.fence_sequence, epcis.fence_xid) != before:
        EpcisSubscription.objects.filter(pk=epcis.pk).update(
            settled_sequence=settled,
            fence_sequence=epcis.fence_sequence,
            fence_xid=epcis.fence_xid,
        )
    return settled


def _matching(epcis: EpcisSubscription, after: int, until: int) -> QuerySet[EpcisEvent]:
    """The events in (after, until] the subscription receives, in id order."""
    query = parse_query(query_parameters(epcis.query.query))
    rows: QuerySet[EpcisEvent] = query.apply(
        events_visible_to(organisation=epcis.subscription.organisation)
    )
    rows = rows.filter(id__gt=after, id__lte=until)
    if epcis.initial_record_time is not None:
        rows = rows.filter(record_time__gte=epcis.initial_record_time)
    return rows.order_by("id")


def _document(epcis: EpcisSubscription, events: list[EpcisEvent]) -> dict[str, Any]:
    document = query_document(events, epcis.query.name)
    results = document["epcisBody"]["queryResults"]
    document["epcisBody"]["queryResults"] = {
        "subscriptionID": str(epcis.pk),
        "queryName": results["queryName"],
        "resultsBody": results["resultsBody"],
    }
    return document


def _message(
    epcis: EpcisSubscription, events: list[EpcisEvent], last: int, now: datetime
) -> Message:
    first = events[0].pk if events else last
    return Message.objects.create(
        subscription=epcis.subscription,
        message_id=f"epcis_{epcis.pk.hex}_{first}_{last}",
        first_sequence=first,
        last_sequence=last,
        data=_document(epcis, events),
        next_attempt_at=now,
        created_at=now,
    )


def epcis_retractions_queue(*, chain_id: int, to_block: int, now: datetime) -> int:
    """Queue the error declarations of the delivered chain-derived events above
    `to_block`; returns how many events they declare."""
    removed = EpcisEvent.objects.filter(
        source=EpcisEvent.Source.CHAIN, chain_id=chain_id, block_number__gt=to_block
    )
    first = removed.order_by("id").values_list("id", flat=True).first()
    if first is None:
        return 0
    queued = 0
    rows = EpcisSubscription.objects.select_for_update(of=("self",)).select_related(
        "subscription", "subscription__organisation", "query"
    )
    for epcis in rows.filter(subscription__chain_id=chain_id):
        subscription = epcis.subscription
        subscription.messages.filter(
            kind=Message.Kind.EVENTS, status=Message.Status.PENDING, last_sequence__gte=first
        ).delete()
        if subscription.checkpoint < first:
            continue
        delivered = list(
            _matching(epcis, first - 1, subscription.checkpoint).filter(id__in=removed.values("id"))
        )
        for start in range(0, len(delivered), EVENTS_PER_DOCUMENT):
            chunk = delivered[start : start + EVENTS_PER_DOCUMENT]
            document = _document(epcis, chunk)
            declared = {"declarationTime": now.isoformat(), "reason": "did_not_occur"}
            for event in document["epcisBody"]["queryResults"]["resultsBody"]["eventList"]:
                event["errorDeclaration"] = declared
            Message.objects.create(
                subscription=subscription,
                message_id=f"epcis_{epcis.pk.hex}_retracted_{chunk[0].pk}_{chunk[-1].pk}",
                kind=Message.Kind.RETRACTIONS,
                first_sequence=chunk[0].pk,
                last_sequence=chunk[-1].pk,
                data=document,
                next_attempt_at=now,
                created_at=now,
            )
            queued += len(chunk)
    return queued


def _form(epcis: EpcisSubscription, now: datetime) -> Message | None:
    """Store the next document, or None when nothing is due."""
    subscription = epcis.subscription
    settled = _settle(epcis)
    if epcis.stream:
        until = settled
    else:
        if epcis.run_until is None:
            if epcis.next_run_at is None or epcis.next_run_at > now:
                return None
            # The run covers what was stored before it fired, once all of that is settled.
            epcis.run_from = subscription.checkpoint
            epcis.run_until = max(_highest_id(), subscription.checkpoint)
            epcis.next_run_at = schedule_next(schedule_parse(epcis.schedule), after=now)
            EpcisSubscription.objects.filter(pk=epcis.pk).update(
                run_from=epcis.run_from, run_until=epcis.run_until, next_run_at=epcis.next_run_at
            )
        until = epcis.run_until
        if settled < until:
            return None
        first = epcis.run_from if epcis.run_from is not None else subscription.checkpoint
        if subscription.checkpoint == first and not _matching(epcis, first, until).exists():
            if epcis.report_if_empty:
                return _message(epcis, [], until, now)
            _passed(epcis, until)
            return None
    if until <= subscription.checkpoint:
        return None
    events = list(_matching(epcis, subscription.checkpoint, until)[:EVENTS_PER_DOCUMENT])
    if not events:
        _passed(epcis, until)
        return None
    last = events[-1].pk if len(events) == EVENTS_PER_DOCUMENT else until
    return _message(epcis, events, last, now)


def _passed(epcis: EpcisSubscription, sequence: int) -> None:
    """Move the checkpoint to `sequence` (delivered or nothing to deliver up to it)."""
    subscription = epcis.subscription
    if sequence > subscription.checkpoint:
        subscription.checkpoint = sequence
        Subscription.objects.filter(pk=subscription.pk).update(
            checkpoint=sequence, updated_at=timezone.now()
        )
    if epcis.run_until is not None and subscription.checkpoint >= epcis.run_until:
        epcis.run_until = None
        EpcisSubscription.objects.filter(pk=epcis.pk).update(run_until=None)


def _send(epcis: EpcisSubscription, message: Message) -> tuple[int | None, str, int]:
    # Keys sorted: the stored document comes back from jsonb in its order, and a retry
    # sends the very bytes (and signature) the first attempt sent.
    body = json.dumps(
        message.data, separators=(",", ":"), ensure_ascii=False, sort_keys=True
    ).encode()
    headers = {
        "content-type": "application/json",
        "GS1-EPCIS-Version": "2.0.0",
        "GS1-CBV-Version": "2.0.0",
    }
    if epcis.signature_token:
        headers["GS1-Signature"] = gs1_signature(token=epcis.signature_token, body=body)
    began = time.monotonic()
    code: int | None = None
    error = ""
    try:
        code = http_post(
            destination=destination_check(epcis.subscription.url), headers=headers, body=body
        )
        if not 200 <= code < 300:
            error = f"the receiver answered {code}"
    except (DestinationRefused, DeliveryFailed) as exc:
        error = str(exc)
    return code, error, int((time.monotonic() - began) * 1000)


def _attempt(epcis: EpcisSubscription, message: Message, now: datetime) -> bool:
    """One attempt at `message`; returns whether the receiver took it (2xx)."""
    subscription = epcis.subscription
    code, error, duration = _send(epcis, message)
    attempt = message.attempts + 1
    row = DeliveryAttempt(
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
        if not error:
            row.status = DeliveryAttempt.Status.DELIVERED
            row.save()
            message.delete()
            _passed(epcis, message.last_sequence)
            epcis.last_notified_at = now
            EpcisSubscription.objects.filter(pk=epcis.pk).update(last_notified_at=now)
            return True
        message.attempts = attempt
        message.last_error = error[:2000]
        if code == 410 or attempt >= len(RETRY_DELAYS):
            row.status = DeliveryAttempt.Status.GAVE_UP
            reason = (
                "The endpoint answered 410 Gone."
                if code == 410
                else f"{attempt} attempts failed; the last: {error}"
            )
            subscription.state = Subscription.State.DISABLED
            Subscription.objects.filter(pk=subscription.pk).update(
                state=subscription.state, disabled_reason=reason, updated_at=now
            )
            message.attempts = 0
            log.warning("EPCIS subscription %s disabled: %s", subscription.pk, reason)
        else:
            row.status = DeliveryAttempt.Status.FAILED
            message.next_attempt_at = now + timedelta(seconds=RETRY_DELAYS[attempt])
            row.next_attempt_at = message.next_attempt_at
        message.save(update_fields=["attempts", "last_error", "next_attempt_at"])
        row.save()
    return False


def _claim(subscription_id: UUID, now: datetime) -> EpcisSubscription | None:
    with transaction.atomic():
        subscription = (
            Subscription.objects.select_for_update(skip_locked=True)
            .filter(pk=subscription_id, state=Subscription.State.ACTIVE)
            .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
            .first()
        )
        if subscription is None:
            return None
        subscription.leased_until = now + LEASE
        subscription.save(update_fields=["leased_until"])
    return (
        EpcisSubscription.objects.select_related(
            "subscription", "subscription__organisation", "query"
        )
        .filter(pk=subscription_id)
        .first()
    )


def epcis_subscription_deliver(*, subscription_id: UUID, now: datetime | None = None) -> int:
    """Deliver what is due for one EPCIS subscription unless another worker holds it;
    returns the documents delivered."""
    now = now or timezone.now()
    epcis = _claim(subscription_id, now)
    if epcis is None:
        return 0
    delivered = 0
    try:
        for _ in range(PER_RUN):
            message = epcis.subscription.messages.filter(status=Message.Status.PENDING).first()
            if message is not None and message.next_attempt_at > now:
                break  # ordered: waits for this document's next attempt
            if message is None:
                message = _form(epcis, now)
            if message is None:
                break
            if not _attempt(epcis, message, now):
                break
            delivered += 1
    finally:
        Subscription.objects.filter(
            pk=subscription_id, leased_until=epcis.subscription.leased_until
        ).update(leased_until=None)
    return delivered


def epcis_subscriptions_deliver_due(*, now: datetime | None = None) -> int:
    """Deliver what is due for every active EPCIS subscription (one that raises is logged
    and holds up no other); returns the documents delivered."""
    # A named query deleted with its subscriptions leaves their Subscription rows behind.
    Subscription.objects.filter(transport=Subscription.Transport.EPCIS, epcis__isnull=True).delete()
    delivered = 0
    ids = Subscription.objects.filter(
        state=Subscription.State.ACTIVE, transport=Subscription.Transport.EPCIS
    ).values_list("id", flat=True)
    for subscription_id in list(ids):
        try:
            delivered += epcis_subscription_deliver(subscription_id=subscription_id, now=now)
        except Exception:
            log.exception("EPCIS subscription %s raised; the others go on", subscription_id)
    return delivered
