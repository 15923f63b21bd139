"""Hand a lot off: the sender initiates (escrowed), the receiver accepts or rejects, the
sender may cancel an offer not yet answered."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from webapp.lots.services.common import User, quantity_checked
from webapp.operations.models import Operation
from webapp.operations.preflight import checked_call, queue_checked, require_signing_key
from webapp.organisations.models import Organisation
from webapp.projections.models import HandoffVersion


def handoff_initiate(
    *,
    organisation: Organisation,
    lot_id: int,
    receiver: Organisation | None,
    quantity: int,
    idempotency_key: str = "",
    user: User = None,
) -> Operation:
    """Offer `quantity` of a lot to another organisation (escrowed until it answers)."""
    require_signing_key(organisation)
    quantity_checked(quantity)
    if receiver is None or not receiver.address:
        raise ValidationError({"receiver": ["Choose an organisation that is on the chain."]})
    if receiver.pk == organisation.pk:
        raise ValidationError({"receiver": ["An organisation cannot hand a lot to itself."]})
    call = checked_call("Lots", "initiateHandoff", lot_id, receiver.address, quantity)
    request = {"lot_id": lot_id, "receiver": receiver.slug, "quantity": quantity}
    return queue_checked(
        organisation=organisation,
        action="handoff.initiate",
        request=request,
        call=call,
        lot_id=lot_id,
        idempotency_key=idempotency_key,
        user=user,
    )


def _open_handoff(handoff_id: int) -> HandoffVersion:
    handoff = HandoffVersion.objects.filter(
        chain_id=settings.CHAIN_ID, handoff_id=handoff_id, block_to__isnull=True
    ).first()
    if handoff is None:
        raise ValidationError({"handoff_id": [f"Handoff {handoff_id} does not exist."]})
    if handoff.status != "open":
        raise ValidationError(
            {"handoff_id": [f"Handoff {handoff_id} is already {handoff.status}."]}
        )
    return handoff


def _handoff_answer(
    organisation: Organisation,
    handoff_id: int,
    verb: str,
    reason: str,
    idempotency_key: str,
    user: User,
) -> Operation:
    address = require_signing_key(organisation)
    handoff = _open_handoff(handoff_id)
    party = handoff.sender if verb == "cancel" else handoff.receiver
    if party != address:
        who = "sender" if verb == "cancel" else "receiver"
        holder = Organisation.objects.filter(address=party).first()
        raise ValidationError(
            {"__all__": [f"Only the {who} ({holder or party}) can {verb} handoff {handoff_id}."]}
        )
    args: list[Any] = [handoff_id, handoff.lot_id, handoff.sender, handoff.receiver]
    if verb == "reject":
        if not reason.strip():
            raise ValidationError({"reason": ["Say why the handoff is rejected."]})
        args.append(reason.strip())
    call = checked_call("Lots", f"{verb}Handoff", *args)
    request = {"handoff_id": handoff_id, "reason": reason.strip()}
    return queue_checked(
        organisation=organisation,
        action=f"handoff.{verb}",
        request=request,
        call=call,
        lot_id=handoff.lot_id,
        idempotency_key=idempotency_key,
        user=user,
    )


def handoff_accept(
    *, organisation: Organisation, handoff_id: int, idempotency_key: str = "", user: User = None
) -> Operation:
    """Take custody of an offered lot (the receiver only)."""
    return _handoff_answer(organisation, handoff_id, "accept", "", idempotency_key, user)


def handoff_reject(
    *,
    organisation: Organisation,
    handoff_id: int,
    reason: str,
    idempotency_key: str = "",
    user: User = None,
) -> Operation:
    """Refuse an offered lot; it returns to the sender (the receiver only)."""
    return _handoff_answer(organisation, handoff_id, "reject", reason, idempotency_key, user)


def handoff_cancel(
    *, organisation: Organisation, handoff_id: int, idempotency_key: str = "", user: User = None
) -> Operation:
    """Withdraw an offer that has not been answered (the sender only)."""
    return _handoff_answer(organisation, handoff_id, "cancel", "", idempotency_key, user)
