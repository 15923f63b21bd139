"""Writes that put an organisation on chain: its registration as a participant, signed by
the consortium operator (key rotation is `webapp.participants.rotation`). These queue
operations, so they live above the operations app; the organisations app below it keeps
the off-chain records (organisations, members, keys, API tokens)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from web3 import Web3

from webapp.operations.models import Operation
from webapp.operations.preflight import checked_call, queue_checked
from webapp.organisations.models import Organisation
from webapp.organisations.services import User, operator_organisation


def organisation_register(
    *, organisation: Organisation, user: User = None, idempotency_key: str = ""
) -> Operation:
    """Register the organisation on chain with its roles, signed by the operator."""
    operator = operator_organisation()
    if not organisation.address:
        raise ValidationError({"__all__": [f"Create {organisation.name}'s key first."]})
    profile_hash = Web3.keccak(text=organisation.slug).to_0x_hex()
    call = checked_call(
        "Lots", "registerParticipant", organisation.address, organisation.roles, profile_hash
    )
    request = {"organisation": organisation.slug, "roles": organisation.role_names}
    return queue_checked(
        organisation=operator,
        action="organisation.register",
        request=request,
        call=call,
        lot_id=None,
        idempotency_key=idempotency_key or f"register-{organisation.slug}-{organisation.address}",
        user=user,
    )
