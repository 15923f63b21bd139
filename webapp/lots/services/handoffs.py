"""Hand a lot off: the sender initiates (escrowed), the receiver accepts or rejects, the
sender may cancel an offer not yet answered."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from requests.exceptions import ConnectionError as NodeUnreachable
from requests.exceptions import Timeout

from contracts.chain.domain import ascii32
from webapp.certificates.selectors import certificate_type_name
from webapp.certificates.services import CERTIFICATE_TYPES
from webapp.chain.chain_client import NotDeployed, system
from webapp.lots.services.common import User, quantity_checked
from webapp.operations.models import Operation
from webapp.operations.preflight import checked_call, queue_checked, require_signing_key
from webapp.operations.services import operation_replayed
from webapp.organisations.models import Organisation
from webapp.participants.selectors import acceptance_policy
from webapp.projections.models import BundleContent, HandoffVersion, LotVersion


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
    request = {"handoff_id": handoff_id, "reason": reason.strip()}
    # A retried request (same key and body) gets its operation back first: by then the
    # handoff may well be answered, by this very operation.
    replay = operation_replayed(
        organisation=organisation,
        idempotency_key=idempotency_key,
        action=f"handoff.{verb}",
        request=request,
    )
    if replay is not None:
        return replay
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
    if verb == "accept":
        _acceptance_checked(organisation, handoff)
    call = checked_call("Lots", f"{verb}Handoff", *args)
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


ZERO32 = "0x" + "00" * 32


def _missing_certificate(receiver: str, lot_id: int) -> str | None:
    """The certificate type `receiver`'s acceptance policy requires and lot `lot_id` lacks
    now, asked of the chain itself; None when the policy is met or there is none. Raises
    the node's errors when it cannot be asked."""
    _, contracts = system()
    policy = contracts.lots.functions.acceptancePolicy(receiver).call()
    if not any(policy):
        return None
    if contracts.certificates.functions.hasValidLotCertificate(lot_id, policy).call():
        return None
    return certificate_type_name("0x" + bytes(policy).hex())


def _acceptance_checked(organisation: Organisation, handoff: HandoffVersion) -> None:
    """Refuse an acceptance the receiver's own policy forbids, whatever else the receiver
    has in flight. The general pre-flight steps aside while the organisation has operations
    queued (their effects are not on chain yet), and the accept would then only fail in the
    submitter, after the person was sent on; a certificate is not something the receiver's
    own operations change, so this check holds either way. A policy change of its own still
    on its way is the exception: the chain's policy is about to change.

    A quarantine of the lot, or of any lot packed in it, is refused first, naming the lots
    and why they were quarantined (the chain would refuse with LotQuarantined)."""
    quarantine = handoff_quarantine_refusal(handoff)
    if quarantine:
        raise ValidationError({"__all__": [quarantine]})
    if Operation.objects.filter(
        organisation=organisation,
        action="participant.acceptance_policy",
        status__in=[Operation.Status.QUEUED, Operation.Status.SUBMITTED],
    ).exists():
        return
    lot_id = int(handoff.lot_id)
    try:
        missing = _missing_certificate(handoff.receiver, lot_id)
    except (NodeUnreachable, Timeout, ConnectionError, NotDeployed):
        return  # the submitter's own pre-flight decides
    if missing is not None:
        raise ValidationError(
            {
                "__all__": [
                    f"Lot {lot_id} has no valid {missing} certificate, which the receiver requires."
                ]
            }
        )


#: Bundles inside bundles are read at most this deep (as the chain's own walk is bounded).
MAX_BUNDLE_DEPTH = 8


def _packed(lot_id: int) -> list[int]:
    """The lot and every lot packed in it now, at any depth (the mirror; one query a level)."""
    found, level = [lot_id], {lot_id}
    for _ in range(MAX_BUNDLE_DEPTH):
        inside = {
            int(i)
            for i in BundleContent.objects.filter(
                chain_id=settings.CHAIN_ID, bundle_id__in=level, block_to__isnull=True
            ).values_list("lot_id", flat=True)
        } - set(found)
        if not inside:
            break
        found.extend(sorted(inside))
        level = inside
    return found


def handoff_quarantine_refusal(handoff: HandoffVersion) -> str:
    """Why the handoff cannot be accepted while its lot or a lot packed in it is quarantined
    (as the mirror shows it), naming the lots and the quarantine's reason; "" when none is."""
    lot_id = int(handoff.lot_id)
    rows = LotVersion.objects.filter(
        chain_id=settings.CHAIN_ID,
        lot_id__in=_packed(lot_id),
        block_to__isnull=True,
        quarantined=True,
    ).values_list("lot_id", "quarantine_reason")
    if not rows:
        return ""
    by_reason: dict[str, list[int]] = {}
    for quarantined, reason in sorted(rows, key=lambda row: int(row[0])):
        by_reason.setdefault(reason.strip(), []).append(int(quarantined))
    parts = []
    for reason, ids in by_reason.items():
        inside = [i for i in ids if i != lot_id]
        said = [f"lot {lot_id} is quarantined"] if lot_id in ids else []
        if inside:
            names = ", ".join(str(i) for i in inside)
            said.append(
                f"lot {names} packed in it is quarantined"
                if len(inside) == 1
                else f"lots {names} packed in it are quarantined"
            )
        parts.append(" and ".join(said) + (f" ({reason})" if reason else ""))
    return (
        f"Handoff {handoff.handoff_id} of lot {lot_id} cannot be accepted: "
        + "; ".join(parts)
        + ". It can be accepted once the quarantine is lifted: a quality manager of the"
        " organisation that set it clears its alert with a reason."
    )


def handoff_acceptance_warning(*, lot_id: int, receiver: Organisation) -> str:
    """Why `receiver` could not accept `lot_id` now under its acceptance policy, or "".

    Said to the sender when it offers the lot: the offer still goes ahead (a certificate
    may yet be issued before the receiver answers), but the sender knows to expect it."""
    if not receiver.address:
        return ""
    try:
        missing = _missing_certificate(receiver.address, lot_id)
    except (NodeUnreachable, Timeout, ConnectionError, NotDeployed):
        policy = acceptance_policy(organisation=receiver)
        if not policy:
            return ""
        return (
            f"{receiver.name} accepts only lots with a valid {certificate_type_name(policy)}"
            f" certificate; whether lot {lot_id} has one could not be checked just now."
        )
    if missing is None:
        return ""
    return (
        f"{receiver.name} accepts only lots with a valid {missing} certificate, and lot"
        f" {lot_id} has none: {receiver.name} cannot accept this offer until a certifier"
        " issues one."
    )


def acceptance_policy_set(
    *,
    organisation: Organisation,
    certificate_type: str,
    idempotency_key: str = "",
    user: User = None,
) -> Operation:
    """Require a valid certificate of `certificate_type` (a name such as "QUALITY") on
    every lot the organisation accepts from now on; "" removes the requirement."""
    require_signing_key(organisation)
    if certificate_type and certificate_type not in CERTIFICATE_TYPES:
        raise ValidationError(
            {"certificate_type": [f"Choose one of {', '.join(CERTIFICATE_TYPES)}, or none."]}
        )
    value = "0x" + ascii32(certificate_type).hex() if certificate_type else ZERO32
    call = checked_call("Lots", "setAcceptancePolicy", value)
    return queue_checked(
        organisation=organisation,
        action="participant.acceptance_policy",
        request={"certificate_type": certificate_type},
        call=call,
        lot_id=None,
        idempotency_key=idempotency_key,
        user=user,
    )
