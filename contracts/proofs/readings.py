"""The canonical item of a sensor reading: what a reading batch's Merkle leaf hashes.

A reading batch (``Anchors.anchor(root, "SENSOR_READINGS", itemCount, "")``) is a list of
these items in leaf order; the leaf is :func:`contracts.proofs.merkle.item_leaf` of the
item, ``keccak256(keccak256(canonical JSON))``. Anyone holding a reading recomputes its
item, and so its leaf, from the reading's fields alone:

``lotId``
    the chain lot id the reading is about, as a decimal string (uint256 values do not fit
    a JSON number every library reads exactly);
``time``
    when it was measured, UTC, ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always six fraction digits);
``type``
    the measurement type (``gs1:Temperature``, or a URI outside GS1's vocabulary);
``value``, ``minValue``, ``maxValue``, ``meanValue``
    decimal strings with no exponent, no trailing fraction zeros and no trailing ``.``
    (``"21.5"``, ``"-3"``, ``"0"``), or null when the sensor did not report one;
``unit``
    the UN/ECE Recommendation 20 unit code (``CEL``), ``""`` without one;
``deviceId``, ``deviceSeq``
    the reporting device's id (``""`` for none) and its sequence number of the reading
    (an integer, or null): with the device id it names the signed reading exactly once;
``latitude``, ``longitude``
    WGS 84 degrees as decimal strings like the values, or null;
``source``
    ``device`` (reported by a device) or ``epcis`` (a captured EPCIS event's sensor data).

Every key is always present. The kind of the anchor (``SENSOR_READINGS``) keeps a reading
batch apart from any other batch with the same root.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

#: The Anchors kind of a reading batch (bytes32 ASCII, zero-padded).
READINGS_KIND = "SENSOR_READINGS"
READING_KEYS = frozenset(
    {
        "lotId",
        "time",
        "type",
        "value",
        "minValue",
        "maxValue",
        "meanValue",
        "unit",
        "deviceId",
        "deviceSeq",
        "latitude",
        "longitude",
        "source",
    }
)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def canonical_decimal(value: Decimal | None) -> str | None:
    """A decimal as the item holds it: no exponent, no trailing fraction zeros; None stays."""
    if value is None:
        return None
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def canonical_time(moment: datetime) -> str:
    """A moment as the item holds it (UTC, microseconds, ``Z``)."""
    if moment.tzinfo is None:
        raise ValueError("a reading's time must carry its time zone")
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def parse_time(text: str) -> datetime:
    """The moment of an item's ``time`` (ValueError unless in the canonical form)."""
    moment = datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)
    if canonical_time(moment) != text:
        raise ValueError(f"{text!r} is not a canonical reading time")
    return moment


def reading_item(
    *,
    lot_id: int,
    time: datetime,
    type: str,
    value: Decimal | None = None,
    min_value: Decimal | None = None,
    max_value: Decimal | None = None,
    mean_value: Decimal | None = None,
    unit: str = "",
    device_id: str = "",
    device_seq: int | None = None,
    latitude: Decimal | None = None,
    longitude: Decimal | None = None,
    source: str = "device",
) -> dict[str, Any]:
    """The canonical item of one reading (see the module docstring)."""
    return {
        "lotId": str(int(lot_id)),
        "time": canonical_time(time),
        "type": type,
        "value": canonical_decimal(value),
        "minValue": canonical_decimal(min_value),
        "maxValue": canonical_decimal(max_value),
        "meanValue": canonical_decimal(mean_value),
        "unit": unit,
        "deviceId": device_id,
        "deviceSeq": None if device_seq is None else int(device_seq),
        "latitude": canonical_decimal(latitude),
        "longitude": canonical_decimal(longitude),
        "source": source,
    }
