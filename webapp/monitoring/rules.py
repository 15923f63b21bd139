"""Rules on sensor readings: which rules apply to a reading, and how a batch of readings
moves each rule's excursion on each lot.

The flow of one batch (`readings_evaluate`, run by `sensor_readings_record`'s hook inside
the storing transaction):

1. the active rules are read once, and the lots of the batch matched to them (a product
   line from the lots' metadata, a bundle's contents from the mirror, or a list of ids);
2. the `RuleState` of every (rule, lot) pair the batch touches is read in one query;
3. the readings are walked in time order: a value beyond the rule's bound starts an
   excursion (or extends it, keeping the worst value); one back within it ends it. An
   excursion that has lasted the rule's duration is a breach, once per excursion;
4. the breaches of one rule in the batch become one `Alert` (its lots together), the states
   are written back in two statements, and each new alert's reactions run
   (`webapp.monitoring.alerts.alert_react`: notification, on-chain quarantine).

So a batch costs a fixed handful of queries whatever its size, and "above 8 °C for 15
minutes" holds across batches without reading the history again. A reading older than the
latest one seen for its (rule, lot) changes nothing: devices send in order, and the ingest
refuses a reading out of order.

"Device silent" rules only note the time of each reading here (a reading ends a silence);
the periodic `silence_evaluate` raises the breach.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Greatest, Least
from django.utils import timezone

from webapp.lots.models import LotMetadata
from webapp.monitoring.alerts import alert_react, reason_of
from webapp.monitoring.models import Alert, Rule, RuleState, SensorReading
from webapp.projections.models import BundleContent

Kind = Rule.Kind

TEMPERATURE_TYPES = frozenset({"gs1:Temperature"})
HUMIDITY_TYPES = frozenset({"gs1:RelativeHumidity", "gs1:Humidity"})
SHOCK_TYPES = frozenset({"gs1:Acceleration"})
STANDARD_GRAVITY = Decimal("9.80665")
EARTH_RADIUS_KM = 6371.0088

#: The bundles a shipment rule reaches into are read at most this deep (bundles of bundles).
MAX_BUNDLE_DEPTH = 8


def value_of(rule: Rule, reading: SensorReading) -> Decimal | None:
    """What `reading` measures in the rule's terms (°C, % RH, g; km from the geofence's
    centre), or None when the reading says nothing the rule is about."""
    kind = rule.kind
    if kind == Kind.GEOFENCE_EXIT:
        if reading.latitude is None or reading.longitude is None:
            return None
        assert rule.latitude is not None
        assert rule.longitude is not None
        km = distance_km(rule.latitude, rule.longitude, reading.latitude, reading.longitude)
        return Decimal(str(round(km, 3)))
    above = kind.endswith("_above")
    raw = reading.value
    if raw is None:
        # A summary reading: its maximum is what an "above" rule fears, its minimum a "below".
        raw = reading.max_value if above else reading.min_value
    if raw is None:
        raw = reading.mean_value
    if raw is None:
        return None
    if kind in (Kind.TEMPERATURE_ABOVE, Kind.TEMPERATURE_BELOW):
        return celsius(raw, reading.unit) if reading.type in TEMPERATURE_TYPES else None
    if kind in (Kind.HUMIDITY_ABOVE, Kind.HUMIDITY_BELOW):
        return raw if reading.type in HUMIDITY_TYPES else None
    if kind == Kind.SHOCK_ABOVE:
        if reading.type not in SHOCK_TYPES:
            return None
        return abs(raw) / STANDARD_GRAVITY if reading.unit == "MSK" else abs(raw)
    return None


def celsius(value: Decimal, unit: str) -> Decimal | None:
    """A temperature in °C from UN/ECE Rec. 20 `CEL`, `FAH` or `KEL` (blank: °C)."""
    if unit in ("", "CEL"):
        return value
    if unit == "FAH":
        return (value - 32) * 5 / 9
    if unit == "KEL":
        return value - Decimal("273.15")
    return None


def distance_km(lat1: Decimal, lon1: Decimal, lat2: Decimal, lon2: Decimal) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(float(lat1)), math.radians(float(lat2))
    dp, dl = p2 - p1, math.radians(float(lon2) - float(lon1))
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def beyond(rule: Rule, value: Decimal) -> bool:
    """Whether a value breaks the rule's bound."""
    if rule.kind == Kind.GEOFENCE_EXIT:
        assert rule.radius_km is not None
        return value > rule.radius_km
    assert rule.threshold is not None
    if rule.kind.endswith("_below"):
        return value < rule.threshold
    return value > rule.threshold


def worse(rule: Rule, a: Decimal | None, b: Decimal) -> Decimal:
    if a is None:
        return b
    return min(a, b) if rule.kind.endswith("_below") else max(a, b)


def product_line_of(document: dict[str, object], name: str) -> str:
    """A lot's product line as the sustainability dashboard names it."""
    return str(document.get("product_line") or document.get("gtin") or name)


def bundle_members(bundle_id: int) -> set[int]:
    """The bundle and every lot packed in it now, at any depth (one query per level)."""
    members, level = {bundle_id}, {bundle_id}
    for _ in range(MAX_BUNDLE_DEPTH):
        inside = {
            int(i)
            for i in BundleContent.objects.filter(
                chain_id=settings.CHAIN_ID, bundle_id__in=level, block_to__isnull=True
            ).values_list("lot_id", flat=True)
        } - members
        if not inside:
            break
        members |= inside
        level = inside
    return members


def rules_for_lots(rules: Sequence[Rule], lot_ids: set[int]) -> dict[int, list[Rule]]:
    """Which of `rules` apply to each of `lot_ids` (few queries: one for product lines, a
    few per shipment rule)."""
    lines: dict[int, str] = {}
    if any(r.product_line for r in rules):
        for lot_id, document in LotMetadata.objects.filter(
            chain_id=settings.CHAIN_ID, lot_id__in=lot_ids
        ).values_list("lot_id", "document"):
            lines[int(lot_id)] = product_line_of(document, str(document.get("name", "")))
    members: dict[int, set[int]] = {}
    out: dict[int, list[Rule]] = {}
    for rule in rules:
        if rule.bundle_id is not None:
            bundle = int(rule.bundle_id)
            if bundle not in members:
                members[bundle] = bundle_members(bundle)
            scoped = members[bundle] & lot_ids
        elif rule.lot_ids:
            scoped = {int(i) for i in rule.lot_ids} & lot_ids
        elif rule.product_line:
            scoped = {i for i in lot_ids if lines.get(i) == rule.product_line}
        else:
            scoped = set()
        for lot_id in scoped:
            out.setdefault(lot_id, []).append(rule)
    return out


@dataclass
class _Breaches:
    """The alerts one batch raises: one per rule, its lots together."""

    alerts: dict[int, Alert] = field(default_factory=dict)
    rules: dict[int, Rule] = field(default_factory=dict)
    #: (rule id, lot id) → the alert (not yet saved) that state belongs to.
    owner: dict[tuple[int, int], Alert] = field(default_factory=dict)

    def add(self, rule: Rule, state: RuleState) -> None:
        lot_id = int(state.lot_id)
        assert state.excursion_from is not None
        assert state.worst_value is not None
        alert = self.alerts.get(rule.pk)
        if alert is None:
            alert = self.alerts[rule.pk] = Alert(
                organisation_id=rule.organisation_id,
                rule=rule,
                rule_name=rule.name,
                kind=rule.kind,
                lot_ids=[],
                started_at=state.excursion_from,
                worst_value=state.worst_value,
                first_reading_id=state.first_reading_id,
                last_reading_id=state.last_reading_id,
            )
            self.rules[rule.pk] = rule
        alert.lot_ids.append(lot_id)
        alert.started_at = min(alert.started_at, state.excursion_from)
        alert.worst_value = worse(rule, alert.worst_value, state.worst_value)
        alert.first_reading_id = _least(alert.first_reading_id, state.first_reading_id)
        alert.last_reading_id = max(alert.last_reading_id or 0, state.last_reading_id or 0)
        self.owner[(rule.pk, lot_id)] = alert

    def saved(self) -> list[Alert]:
        """Save the alerts (their message says what fired) and point the states at them."""
        alerts = list(self.alerts.values())
        for alert in alerts:
            alert.lot_ids.sort()
            alert.message = reason_of(self.rules[alert.rule_id or 0], alert.started_at)
        return Alert.objects.bulk_create(alerts)


def _least(a: int | None, b: int | None) -> int | None:
    return b if a is None else (a if b is None else min(a, b))


def readings_evaluate(readings: Sequence[SensorReading]) -> list[Alert]:
    """Move every applicable rule's state by this batch of stored readings; raise and react
    to the breaches. Returns the alerts raised."""
    if not readings:
        return []
    lot_ids = {int(r.lot_id) for r in readings}
    rules = list(Rule.objects.filter(active=True).select_related("organisation"))
    applicable = rules_for_lots(rules, lot_ids)
    if not applicable:
        return []
    rule_ids = {r.pk for rs in applicable.values() for r in rs}
    with transaction.atomic():
        # Two ingest processes with readings about the same lot take turns on its states.
        states = RuleState.objects.select_for_update().filter(
            rule_id__in=rule_ids, lot_id__in=list(applicable)
        )
        batch = _Batch(states={(s.rule_id, int(s.lot_id)): s for s in states})
        for reading in sorted(readings, key=lambda r: (r.time, r.pk)):
            for rule in applicable.get(int(reading.lot_id), ()):
                batch.step(rule, reading)
        return _saved(batch)


def readings_react(readings: Sequence[SensorReading]) -> None:
    """The `on_readings_recorded` hook: `readings_evaluate` without the answer."""
    readings_evaluate(readings)


@dataclass
class _Batch:
    """The states one batch moves: those read, those it creates, the saved alerts whose
    excursion it ended, and the breaches it raises."""

    states: dict[tuple[int, int], RuleState]
    fresh: dict[tuple[int, int], RuleState] = field(default_factory=dict)
    touched: set[tuple[int, int]] = field(default_factory=set)  # states to write back
    ended: dict[int, datetime] = field(default_factory=dict)  # saved alert id → end
    #: saved alert id → (its rule, the worst value and last reading this batch saw)
    grown: dict[int, tuple[Rule, Decimal, int]] = field(default_factory=dict)
    breaches: _Breaches = field(default_factory=_Breaches)

    def state(self, rule: Rule, lot_id: int) -> RuleState:
        key = (rule.pk, lot_id)
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = self.fresh[key] = RuleState(rule=rule, lot_id=lot_id)
        return state

    def step(self, rule: Rule, reading: SensorReading) -> None:
        state = self.state(rule, int(reading.lot_id))
        if state.last_time is not None and reading.time < state.last_time:
            return
        state.last_time = reading.time
        self.touched.add((rule.pk, int(reading.lot_id)))
        value = None if rule.kind == Kind.DEVICE_SILENT else value_of(rule, reading)
        if rule.kind == Kind.DEVICE_SILENT or (value is not None and not beyond(rule, value)):
            # Heard from again, or back within the bound.
            if state.excursion_from is not None:
                self.end(state, reading.time)
            return
        if value is None:
            return
        if state.excursion_from is None:
            state.excursion_from = reading.time
            state.first_reading_id = reading.pk
            state.worst_value = None
        state.worst_value = worse(rule, state.worst_value, value)
        state.last_reading_id = reading.pk
        key = (rule.pk, int(reading.lot_id))
        alert = self.breaches.owner.get(key)
        if alert is not None:  # the new alert follows its excursion
            alert.worst_value = worse(rule, alert.worst_value, value)
            alert.last_reading_id = max(alert.last_reading_id or 0, reading.pk)
        elif state.alert_id is not None:  # a saved alert whose excursion goes on
            seen = self.grown.get(state.alert_id)
            worst = worse(rule, seen[1] if seen else None, value)
            self.grown[state.alert_id] = (rule, worst, reading.pk)
        else:
            lasted = (reading.time - state.excursion_from).total_seconds()
            if lasted >= rule.duration_s:
                self.breaches.add(rule, state)

    def end(self, state: RuleState, at: datetime) -> None:
        """The excursion is over: its alert (if it had become one) ends at `at`."""
        key = (state.rule_id, int(state.lot_id))
        if state.alert_id is not None:
            self.ended[state.alert_id] = max(at, self.ended.get(state.alert_id, at))
        elif key in self.breaches.owner:
            alert = self.breaches.owner.pop(key)
            alert.ended_at = max(at, alert.ended_at or at)
        state.excursion_from = None
        state.worst_value = None
        state.first_reading_id = state.last_reading_id = None
        state.alert = None


def _saved(batch: _Batch) -> list[Alert]:
    """Write the batch back: the new alerts, the ends of the old, the states; then react."""
    states, fresh, breaches = batch.states, batch.fresh, batch.breaches
    alerts = breaches.saved()
    for (rule_id, lot_id), alert in breaches.owner.items():
        states[(rule_id, lot_id)].alert = alert
    for alert_id, (rule, worst, reading_id) in batch.grown.items():
        pick = Least if rule.kind.endswith("_below") else Greatest
        Alert.objects.filter(pk=alert_id).update(
            worst_value=pick("worst_value", Value(worst)),
            last_reading_id=Greatest("last_reading_id", Value(reading_id)),
        )
    for alert_id, at in batch.ended.items():
        Alert.objects.filter(pk=alert_id, ended_at__isnull=True).update(ended_at=at)
    # A state another process created meanwhile stays as it made it.
    RuleState.objects.bulk_create(list(fresh.values()), ignore_conflicts=True)
    RuleState.objects.bulk_update(
        [states[k] for k in batch.touched if k not in fresh],
        ["last_time", "excursion_from", "worst_value", "first_reading_id", "last_reading_id",
         "alert"],
    )  # fmt: skip
    for alert in alerts:
        alert_react(alert=alert, rule=breaches.rules[alert.rule_id or 0])
    return alerts


def silence_evaluate(*, now: datetime | None = None) -> list[Alert]:
    """Raise a breach for every lot a "device silent" rule watches that has had no reading
    for the rule's duration (a lot never heard from counts from the rule's creation, for
    rules naming their lots or shipment). Run periodically; a lot already silent is not
    raised again until it is heard from."""
    now = now or timezone.now()
    rules = list(
        Rule.objects.filter(active=True, kind=Kind.DEVICE_SILENT).select_related("organisation")
    )
    if not rules:
        return []
    with transaction.atomic():
        states = RuleState.objects.select_for_update().filter(rule__in=rules)
        batch = _Batch(states={(s.rule_id, int(s.lot_id)): s for s in states})
        return _silent(batch, rules, now)


def _silent(batch: _Batch, rules: list[Rule], now: datetime) -> list[Alert]:
    for rule in rules:
        watched = {int(lot) for (rule_id, lot) in batch.states if rule_id == rule.pk}
        if rule.bundle_id is not None:
            watched |= bundle_members(int(rule.bundle_id))
        watched |= {int(i) for i in rule.lot_ids}
        for lot_id in sorted(watched):
            state = batch.state(rule, lot_id)
            if state.excursion_from is not None:
                continue
            last = state.last_time or rule.created_at
            if now - last < timedelta(seconds=rule.duration_s):
                continue
            state.excursion_from = last
            silent_min = Decimal(int((now - last).total_seconds()) // 60)
            state.worst_value = silent_min
            batch.breaches.add(rule, state)
            batch.touched.add((rule.pk, lot_id))
    return _saved(batch)
