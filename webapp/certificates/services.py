"""Writes about certificates: a certifier issues one for a lot (quality, carbon
footprint, recycled content…) with its document's hash and claims, or revokes it."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError

from contracts.chain.domain import Role, SubjectKind, ascii32
from webapp.documents.models import Document
from webapp.formatting import labels
from webapp.operations.models import Operation
from webapp.operations.preflight import checked_call, queue_checked, require_signing_key
from webapp.organisations.models import Organisation
from webapp.projections.models import CertificateVersion

#: Certificate types the portal offers, and the claim keys a certificate may carry (integer
#: values): one table of their words, in the formatting layer.
CERTIFICATE_TYPES = labels.CERTIFICATE_TYPES
CLAIM_KEYS = labels.CLAIMS

User = AbstractBaseUser | AnonymousUser | None


def _hex32(text: str) -> str:
    return "0x" + ascii32(text).hex()


def certificate_issue(
    *,
    organisation: Organisation,
    lot_id: int,
    certificate_type: str,
    document_hash: str,
    valid_from: datetime,
    valid_until: datetime,
    claims: dict[str, int] | None = None,
    idempotency_key: str = "",
    user: User = None,
) -> Operation:
    """Certify a lot. Only organisations with the CERTIFIER role may."""
    require_signing_key(organisation)
    if not organisation.has_role(Role.CERTIFIER):
        raise ValidationError({"__all__": [f"{organisation.name} is not a certifier."]})
    errors: dict[str, list[str]] = {}
    if certificate_type not in CERTIFICATE_TYPES:
        errors["certificate_type"] = [f"Choose one of {', '.join(CERTIFICATE_TYPES)}."]
    digest = document_hash.lower().removeprefix("0x")
    # Only the certifier's own upload counts: the answer must not tell whether another
    # organisation stored those bytes.
    if not Document.objects.filter(sha256=digest, uploaded_by=organisation).exists():
        errors["document"] = ["Upload the certificate's document first."]
    if valid_until <= valid_from:
        errors["valid_until"] = ["The certificate must end after it starts."]
    claims = claims or {}
    for key, value in claims.items():
        if key not in CLAIM_KEYS:
            errors["claims"] = [f"Unknown claim {key!r}; use {', '.join(CLAIM_KEYS)}."]
        elif not isinstance(value, int) or isinstance(value, bool) or value < 0:
            errors["claims"] = [f"Claim {key} must be a whole number, 0 or more."]
    if errors:
        raise ValidationError(errors)
    keys = sorted(claims)
    call = checked_call(
        "Certificates",
        "issue",
        int(SubjectKind.LOT),
        lot_id,
        _hex32(certificate_type),
        "0x" + digest,
        int(valid_from.timestamp()),
        int(valid_until.timestamp()),
        [_hex32(k) for k in keys],
        [claims[k] for k in keys],
    )
    request = {
        "lot_id": lot_id,
        "certificate_type": certificate_type,
        "document": "0x" + digest,
        "valid_from": valid_from.isoformat(),
        "valid_until": valid_until.isoformat(),
        "claims": claims,
    }
    return queue_checked(
        organisation=organisation,
        action="certificate.issue",
        request=request,
        call=call,
        lot_id=lot_id,
        idempotency_key=idempotency_key,
        user=user,
    )


def certificate_revoke(
    *,
    organisation: Organisation,
    certificate_id: int,
    reason: str,
    idempotency_key: str = "",
    user: User = None,
) -> Operation:
    """Withdraw a certificate the organisation issued."""
    address = require_signing_key(organisation)
    if not reason.strip():
        raise ValidationError({"reason": ["Say why the certificate is revoked."]})
    certificate = CertificateVersion.objects.filter(
        chain_id=settings.CHAIN_ID, certificate_id=certificate_id, block_to__isnull=True
    ).first()
    if certificate is None:
        raise ValidationError({"certificate_id": [f"Certificate {certificate_id} does not exist."]})
    if certificate.revoked:
        raise ValidationError(
            {"certificate_id": [f"Certificate {certificate_id} is already revoked."]}
        )
    own = {address, *organisation.keys.values_list("address", flat=True)}
    if certificate.issuer not in own:  # a rotated-out key's successor may revoke
        raise ValidationError(
            {"__all__": [f"Only the issuer can revoke certificate {certificate_id}."]}
        )
    call = checked_call("Certificates", "revoke", certificate_id, reason.strip())
    request = {"certificate_id": certificate_id, "reason": reason.strip()}
    return queue_checked(
        organisation=organisation,
        action="certificate.revoke",
        request=request,
        call=call,
        lot_id=certificate.subject,
        idempotency_key=idempotency_key,
        user=user,
    )
