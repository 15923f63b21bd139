"""Signing-key rotation: an organisation moves to a new key (in the same key store or
another) and keeps its history.

1. `organisation_rotate_key` generates the new key and queues the operator's
   `rotateParticipantKey(old, new)`: the chain registers the new address with the same
   roles and acceptance policy and records it as the old one's successor.
2. `organisation_rotation_advance`, once the chain has the successor: the new key becomes
   the current one (new operations are signed by it) and the old key moves its holdings
   to it (`migrateHoldings`, signed by the old key).
3. `organisation_rotation_advance` again, once the old address holds nothing and has no
   open handoffs or operations in flight: the operator suspends the old address on chain.

Past events keep naming the old address; `OrganisationKey` keeps it the organisation's, so
lot histories, names and certificate revocation (the issuer's successor may revoke) work
across the rotation.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from web3 import Web3

from webapp.operations.preflight import checked_call, queue_checked
from webapp.operations.selectors import operations_in_flight
from webapp.organisations.models import Organisation, OrganisationKey
from webapp.organisations.services import User, key_generate, operator_organisation
from webapp.projections.models import Balance, HandoffVersion, ParticipantVersion


def organisation_rotate_key(
    *, organisation: Organisation, backend_name: str = "", user: User = None
) -> OrganisationKey:
    """Generate the organisation's next key and ask the chain to make it the successor."""
    if not organisation.address:
        raise ValidationError({"__all__": [f"{organisation.name} has no key to rotate."]})
    if organisation.is_operator:
        raise ValidationError(
            {"__all__": ["The operator's key is the consortium admin; it changes hands by the "
                         "contracts' two-step admin transfer, not by rotation."]}
        )  # fmt: skip
    if OrganisationKey.objects.filter(
        organisation=organisation, status=OrganisationKey.Status.PENDING
    ).exists():
        raise ValidationError(
            {"__all__": [f"A key rotation of {organisation.name} is already under way."]}
        )
    operator = operator_organisation()
    backend_name, reference, address = key_generate(
        organisation=organisation, backend_name=backend_name
    )
    with transaction.atomic():
        key = OrganisationKey.objects.create(
            organisation=organisation,
            backend=backend_name,
            reference=reference,
            address=address,
            status=OrganisationKey.Status.PENDING,
        )
        queue_checked(
            organisation=operator,
            action="organisation.rotate_key",
            request={
                "organisation": organisation.slug,
                "from": organisation.address,
                "to": address,
            },
            call=checked_call(
                "Lots",
                "rotateParticipantKey",
                organisation.address,
                address,
                Web3.keccak(text=organisation.slug).to_0x_hex(),
            ),
            lot_id=None,
            idempotency_key=f"rotate-{organisation.slug}-{address}",
            user=user,
        )
    return key


def _registered(address: str) -> bool:
    return ParticipantVersion.objects.filter(
        chain_id=settings.CHAIN_ID, account=address, block_to__isnull=True
    ).exists()


def _held(address: str) -> list[int]:
    return sorted(
        int(b.lot_id)
        for b in Balance.objects.filter(
            chain_id=settings.CHAIN_ID, holder=address, block_to__isnull=True, quantity__gt=0
        )
    )


def organisation_rotation_advance(*, organisation: Organisation, user: User = None) -> str:
    """Take the rotation's next step if the chain allows it; says where it stands."""
    pending = OrganisationKey.objects.filter(
        organisation=organisation, status=OrganisationKey.Status.PENDING
    ).first()
    if pending is not None:
        if not _registered(pending.address):
            return "waiting for the chain to register the new key"
        old = organisation.address
        with transaction.atomic():
            OrganisationKey.objects.filter(organisation=organisation, address=old).update(
                status=OrganisationKey.Status.RETIRED
            )
            pending.status = OrganisationKey.Status.ACTIVE
            pending.save(update_fields=["status"])
            organisation.key_backend = pending.backend
            organisation.address = pending.address
            organisation.save(update_fields=["key_backend", "address"])
            lots = _held(old)
            if lots:
                queue_checked(
                    organisation=organisation,
                    action="organisation.migrate_holdings",
                    request={"from": old, "to": pending.address, "lots": lots},
                    call=checked_call("Lots", "migrateHoldings", lots),
                    lot_id=None,
                    idempotency_key=f"migrate-{old}",
                    user=user,
                    sender=old,
                )
        return f"now signing with {pending.address}; moving {len(lots)} lots from {old}"
    for key in OrganisationKey.objects.filter(
        organisation=organisation, status=OrganisationKey.Status.RETIRED, retired_at__isnull=True
    ):
        lots = _held(key.address)
        handoffs = HandoffVersion.objects.filter(
            Q(sender=key.address) | Q(receiver=key.address),
            chain_id=settings.CHAIN_ID,
            block_to__isnull=True,
            status="open",
        ).count()
        busy = operations_in_flight(chain_id=settings.CHAIN_ID, sender=key.address)
        if lots or handoffs or busy:
            return (
                f"waiting: {key.address} still holds {len(lots)} lots, has {handoffs} open "
                f"handoffs and {'some' if busy else 'no'} operations in flight"
            )
        with transaction.atomic():
            queue_checked(
                organisation=operator_organisation(),
                action="organisation.retire_key",
                request={"organisation": organisation.slug, "address": key.address},
                call=checked_call(
                    "Lots",
                    "suspendParticipant",
                    key.address,
                    f"signing key rotated to {organisation.address}",
                ),
                lot_id=None,
                idempotency_key=f"retire-{key.address}",
                user=user,
            )
            key.retired_at = timezone.now()
            key.save(update_fields=["retired_at"])
        return f"retiring {key.address} on chain"
    return "no key rotation under way"
