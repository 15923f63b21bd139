"""What every write about lots shares: claims, a lot's GS1 key, quantity and document checks,
new lot ids with their metadata, and queueing a call that mints lots."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from web3 import Web3

from contracts.chain.domain import canonical_hash
from webapp.documents.models import Document
from webapp.gs1 import Gs1Error, Gs1Key, attribute_checked, gtin14
from webapp.limits import (
    MAX_CO2E_G_PER_UNIT,
    MAX_QUANTITY,
    MAX_RECYCLED_PERMILLE,
    QUANTITY_TOO_LARGE,
)
from webapp.lots.models import LotMetadata, LotNumber
from webapp.operations.calls import ContractCall
from webapp.operations.models import Operation
from webapp.operations.preflight import preflight
from webapp.operations.services import operation_queue, operation_replayed
from webapp.organisations.models import Organisation
from webapp.projections.models import LotVersion

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


def gs1_key_checked(gtin: str, batch: str) -> str:
    """The lot's GS1 element string `(01)<GTIN-14>(10)<batch>` ("" without a GTIN), or a
    ValidationError naming each field that is wrong (in webapp.gs1's words)."""
    errors: dict[str, list[str]] = {}
    if gtin:
        try:
            gtin14(gtin)
        except Gs1Error as error:
            errors["gtin"] = [str(error)]
    if batch:
        try:
            attribute_checked(batch, "batch/lot number")
        except Gs1Error as error:
            errors["batch"] = [str(error)]
    if batch and not gtin:
        errors["gtin"] = ["A batch number needs the GTIN it belongs to."]
    if errors:
        raise ValidationError(errors)
    if not gtin:
        return ""
    return Gs1Key("01", gtin14(gtin), lot=batch).element_string


def quantity_checked(value: int, field: str = "quantity") -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValidationError({field: ["The quantity must be a whole number greater than zero."]})
    if value > MAX_QUANTITY:
        raise ValidationError({field: [QUANTITY_TOO_LARGE]})
    return value


def documents_checked(hashes: list[str], *, organisation: Organisation) -> list[str]:
    """The documents a lot refers to: the registering organisation's own uploads only, so
    the answer never tells whether another organisation stored those bytes."""
    cleaned = []
    for value in hashes:
        digest = value.lower().removeprefix("0x")
        if not Document.objects.filter(sha256=digest, uploaded_by=organisation).exists():
            raise ValidationError({"documents": [f"No uploaded document has hash 0x{digest}."]})
        cleaned.append("0x" + digest)
    return cleaned


def lot_ids_allocate(count: int) -> list[int]:
    """New lot ids, unique across this deployment (call inside a transaction: the counter
    row stays locked until it commits, and a rollback returns the ids)."""
    chain_id = settings.CHAIN_ID
    LotNumber.objects.get_or_create(chain_id=chain_id, defaults={"last": 1000})
    counter = LotNumber.objects.select_for_update().get(chain_id=chain_id)
    mirrored = LotVersion.objects.filter(chain_id=chain_id).aggregate(m=Max("lot_id"))["m"]
    start = max(counter.last, mirrored or 0) + 1
    counter.last = start + count - 1
    counter.save(update_fields=["last"])
    return list(range(start, start + count))


def metadata_row(
    lot_id: int, document: dict[str, Any], gs1_key: str
) -> tuple[LotMetadata, str, str]:
    """A lot's metadata row (not saved yet), its hash and the hash of its GS1 key."""
    metadata_hash = canonical_hash(document)
    row = LotMetadata(
        chain_id=settings.CHAIN_ID,
        lot_id=lot_id,
        document=document,
        metadata_hash=metadata_hash,
        gs1_key=gs1_key,
    )
    gs1_hash = Web3.keccak(text=gs1_key).to_0x_hex() if gs1_key else ZERO32
    return row, metadata_hash, gs1_hash


def metadata_record(
    lot_id: int, document: dict[str, Any], gs1_key: str
) -> tuple[LotMetadata, str, str]:
    row, metadata_hash, gs1_hash = metadata_row(lot_id, document, gs1_key)
    row.save(force_insert=True)
    return row, metadata_hash, gs1_hash


def queue_with_new_lots(
    organisation: Organisation,
    action: str,
    request: dict[str, Any],
    count: int,
    build: Callable[[list[int]], ContractCall],
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
        lot_ids = lot_ids_allocate(count)
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


def claims_checked(claims: Claims) -> None:
    errors: dict[str, list[str]] = {}
    if (
        claims.co2e_g_per_unit is not None
        and not 0 <= claims.co2e_g_per_unit <= MAX_CO2E_G_PER_UNIT
    ):
        errors["co2e_g_per_unit"] = ["The footprint is grams of CO2e per unit, 0 or more."]
    if (
        claims.recycled_permille is not None
        and not 0 <= claims.recycled_permille <= MAX_RECYCLED_PERMILLE
    ):
        errors["recycled_permille"] = ["Recycled content is in per mille, 0 to 1000."]
    if errors:
        raise ValidationError(errors)


def items_checked(items: list[tuple[int, int]], field: str) -> tuple[list[int], list[int]]:
    if not items:
        raise ValidationError({field: ["Add at least one lot."]})
    ids = [int(lot) for lot, _ in items]
    if len(set(ids)) != len(ids):
        raise ValidationError({field: ["Each lot may appear only once."]})
    for _, qty in items:
        quantity_checked(qty, field)
    return ids, [int(q) for _, q in items]
