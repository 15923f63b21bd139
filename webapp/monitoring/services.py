"""Writes of condition monitoring: sensor readings about lots."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection
from django.utils import timezone

from webapp.bulk import server_bound
from webapp.monitoring.models import SensorReading


@dataclass(frozen=True)
class Measurement:
    """One measurement as a sensor reported it, before it is tied to lots."""

    time: datetime
    type: str
    value: Decimal | None = None
    min_value: Decimal | None = None
    max_value: Decimal | None = None
    mean_value: Decimal | None = None
    unit: str = ""
    device_id: str = ""
    device_seq: int | None = None
    latitude: Decimal | None = None
    longitude: Decimal | None = None


def sensor_readings_record(
    *,
    lot_ids: Iterable[int],
    measurements: list[Measurement],
    source: str,
    epcis_event_id: int | None = None,
) -> list[SensorReading]:
    """Store each measurement once per lot it is about (none without lots). The caller's
    transaction holds them: an EPCIS event's readings go in or out with the event."""
    return sensor_readings_record_many(
        [(lot_ids, measurements)], source=source, epcis_event_id=epcis_event_id
    )


def sensor_readings_record_many(
    groups: Iterable[tuple[Iterable[int], Sequence[Measurement]]],
    *,
    source: str,
    epcis_event_id: int | None = None,
) -> list[SensorReading]:
    """`sensor_readings_record` for several groups of measurements, each about its own lots
    (a device ingest's batch: every device is attached to its own lots), stored in one
    INSERT and handed to the hooks once."""
    rows = [
        SensorReading(
            lot_id=lot_id,
            time=m.time,
            type=m.type,
            value=m.value,
            min_value=m.min_value,
            max_value=m.max_value,
            mean_value=m.mean_value,
            unit=m.unit,
            device_id=m.device_id,
            device_seq=m.device_seq,
            latitude=m.latitude,
            longitude=m.longitude,
            source=source,
            epcis_event_id=epcis_event_id,
        )
        for lot_ids, measurements in groups
        for lot_id in sorted(set(lot_ids))
        for m in measurements
    ]
    if not rows:
        return []
    stored = _insert(rows)
    for hook in _readings_hooks:
        hook(stored)
    return stored


#: (column, PostgreSQL array type) in the order `_insert` sends them.
_COLUMNS = [
    ("lot_id", "numeric"),
    ("time", "timestamptz"),
    ("type", "text"),
    ("value", "numeric"),
    ("min_value", "numeric"),
    ("max_value", "numeric"),
    ("mean_value", "numeric"),
    ("unit", "text"),
    ("device_id", "text"),
    ("device_seq", "bigint"),
    ("latitude", "numeric"),
    ("longitude", "numeric"),
    ("source", "text"),
    ("epcis_event_id", "bigint"),
    ("created_at", "timestamptz"),
]
_UNNEST_FROM = 50


def _insert(rows: list[SensorReading]) -> list[SensorReading]:
    """`bulk_create`, or on PostgreSQL for a large batch one INSERT from column arrays
    (`unnest`): a few parameters instead of fifteen per row, which is what lets a device
    ingest store thousands of readings a second. Either way the rows come back with ids."""
    if connection.vendor != "postgresql" or len(rows) < _UNNEST_FROM:
        return SensorReading.objects.bulk_create(rows)
    now = timezone.now()
    for row in rows:
        row.created_at = now
    names = ", ".join(name for name, _ in _COLUMNS)
    arrays = ", ".join(f"%b::{kind}[]" for _, kind in _COLUMNS)
    sql = (
        f"INSERT INTO {SensorReading._meta.db_table} ({names}) "
        f"SELECT * FROM unnest({arrays}) RETURNING id"
    )
    params = [[getattr(row, name) for row in rows] for name, _ in _COLUMNS]
    ids = [found for (found,) in server_bound(sql, params)]
    for row, pk in zip(rows, ids, strict=True):  # RETURNING keeps the order of the SELECT
        row.pk = pk
        row._state.adding = False
        row._state.db = connection.alias
    return rows


#: What runs once readings are stored (rules, anchoring): each gets the new rows, inside the
#: storing transaction.
ReadingsHook = Callable[[Sequence[SensorReading]], None]
_readings_hooks: list[ReadingsHook] = []


def on_readings_recorded(hook: ReadingsHook) -> None:
    """Call `hook` with every batch of readings `sensor_readings_record` stores."""
    if hook not in _readings_hooks:
        _readings_hooks.append(hook)
