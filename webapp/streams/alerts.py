"""Alert events: a rule breach (`webapp.monitoring.alerts`) on the organisation's streams.

`alert.raised` when a breach raises an alert, `alert.cleared` when a person clears it.
They go to the subscriptions of the organisation whose rule fired (no one else sees its
alerts: `webapp.monitoring.alert_selectors`), and only to those that name the type in
their `event_types` (an empty filter means every chain fact, no alerts). A subscription
with `lot_ids` gets the alerts about those lots (or what descends from them).

`alert_event_queue` is the monitoring app's `on_alert_changed` hook: it runs inside the
transaction that raises or clears the alert and writes the outbox row (`AlertEvent`), a
webhook `Message` per opted-in webhook subscription (signed, retried and ordered among
its facts as any message; `webhook-id` the event id) and a `LiveDelivery` row per live
one (sent to the next connection asking, before its next facts). JetStream publishes the
outbox rows on `<prefix>.org-<slug>.alerts` (`Nats-Msg-Id` the event id).

Alerts are off the chain: a reorganisation never retracts them, and a rewind does not
send them again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from webapp.monitoring.alerts import rule_description
from webapp.monitoring.models import Alert, Rule, SensorReading
from webapp.monitoring.rules import value_of
from webapp.streams.models import AlertEvent, LiveDelivery, Message, Subscription
from webapp.streams.payloads import PAYLOAD_VERSION
from webapp.streams.selectors import (
    ALERT_CLEARED,
    ALERT_EVENT_TYPES,
    ALERT_RAISED,
    lots_descending_from,
)

__all__ = ["ALERT_CLEARED", "ALERT_EVENT_TYPES", "ALERT_RAISED", "alert_event_queue"]

#: Live rows of alerts sort before every fact (sequences of facts are positive) and among
#: themselves in the order they were raised.
LIVE_SEQUENCE_BASE = -(2**62)
#: The readings of an alert's window looked at for its extremes and devices.
MAX_WINDOW_READINGS = 10_000


def _link(name: str, *args: Any) -> str:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def _number(value: Decimal | None) -> str | None:
    return None if value is None else f"{Decimal(value).normalize():f}"


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _window(alert: Alert, rule: Rule | None) -> dict[str, Any]:
    """The readings behind the alert: their ids and times, the devices, the extremes."""
    window: dict[str, Any] = {
        "firstReadingId": alert.first_reading_id,
        "lastReadingId": alert.last_reading_id,
        "from": None,
        "to": None,
        "devices": [],
        "maxValue": None,
        "minValue": None,
    }
    if alert.first_reading_id is None or alert.last_reading_id is None:
        return window
    ends = dict(
        SensorReading.objects.filter(
            id__in=[alert.first_reading_id, alert.last_reading_id]
        ).values_list("id", "time")
    )
    if len(ends) < (1 if alert.first_reading_id == alert.last_reading_id else 2):
        return window
    first, last = ends[alert.first_reading_id], ends[alert.last_reading_id]
    readings = SensorReading.objects.filter(
        lot_id__in=alert.lot_ids, time__gte=min(first, last), time__lte=max(first, last)
    )
    window["from"], window["to"] = _time(min(first, last)), _time(max(first, last))
    window["devices"] = sorted(
        {d for d in readings.values_list("device_id", flat=True)[:MAX_WINDOW_READINGS] if d}
    )
    if rule is not None and rule.threshold is not None:
        values = [
            v
            for v in (value_of(rule, r) for r in readings.order_by("id")[:MAX_WINDOW_READINGS])
            if v is not None
        ]
        if values:
            window["maxValue"], window["minValue"] = _number(max(values)), _number(min(values))
    return window


def alert_payload(alert: Alert, event_type: str, *, at: datetime) -> dict[str, Any]:
    """The JSON-ready payload of one alert event (README: "Alert events")."""
    rule = alert.rule
    what = event_type.removeprefix("alert.")
    return {
        "version": PAYLOAD_VERSION,
        "id": f"alert_{alert.pk}_{what}",
        "type": event_type,
        "occurredAt": at.isoformat(),
        "organisation": alert.organisation.slug,
        "alert": {
            "id": alert.pk,
            "state": alert.state,
            "message": alert.message,
            "rule": {
                "id": alert.rule_id,
                "name": alert.rule_name,
                "kind": alert.kind,
                "description": rule_description(rule) if rule is not None else "",
                "threshold": _number(rule.threshold) if rule is not None else None,
                "durationS": rule.duration_s if rule is not None else None,
                "geofence": (
                    {
                        "latitude": _number(rule.latitude),
                        "longitude": _number(rule.longitude),
                        "radiusKm": _number(rule.radius_km),
                    }
                    if rule is not None and rule.kind == Rule.Kind.GEOFENCE_EXIT
                    else None
                ),
            },
            "lotIds": [int(i) for i in alert.lot_ids],
            "bundleId": int(rule.bundle_id) if rule and rule.bundle_id is not None else None,
            "worstValue": _number(alert.worst_value),
            "window": _window(alert, rule),
            "startedAt": _time(alert.started_at),
            "endedAt": _time(alert.ended_at),
            "quarantinedLotIds": [int(i) for i in alert.quarantined_lot_ids],
            "clearedAt": _time(alert.cleared_at),
            "clearReason": alert.clear_reason,
        },
        "links": {
            "portal": _link("portal:alerts"),
            "api": _link("api:alert", alert.pk),
        },
    }


def _wants(subscription: Subscription, event_type: str, lot_ids: Sequence[int]) -> bool:
    if event_type not in subscription.event_types:
        return False
    if not subscription.lot_ids:
        return True
    wanted = lots_descending_from(lot_ids=subscription.lot_ids, chain_id=subscription.chain_id)
    return bool(wanted & {int(i) for i in lot_ids})


def _message_id(event_id: str, batch: bool) -> str:
    if not batch:
        return event_id
    return "batch_" + hashlib.sha256(f"{event_id}:{event_id}".encode()).hexdigest()[:32]


def alert_event_queue(alert: Alert, what: str, *, now: datetime | None = None) -> AlertEvent:
    """The `on_alert_changed` hook (`what`: "raised" or "cleared"): the outbox row and the
    deliveries of every subscription of the organisation that asked for it. Runs inside
    the caller's transaction."""
    now = now or timezone.now()
    event_type = f"alert.{what}"
    payload = alert_payload(alert, event_type, at=now)
    event, made = AlertEvent.objects.get_or_create(
        event_id=payload["id"],
        defaults={
            "organisation_id": alert.organisation_id,
            "type": event_type,
            "data": payload,
            "created_at": now,
        },
    )
    if not made:
        return event  # queued already (the same alert raised or cleared once only)
    subscriptions = Subscription.objects.filter(
        organisation_id=alert.organisation_id,
        chain_id=settings.CHAIN_ID,
        transport__in=[Subscription.Transport.WEBHOOK, Subscription.Transport.WEBSOCKET],
    ).order_by("created_at")
    messages, live = [], []
    for subscription in subscriptions:
        if not _wants(subscription, event_type, alert.lot_ids):
            continue
        if subscription.transport == Subscription.Transport.WEBSOCKET:
            live.append(
                LiveDelivery(
                    subscription=subscription,
                    sequence=LIVE_SEQUENCE_BASE + event.pk,
                    event_id=event.event_id,
                    data=payload,
                    deliveries=0,
                )
            )
            continue
        batch = subscription.batch_size > 1
        messages.append(
            Message(
                subscription=subscription,
                message_id=_message_id(event.event_id, batch),
                kind=Message.Kind.ALERTS,
                first_sequence=0,
                last_sequence=0,
                data=[payload],
                batch=batch,
                next_attempt_at=now,
                created_at=now,
            )
        )
    Message.objects.bulk_create(messages)
    LiveDelivery.objects.bulk_create(live)
    return event


def alert_events_unpublished(*, limit: int) -> list[AlertEvent]:
    """The outbox rows JetStream has not yet taken, oldest first."""
    return list(
        AlertEvent.objects.filter(published_at__isnull=True)
        .select_related("organisation")
        .order_by("id")[:limit]
    )


def alert_events_published(events: Sequence[AlertEvent], *, at: datetime | None = None) -> None:
    AlertEvent.objects.filter(pk__in=[e.pk for e in events]).update(
        published_at=at or timezone.now()
    )


def alert_events_latest() -> int:
    """The newest outbox row's id (0: none): where a Server-Sent Events stream starts."""
    last = AlertEvent.objects.order_by("-id").values_list("id", flat=True).first()
    return int(last or 0)


def alert_events_for(
    *, subscription: Subscription, after: int, limit: int = 100
) -> tuple[list[dict[str, Any]], int]:
    """The alert events after outbox row `after` the subscription asked for (Server-Sent
    Events: no ack, so only those raised while it is connected), and the last row read."""
    types = [t for t in subscription.event_types if t in ALERT_EVENT_TYPES]
    if not types:
        return [], after
    rows = list(
        AlertEvent.objects.filter(
            organisation_id=subscription.organisation_id, id__gt=after, type__in=types
        ).order_by("id")[:limit]
    )
    wanted = [r.data for r in rows if _wants(subscription, r.type, r.data["alert"]["lotIds"])]
    return wanted, (rows[-1].pk if rows else after)
