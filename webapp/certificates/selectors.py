"""Reads of certificates, from the projections."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db.models import QuerySet

from contracts.chain.domain import SubjectKind, from_ascii32
from webapp.projections.models import CertificateVersion


def certificate_list(
    *, lot_id: int | None = None, issuer: str = ""
) -> QuerySet[CertificateVersion]:
    """Current certificates, newest first: about one lot, from one issuer, or all."""
    rows = CertificateVersion.objects.filter(chain_id=settings.CHAIN_ID, block_to__isnull=True)
    if lot_id is not None:
        rows = rows.filter(subject_kind=int(SubjectKind.LOT), subject=lot_id)
    if issuer:
        rows = rows.filter(issuer=issuer)
    return rows.order_by("-certificate_id")


def certificate_type_name(value: str) -> str:
    """A certificate type as stored (bytes32 hex) back to its name ("QUALITY")."""
    try:
        return from_ascii32(bytes.fromhex(value.removeprefix("0x")))
    except (ValueError, UnicodeDecodeError):
        return value


def certificate_status(certificate: CertificateVersion, now: datetime) -> str:
    """ "valid", "revoked", "not yet valid" or "expired" at `now`."""
    if certificate.revoked:
        return "revoked"
    if now < certificate.valid_from:
        return "not yet valid"
    if now >= certificate.valid_until:
        return "expired"
    return "valid"
