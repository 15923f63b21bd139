"""A captured EPCIS event as the chain action it describes, through the same services as
the portal and the API (no second path): each becomes an operation signed by the
capturing organisation's key.

| EPCIS event                                   | chain action                           |
|-----------------------------------------------|----------------------------------------|
| ObjectEvent ADD `commissioning`               | register a lot per EPC class (quantity |
|                                               | from quantityList) or per GTIN (count  |
|                                               | of EPCs)                               |
| ObjectEvent OBSERVE `shipping` + destination  | hand off to the owning party's         |
|                                               | organisation (GLN)                     |
| ObjectEvent OBSERVE `receiving`/`accepting`   | accept the matching open handoff       |
| AggregationEvent ADD `packing`                | bundle (SSCC parent)                   |
| AggregationEvent DELETE `unpacking`           | unbundle                               |
| TransformationEvent                           | transformation                         |
| an error declaration, anything else           | stored as it is (a declaration is      |
|                                               | recorded on the event it corrects; a   |
|                                               | declared shipping's open handoff is    |
|                                               | cancelled: `webapp.epcis.corrections`) |

A refusal (an unknown lot, a party that is not the holder, ...) is django's
ValidationError, as the services raise it; the capture reports it for that event. Every
operation's idempotency key is the event hash, so the same event never acts twice.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from contracts.chain.domain import LotKind
from webapp.gs1 import Gs1Error, Gs1Key, parse_digital_link, parse_epc_urn
from webapp.lots.identities import lot_by_gs1_key
from webapp.lots.services import (
    Output,
    Registration,
    bundle_create,
    bundle_unpack,
    handoff_accept,
    handoff_initiate,
    lot_register,
    lot_register_many,
    transformation_record,
)
from webapp.operations.models import Operation
from webapp.operations.services import IdempotencyConflict
from webapp.organisations.models import Organisation
from webapp.organisations.selectors import organisation_by_gs1_key
from webapp.projections.models import HandoffVersion

#: UN/ECE Recommendation 20 codes and the unit a lot is kept in (factor to that unit).
UNITS: dict[str, tuple[str, int]] = {
    "KGM": ("g", 1000),
    "GRM": ("g", 1),
    "TNE": ("kg", 1000),
    "LTR": ("ml", 1000),
    "MLT": ("ml", 1),
    "MTR": ("mm", 1000),
    "H87": ("piece", 1),
    "EA": ("piece", 1),
}
_PARTY_TYPES = ("owning_party", "possessing_party")


def _term(value: Any, prefixes: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        return ""
    for prefix in prefixes:
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


def _biz_step(event: dict[str, Any]) -> str:
    return _term(
        event.get("bizStep"), ("https://ref.gs1.org/cbv/BizStep-", "urn:epcglobal:cbv:bizstep:")
    )


def chain_action(event: dict[str, Any]) -> str | None:
    """The chain action an event maps onto, or None when it is stored as it is."""
    if event.get("errorDeclaration"):
        return None  # a declaration retracts an earlier event; it acts on nothing itself
    kind, action, step = event.get("type"), event.get("action"), _biz_step(event)
    if kind == "ObjectEvent":
        if action == "ADD" and step == "commissioning":
            return "lot.register"
        if action == "OBSERVE" and step == "shipping":
            return "handoff.initiate"
        if action == "OBSERVE" and step in ("receiving", "accepting"):
            return "handoff.accept"
    if kind == "AggregationEvent":
        if action == "ADD" and step == "packing":
            return "bundle.create"
        if action == "DELETE" and step == "unpacking":
            return "bundle.unpack"
    if kind == "TransformationEvent":
        return "transformation.record"
    return None


def gs1_key(identifier: str) -> Gs1Key | None:
    """The GS1 key an EPC URN or a Digital Link names; None for anything else."""
    try:
        if identifier.startswith("urn:epc:"):
            return parse_epc_urn(identifier)
        if identifier.startswith(("http://", "https://")):
            return parse_digital_link(identifier).key
    except Gs1Error:
        return None
    return None


#: Where an event names EPCs and EPC classes (quantity lists name classes in `epcClass`).
_EPC_LISTS = ("epcList", "childEPCs", "inputEPCList", "outputEPCList")
_CLASS_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")


def event_lot_ids(
    event: dict[str, Any], *, lots: dict[str, int], operation: Operation | None
) -> list[int]:
    """The lots an event is about: those its EPCs and EPC classes name (registered before,
    or by this capture: `lots`) and the one its operation is about. Identifiers that name
    no lot are passed over."""
    named = [e for name in _EPC_LISTS for e in event.get(name) or [] if isinstance(e, str)]
    named += [
        element["epcClass"]
        for name in _CLASS_LISTS
        for element in event.get(name) or []
        if isinstance(element, dict) and isinstance(element.get("epcClass"), str)
    ]
    if isinstance(event.get("parentID"), str):
        named.append(event["parentID"])
    found: list[int] = []
    for identifier in dict.fromkeys(named):
        key = gs1_key(identifier)
        if key is None:
            continue
        batch = Gs1Key(key.ai, key.key, lot=key.lot) if key.ai == "01" and key.lot else key
        if key.element_string in lots or batch.element_string in lots:
            found.append(lots.get(key.element_string) or lots[batch.element_string])
        elif (metadata := lot_by_gs1_key(key=key)) is not None:
            found.append(int(metadata.lot_id))
    if operation is not None and operation.lot_id is not None:
        found.append(int(operation.lot_id))
    return list(dict.fromkeys(found))


def _refuse(field: str, message: str) -> ValidationError:
    return ValidationError({field: [message]})


def _quantity(element: dict[str, Any], field: str) -> tuple[int, str]:
    """A quantityList element's amount as whole base units of a lot, and that unit."""
    uom = element.get("uom")
    unit, factor = UNITS.get(uom, (uom, 1)) if isinstance(uom, str) else ("piece", 1)
    try:
        amount = Decimal(str(element.get("quantity"))) * factor
    except InvalidOperation as exc:
        raise _refuse(field, "A quantity must be a number.") from exc
    if amount != amount.to_integral_value() or amount <= 0:
        raise _refuse(
            field, f"{element.get('quantity')} {uom or ''} is not a whole number of {unit}."
        )
    return int(amount), unit


def _lot_id(identifier: str, lots: dict[str, int], field: str) -> int:
    key = gs1_key(identifier)
    if key is None:
        raise _refuse(field, f"{identifier} is not a GS1 key (EPC URN or Digital Link).")
    if key.element_string in lots:
        return lots[key.element_string]
    metadata = lot_by_gs1_key(key=key)
    if metadata is None:
        raise _refuse(field, f"No lot on the chain is registered as {identifier}.")
    return int(metadata.lot_id)


def _items(
    event: dict[str, Any], quantities: str, epcs: str, lots: dict[str, int]
) -> list[tuple[int, int]]:
    """(lot id, quantity) for an event's quantity list (and whole SSCC bundles named in
    its EPC list)."""
    items = []
    for element in event.get(quantities) or []:
        lot = _lot_id(element["epcClass"], lots, quantities)
        quantity, _ = _quantity(element, quantities)
        items.append((lot, quantity))
    for epc in event.get(epcs) or []:
        key = gs1_key(epc)
        if key is not None and key.ai == "00":
            items.append((_lot_id(epc, lots, epcs), 1))
    return items


def registrations(event: dict[str, Any], event_hash: str) -> list[tuple[Gs1Key, Registration]]:
    """The lots a commissioning event registers: one per `quantityList` class, or one per
    GTIN (and batch) of its EPCs with their count; each with its idempotency key."""
    classes: list[tuple[Gs1Key, int, str]] = []
    for element in event.get("quantityList") or []:
        key = gs1_key(element["epcClass"])
        if key is None or key.ai != "01":
            raise _refuse("quantityList", f"{element['epcClass']} is not a GTIN class.")
        quantity, unit = _quantity(element, "quantityList")
        classes.append((Gs1Key("01", key.key, lot=key.lot), quantity, unit))
    counts: dict[Gs1Key, int] = {}
    for epc in event.get("epcList") or []:
        key = gs1_key(epc)
        if key is None or key.ai != "01":
            raise _refuse("epcList", f"{epc} is not a GS1 trade item (SGTIN).")
        counted = Gs1Key("01", key.key, lot=key.lot)
        counts[counted] = counts.get(counted, 0) + 1
    if not classes:
        classes = [(key, count, "piece") for key, count in counts.items()]
    if not classes:
        raise _refuse("epcList", "A commissioning names the lots it creates.")
    return [
        (
            key,
            Registration(
                name=f"GTIN {key.key}" + (f" batch {key.lot}" if key.lot else ""),
                quantity=quantity,
                unit=unit,
                kind=LotKind.PRODUCT,
                gtin=key.key,
                batch=key.lot,
                description=f"Commissioned by EPCIS event {event_hash}",
                idempotency_key=f"epcis:{event_hash}:{index}",
            ),
        )
        for index, (key, quantity, unit) in enumerate(classes)
    ]


def _register(
    organisation: Organisation, event: dict[str, Any], event_hash: str, lots: dict[str, int]
) -> Operation:
    operation = None
    for key, lot in registrations(event, event_hash):
        operation = lot_register(
            organisation=organisation,
            name=lot.name,
            quantity=lot.quantity,
            unit=lot.unit,
            kind=lot.kind,
            gtin=lot.gtin,
            batch=lot.batch,
            description=lot.description,
            idempotency_key=lot.idempotency_key,
        )
        if operation.lot_id is not None:
            lots[key.element_string] = int(operation.lot_id)
    assert operation is not None
    return operation


def register_many(
    *,
    organisation: Organisation,
    events: list[tuple[dict[str, Any], str]],
    lots: dict[str, int],
) -> list[Operation]:
    """The operations of many commissioning events (each its last, as `map_event` gives
    it), registered at once (`lot_register_many`): the same operations as one event after
    another. Raises ValidationError or RegistrationRefused (whose index counts the lots,
    not the events) with nothing written; the caller then maps the events one by one to
    find which is refused."""
    planned = [(i, key, lot) for i, (e, h) in enumerate(events) for key, lot in registrations(e, h)]
    try:
        operations = lot_register_many(
            organisation=organisation, lots=[lot for _, _, lot in planned]
        )
    except IdempotencyConflict as exc:
        raise _refuse("__all__", f"An event already acted differently: {exc}") from exc
    last: dict[int, Operation] = {}
    for (index, key, _), operation in zip(planned, operations, strict=True):
        if operation.lot_id is not None:
            lots[key.element_string] = int(operation.lot_id)
        last[index] = operation
    return [last[i] for i in range(len(events))]


def _receiver(organisation: Organisation, event: dict[str, Any]) -> Organisation:
    for element in event.get("destinationList") or []:
        if element.get("type", "").rsplit("-", 1)[-1].rsplit(":", 1)[-1] not in _PARTY_TYPES:
            continue
        key = gs1_key(str(element.get("destination", "")))
        if key is None or key.ai not in ("417", "414"):
            continue
        found = Organisation.objects.filter(gln=key.key).first() or organisation_by_gs1_key(
            digits=key.key[:-1]
        )
        if found is not None:
            return found
    for element in event.get("bizTransactionList") or []:
        # `urn:epcglobal:cbv:bt:<GLN>:<id>`: the party that issued the business transaction
        # (a purchase order names the buyer); the first that is another organisation.
        parts = str(element.get("bizTransaction", "")).split(":")
        if len(parts) >= 5 and parts[:4] == ["urn", "epcglobal", "cbv", "bt"]:
            found = Organisation.objects.filter(gln=parts[4]).first()
            if found is not None and found.pk != organisation.pk:
                return found
    raise _refuse(
        "destinationList",
        "Name the receiving organisation: an owning_party or possessing_party destination "
        "with its GLN (urn:epc:id:pgln:… or a Digital Link), or a business transaction "
        "(urn:epcglobal:cbv:bt:<GLN>:…) it issued.",
    )


def _ship(
    organisation: Organisation, event: dict[str, Any], event_hash: str, lots: dict[str, int]
) -> Operation:
    receiver = _receiver(organisation, event)
    items = _items(event, "quantityList", "epcList", lots)
    if not items:
        raise _refuse("quantityList", "Name what is shipped: a quantityList or an SSCC.")
    operation = None
    for index, (lot_id, quantity) in enumerate(items):
        operation = handoff_initiate(
            organisation=organisation,
            lot_id=lot_id,
            receiver=receiver,
            quantity=quantity,
            idempotency_key=f"epcis:{event_hash}:{index}",
        )
    assert operation is not None
    return operation


def _receive(
    organisation: Organisation, event: dict[str, Any], event_hash: str, lots: dict[str, int]
) -> Operation:
    items = _items(event, "quantityList", "epcList", lots)
    if not items:
        raise _refuse("quantityList", "Name what is received: a quantityList or an SSCC.")
    operation = None
    for index, (lot_id, quantity) in enumerate(items):
        handoffs = HandoffVersion.objects.filter(
            chain_id=settings.CHAIN_ID,
            lot_id=lot_id,
            receiver=organisation.address,
            status="open",
            block_to__isnull=True,
        ).order_by("handoff_id")
        matching = [h for h in handoffs if int(h.quantity) == quantity] or list(handoffs)
        if not matching:
            raise _refuse("quantityList", f"No open handoff of lot {lot_id} to you.")
        operation = handoff_accept(
            organisation=organisation,
            handoff_id=int(matching[0].handoff_id),
            idempotency_key=f"epcis:{event_hash}:{index}",
        )
    assert operation is not None
    return operation


def _sscc_digits(event: dict[str, Any]) -> tuple[str, str]:
    parent = str(event.get("parentID") or "")
    key = gs1_key(parent)
    if key is None or key.ai != "00":
        raise _refuse("parentID", "The parent is an SSCC (urn:epc:id:sscc:… or Digital Link).")
    return parent, key.key


def _pack(
    organisation: Organisation, event: dict[str, Any], event_hash: str, lots: dict[str, int]
) -> Operation:
    _, digits = _sscc_digits(event)
    items = _items(event, "childQuantityList", "childEPCs", lots)
    operation = bundle_create(
        organisation=organisation,
        items=items,
        name=f"SSCC {digits}",
        sscc=digits,
        idempotency_key=f"epcis:{event_hash}",
    )
    if operation.lot_id is not None:
        lots[f"(00){digits}"] = int(operation.lot_id)
    return operation


def _unpack(
    organisation: Organisation, event: dict[str, Any], event_hash: str, lots: dict[str, int]
) -> Operation:
    parent, _ = _sscc_digits(event)
    return bundle_unpack(
        organisation=organisation,
        bundle_id=_lot_id(parent, lots, "parentID"),
        idempotency_key=f"epcis:{event_hash}",
    )


def _transform(
    organisation: Organisation, event: dict[str, Any], event_hash: str, lots: dict[str, int]
) -> Operation:
    inputs = _items(event, "inputQuantityList", "inputEPCList", lots)
    outputs = []
    for element in event.get("outputQuantityList") or []:
        key = gs1_key(element["epcClass"])
        quantity, unit = _quantity(element, "outputQuantityList")
        name = element["epcClass"] if key is None else f"GTIN {key.key} batch {key.lot}".strip()
        outputs.append(Output(name=name, quantity=quantity, unit=unit))
    step = _biz_step(event)
    return transformation_record(
        organisation=organisation,
        inputs=inputs,
        outputs=outputs,
        process=f"EPCIS {step or 'transformation'} {event.get('transformationID', '')}".strip(),
        idempotency_key=f"epcis:{event_hash}",
    )


_HANDLERS = {
    "lot.register": _register,
    "handoff.initiate": _ship,
    "handoff.accept": _receive,
    "bundle.create": _pack,
    "bundle.unpack": _unpack,
    "transformation.record": _transform,
}


def map_event(
    *,
    organisation: Organisation,
    event: dict[str, Any],
    event_hash: str,
    lots: dict[str, int],
) -> Operation | None:
    """The operation `event` becomes (the last, when it names several lots), or None for
    an event the chain has no action for. `lots` carries the lots this capture registered
    so far (GS1 element string -> lot id): a shipment after the commissioning in the same
    document finds them before they are mined."""
    action = chain_action(event)
    if action is None:
        return None
    try:
        return _HANDLERS[action](organisation, event, event_hash, lots)
    except IdempotencyConflict as exc:  # this event's key was used for another request
        raise _refuse("__all__", f"This event already acted differently: {exc}") from exc
