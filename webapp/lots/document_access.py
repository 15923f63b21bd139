"""Who may read a document, and which organisation's record of it they see: a question of
lot custody, so it is the lots app's (the documents app stores and checks the bytes).

The same bytes uploaded by two organisations are two records (each its own file name and
time); the hash is what goes on chain. An organisation may read a document when:

- it uploaded those bytes itself (its own record);
- it holds the CERTIFIER or AUDITOR role on chain, or is the consortium operator;
- it is a custody party (creator, current or past holder, handoff sender or receiver;
  see `webapp.lots.selectors.scope.StockScope`) of a lot whose metadata refers to the document
  or which a certificate carrying the document's hash is about, when that reference was
  made by an organisation that uploaded the document (the lot's creator, the
  certificate's issuer). Referring to someone else's document grants nobody anything.

Anyone else is told the document does not exist (a 404, never a 403), so a hash reveals
neither whether a document is stored nor whose it is.
"""

from __future__ import annotations

import re

from django.conf import settings
from django.db.models import Q

from contracts.chain.domain import Role
from webapp.documents.models import Document
from webapp.lots.models import LotMetadata
from webapp.lots.selectors.scope import stock_scope
from webapp.organisations.models import Organisation, OrganisationKey
from webapp.projections.models import CertificateVersion, LotVersion, ParticipantVersion

READS_EVERY_DOCUMENT = Role.CERTIFIER | Role.AUDITOR
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _addresses(organisation_ids: set[int]) -> dict[str, int]:
    """Chain address -> organisation id, every key the organisations have had."""
    out = dict(
        OrganisationKey.objects.filter(organisation_id__in=organisation_ids).values_list(
            "address", "organisation_id"
        )
    )
    out.update(
        Organisation.objects.filter(pk__in=organisation_ids)
        .exclude(address="")
        .values_list("address", "pk")
    )
    return out


def reads_every_document(organisation: Organisation) -> bool:
    """The operator, and organisations whose current on-chain roles include CERTIFIER or
    AUDITOR (the chain's word, not the role asked for at onboarding)."""
    if organisation.is_operator:
        return True
    addresses = list(_addresses({organisation.pk}))
    roles = ParticipantVersion.objects.filter(
        chain_id=settings.CHAIN_ID, account__in=addresses, block_to__isnull=True, active=True
    ).values_list("roles", flat=True)
    return any(int(r) & int(READS_EVERY_DOCUMENT) for r in roles)


def document_for_reader(*, sha256: str, organisation: Organisation) -> Document | None:
    """The record of the document with this hash that `organisation` may read (its own
    first), or None when it may not read it or nobody uploaded it."""
    digest = sha256.lower().removeprefix("0x")
    if not _SHA256.fullmatch(digest):
        return None
    records = {d.uploaded_by_id: d for d in Document.objects.filter(sha256=digest).order_by("-pk")}
    if not records:
        return None
    if organisation.pk in records:
        return records[organisation.pk]
    if reads_every_document(organisation):
        return min(records.values(), key=lambda d: d.pk)
    granting = _granting_lots(digest, _addresses(set(records)))
    if not granting:
        return None
    covered = stock_scope(organisation=organisation).covered(list(granting))
    for lot_id in sorted(covered):
        return records[granting[lot_id]]
    return None


def _granting_lots(digest: str, uploaders: dict[str, int]) -> dict[int, int]:
    """Lot id -> the uploader (organisation id) whose reference to the document grants the
    lot's custody parties a read."""
    # Lots that an uploader created with the document in their metadata...
    lot_by: dict[int, int | None] = {}
    for meta in LotMetadata.objects.filter(
        chain_id=settings.CHAIN_ID, document__documents__icontains=digest
    ):
        if "0x" + digest in [str(h).lower() for h in meta.document.get("documents", [])]:
            lot_by[int(meta.lot_id)] = None
    for lot_id, creator in LotVersion.objects.filter(
        chain_id=settings.CHAIN_ID, lot_id__in=list(lot_by), block_to__isnull=True
    ).values_list("lot_id", "creator"):
        lot_by[int(lot_id)] = uploaders.get(creator)
    # ...and lots an uploader certified with it.
    for subject, issuer in CertificateVersion.objects.filter(
        Q(document_hash__iexact="0x" + digest), chain_id=settings.CHAIN_ID, subject_kind=1
    ).values_list("subject", "issuer"):
        if (uploader := uploaders.get(issuer)) is not None:
            lot_by[int(subject)] = uploader
    return {lot_id: uploader for lot_id, uploader in lot_by.items() if uploader is not None}
