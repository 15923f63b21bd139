"""Register a lot; discard the metadata of lots that never reached the chain."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from contracts.chain.domain import LotKind
from webapp.lots.models import LotMetadata
from webapp.lots.services.common import (
    Claims,
    User,
    claims_checked,
    documents_checked,
    gs1_key_checked,
    metadata_record,
    quantity_checked,
    queue_with_new_lots,
)
from webapp.operations.calls import ContractCall
from webapp.operations.models import Operation
from webapp.operations.preflight import checked_call, require_signing_key
from webapp.organisations.models import Organisation
from webapp.privacy.services import check_personal_fields, personal_seal
from webapp.projections.models import LotVersion


def lot_register(
    *,
    organisation: Organisation,
    name: str,
    quantity: int,
    unit: str,
    kind: LotKind = LotKind.RAW_MATERIAL,
    description: str = "",
    gtin: str = "",
    batch: str = "",
    claims: Claims | None = None,
    documents: list[str] | None = None,
    personal: dict[str, Any] | None = None,
    data_subject: str = "",
    idempotency_key: str = "",
    user: User = None,
) -> Operation:
    """Register a new lot held by `organisation`; its id is allocated here.

    `personal` fields (a contact person, e-mail, phone, postal address) are sealed for a
    data subject (`data_subject`, or a new one) and the metadata document, whose hash goes
    on chain, holds only their salted commitments."""
    require_signing_key(organisation)
    errors: dict[str, list[str]] = {}
    if not name.strip():
        errors["name"] = ["Give the lot a name."]
    if kind not in (LotKind.RAW_MATERIAL, LotKind.COMPONENT, LotKind.PRODUCT):
        errors["kind"] = ["Choose raw material, component or product."]
    if not unit.strip():
        errors["unit"] = ["Say what one unit is (g, kg, piece)."]
    if errors:
        raise ValidationError(errors)
    quantity_checked(quantity)
    claims = claims or Claims()
    claims_checked(claims)
    gs1_key = gs1_key_checked(gtin.strip(), batch.strip())
    document_hashes = documents_checked(documents or [], organisation=organisation)
    request = {
        "name": name.strip(),
        "quantity": quantity,
        "unit": unit.strip(),
        "kind": int(kind),
        "description": description.strip(),
        "gtin": gtin.strip(),
        "batch": batch.strip(),
        "claims": claims.as_dict(),
        "documents": document_hashes,
    }
    if personal:
        check_personal_fields(personal)
        # Only the field names: the operation log never holds personal values.
        request["personal"] = sorted(personal)

    def build(lot_ids: list[int]) -> ContractCall:
        (lot_id,) = lot_ids
        document = {**request, "lot_id": lot_id, "registered_by": organisation.slug}
        if personal:
            document["personal"] = personal_seal(
                organisation=organisation, values=personal, subject_id=data_subject
            )
        _, metadata_hash, gs1_hash = metadata_record(lot_id, document, gs1_key)
        return checked_call(
            "Lots", "registerLot", lot_id, quantity, int(kind), metadata_hash, gs1_hash
        )

    return queue_with_new_lots(
        organisation, "lot.register", request, 1, build, idempotency_key, user
    )


def lot_metadata_discard(*, chain_id: int, lot_ids: list[int]) -> list[dict[str, Any]]:
    """Remove the metadata documents of lots that never reached the chain (their operation
    failed) and return the documents removed, so what they refer to can go too. A lot the
    chain knows keeps its metadata."""
    on_chain = set(
        LotVersion.objects.filter(chain_id=chain_id, lot_id__in=lot_ids).values_list(
            "lot_id", "metadata_hash"
        )
    )
    documents = []
    for row in LotMetadata.objects.filter(chain_id=chain_id, lot_id__in=lot_ids):
        if (row.lot_id, row.metadata_hash) in on_chain:
            continue  # the chain's lot is this one (another operation registered it)
        documents.append(dict(row.document))
        row.delete()
    return documents
