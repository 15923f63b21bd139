"""A device reading as the device sends it, and the one check every reading goes through.

The payload is a JSON object (UTF-8), the same over MQTT and over HTTPS::

    {"device": "pallet-7", "seq": 42, "time": "2026-12-03T06:40:00Z",
     "type": "gs1:Temperature", "value": 4.5, "unit": "CEL",
     "lat": 59.91, "lon": 10.75, "sig": "MEUCIQ..."}

- ``device``: the device id the organisation registered (the topic or the API token says
  which organisation); ``seq``: a positive integer the device increases with every reading;
  ``time``: RFC 3339 in UTC (``Z`` or ``+00:00``); ``type``, ``unit``, ``value``: one of
  `TYPES` below, with a UN/ECE Recommendation 20 unit code and a number in the type's range;
  ``lat``/``lon``: optional, WGS 84 degrees, both or neither.
- ``sig``: base64 of the device key's signature over the **canonical form**: the object
  without ``sig``, keys sorted, no whitespace, numbers as their shortest round-trip form
  (``json.dumps(body, sort_keys=True, separators=(",", ":"))`` in Python,
  ``JSON.stringify`` with sorted keys in JavaScript). Ed25519 signs those bytes; ECDSA P-256
  signs their SHA-256, the signature DER-encoded or raw ``r || s`` (64 bytes).

Signing in Python::

    body = {"device": "pallet-7", "seq": 42, "time": "2026-12-03T06:40:00Z",
            "type": "gs1:Temperature", "value": 4.5, "unit": "CEL"}
    sig = private_key.sign(canonical_bytes(body))           # Ed25519
    body["sig"] = base64.b64encode(sig).decode()

A reading is refused with one reason code (`REASONS`); a refusal changes nothing but the
device's count of refusals for that reason.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Container
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

#: The measurement types a device may report: CBV type → {UN/ECE unit code: (lowest, highest)}.
TYPES: dict[str, dict[str, tuple[float, float]]] = {
    "gs1:Temperature": {"CEL": (-80.0, 150.0), "FAH": (-112.0, 302.0)},
    "gs1:RelativeHumidity": {"P1": (0.0, 100.0)},  # percent
    # shock: standard acceleration of free fall (g), or metres per second squared
    "gs1:Acceleration": {"K40": (-200.0, 200.0), "MSK": (-1961.33, 1961.33)},
    "gs1:Illuminance": {"LUX": (0.0, 200_000.0)},  # a door left open
}

#: Why a reading was refused: code → what a person reads.
REASONS = {
    "malformed": "not a reading: a field is missing or of the wrong form",
    "unknown_device": "no such device in the organisation",
    "topic_mismatch": "published on another device's topic",
    "revoked": "the device is revoked",
    "bad_signature": "the signature does not verify with the device's key",
    "unknown_type": "the measurement type is not one devices may report",
    "wrong_unit": "the unit is not one of the type's",
    "out_of_range": "the value is outside the type's range",
    "future_time": "the reading's time is too far in the future",
    "replayed_old": "replayed old reading: older than the acceptance window",
    "duplicate": "duplicate: this sequence number was already accepted",
    "out_of_order": "the sequence number is not above the last one accepted",
    "store_failed": "it could not be stored: storing it failed (see the ingest's log)",
}

#: How far ahead of the server's clock a reading's time may be, and how old it may be.
MAX_FUTURE = timedelta(minutes=5)
MAX_AGE = timedelta(hours=24)

FIELDS = {"device", "seq", "time", "type", "value", "unit", "lat", "lon", "sig"}


class Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(REASONS[reason])
        self.reason = reason


@dataclass(frozen=True)
class Reading:
    """A payload whose fields have the right form (not yet checked against its device)."""

    device: str
    seq: int
    time: datetime
    type: str
    value: float
    unit: str
    lat: float | None
    lon: float | None
    signature: bytes
    signed: bytes  # the canonical form the signature is over

    @property
    def decimal_value(self) -> Decimal:
        return Decimal(repr(self.value))


PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


@dataclass(frozen=True)
class DeviceState:
    """What the check needs to know about the device a reading names."""

    key: PublicKey
    active: bool
    last_seq: int


def canonical_bytes(body: dict[str, Any]) -> bytes:
    """The bytes a device signs: `body` without "sig", keys sorted, no whitespace."""
    unsigned = {k: v for k, v in body.items() if k != "sig"}
    return json.dumps(
        unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Refused("malformed")
    number = float(value)
    if not math.isfinite(number):
        raise Refused("malformed")
    return number


def _utc(value: Any) -> datetime:
    if not isinstance(value, str) or not 20 <= len(value) <= 35 or "T" not in value:
        raise Refused("malformed")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Refused("malformed") from None
    if parsed.utcoffset() != timedelta(0):
        raise Refused("malformed")
    return parsed.astimezone(UTC)


def reading_parse(raw: bytes | str | dict[str, Any]) -> Reading:
    """The reading in `raw`, or `Refused("malformed")`. Pure."""
    try:
        body = json.loads(raw) if isinstance(raw, bytes | str) else raw
    except (ValueError, UnicodeDecodeError):
        raise Refused("malformed") from None
    if not isinstance(body, dict) or not body.keys() <= FIELDS:
        raise Refused("malformed")
    device, seq, kind, unit, sig = (body.get(k) for k in ("device", "seq", "type", "unit", "sig"))
    if not isinstance(device, str) or not 0 < len(device) <= 64:
        raise Refused("malformed")
    if isinstance(seq, bool) or not isinstance(seq, int) or not 0 < seq < 2**63:
        raise Refused("malformed")
    if not isinstance(kind, str) or not isinstance(unit, str) or not isinstance(sig, str):
        raise Refused("malformed")
    lat, lon = body.get("lat"), body.get("lon")
    if (lat is None) != (lon is None):
        raise Refused("malformed")
    if lat is not None and not (-90 <= _number(lat) <= 90 and -180 <= _number(lon) <= 180):
        raise Refused("malformed")
    try:
        signature = base64.b64decode(sig, validate=True)
    except (binascii.Error, ValueError):
        raise Refused("malformed") from None
    try:
        signed = canonical_bytes(body)
    except ValueError:
        raise Refused("malformed") from None
    return Reading(
        device=device,
        seq=seq,
        time=_utc(body.get("time")),
        type=kind,
        value=_number(body.get("value")),
        unit=unit,
        lat=None if lat is None else float(lat),
        lon=None if lon is None else float(lon),
        signature=signature,
        signed=signed,
    )


def signature_valid(key: PublicKey, signature: bytes, signed: bytes) -> bool:
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, signed)
        else:
            if len(signature) == 64:  # raw r || s
                r, s = (int.from_bytes(signature[i : i + 32], "big") for i in (0, 32))
                signature = encode_dss_signature(r, s)
            key.verify(signature, signed, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def reading_verdict(
    reading: Reading,
    *,
    device: DeviceState | None,
    seen: Container[int],
    now: datetime,
    max_future: timedelta = MAX_FUTURE,
    max_age: timedelta = MAX_AGE,
) -> str:
    """ "" when `reading` is accepted from `device`, else the reason code it is refused
    with. `seen` holds the device's sequence numbers already accepted at or below its last
    one. Pure: the caller stores what is accepted and counts what is refused."""
    if device is None:
        return "unknown_device"
    if not device.active:
        return "revoked"
    if not signature_valid(device.key, reading.signature, reading.signed):
        return "bad_signature"
    reason = _measurement_reason(reading) or _time_reason(reading, now, max_future, max_age)
    if reason:
        return reason
    if reading.seq in seen:
        return "duplicate"
    if reading.seq <= device.last_seq:
        return "out_of_order"
    return ""


def _measurement_reason(reading: Reading) -> str:
    units = TYPES.get(reading.type)
    if units is None:
        return "unknown_type"
    bounds = units.get(reading.unit)
    if bounds is None:
        return "wrong_unit"
    if not bounds[0] <= reading.value <= bounds[1]:
        return "out_of_range"
    return ""


def _time_reason(reading: Reading, now: datetime, max_future: timedelta, max_age: timedelta) -> str:
    if reading.time > now + max_future:
        return "future_time"
    if reading.time < now - max_age:
        return "replayed_old"
    return ""
