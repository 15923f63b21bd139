"""Reads of rules and alerts: an organisation sees its own only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import QuerySet

from webapp.monitoring.models import Alert, Rule, RuleState, SensorReading
from webapp.organisations.models import Organisation

#: At most this many readings of one type are drawn on a lot's chart (the latest ones).
MAX_CHART_READINGS = 2000


def rule_list(*, organisation: Organisation) -> QuerySet[Rule]:
    return Rule.objects.filter(organisation=organisation).order_by("id")


def rule_of(*, organisation: Organisation, rule_id: int) -> Rule | None:
    return Rule.objects.filter(organisation=organisation, pk=rule_id).first()


def alert_list(*, organisation: Organisation, state: str = "") -> QuerySet[Alert]:
    alerts = Alert.objects.filter(organisation=organisation)
    if state:
        alerts = alerts.filter(state=state)
    return alerts.order_by("-started_at", "-id")


def alert_of(*, organisation: Organisation, alert_id: int) -> Alert | None:
    return Alert.objects.filter(organisation=organisation, pk=alert_id).first()


@dataclass(frozen=True)
class Conditions:
    """What a lot's chart shows: its readings per type, the viewer's bounds per type and
    the excursions (alerts) over it."""

    series: dict[str, list[tuple[datetime, Decimal]]]
    units: dict[str, str]
    bounds: dict[str, list[Decimal]]
    excursions: list[tuple[datetime, datetime | None]]


_BOUND_TYPES = {
    "temperature": "gs1:Temperature",
    "humidity": "gs1:RelativeHumidity",
    "shock": "gs1:Acceleration",
}


def lot_conditions(*, organisation: Organisation, lot_ids: list[int]) -> Conditions:
    """The readings about these lots (a shipment: the bundle and its contents), the bounds
    of the viewer's rules that watch them, and the viewer's alerts about them."""
    series: dict[str, list[tuple[datetime, Decimal]]] = {}
    units: dict[str, str] = {}
    rows = (
        SensorReading.objects.filter(lot_id__in=lot_ids, value__isnull=False)
        .order_by("-time")
        .values_list("type", "time", "value", "unit")[:MAX_CHART_READINGS]
    )
    seen = set()
    for kind, time, value, unit in reversed(list(rows)):
        # One measurement is stored once per lot it is about: draw it once.
        if value is None or (kind, time, value) in seen:
            continue
        seen.add((kind, time, value))
        series.setdefault(kind, []).append((time, value))
        units.setdefault(kind, unit)
    watching = set(
        RuleState.objects.filter(rule__organisation=organisation, lot_id__in=lot_ids).values_list(
            "rule_id", flat=True
        )
    )
    bounds: dict[str, list[Decimal]] = {}
    for rule in Rule.objects.filter(organisation=organisation, threshold__isnull=False):
        named = set(rule.lot_ids) & set(lot_ids) or (
            rule.bundle_id is not None and int(rule.bundle_id) in lot_ids
        )
        if rule.pk not in watching and not named:
            continue
        reading_type = _BOUND_TYPES.get(rule.kind.split("_")[0])
        if reading_type and rule.threshold is not None:
            bounds.setdefault(reading_type, []).append(rule.threshold)
    # JSON containment is not portable (the embedded SQLite has none): the organisation's
    # latest alerts, matched here.
    wanted = {int(i) for i in lot_ids}
    alerts = [
        a
        for a in Alert.objects.filter(organisation=organisation).order_by("-started_at")[:2000]
        if wanted & {int(i) for i in a.lot_ids}
    ][:200]
    alerts.reverse()
    excursions = [(a.started_at, a.ended_at) for a in alerts] if lot_ids else []
    return Conditions(series=series, units=units, bounds=bounds, excursions=excursions)
