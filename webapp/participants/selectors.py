"""Reads about participants as the chain mirror knows them."""

from __future__ import annotations

from django.conf import settings

from webapp.organisations.models import Organisation
from webapp.projections.models import ParticipantVersion


def acceptance_policy(*, organisation: Organisation) -> str:
    """The certificate type (bytes32 hex) the organisation requires of every lot it accepts,
    as last mirrored; "" when it requires none (or is not on chain)."""
    if not organisation.address:
        return ""
    row = (
        ParticipantVersion.objects.filter(
            chain_id=settings.CHAIN_ID, account=organisation.address, block_to__isnull=True
        )
        .only("acceptance_policy")
        .first()
    )
    return row.acceptance_policy if row is not None else ""
