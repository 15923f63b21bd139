"""Writes about lots: register, hand off (initiate, accept, reject, cancel), bundle and
unbundle, transform. Each validates, asks the chain whether it would accept the call
(pre-flight), and records an operation; the submitter signs and sends it.

Every function raises django's ValidationError with field-level messages for bad input
or a call the chain would refuse, and then nothing has been written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from web3 import Web3

from contracts.domain import LotKind, canonical_hash
from webapp.documents.models import Document
from webapp.lots.models import LotMetadata, LotNumber
from webapp.operations.models import Operation
from webapp.operations.preflight import preflight, queue_checked, require_signing_key
from webapp.operations.services import operation_queue, operation_replayed
from webapp.organisations.models import Organisation
from webapp.privacy.services import check_personal_fields, personal_seal
from webapp.projections.models import HandoffVersion, LotVersion
from webapp.projections.selectors import bundle_contents

UINT256_MAX = 2**256 - 1
User = AbstractBaseUser | AnonymousUser | None
ZERO32 = "0x" + "00" * 32


@dataclass(frozen=True)
class Claims:
    """Self-declared sustainability figures of a lot (certified ones come as certificates)."""

    co2e_g_per_unit: int | None = None
    recycled_permille: int | None = None

    def as_dict(self) -> dict[str, int]:
        out = {}
        if self.co2e_g_per_unit is not None:
            out["co2e_g_per_unit"] = self.co2e_g_per_unit
        if self.recycled_permille is not None:
            out["recycled_permille"] = self.recycled_permille
        return out


def gs1_check_digit_ok(digits: str) -> bool:
    """GS1 mod-10 check digit (GTIN-8/12/13/14, SSCC-18)."""
    if not (digits.isascii() and digits.isdigit()):  # '²'.isdigit() holds too
        return False
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10 == check


def _gs1_key(gtin: str, batch: str) -> str:
    errors: dict[str, list[str]] = {}
    if gtin and (len(gtin) not in (8, 12, 13, 14) or not gs1_check_digit_ok(gtin)):
        errors["gtin"] = ["A GTIN has 8, 12, 13 or 14 digits and a valid check digit."]
    if batch and (len(batch) > 20 or not batch.isprintable()):
        errors["batch"] = ["A batch/lot number has at most 20 printable characters."]
    if batch and not gtin:
        errors["gtin"] = ["A batch number needs the GTIN it belongs to."]
    if errors:
        raise ValidationError(errors)
    if not gtin:
        return ""
    return f"(01){gtin.zfill(14)}" + (f"(10){batch}" if batch else "")


def _quantity(value: int, field: str = "quantity") -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValidationError({field: ["The quantity must be a whole number greater than zero."]})
    if value > UINT256_MAX:
        raise ValidationError({field: ["The quantity is too large."]})
    return value


def _documents(hashes: list[str], *, organisation: Organisation) -> list[str]:
    """The documents a lot refers to: the registering organisation's own uploads only, so
    the answer never tells whether another organisation stored those bytes."""
    cleaned = []
    for value in hashes:
        digest = value.lower().removeprefix("0x")
        if not Document.objects.filter(sha256=digest, uploaded_by=organisation).exists():
            raise ValidationError({"documents": [f"No uploaded document has hash 0x{digest}."]})
        cleaned.append("0x" + digest)
    return cleaned


def _allocate_lot_ids(count: int) -> list[int]:
    """New lot ids, unique across this deployment (call inside a transaction: the counter
    row stays locked until it commits, and a rollback returns the ids)."""
    chain_id = settings.CHAIN_ID
    LotNumber.objects.get_or_create(chain_id=chain_id, defaults={"last": Decimal(1000)})
    counter = LotNumber.objects.select_for_update().get(chain_id=chain_id)
    mirrored = LotVersion.objects.filter(chain_id=chain_id).aggregate(m=Max("lot_id"))["m"]
    start = int(max(counter.last, mirrored or 0)) + 1
    counter.last = Decimal(start + count - 1)
    counter.save(update_fields=["last"])
    return list(range(start, start + count))


def _metadata(lot_id: int, document: dict[str, Any], gs1_key: str) -> tuple[LotMetadata, str, str]:
    metadata_hash = canonical_hash(document)
    row = LotMetadata.objects.create(
        chain_id=settings.CHAIN_ID,
        lot_id=Decimal(lot_id),
        document=document,
        metadata_hash=metadata_hash,
        gs1_key=gs1_key,
    )
    gs1_hash = Web3.keccak(text=gs1_key).to_0x_hex() if gs1_key else ZERO32
    return row, metadata_hash, gs1_hash


def _queue_with_new_lots(
    organisation: Organisation,
    action: str,
    request: dict[str, Any],
    count: int,
    build: Callable[[list[int]], dict[str, Any]],
    idempotency_key: str,
    user: User,
    fields: dict[str, str] | None = None,
) -> Operation:
    """Allocate `count` lot ids, let `build` write their metadata and return the contract
    call, pre-flight it and queue it: all in one database transaction, so a refusal
    leaves neither an id nor a metadata row behind. A retried request (same idempotency
    key and body) returns the first operation and allocates nothing."""
    replay = operation_replayed(
        organisation=organisation, idempotency_key=idempotency_key, action=action, request=request
    )
    if replay is not None:
        return replay
    with transaction.atomic():
        lot_ids = _allocate_lot_ids(count)
        call = build(lot_ids)
        preflight(organisation, call, fields)
        operation, created = operation_queue(
            organisation=organisation,
            action=action,
            request=request,
            call=call,
            lot_id=lot_ids[0],
            idempotency_key=idempotency_key,
            user=user,
        )
        if not created:  # a concurrent retry committed first: keep its lots only
            transaction.set_rollback(True)
    return operation


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
    _quantity(quantity)
    claims = claims or Claims()
    _claims_ok(claims)
    gs1_key = _gs1_key(gtin.strip(), batch.strip())
    document_hashes = _documents(documents or [], organisation=organisation)
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

    def build(lot_ids: list[int]) -> dict[str, Any]:
        (lot_id,) = lot_ids
        document = {**request, "lot_id": lot_id, "registered_by": organisation.slug}
        if personal:
            document["personal"] = personal_seal(
                organisation=organisation, values=personal, subject_id=data_subject
            )
        _, metadata_hash, gs1_hash = _metadata(lot_id, document, gs1_key)
        return {
            "contract": "Lots",
            "function": "registerLot",
            "args": [lot_id, quantity, int(kind), metadata_hash, gs1_hash],
        }

    return _queue_with_new_lots(
        organisation, "lot.register", request, 1, build, idempotency_key, user
    )


def _claims_ok(claims: Claims) -> None:
    errors: dict[str, list[str]] = {}
    if claims.co2e_g_per_unit is not None and not 0 <= claims.co2e_g_per_unit <= 10**12:
        errors["co2e_g_per_unit"] = ["The footprint is grams of CO2e per unit, 0 or more."]
    if claims.recycled_permille is not None and not 0 <= claims.recycled_permille <= 1000:
        errors["recycled_permille"] = ["Recycled content is in per mille, 0 to 1000."]
    if errors:
        raise ValidationError(errors)


def handoff_initiate(
    *,
    organisation: Organisation,
    lot_id: int,
    receiver: Organisation | None,
    quantity: int,
    idempotency_key: str = "",
    user: User = None,
) -> Operation:
    """Offer `quantity` of a lot to another organisation (escrowed until it answers)."""
    require_signing_key(organisation)
    _quantity(quantity)
    if receiver is None or not receiver.address:
        raise ValidationError({"receiver": ["Choose an organisation that is on the chain."]})
    if receiver.pk == organisation.pk:
        raise ValidationError({"receiver": ["An organisation cannot hand a lot to itself."]})
    call = {
        "contract": "Lots",
        "function": "initiateHandoff",
        "args": [lot_id, receiver.address, quantity],
    }
    request = {"lot_id": lot_id, "receiver": receiver.slug, "quantity": quantity}
    return queue_checked(
        organisation, "handoff.initiate", request, call, lot_id, idempotency_key, user
    )


def _open_handoff(handoff_id: int) -> HandoffVersion:
    handoff = HandoffVersion.objects.filter(
        chain_id=settings.CHAIN_ID, handoff_id=handoff_id, block_to__isnull=True
    ).first()
    if handoff is None:
        raise ValidationError({"handoff_id": [f"Handoff {handoff_id} does not exist."]})
    if handoff.status != "open":
        raise ValidationError(
            {"handoff_id": [f"Handoff {handoff_id} is already {handoff.status}."]}
        )
    return handoff


def _handoff_answer(
    organisation: Organisation,
    handoff_id: int,
    verb: str,
    reason: str,
    idempotency_key: str,
    user: User,
) -> Operation:
    address = require_signing_key(organisation)
    handoff = _open_handoff(handoff_id)
    party = handoff.sender if verb == "cancel" else handoff.receiver
    if party != address:
        who = "sender" if verb == "cancel" else "receiver"
        holder = Organisation.objects.filter(address=party).first()
        raise ValidationError(
            {"__all__": [f"Only the {who} ({holder or party}) can {verb} handoff {handoff_id}."]}
        )
    args: list[Any] = [handoff_id, int(handoff.lot_id), handoff.sender, handoff.receiver]
    if verb == "reject":
        if not reason.strip():
            raise ValidationError({"reason": ["Say why the handoff is rejected."]})
        args.append(reason.strip())
    call = {"contract": "Lots", "function": f"{verb}Handoff", "args": args}
    request = {"handoff_id": handoff_id, "reason": reason.strip()}
    return queue_checked(
        organisation, f"handoff.{verb}", request, call, int(handoff.lot_id), idempotency_key, user
    )


def handoff_accept(
    *, organisation: Organisation, handoff_id: int, idempotency_key: str = "", user: User = None
) -> Operation:
    """Take custody of an offered lot (the receiver only)."""
    return _handoff_answer(organisation, handoff_id, "accept", "", idempotency_key, user)


def handoff_reject(
    *,
    organisation: Organisation,
    handoff_id: int,
    reason: str,
    idempotency_key: str = "",
    user: User = None,
) -> Operation:
    """Refuse an offered lot; it returns to the sender (the receiver only)."""
    return _handoff_answer(organisation, handoff_id, "reject", reason, idempotency_key, user)


def handoff_cancel(
    *, organisation: Organisation, handoff_id: int, idempotency_key: str = "", user: User = None
) -> Operation:
    """Withdraw an offer that has not been answered (the sender only)."""
    return _handoff_answer(organisation, handoff_id, "cancel", "", idempotency_key, user)


def _items(items: list[tuple[int, int]], field: str) -> tuple[list[int], list[int]]:
    if not items:
        raise ValidationError({field: ["Add at least one lot."]})
    ids = [int(lot) for lot, _ in items]
    if len(set(ids)) != len(ids):
        raise ValidationError({field: ["Each lot may appear only once."]})
    for _, qty in items:
        _quantity(qty, field)
    return ids, [int(q) for _, q in items]


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
    ids, quantities = _items(items, "items")
    sscc = sscc.strip()
    if sscc and (len(sscc) != 18 or not gs1_check_digit_ok(sscc)):
        raise ValidationError({"sscc": ["An SSCC has 18 digits and a valid check digit."]})
    if not name.strip():
        raise ValidationError({"name": ["Give the bundle a name (e.g. 'pallet 17')."]})
    request = {
        "items": [[i, q] for i, q in zip(ids, quantities, strict=True)],
        "name": name.strip(),
        "sscc": sscc,
    }

    def build(lot_ids: list[int]) -> dict[str, Any]:
        (bundle_id,) = lot_ids
        document = {
            **request,
            "lot_id": bundle_id,
            "kind": int(LotKind.BUNDLE),
            "unit": "bundle",
            "registered_by": organisation.slug,
        }
        _, metadata_hash, _ = _metadata(bundle_id, document, "")
        gs1 = Web3.keccak(text=f"(00){sscc}").to_0x_hex() if sscc else ZERO32
        return {
            "contract": "Lots",
            "function": "bundle",
            "args": [bundle_id, ids, quantities, metadata_hash, gs1],
        }

    return _queue_with_new_lots(
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
    call = {
        "contract": "Lots",
        "function": "unbundle",
        "args": [bundle_id, ids, [int(contents[i]) for i in ids]],
    }
    return queue_checked(
        organisation,
        "bundle.unpack",
        {"bundle_id": bundle_id},
        call,
        bundle_id,
        idempotency_key,
        user,
    )


@dataclass(frozen=True)
class Output:
    name: str
    quantity: int
    unit: str
    kind: LotKind = LotKind.PRODUCT
    claims: Claims = Claims()


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
    in_ids, in_qtys = _items(inputs, "inputs")
    if not outputs:
        raise ValidationError({"outputs": ["Add at least one output lot."]})
    for output in outputs:
        _quantity(output.quantity, "outputs")
        if not output.name.strip() or not output.unit.strip():
            raise ValidationError({"outputs": ["Every output needs a name and a unit."]})
        if output.kind not in (LotKind.RAW_MATERIAL, LotKind.COMPONENT, LotKind.PRODUCT):
            raise ValidationError({"outputs": ["An output is a material, component or product."]})
        _claims_ok(output.claims)
    if not process.strip():
        raise ValidationError({"process": ["Describe the process (e.g. 'refining run 12')."]})
    request = {
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

    def build(out_ids: list[int]) -> dict[str, Any]:
        out_args = []
        for lot_id, described in zip(out_ids, request["outputs"], strict=True):
            document = {
                **described,
                "lot_id": lot_id,
                "registered_by": organisation.slug,
                "made_from": request["inputs"],
                "process": request["process"],
            }
            _, metadata_hash, gs1_hash = _metadata(lot_id, document, "")
            out_args.append(
                [lot_id, described["quantity"], described["kind"], metadata_hash, gs1_hash]
            )
        process_hash = canonical_hash({"process": request["process"], "by": organisation.slug})
        return {
            "contract": "Lots",
            "function": "transform",
            "args": [in_ids, in_qtys, out_args, process_hash],
        }

    return _queue_with_new_lots(
        organisation, "transformation.record", request, len(outputs), build, idempotency_key,
        user, {"lot_id": "inputs", "quantity": "inputs"},
    )  # fmt: skip


def lot_metadata_discard(*, chain_id: int, lot_ids: list[int]) -> list[dict[str, Any]]:
    """Remove the metadata documents of lots that never reached the chain (their operation
    failed) and return the documents removed, so what they refer to can go too. A lot the
    chain knows keeps its metadata."""
    on_chain = set(
        LotVersion.objects.filter(
            chain_id=chain_id, lot_id__in=[Decimal(i) for i in lot_ids]
        ).values_list("lot_id", "metadata_hash")
    )
    documents = []
    for row in LotMetadata.objects.filter(
        chain_id=chain_id, lot_id__in=[Decimal(i) for i in lot_ids]
    ):
        if (row.lot_id, row.metadata_hash) in on_chain:
            continue  # the chain's lot is this one (another operation registered it)
        documents.append(dict(row.document))
        row.delete()
    return documents
