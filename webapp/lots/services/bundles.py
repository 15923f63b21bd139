"""Bundle lots into a new bundle lot, and unpack a bundle."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from web3 import Web3

from contracts.chain.domain import LotKind
from webapp.gs1 import Gs1Error, sscc_checked
from webapp.lots.services.common import (
    ZERO32,
    User,
    items_checked,
    metadata_record,
    queue_with_new_lots,
)
from webapp.operations.calls import ContractCall
from webapp.operations.models import Operation
from webapp.operations.preflight import checked_call, queue_checked, require_signing_key
from webapp.organisations.models import Organisation
from webapp.projections.selectors import bundle_contents


def bundle_create(
    *,
    organisation: Organisation,
    items: list[tuple[int, int]],
    name: str,
    sscc: str = "",
    idempotency_key: str = "",
    user: User = None,
) -> Operation:
    """Pack lots into a new bundle (a logistic unit: pallet, case)."""
    require_signing_key(organisation)
    ids, quantities = items_checked(items, "items")
    sscc = sscc.strip()
    if sscc:
        try:
            sscc_checked(sscc)
        except Gs1Error as error:
            raise ValidationError({"sscc": [str(error)]}) from None
    if not name.strip():
        raise ValidationError({"name": ["Give the bundle a name (e.g. 'pallet 17')."]})
    request = {
        "items": [[i, q] for i, q in zip(ids, quantities, strict=True)],
        "name": name.strip(),
        "sscc": sscc,
    }

    def build(lot_ids: list[int]) -> ContractCall:
        (bundle_id,) = lot_ids
        document = {
            **request,
            "lot_id": bundle_id,
            "kind": int(LotKind.BUNDLE),
            "unit": "bundle",
            "registered_by": organisation.slug,
        }
        _, metadata_hash, _ = metadata_record(bundle_id, document, "")
        gs1 = Web3.keccak(text=f"(00){sscc}").to_0x_hex() if sscc else ZERO32
        return checked_call("Lots", "bundle", bundle_id, ids, quantities, metadata_hash, gs1)

    return queue_with_new_lots(
        organisation, "bundle.create", request, 1, build, idempotency_key, user,
        {"lot_id": "items", "quantity": "items"},
    )  # fmt: skip


def bundle_unpack(
    *, organisation: Organisation, bundle_id: int, idempotency_key: str = "", user: User = None
) -> Operation:
    """Unpack a bundle the organisation holds; its lots come back to it."""
    require_signing_key(organisation)
    contents = bundle_contents(chain_id=settings.CHAIN_ID, bundle_id=bundle_id)
    if not contents:
        raise ValidationError({"lot_id": [f"Lot {bundle_id} is not a bundle with contents."]})
    ids = sorted(contents)
    call = checked_call("Lots", "unbundle", bundle_id, ids, [int(contents[i]) for i in ids])
    return queue_checked(
        organisation=organisation,
        action="bundle.unpack",
        request={"bundle_id": bundle_id},
        call=call,
        lot_id=bundle_id,
        idempotency_key=idempotency_key,
        user=user,
    )
