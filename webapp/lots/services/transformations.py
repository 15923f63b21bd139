"""Transform input lots into new output lots (inputs consumed, outputs minted)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from contracts.chain.domain import LotKind, canonical_hash
from webapp.lots.services.common import (
    Claims,
    User,
    claims_checked,
    items_checked,
    metadata_record,
    quantity_checked,
    queue_with_new_lots,
)
from webapp.operations.calls import ContractCall
from webapp.operations.models import Operation
from webapp.operations.preflight import checked_call, require_signing_key
from webapp.organisations.models import Organisation


@dataclass(frozen=True)
class Output:
    name: str
    quantity: int
    unit: str
    kind: LotKind = LotKind.PRODUCT
    claims: Claims = field(default_factory=Claims)


def transformation_record(
    *,
    organisation: Organisation,
    inputs: list[tuple[int, int]],
    outputs: list[Output],
    process: str,
    idempotency_key: str = "",
    user: User = None,
) -> Operation:
    """Consume input quantities and create output lots (refining, manufacturing)."""
    require_signing_key(organisation)
    in_ids, in_qtys = items_checked(inputs, "inputs")
    if not outputs:
        raise ValidationError({"outputs": ["Add at least one output lot."]})
    for output in outputs:
        quantity_checked(output.quantity, "outputs")
        if not output.name.strip() or not output.unit.strip():
            raise ValidationError({"outputs": ["Every output needs a name and a unit."]})
        if output.kind not in (LotKind.RAW_MATERIAL, LotKind.COMPONENT, LotKind.PRODUCT):
            raise ValidationError({"outputs": ["An output is a material, component or product."]})
        claims_checked(output.claims)
    if not process.strip():
        raise ValidationError({"process": ["Describe the process (e.g. 'refining run 12')."]})
    request: dict[str, Any] = {
        "inputs": [[i, q] for i, q in zip(in_ids, in_qtys, strict=True)],
        "outputs": [
            {
                "name": o.name.strip(),
                "quantity": o.quantity,
                "unit": o.unit.strip(),
                "kind": int(o.kind),
                "claims": o.claims.as_dict(),
            }
            for o in outputs
        ],
        "process": process.strip(),
    }

    def build(out_ids: list[int]) -> ContractCall:
        out_args = []
        for lot_id, described in zip(out_ids, request["outputs"], strict=True):
            document = {
                **described,
                "lot_id": lot_id,
                "registered_by": organisation.slug,
                "made_from": request["inputs"],
                "process": request["process"],
            }
            _, metadata_hash, gs1_hash = metadata_record(lot_id, document, "")
            out_args.append(
                [lot_id, described["quantity"], described["kind"], metadata_hash, gs1_hash]
            )
        process_hash = canonical_hash({"process": request["process"], "by": organisation.slug})
        return checked_call("Lots", "transform", in_ids, in_qtys, out_args, process_hash)

    return queue_with_new_lots(
        organisation, "transformation.record", request, len(outputs), build, idempotency_key,
        user, {"lot_id": "inputs", "quantity": "inputs"},
    )  # fmt: skip
