"""Standard Webhooks signatures (https://www.standardwebhooks.com).

A secret is `whsec_` + base64 of 32 random bytes; the HMAC key is those bytes. Each
request carries `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature`:
space-separated `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`, one per active
secret (two while a rotation overlaps), so a receiver holding either verifies it.

The asymmetric scheme is optional per subscription: `v1a,<base64 Ed25519 signature of
"{id}.{timestamp}.{body}">` in the same header, after the `v1` ones. Its public key is
published as `whpk_` + base64 of the 32-byte raw public key; a receiver verifies with it
alone, holding no secret (`webapp.streams.asymmetric` keeps the private half).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SECRET_PREFIX = "whsec_"
PUBLIC_KEY_PREFIX = "whpk_"
SECRET_BYTES = 32


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def hmac_key(secret: str) -> bytes:
    """The HMAC key a `whsec_` secret stands for."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def _signed_content(message_id: str, timestamp: int, body: bytes) -> bytes:
    return f"{message_id}.{timestamp}.".encode() + body


def signature(*, secret: str | bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC>`; `secret` is a `whsec_` secret or its key (`hmac_key`)."""
    key = hmac_key(secret) if isinstance(secret, str) else secret
    digest = hmac.new(key, _signed_content(message_id, timestamp, body), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def public_key_text(key: Ed25519PublicKey) -> str:
    """`whpk_<base64 of the raw public key>`: what a receiver verifies `v1a` with."""
    raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return PUBLIC_KEY_PREFIX + base64.b64encode(raw).decode()


def public_key_parse(text: str) -> Ed25519PublicKey:
    if not text.startswith(PUBLIC_KEY_PREFIX):
        raise ValueError(f"a public key starts with {PUBLIC_KEY_PREFIX}")
    return Ed25519PublicKey.from_public_bytes(
        base64.b64decode(text.removeprefix(PUBLIC_KEY_PREFIX))
    )


def signature_v1a(*, key: Ed25519PrivateKey, message_id: str, timestamp: int, body: bytes) -> str:
    signed = key.sign(_signed_content(message_id, timestamp, body))
    return "v1a," + base64.b64encode(signed).decode()


def signed_headers(
    *,
    secrets: list[str] | list[bytes],
    message_id: str,
    timestamp: int,
    body: bytes,
    ed25519: Ed25519PrivateKey | None = None,
) -> dict[str, str]:
    """The three Standard Webhooks headers (and the content type) for one request: a `v1`
    signature per secret, then `v1a` when the subscription has an Ed25519 key."""
    if not secrets:
        raise ValueError("a webhook needs at least one active signing secret")
    signatures = [
        signature(secret=s, message_id=message_id, timestamp=timestamp, body=body) for s in secrets
    ]
    if ed25519 is not None:
        signatures.append(
            signature_v1a(key=ed25519, message_id=message_id, timestamp=timestamp, body=body)
        )
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }
