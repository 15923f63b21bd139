"""The device registry of an organisation: register a device with its public key (the private
key stays on the device), attach it to the lots, bundles or handoff its readings are about,
revoke it. Registering gives the device its MQTT password, once; only the broker's hash of
it is kept, and the broker's password file and ACL follow the table (`broker.broker_sync`).

Every refusal is a `DeviceError` raised before anything is written.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from webapp.lots.selectors.scope import current_lots
from webapp.monitoring.broker import broker_sync, mosquitto_password_hash
from webapp.monitoring.models import Device
from webapp.monitoring.payload import PublicKey
from webapp.organisations.models import Organisation
from webapp.projections.models import HandoffVersion

DEVICE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_ATTACHED = 100


class DeviceError(ValueError):
    """A request about a device that cannot be done; the message says why."""


@dataclass(frozen=True)
class Registered:
    device: Device
    mqtt_username: str
    mqtt_password: str  # shown once


def mqtt_username(device: Device) -> str:
    return f"{device.organisation.slug}/{device.device_id}"


def mqtt_topic(device: Device) -> str:
    return f"provenant/{device.organisation.slug}/devices/{device.device_id}/readings"


def public_key_load(*, key_type: str, text: str) -> PublicKey:
    """The key in `text`: PEM, or the raw key in base64 or hex (Ed25519: 32 bytes; P-256:
    the 65-byte uncompressed or 33-byte compressed point). Refused if of another type."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
        else:
            raw = _raw(text)
            key = (
                ed25519.Ed25519PublicKey.from_public_bytes(raw)
                if key_type == Device.KeyType.ED25519
                else ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
            )
    except (ValueError, TypeError) as exc:
        raise DeviceError(f"The public key cannot be read: {exc}") from None
    if key_type == Device.KeyType.ED25519 and isinstance(key, ed25519.Ed25519PublicKey):
        return key
    if (
        key_type == Device.KeyType.P256
        and isinstance(key, ec.EllipticCurvePublicKey)
        and isinstance(key.curve, ec.SECP256R1)
    ):
        return key
    raise DeviceError(f"The public key is not a {Device.KeyType(key_type).label} key.")


def _raw(text: str) -> bytes:
    if re.fullmatch(r"(?:[0-9a-fA-F]{2})+", text):
        return bytes.fromhex(text)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("neither PEM, hex nor base64") from None


@lru_cache(maxsize=4096)
def device_key(key_type: str, pem: str) -> PublicKey:
    """The loaded key of a device (cached: the ingest checks thousands of readings a second)."""
    return public_key_load(key_type=key_type, text=pem)


def _ids(values: Iterable[int], what: str) -> list[int]:
    found = sorted({int(v) for v in values})
    if len(found) > MAX_ATTACHED:
        raise DeviceError(f"At most {MAX_ATTACHED} {what}.")
    if found:
        known = set(
            current_lots().filter(lot_id__in=found).values_list("lot_id", flat=True).distinct()
        )
        missing = [str(i) for i in found if i not in {int(k) for k in known}]
        if missing:
            raise DeviceError(f"No such {what[:-1]} on chain: {', '.join(missing)}.")
    return found


def _attachments(
    lot_ids: Iterable[int], bundle_ids: Iterable[int], handoff_id: int | None
) -> tuple[list[int], list[int], int | None]:
    lots, bundles = _ids(lot_ids, "lots"), _ids(bundle_ids, "bundles")
    if (
        handoff_id is not None
        and not HandoffVersion.objects.filter(
            chain_id=settings.CHAIN_ID, handoff_id=handoff_id, block_to__isnull=True
        ).exists()
    ):
        raise DeviceError(f"No such handoff on chain: {handoff_id}.")
    return lots, bundles, handoff_id


def device_register(
    *,
    organisation: Organisation,
    device_id: str,
    key_type: str,
    public_key: str,
    lot_ids: Iterable[int] = (),
    bundle_ids: Iterable[int] = (),
    handoff_id: int | None = None,
) -> Registered:
    if not DEVICE_ID.match(device_id):
        raise DeviceError(
            "A device id is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit."
        )
    if key_type not in Device.KeyType.values:
        raise DeviceError(f"The key type is one of: {', '.join(Device.KeyType.values)}.")
    key = public_key_load(key_type=key_type, text=public_key)
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    lots, bundles, handoff = _attachments(lot_ids, bundle_ids, handoff_id)
    password = secrets.token_urlsafe(24)
    try:
        with transaction.atomic():
            device = Device.objects.create(
                organisation=organisation,
                device_id=device_id,
                key_type=key_type,
                public_key=pem,
                lot_ids=[str(i) for i in lots],
                bundle_ids=[str(i) for i in bundles],
                handoff_id=handoff,
                mqtt_password_hash=mosquitto_password_hash(password),
            )
    except IntegrityError:
        raise DeviceError(f"The organisation already has a device {device_id!r}.") from None
    transaction.on_commit(broker_sync)
    return Registered(device=device, mqtt_username=mqtt_username(device), mqtt_password=password)


def device_attach(
    *,
    device: Device,
    lot_ids: Iterable[int],
    bundle_ids: Iterable[int] = (),
    handoff_id: int | None = None,
) -> Device:
    """Attach `device` to these lots, bundles and handoff (replacing what it was attached to):
    its next readings are recorded against them."""
    if device.state != Device.State.ACTIVE:
        raise DeviceError("A revoked device cannot be attached.")
    lots, bundles, handoff = _attachments(lot_ids, bundle_ids, handoff_id)
    device.lot_ids = [str(i) for i in lots]
    device.bundle_ids = [str(i) for i in bundles]
    device.handoff_id = handoff
    device.save(update_fields=["lot_ids", "bundle_ids", "handoff_id"])
    return device


def device_revoke(*, device: Device) -> Device:
    """Revoke `device`: its readings are refused from now on and the broker no longer lets
    it in. Revoking is final (a replacement device is registered under a new id)."""
    if device.state == Device.State.REVOKED:
        return device
    device.state = Device.State.REVOKED
    device.revoked_at = timezone.now()
    device.mqtt_password_hash = ""
    device.save(update_fields=["state", "revoked_at", "mqtt_password_hash"])
    transaction.on_commit(broker_sync)
    return device


def devices_of(*, organisation: Organisation) -> QuerySet[Device]:
    return Device.objects.filter(organisation=organisation).order_by("device_id")


def device_of(*, organisation: Organisation, device_id: str) -> Device | None:
    return devices_of(organisation=organisation).filter(device_id=device_id).first()


def device_owners(device_ids: Collection[str]) -> dict[str, int]:
    """Device id -> the id of the organisation that registered it, for the ids only one
    organisation uses (a reading names its device by the organisation's own id for it; an
    id two organisations use is left out, and its readings wait to be anchored)."""
    owners: dict[str, set[int]] = {}
    for device_id, organisation_id in Device.objects.filter(
        device_id__in=list(device_ids)
    ).values_list("device_id", "organisation_id"):
        owners.setdefault(device_id, set()).add(organisation_id)
    return {d: next(iter(orgs)) for d, orgs in owners.items() if len(orgs) == 1}
