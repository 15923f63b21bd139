"""Register a lot; discard the metadata of lots that never reached the chain."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from contracts.chain.domain import LotKind
from webapp.bulk import rows_copy
from webapp.lots.models import LotMetadata
from webapp.lots.services.common import (
    Claims,
    User,
    claims_checked,
    documents_checked,
    gs1_key_checked,
    lot_ids_allocate,
    metadata_record,
    metadata_row,
    quantity_checked,
    queue_with_new_lots,
)
from webapp.operations.calls import ContractCall
from webapp.operations.models import Operation
from webapp.operations.preflight import checked_call, preflight, require_signing_key
from webapp.operations.services import Queued, operation_replayed, operations_queue_many
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
    request, gs1_key = _registration_checked(
        organisation,
        name=name,
        quantity=quantity,
        unit=unit,
        kind=kind,
        description=description,
        gtin=gtin,
        batch=batch,
        claims=claims,
        documents=documents,
    )
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


def _registration_checked(
    organisation: Organisation,
    *,
    name: str,
    quantity: int,
    unit: str,
    kind: LotKind,
    description: str,
    gtin: str,
    batch: str,
    claims: Claims | None,
    documents: list[str] | None,
) -> tuple[dict[str, Any], str]:
    """A registration's request (what the operation log keeps) and GS1 key, checked."""
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
    return request, gs1_key


@dataclass(frozen=True)
class Registration:
    """One lot of `lot_register_many` (what `lot_register` takes, without personal data)."""

    name: str
    quantity: int
    unit: str
    kind: LotKind = LotKind.RAW_MATERIAL
    description: str = ""
    gtin: str = ""
    batch: str = ""
    idempotency_key: str = ""


class RegistrationRefused(Exception):
    """The registration at `index` is refused (`error` says why); nothing was written."""

    def __init__(self, index: int, error: ValidationError) -> None:
        super().__init__(f"registration {index}: {error}")
        self.index = index
        self.error = error


def lot_register_many(
    *, organisation: Organisation, lots: list[Registration], user: User = None
) -> list[Operation]:
    """Register many lots at once, as `lot_register` one after another would (the same
    checks, metadata, pre-flight and operations, idempotency keys included), in a few
    statements. One operation per lot, in order. All or nothing: a refused registration
    raises RegistrationRefused and leaves no id, metadata row or operation behind."""
    require_signing_key(organisation)
    checked = []
    for index, lot in enumerate(lots):
        try:
            checked.append(
                _registration_checked(
                    organisation,
                    name=lot.name,
                    quantity=lot.quantity,
                    unit=lot.unit,
                    kind=lot.kind,
                    description=lot.description,
                    gtin=lot.gtin,
                    batch=lot.batch,
                    claims=None,
                    documents=None,
                )
            )
        except ValidationError as exc:
            raise RegistrationRefused(index, exc) from exc
    keys = [lot.idempotency_key for lot in lots if lot.idempotency_key]
    earlier = set(
        Operation.objects.filter(organisation=organisation, idempotency_key__in=keys).values_list(
            "idempotency_key", flat=True
        )
    )
    replays: dict[int, Operation] = {}
    for index, (lot, (request, _)) in enumerate(zip(lots, checked, strict=True)):
        if lot.idempotency_key in earlier:
            replay = operation_replayed(
                organisation=organisation,
                idempotency_key=lot.idempotency_key,
                action="lot.register",
                request=request,
            )
            assert replay is not None
            replays[index] = replay
    fresh = [i for i in range(len(lots)) if i not in replays]
    with transaction.atomic():
        lot_ids = dict(zip(fresh, lot_ids_allocate(len(fresh)), strict=True))
        calls, metadata = {}, []
        for index in fresh:
            request, gs1_key = checked[index]
            document = {**request, "lot_id": lot_ids[index], "registered_by": organisation.slug}
            row, metadata_hash, gs1_hash = metadata_row(lot_ids[index], document, gs1_key)
            metadata.append(row)
            calls[index] = checked_call(
                "Lots",
                "registerLot",
                lot_ids[index],
                lots[index].quantity,
                int(lots[index].kind),
                metadata_hash,
                gs1_hash,
            )
        rows_copy(LotMetadata, metadata)
        if fresh:
            # As one registration after another: the first is simulated against the latest
            # block; the others follow it in flight, as the submitter's pre-flight decides.
            try:
                preflight(organisation, calls[fresh[0]])
            except ValidationError as exc:
                raise RegistrationRefused(fresh[0], exc) from exc
        queued = operations_queue_many(
            organisation=organisation,
            items=[
                Queued(
                    action="lot.register",
                    request=checked[i][0],
                    call=calls[i],
                    lot_id=lot_ids[i],
                    idempotency_key=lots[i].idempotency_key,
                )
                for i in fresh
            ],
            user=user,
        )
    created = dict(zip(fresh, (op for op, _ in queued), strict=True))
    return [replays[i] if i in replays else created[i] for i in range(len(lots))]


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
