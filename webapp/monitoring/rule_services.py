"""Writes of rules: an organisation sets up and removes the conditions it watches."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError

from contracts.chain.domain import Role
from webapp.limits import UINT256_MAX
from webapp.monitoring.models import Rule
from webapp.organisations.models import Organisation

Kind = Rule.Kind
#: The bounds a rule's threshold must lie within, per kind (°C, % RH, g).
THRESHOLD_RANGE = {
    Kind.TEMPERATURE_ABOVE: (Decimal(-273), Decimal(1000)),
    Kind.TEMPERATURE_BELOW: (Decimal(-273), Decimal(1000)),
    Kind.HUMIDITY_ABOVE: (Decimal(0), Decimal(100)),
    Kind.HUMIDITY_BELOW: (Decimal(0), Decimal(100)),
    Kind.SHOCK_ABOVE: (Decimal(0), Decimal(1000)),
}
MAX_DURATION_S = 30 * 86400
MAX_LOTS = 1000
MAX_RULES = 500


def rule_create(
    *,
    organisation: Organisation,
    name: str,
    kind: str,
    threshold: Decimal | None = None,
    duration_s: int = 0,
    latitude: Decimal | None = None,
    longitude: Decimal | None = None,
    radius_km: Decimal | None = None,
    product_line: str = "",
    bundle_id: int | None = None,
    lot_ids: list[int] | None = None,
    quarantine: bool = True,
    idempotency_key: str = "",
) -> Rule:
    """A new rule; a ValidationError names every field that is wrong (nothing is stored).
    With an idempotency key already used by the organisation, the rule it made."""
    if idempotency_key:
        made = Rule.objects.filter(
            organisation=organisation, idempotency_key=idempotency_key
        ).first()
        if made is not None:
            return made
    lot_ids = sorted(set(lot_ids or []))
    name = name.strip()
    product_line = product_line.strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["Give the rule a name (e.g. 'vaccines 2-8 °C')."]
    errors.update(_condition_errors(kind, threshold, duration_s, latitude, longitude, radius_km))
    errors.update(_scope_errors(product_line, bundle_id, lot_ids))
    if quarantine and not organisation.has_role(Role.REPORTER):
        errors["quarantine"] = [
            f"Quarantining on chain needs the REPORTER role, which {organisation.name} "
            "does not hold; set quarantine to false for alerts only."
        ]
    if Rule.objects.filter(organisation=organisation).count() >= MAX_RULES:
        errors["__all__"] = [f"An organisation has at most {MAX_RULES} rules."]
    if errors:
        raise ValidationError(errors)
    geofence = kind == Kind.GEOFENCE_EXIT
    return Rule.objects.create(
        organisation=organisation,
        name=name[:200],
        kind=kind,
        threshold=threshold if kind in THRESHOLD_RANGE else None,
        duration_s=duration_s,
        latitude=latitude if geofence else None,
        longitude=longitude if geofence else None,
        radius_km=radius_km if geofence else None,
        product_line=product_line[:200],
        bundle_id=bundle_id,
        lot_ids=lot_ids,
        quarantine=quarantine,
        idempotency_key=idempotency_key,
    )


def _condition_errors(
    kind: str,
    threshold: Decimal | None,
    duration_s: int,
    latitude: Decimal | None,
    longitude: Decimal | None,
    radius_km: Decimal | None,
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if kind not in Kind.values:
        errors["kind"] = [f"Give one of: {', '.join(Kind.values)}."]
    elif kind in THRESHOLD_RANGE:
        low, high = THRESHOLD_RANGE[Kind(kind)]
        if threshold is None:
            errors["threshold"] = ["This kind of rule needs a threshold."]
        elif not low <= threshold <= high:
            errors["threshold"] = [f"Between {low} and {high}."]
    elif kind == Kind.GEOFENCE_EXIT:
        checks: tuple[tuple[str, Decimal | None, int, int, str], ...] = (
            ("latitude", latitude, -90, 90, "a latitude between -90 and 90"),
            ("longitude", longitude, -180, 180, "a longitude between -180 and 180"),
            ("radius_km", radius_km, 0, 20000, "a radius above 0 and at most 20000 km"),
        )
        for name, value, least, most, words in checks:
            if value is None or not least <= value <= most or (name == "radius_km" and not value):
                errors[name] = [f"A geofence needs {words}."]
    elif kind == Kind.DEVICE_SILENT and duration_s < 60:
        errors["duration_s"] = ["A silence lasts at least 60 seconds."]
    if not 0 <= duration_s <= MAX_DURATION_S:
        errors["duration_s"] = [f"Between 0 and {MAX_DURATION_S} seconds."]
    return errors


def _scope_errors(
    product_line: str, bundle_id: int | None, lot_ids: list[int]
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if sum([bool(product_line), bundle_id is not None, bool(lot_ids)]) != 1:
        errors["scope"] = ["Give exactly one of product_line, bundle_id or lot_ids."]
    if len(lot_ids) > MAX_LOTS or any(not 0 <= i <= UINT256_MAX for i in lot_ids):
        errors["lot_ids"] = [f"At most {MAX_LOTS} lot ids, each a uint256."]
    if bundle_id is not None and not 0 <= bundle_id <= UINT256_MAX:
        errors["bundle_id"] = ["A uint256."]
    return errors


def rule_delete(*, rule: Rule) -> None:
    """Remove a rule; its alerts stay (they keep the rule's name)."""
    rule.delete()
