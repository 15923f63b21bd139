"""Reads of condition monitoring."""

from __future__ import annotations

from django.db.models import QuerySet

from webapp.monitoring.models import SensorReading


def sensor_readings_of_event(*, epcis_event_id: int) -> QuerySet[SensorReading]:
    """The readings a captured EPCIS event brought, by lot and time."""
    return SensorReading.objects.filter(epcis_event_id=epcis_event_id).order_by(
        "lot_id", "time", "type", "id"
    )
