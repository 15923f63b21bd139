"""One webhook request: a message's body, signed and POSTed to the subscription's checked
destination (`message_send`). The delivery run (`webapp.streams.delivery`) and the portal's
"send test event" both send through it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from webapp.streams.asymmetric import signing_key_of
from webapp.streams.models import Message, Subscription
from webapp.streams.selectors import secrets_active
from webapp.streams.sender import DeliveryFailed, http_post
from webapp.streams.signing import hmac_key, signed_headers
from webapp.streams.ssrf import Destination, DestinationRefused, destination_check


def message_body(message: Message) -> bytes:
    data: Any = message.data
    if message.batch:
        body: dict[str, Any] = {"type": "batch", "data": data}
    else:
        body = {"type": data[0]["type"], "data": data[0]}
    # Keys sorted: a message sent as formed and one read back from jsonb (a retry, a
    # replay) are the same bytes.
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()


@dataclass(frozen=True)
class Signer:
    """What signs a subscription's requests: the HMAC keys of its active secrets (newest
    first) and its Ed25519 key, if it has one. Read once per run (a run lasts about a
    second; a rotation keeps the previous secret signing for its overlap)."""

    keys: list[bytes]
    ed25519: Ed25519PrivateKey | None = None


def signer_for(*, subscription: Subscription, at: datetime) -> Signer:
    return Signer(
        keys=[hmac_key(s) for s in secrets_active(subscription=subscription, at=at)],
        ed25519=signing_key_of(subscription=subscription),
    )


def message_send(
    *,
    subscription: Subscription,
    message: Message,
    now: datetime,
    signer: Signer | None = None,
    destination: Destination | None = None,
) -> tuple[int | None, str, int]:
    """One signed POST of `message` (with `signer`, default: the secrets active at `now`
    and the subscription's Ed25519 key): (status code or None, error, duration in ms)."""
    body = message_body(message)
    began = time.monotonic()
    code: int | None = None
    error = ""
    try:
        destination = destination or destination_check(subscription.url)
        signer = signer or signer_for(subscription=subscription, at=now)
        headers = signed_headers(
            secrets=signer.keys,
            message_id=message.message_id,
            # The time of sending, from the wall clock (`now` schedules; receivers check
            # the timestamp against their own clock).
            timestamp=int(time.time()),
            body=body,
            ed25519=signer.ed25519,
        )
        code = http_post(destination=destination, headers=headers, body=body)
        if not 200 <= code < 300:
            error = f"the receiver answered {code}"
    except (DestinationRefused, DeliveryFailed, ValueError) as exc:
        error = str(exc)
    return code, error, int((time.monotonic() - began) * 1000)
