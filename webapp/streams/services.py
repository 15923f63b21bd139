"""Writes on subscriptions: create, change, pause, resume, rewind, rotate the secret,
replay dead letters, send a test event. Each refuses bad input with a Django
`ValidationError` (the API answers 400 with it) before it changes anything."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from webapp.operations.services import IdempotencyConflict
from webapp.organisations.models import Organisation
from webapp.streams.asymmetric import (
    asymmetric_key_create,
    asymmetric_key_delete,
    public_key_of,
)
from webapp.streams.models import DeliveryAttempt, Message, SigningSecret, Subscription
from webapp.streams.request import message_send
from webapp.streams.selectors import dead_letters, sequence_before
from webapp.streams.signing import secret_generate
from webapp.streams.ssrf import DestinationRefused, destination_check

MAX_BATCH_SIZE = 1000
MAX_BATCH_TIMEOUT_S = 3600
MAX_CONFIRMATIONS = 1000
#: Options a subscription's owner may change after creation.
OPTIONS = ("batch_size", "batch_timeout_s", "confirmations", "ordered", "format")
FILTERS = ("event_types", "lot_ids", "own_only")


@dataclass(frozen=True)
class Start:
    """Where a stream starts or is rewound to: oldest, newest, or a sequence, block, time."""

    kind: str
    sequence: int | None = None
    block: int | None = None
    at: datetime | None = None

    def describe(self) -> str:
        value = {"sequence": self.sequence, "block": self.block, "time": self.at}.get(self.kind)
        text = value.isoformat() if isinstance(value, datetime) else value
        return self.kind if value is None else f"{self.kind}:{text}"


@dataclass(frozen=True)
class CreatedSubscription:
    subscription: Subscription
    secret: str  # shown once
    public_key: str = ""  # `whpk_`: the `v1a` signatures' key, when asked for


def _url_checked(url: str) -> str:
    try:
        destination_check(url)
    except DestinationRefused as exc:
        raise ValidationError({"url": [str(exc)]}) from exc
    return url


def _options_checked(options: dict[str, Any]) -> dict[str, Any]:
    limits = {
        "batch_size": (1, MAX_BATCH_SIZE),
        "batch_timeout_s": (0, MAX_BATCH_TIMEOUT_S),
        "confirmations": (0, MAX_CONFIRMATIONS),
    }
    for name, (low, high) in limits.items():
        if name in options and not low <= int(options[name]) <= high:
            raise ValidationError({name: [f"Give a number from {low} to {high}."]})
    if "format" in options and options["format"] not in Subscription.Format.values:
        raise ValidationError({"format": [f"Give one of {', '.join(Subscription.Format)}."]})
    return options


def _live_checked(url: str, ed25519: bool, options: dict[str, Any]) -> dict[str, Any]:
    """A live subscription's options (`confirmations`, `format`); it has no URL and no
    signatures."""
    if url:
        raise ValidationError({"url": ["A live subscription has no URL: it is read."]})
    if ed25519:
        raise ValidationError({"ed25519": ["A live subscription is not signed."]})
    return {k: v for k, v in options.items() if k in ("confirmations", "format")}


def subscription_create(
    *,
    organisation: Organisation,
    name: str,
    url: str,
    start: Start,
    filters: dict[str, Any],
    options: dict[str, Any],
    idempotency_key: str = "",
    ed25519: bool = False,
    transport: str = Subscription.Transport.WEBHOOK,
    now: datetime | None = None,
) -> CreatedSubscription:
    """A new subscription and its first secret (and with `ed25519` its Ed25519 key: every
    request then carries a `v1a` signature too). The same `idempotency_key` with the same
    request answers with the subscription it made (and its newest secret); with another
    request it is refused.

    Transport `websocket` makes a live subscription (`webapp.streams.live`): consumed over
    WebSocket or Server-Sent Events, it has no URL, no secret and no batches; its options
    are `confirmations` and `format`."""
    now = now or timezone.now()
    live = transport == Subscription.Transport.WEBSOCKET
    if live:
        options = _live_checked(url, ed25519, options)
    elif transport != Subscription.Transport.WEBHOOK:
        raise ValidationError({"transport": ["Give webhook or websocket."]})
    asked = {
        **filters,
        **options,
        **({"ed25519": True} if ed25519 else {}),
        **({"transport": transport} if live else {}),
    }
    request = json.dumps(
        {"name": name, "url": url, "start": start.describe(), **asked},
        sort_keys=True,
        default=str,
    )
    request_hash = hashlib.sha256(request.encode()).hexdigest()
    if idempotency_key:
        earlier = Subscription.objects.filter(
            organisation=organisation, idempotency_key=idempotency_key
        ).first()
        if earlier is not None:
            if earlier.request_hash != request_hash:
                raise IdempotencyConflict(
                    "This Idempotency-Key created a subscription with another request."
                )
            newest = SigningSecret.objects.filter(subscription=earlier).first()
            return CreatedSubscription(
                earlier, newest.secret if newest else "", public_key_of(subscription=earlier)
            )
    if not live:
        _url_checked(url)
    _options_checked(options)
    chain_id = settings.CHAIN_ID
    checkpoint = sequence_before(
        chain_id=chain_id, kind=start.kind, sequence=start.sequence, block=start.block, at=start.at
    )
    secret = secret_generate()
    with transaction.atomic():
        subscription = Subscription.objects.create(
            organisation=organisation,
            name=name,
            chain_id=chain_id,
            transport=transport,
            url=url,
            start=start.describe(),
            checkpoint=checkpoint,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            **{k: v for k, v in filters.items() if k in FILTERS},
            **{k: v for k, v in options.items() if k in OPTIONS},
        )
        if live:
            return CreatedSubscription(subscription, "")
        SigningSecret.objects.create(subscription=subscription, secret=secret, created_at=now)
        public_key = ""
        if ed25519:
            public_key = asymmetric_key_create(subscription=subscription, now=now).public_key
    return CreatedSubscription(subscription, secret, public_key)


def subscription_update(*, subscription: Subscription, changes: dict[str, Any]) -> Subscription:
    """Change the URL, the filter or the options; the events not yet formed into a message
    follow the new ones. `ed25519` true gives the subscription an Ed25519 key (kept if it
    has one), false drops it (requests then carry `v1` signatures only)."""
    if subscription.transport == Subscription.Transport.WEBSOCKET:
        _live_refuses(changes, ("url", "ed25519", "batch_size", "batch_timeout_s", "ordered"))
    elif "url" in changes:
        _url_checked(changes["url"])
    _options_checked(changes)
    fields = [k for k in ("url", "name", *FILTERS, *OPTIONS) if k in changes]
    if not fields and "ed25519" not in changes:
        return subscription
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
        for name in fields:
            setattr(locked, name, changes[name])
        if fields:
            locked.save(update_fields=[*fields, "updated_at"])
        if changes.get("ed25519"):
            asymmetric_key_create(subscription=locked)
        elif "ed25519" in changes:
            asymmetric_key_delete(subscription=locked)
    return locked


def _live_refuses(changes: dict[str, Any], names: tuple[str, ...]) -> None:
    """A live subscription has no URL, secret, signatures, batches or order to change."""
    for name in names:
        if name in changes and changes[name] not in (None, "", False):
            raise ValidationError({name: ["A live subscription has no such setting."]})


def webhook_only(subscription: Subscription, what: str) -> None:
    """Refuse `what` (a secret rotation, a test event) on a live subscription."""
    if subscription.transport != Subscription.Transport.WEBHOOK:
        raise ValidationError(
            {"transport": [f"A live subscription is read, not sent to: it has no {what}."]}
        )


def subscription_delete(*, subscription: Subscription) -> None:
    subscription.delete()


def subscription_pause(*, subscription: Subscription) -> Subscription:
    return _set_state(subscription, Subscription.State.PAUSED)


def subscription_resume(*, subscription: Subscription, now: datetime | None = None) -> Subscription:
    """Active again (also after it was disabled): a waiting message is tried at once, its
    retry schedule started afresh."""
    now = now or timezone.now()
    with transaction.atomic():
        resumed = _set_state(subscription, Subscription.State.ACTIVE)
        resumed.messages.filter(status=Message.Status.PENDING).update(
            next_attempt_at=now, attempts=0
        )
    return resumed


def _set_state(subscription: Subscription, state: str) -> Subscription:
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
        locked.state = state
        if state == Subscription.State.ACTIVE:
            locked.disabled_reason = ""
        locked.save(update_fields=["state", "disabled_reason", "updated_at"])
    return locked


def subscription_rewind(*, subscription: Subscription, to: Start) -> Subscription:
    """Deliver again from an earlier point, keeping the subscription, its secret and its
    dead letters; messages formed but not yet delivered are dropped (they are formed
    again from the events)."""
    if to.kind == "newest":
        raise ValidationError(
            {"to": ["A rewind goes back: give oldest, a sequence, block or time."]}
        )
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
        target = sequence_before(
            chain_id=locked.chain_id, kind=to.kind, sequence=to.sequence, block=to.block, at=to.at
        )
        if target >= locked.checkpoint:
            raise ValidationError(
                {"to": [f"Rewind to a point before the checkpoint (sequence {locked.checkpoint})."]}
            )
        locked.messages.filter(status=Message.Status.PENDING, kind=Message.Kind.EVENTS).delete()
        locked.checkpoint = target
        locked.batch_started_at = None
        locked.save(update_fields=["checkpoint", "batch_started_at", "updated_at"])
    return locked


def secret_rotate(
    *, subscription: Subscription, overlap: timedelta | None = None, now: datetime | None = None
) -> str:
    """A new secret (returned once); the newest previous one keeps signing for `overlap`,
    any older one stops now: at most two sign at any time."""
    webhook_only(subscription, "signing secret")
    now = now or timezone.now()
    overlap = (
        overlap if overlap is not None else timedelta(seconds=settings.STREAMS_SECRET_OVERLAP_S)
    )
    secret = secret_generate()
    with transaction.atomic():
        Subscription.objects.select_for_update().get(pk=subscription.pk)
        active = [
            s
            for s in SigningSecret.objects.filter(subscription=subscription).order_by("-created_at")
            if s.expires_at is None or s.expires_at > now
        ]
        for index, old in enumerate(active):
            until = now + overlap if index == 0 else now
            if old.expires_at is None or old.expires_at > until:
                old.expires_at = until
                old.save(update_fields=["expires_at"])
        SigningSecret.objects.create(subscription=subscription, secret=secret, created_at=now)
    return secret


def dead_letter_replay(
    *, subscription: Subscription, message_pk: int | None = None, now: datetime | None = None
) -> int:
    """Queue one dead letter (or all) for delivery again; returns how many."""
    now = now or timezone.now()
    rows = dead_letters(subscription=subscription)
    if message_pk is not None:
        rows = rows.filter(pk=message_pk)
    return rows.update(status=Message.Status.PENDING, attempts=0, next_attempt_at=now)


def subscription_send_test(
    *, subscription: Subscription, now: datetime | None = None
) -> DeliveryAttempt:
    """Send one signed `test` event now and log it; it never moves the checkpoint."""
    webhook_only(subscription, "test event")
    now = now or timezone.now()
    payload: dict[str, Any] = {
        "version": 1,
        "id": f"test_{uuid.uuid4().hex}",
        "type": "test",
        "subscription": str(subscription.pk),
        "sentAt": now.isoformat(),
    }
    message = Message(
        subscription=subscription,
        message_id=payload["id"],
        kind="test",
        first_sequence=0,
        last_sequence=0,
        data=[payload],
        batch=subscription.batch_size > 1,
    )
    code, error, duration = message_send(subscription=subscription, message=message, now=now)
    return DeliveryAttempt.objects.create(
        subscription=subscription,
        message_id=message.message_id,
        kind="test",
        first_sequence=0,
        last_sequence=0,
        attempt=1,
        status=DeliveryAttempt.Status.FAILED if error else DeliveryAttempt.Status.DELIVERED,
        response_code=code,
        duration_ms=duration,
        error=error[:2000],
        attempted_at=now,
    )
