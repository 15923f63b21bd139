"""Ed25519 keys for the `v1a` webhook signatures (Standard Webhooks' asymmetric scheme).

The organisation's key stores (`contracts.custody`: keystore files, PKCS#11, Azure Key
Vault) generate and hold secp256k1 keys only; none of them can sign with Ed25519. So the
key is generated here and sealed as personal data keys are (envelope encryption): its 32
raw private bytes are wrapped by a key-encryption key inside the organisation's key store
(`Organisation.key_backend`), one per organisation, made the first time it is needed. The
database holds the wrapped bytes only; the private key exists in clear in the delivering
process's memory, unwrapped once per delivery run, as the HMAC secrets do.
"""

from __future__ import annotations

from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from django.utils import timezone

from webapp.organisations.keys import backend, open_wrapper
from webapp.organisations.models import Organisation
from webapp.streams.models import AsymmetricKey, Subscription
from webapp.streams.signing import public_key_text


def _wrapping_key(organisation: Organisation) -> tuple[str, str]:
    """(backend, reference) of the organisation's key-encryption key for webhook keys."""
    name = organisation.key_backend
    earlier = (
        AsymmetricKey.objects.filter(subscription__organisation=organisation, backend=name)
        .values_list("reference", flat=True)
        .first()
    )
    if earlier:
        return name, earlier
    label = f"webhooks-{organisation.slug}-{timezone.now():%Y%m%d%H%M%S%f}"
    reference, _ = backend(name).create_wrapping_key(label=label)
    return name, reference


def asymmetric_key_create(
    *, subscription: Subscription, now: datetime | None = None
) -> AsymmetricKey:
    """The subscription's Ed25519 key (made now unless it has one)."""
    found = AsymmetricKey.objects.filter(subscription=subscription).first()
    if found is not None:
        return found
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    name, reference = _wrapping_key(subscription.organisation)
    return AsymmetricKey.objects.create(
        subscription=subscription,
        backend=name,
        reference=reference,
        wrapped_private_key=open_wrapper(name, reference).wrap(raw),
        public_key=public_key_text(private.public_key()),
        created_at=now or timezone.now(),
    )


def asymmetric_key_delete(*, subscription: Subscription) -> None:
    AsymmetricKey.objects.filter(subscription=subscription).delete()


def public_key_of(*, subscription: Subscription) -> str:
    """The `whpk_` public key, or "" when the subscription signs with HMAC only."""
    found = (
        AsymmetricKey.objects.filter(subscription=subscription)
        .values_list("public_key", flat=True)
        .first()
    )
    return found or ""


def signing_key_of(*, subscription: Subscription) -> Ed25519PrivateKey | None:
    """The private key, unwrapped by the organisation's key store; None without one."""
    found = AsymmetricKey.objects.filter(subscription=subscription).first()
    if found is None:
        return None
    raw = open_wrapper(found.backend, found.reference).unwrap(bytes(found.wrapped_private_key))
    return Ed25519PrivateKey.from_private_bytes(raw)
