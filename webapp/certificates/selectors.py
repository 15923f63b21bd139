"""Reads of certificates, from the projections."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import QuerySet

from contracts.chain.domain import SubjectKind, from_ascii32
from webapp.chain.models import ChainEvent
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


#: A certificate "expires soon" when it ends within this many days.
EXPIRING_DAYS = 30


@dataclass
class IssuedCertificates:
    """What a certifier's dashboard lists of the certificates it issued."""

    valid: list[CertificateVersion]
    expiring: list[CertificateVersion]  # valid, ending within EXPIRING_DAYS
    revoked: list[CertificateVersion]


def certificates_issued(
    *, addresses: list[str], now: datetime, limit: int = 50
) -> IssuedCertificates:
    """The certificates issued by any of `addresses` (an organisation's keys, rotated-out
    ones included): in force now (newest first), those of them ending within
    EXPIRING_DAYS (soonest first), and the revoked ones (latest revocation first)."""
    rows = CertificateVersion.objects.filter(
        chain_id=settings.CHAIN_ID, block_to__isnull=True, issuer__in=addresses
    )
    in_force = rows.filter(revoked=False, valid_from__lte=now, valid_until__gt=now)
    return IssuedCertificates(
        valid=list(in_force.order_by("-certificate_id")[:limit]),
        expiring=list(
            in_force.filter(valid_until__lte=now + timedelta(days=EXPIRING_DAYS)).order_by(
                "valid_until"
            )[:limit]
        ),
        revoked=list(rows.filter(revoked=True).order_by("-block_from", "-log_from")[:limit]),
    )


@dataclass(frozen=True)
class Revocation:
    certificate: CertificateVersion
    revoked_at: datetime


def certificates_revoked_recently(*, since: datetime, limit: int = 20) -> list[Revocation]:
    """Certificates revoked since `since`, latest first, with the time of revocation."""
    events = ChainEvent.objects.filter(
        chain_id=settings.CHAIN_ID, event="CertificateRevoked", block_timestamp__gte=since
    ).order_by("-block_number", "-log_index")[:limit]
    when = {int(e.args["certificateId"]): e.block_timestamp for e in events}
    rows = CertificateVersion.objects.filter(
        chain_id=settings.CHAIN_ID,
        block_to__isnull=True,
        revoked=True,
        certificate_id__in=sorted(when),
    )
    found = [Revocation(certificate=c, revoked_at=when[int(c.certificate_id)]) for c in rows]
    return sorted(found, key=lambda r: r.revoked_at, reverse=True)
