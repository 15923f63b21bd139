"""What a breach sets off, and how it is lifted.

A new alert (`alert_react`) tells the organisation's members in the portal and, when its
rule asks for it, queues an on-chain quarantine of each affected lot, signed by the
organisation's key (`Lots.setQuarantine` needs a REPORTER). The idempotency key names the
rule, the lot and the excursion's start, so one breach never queues two quarantines, and a
lot already quarantined (on chain, or by another open alert still on its way) is left as
it is.

Clearing (`alert_clear`) needs a person: an admin of the organisation or a member holding
the `monitoring.clear_alert` permission (a quality manager), and a reason. It queues one
`Lots.clearQuarantine` per lot the alert quarantined; the chain accepts it from the key that
set the quarantine (or its successor), so the reporting organisation lifts its own.

Apps above this one learn of a raised or cleared alert through `on_alert_changed`: each
hook runs inside the transaction that raises or clears it (the streams queue their alert
events there, so a crash neither loses nor doubles one).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from contracts.chain.domain import Role
from webapp.monitoring.models import Alert, Rule
from webapp.operations.calls import ContractCall
from webapp.operations.models import Operation
from webapp.operations.preflight import checked_call, queue_checked
from webapp.operations.services import operation_queue
from webapp.organisations.models import Organisation
from webapp.organisations.selectors import member_is_admin, organisation_of_user
from webapp.projections.models import LotVersion
from webapp.provenance.models import Notification

MAX_REASON = 500
IN_FLIGHT = (Operation.Status.QUEUED, Operation.Status.SUBMITTED, Operation.Status.MINED)

_WHAT = {
    Rule.Kind.TEMPERATURE_ABOVE: ("temperature above", "°C"),
    Rule.Kind.TEMPERATURE_BELOW: ("temperature below", "°C"),
    Rule.Kind.HUMIDITY_ABOVE: ("humidity above", "%"),
    Rule.Kind.HUMIDITY_BELOW: ("humidity below", "%"),
    Rule.Kind.SHOCK_ABOVE: ("shock above", "g"),
}


#: Called with the alert and "raised" or "cleared", inside the transaction that did it.
AlertHook = Callable[[Alert, str], object]
_hooks: list[AlertHook] = []


def on_alert_changed(hook: AlertHook) -> None:
    """Register `hook` (once) to run whenever an alert is raised or cleared."""
    if hook not in _hooks:
        _hooks.append(hook)


def _changed(alert: Alert, what: str) -> None:
    for hook in _hooks:
        hook(alert, what)


def rule_description(rule: Rule) -> str:
    """The rule in words: "temperature above 8 °C for 15 min"."""
    seconds = rule.duration_s
    minutes = f"{seconds // 60} min" if seconds % 60 == 0 else f"{seconds} s"
    if rule.kind == Rule.Kind.GEOFENCE_EXIT:
        where = f"{_plain(rule.latitude)}, {_plain(rule.longitude)}"
        text = f"left the area within {_plain(rule.radius_km)} km of {where}"
    elif rule.kind == Rule.Kind.DEVICE_SILENT:
        return f"no reading for {minutes}"
    else:
        what, unit = _WHAT[Rule.Kind(rule.kind)]
        text = f"{what} {_plain(rule.threshold)} {unit}"
    return f"{text} for {minutes}" if rule.duration_s else text


def _plain(value: Decimal | None) -> str:
    """8.000000 → "8", 59.911491 → "59.911491" (the same from the form and the database)."""
    return "" if value is None else f"{Decimal(value).normalize():f}"


def reason_of(rule: Rule, started_at: datetime) -> str:
    """The alert's message and the quarantine's reason on chain: the same for the same
    breach (rule and excursion start), so a replayed quarantine request is the same one."""
    return f"{rule.name}: {rule_description(rule)} since {started_at:%Y-%m-%d %H:%M:%S} UTC"


def _link() -> str:
    try:
        return reverse("portal:alerts")
    except NoReverseMatch:
        return ""


def alert_react(*, alert: Alert, rule: Rule) -> None:
    """Notify the organisation and queue the quarantines of a new alert (inside the
    transaction that raised it: both happen or neither)."""
    organisation = rule.organisation
    lots = ", ".join(str(i) for i in alert.lot_ids)
    body = f"{alert.message}. Lots: {lots}."
    if rule.quarantine:
        body += _quarantine(alert=alert, rule=rule, organisation=organisation)
    Notification.objects.get_or_create(
        organisation=organisation,
        key=f"alert:{alert.pk}",
        defaults={"subject": f"Alert: {rule.name}"[:200], "body": body, "link": _link()},
    )
    _changed(alert, "raised")


def _quarantine(*, alert: Alert, rule: Rule, organisation: Organisation) -> str:
    """Queue `setQuarantine` for each lot not already quarantined; says what it did."""
    if not organisation.has_role(Role.REPORTER) or not organisation.address:
        return f" {organisation.name} is no reporter: nothing was quarantined."
    on_chain = set(
        LotVersion.objects.filter(
            chain_id=settings.CHAIN_ID,
            lot_id__in=alert.lot_ids,
            block_to__isnull=True,
            quarantined=True,
        ).values_list("lot_id", flat=True)
    )
    # Lots another open alert already quarantines (open alerts are few; read in Python, as
    # JSON containment is not portable: the embedded SQLite has none).
    pending = {
        int(i)
        for ids in Alert.objects.filter(state=Alert.State.OPEN)
        .exclude(pk=alert.pk)
        .values_list("quarantined_lot_ids", flat=True)
        for i in ids
    }
    queued, skipped = [], []
    for lot_id in alert.lot_ids:
        if lot_id in {int(i) for i in on_chain} or lot_id in pending:
            skipped.append(lot_id)
            continue
        started = int(alert.started_at.timestamp())
        operation, _ = operation_queue(
            organisation=organisation,
            action="lot.set_quarantine",
            request={"lot_id": lot_id, "reason": alert.message},
            call=ContractCall(
                contract="Lots", function="setQuarantine", args=(lot_id, alert.message)
            ),
            lot_id=lot_id,
            idempotency_key=f"quarantine-rule-{rule.pk}-lot-{lot_id}-{started}",
        )
        alert.quarantined_lot_ids.append(lot_id)
        alert.operation_ids.append(str(operation.id))
        queued.append(lot_id)
    alert.save(update_fields=["quarantined_lot_ids", "operation_ids"])
    said = f" Quarantine queued for lots {', '.join(map(str, queued))}." if queued else ""
    if skipped:
        said += f" Already quarantined: {', '.join(map(str, skipped))}."
    return said


def may_clear(user: Any, organisation: Organisation) -> bool:
    """Whether `user` (a person, not an API token) may clear the organisation's alerts."""
    if organisation_of_user(user) != organisation:
        return False
    return member_is_admin(user) or bool(user.has_perm("monitoring.clear_alert"))


def alert_clear(*, alert: Alert, user: Any, reason: str, idempotency_key: str = "") -> Alert:
    """Close an alert and queue the lifting of the quarantines it set.

    Refused (and nothing changes) without the role, without a reason, for an alert already
    cleared (unless by this same request: same idempotency key), and while one of its
    quarantines is still on its way to the chain."""
    organisation = alert.organisation
    if not may_clear(user, organisation):
        raise PermissionDenied(
            f"Clearing an alert takes a person who is an admin or quality manager of "
            f"{organisation.name}."
        )
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": ["Say why the alert is cleared."]})
    if len(reason) > MAX_REASON:
        raise ValidationError({"reason": [f"At most {MAX_REASON} characters."]})
    with transaction.atomic():
        alert = Alert.objects.select_for_update().get(pk=alert.pk)
        if alert.state == Alert.State.CLEARED:
            if idempotency_key and alert.clear_idempotency_key == idempotency_key:
                return alert
            raise ValidationError({"__all__": [f"Alert {alert.pk} is already cleared."]})
        operations = list(Operation.objects.filter(id__in=alert.operation_ids))
        if any(o.status in IN_FLIGHT for o in operations):
            raise ValidationError(
                {"__all__": ["A quarantine of this alert is still on its way to the chain."]}
            )
        lifted = []
        for operation in operations:
            if operation.status != Operation.Status.CONFIRMED or operation.lot_id is None:
                continue
            lot_id = int(operation.lot_id)
            if _lifted_since(lot_id, operation):
                continue
            queued = queue_checked(
                organisation=organisation,
                action="lot.clear_quarantine",
                request={"lot_id": lot_id, "reason": reason},
                call=checked_call("Lots", "clearQuarantine", lot_id, reason),
                lot_id=lot_id,
                idempotency_key=f"alert-{alert.pk}-clear-{lot_id}",
                user=user,
            )
            lifted.append(str(queued.id))
        alert.state = Alert.State.CLEARED
        alert.cleared_at = timezone.now()
        alert.cleared_by = user
        alert.clear_reason = reason
        alert.clear_operation_ids = lifted
        alert.clear_idempotency_key = idempotency_key
        alert.save()
        _changed(alert, "cleared")
    return alert


def _lifted_since(lot_id: int, operation: Operation) -> bool:
    """Whether the mirror shows the lot out of quarantine after the quarantine was mined
    (an auditor lifted it already)."""
    current = LotVersion.objects.filter(
        chain_id=settings.CHAIN_ID, lot_id=lot_id, block_to__isnull=True
    ).first()
    return bool(
        current is not None
        and not current.quarantined
        and operation.mined_block is not None
        and current.block_from > operation.mined_block
    )
