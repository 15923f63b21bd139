"""Writes of condition monitoring: sensor readings about lots."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

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
        for lot_id in sorted(set(lot_ids))
        for m in measurements
    ]
    stored = SensorReading.objects.bulk_create(rows)
    for hook in _readings_hooks:
        hook(stored)
    return stored


#: What runs once readings are stored (rules, anchoring): each gets the new rows, inside the
#: storing transaction.
ReadingsHook = Callable[[Sequence[SensorReading]], None]
_readings_hooks: list[ReadingsHook] = []


def on_readings_recorded(hook: ReadingsHook) -> None:
    """Call `hook` with every batch of readings `sensor_readings_record` stores."""
    if hook not in _readings_hooks:
        _readings_hooks.append(hook)
