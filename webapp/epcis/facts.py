"""Every fact of the chain mirror as an EPCIS 2.0 event (pure: what the mirror knows of lots
and parties comes in as `Names`).

| chain event        | EPCIS event               | bizStep                 | disposition        |
|--------------------|---------------------------|-------------------------|--------------------|
| LotRegistered      | ObjectEvent ADD           | commissioning           | active             |
| HandoffInitiated   | ObjectEvent OBSERVE       | shipping                | in_transit         |
| HandoffAccepted    | ObjectEvent OBSERVE       | receiving               | in_progress        |
| HandoffRejected    | ObjectEvent OBSERVE       | void_shipping           | returned           |
| HandoffCancelled   | ObjectEvent OBSERVE       | void_shipping           | active             |
| LotsBundled        | AggregationEvent ADD      | packing                 | -                  |
| LotsUnbundled      | AggregationEvent DELETE   | unpacking               | -                  |
| LotsTransformed    | TransformationEvent       | creating_class_instance | active             |
| QuarantineSet      | ObjectEvent OBSERVE       | holding                 | non_sellable_other |
| QuarantineCleared  | ObjectEvent OBSERVE       | inspecting              | conformant         |
| CertificateIssued  | ObjectEvent OBSERVE (lot) | inspecting              | -                  |
| CertificateRevoked | ObjectEvent OBSERVE (lot) | inspecting              | -                  |

Handoffs name the sender and receiver as owning parties (sourceList / destinationList) and
the handoff as a despatch advice (bizTransactionList, `desadv`); certificates go in
`certificationInfo`. The event and record time are the block's time (UTC); `eventID` is the
event's CBV 2.0 hash (which leaves eventID and recordTime out). Each event carries its
`@context`: GS1's and ours (`provenant:`), whose properties point at the chain: chain id,
block number, transaction hash, log index and the contract event's name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any, Protocol

from webapp.epcis.hashing import event_hash
from webapp.epcis.validation import CONTEXT_URL
from webapp.lots.identities import URN_PREFIX, LotIdentity, account_party, lot_urn

#: Our extension namespace. Under `.example` (RFC 2606): a name no one else can register,
#: so it cannot collide with another party's extensions; never dereferenced. It is hashed
#: into every event we derive (as are the URNs), so it does not depend on configuration.
NAMESPACE = "https://provenant.example/epcis/"
PREFIX = "provenant"
CONTEXT: list[Any] = [CONTEXT_URL, {PREFIX: NAMESPACE}]

SUBJECT_LOT = 1  # SubjectKind.LOT

#: The chain events that become EPCIS events.
KINDS = frozenset(
    {
        "LotRegistered",
        "HandoffInitiated",
        "HandoffAccepted",
        "HandoffRejected",
        "HandoffCancelled",
        "LotsBundled",
        "LotsUnbundled",
        "LotsTransformed",
        "QuarantineSet",
        "QuarantineCleared",
        "CertificateIssued",
        "CertificateRevoked",
    }
)
_HANDOFF_STEPS = {
    "HandoffInitiated": ("shipping", "in_transit"),
    "HandoffAccepted": ("receiving", "in_progress"),
    "HandoffRejected": ("void_shipping", "returned"),
    "HandoffCancelled": ("void_shipping", "active"),
}


class Fact(Protocol):
    """A mirrored chain event (`webapp.chain.models.ChainEvent`)."""

    chain_id: int
    block_number: int
    block_timestamp: Any
    transaction_hash: str
    log_index: int
    event: str
    args: Any


@dataclass(frozen=True)
class Names:
    """What the mirror knows that the chain events do not say: each lot's identity, each
    address's party, each lot certificate's subject lot."""

    lots: Mapping[int, LotIdentity] = field(default_factory=dict)
    parties: Mapping[str, str] = field(default_factory=dict)
    certificate_subjects: Mapping[int, int] = field(default_factory=dict)

    def lot(self, lot_id: Any, *, chain_id: int) -> LotIdentity:
        found = self.lots.get(int(lot_id))
        if found is None:  # unknown to the mirror: our URN, counted without a unit
            return LotIdentity(lot_urn(chain_id=chain_id, lot_id=int(lot_id)), instance=False)
        return found

    def party(self, address: str, *, chain_id: int) -> str:
        return self.parties.get(address.lower()) or account_party(address, chain_id=chain_id)


@dataclass
class Wanted:
    """What `Names` must hold for a batch of facts."""

    lot_ids: set[int] = field(default_factory=set)
    addresses: set[str] = field(default_factory=set)
    certificate_ids: set[int] = field(default_factory=set)


def wanted(facts: Iterable[Fact]) -> Wanted:
    need = Wanted()
    for fact in facts:
        a = fact.args
        match fact.event:
            case "LotRegistered" | "QuarantineSet" | "QuarantineCleared":
                need.lot_ids.add(int(a["lotId"]))
            case "HandoffInitiated" | "HandoffAccepted" | "HandoffRejected" | "HandoffCancelled":
                need.lot_ids.add(int(a["lotId"]))
                need.addresses |= {a["sender"], a["receiver"]}
            case "LotsBundled" | "LotsUnbundled":
                need.lot_ids |= {int(a["bundleId"]), *(int(i) for i in a["lotIds"])}
            case "LotsTransformed":
                need.lot_ids |= {int(i) for i in (*a["inputIds"], *a["outputIds"])}
            case "CertificateIssued":
                if int(a["subjectKind"]) == SUBJECT_LOT:
                    need.lot_ids.add(int(a["subject"]))
            case "CertificateRevoked":
                need.certificate_ids.add(int(a["certificateId"]))
    return need


def _time(fact: Fact) -> str:
    return str(fact.block_timestamp.astimezone(UTC).isoformat(timespec="milliseconds"))


def _urn(kind: str, fact: Fact, number: Any) -> str:
    return f"{URN_PREFIX}:{kind}:{fact.chain_id}:{int(number)}"


def _what(lot: LotIdentity, quantity: Any) -> dict[str, Any]:
    """A lot in an ObjectEvent: an instance in epcList, a class (with `quantity` of it, or
    the whole class) in quantityList."""
    if lot.instance:
        return {"epcList": [lot.uri]}
    return {"quantityList": [lot.quantity_element(None if quantity is None else int(quantity))]}


def _lots(
    lots: Sequence[LotIdentity], quantities: Sequence[Any], *, epcs: str, quantity_list: str
) -> dict[str, Any]:
    instances = [lot.uri for lot in lots if lot.instance]
    classes = [
        lot.quantity_element(int(q))
        for lot, q in zip(lots, quantities, strict=True)
        if not lot.instance
    ]
    found: dict[str, Any] = {}
    if instances:
        found[epcs] = list(dict.fromkeys(instances))
    if classes:
        found[quantity_list] = classes
    return found


def _event(fact: Fact, kind: str, body: dict[str, Any], **extensions: Any) -> dict[str, Any]:
    time = _time(fact)
    event: dict[str, Any] = {
        "@context": CONTEXT,
        "type": kind,
        "eventTime": time,
        "recordTime": time,
        "eventTimeZoneOffset": "+00:00",
        **body,
        f"{PREFIX}:chainId": str(fact.chain_id),
        f"{PREFIX}:blockNumber": str(fact.block_number),
        f"{PREFIX}:transactionHash": fact.transaction_hash,
        f"{PREFIX}:logIndex": str(fact.log_index),
        f"{PREFIX}:chainEvent": fact.event,
    }
    event.update({f"{PREFIX}:{k}": v for k, v in extensions.items() if v})
    identified = {"@context": CONTEXT, "type": kind, "eventID": event_hash(event)}
    return identified | event


def fact_event(fact: Fact, names: Names) -> dict[str, Any] | None:
    """The EPCIS event that states `fact`; None for a fact EPCIS has no event for (roles,
    participants, a certificate about a participant)."""
    a = fact.args
    chain = fact.chain_id
    match fact.event:
        case "LotRegistered":
            lot = names.lot(a["lotId"], chain_id=chain)
            body = {
                "action": "ADD",
                **_what(lot, a["quantity"]),
                "bizStep": "commissioning",
                "disposition": "active",
            }
            return _event(fact, "ObjectEvent", _object_order(body))
        case "HandoffInitiated" | "HandoffAccepted" | "HandoffRejected" | "HandoffCancelled":
            lot = names.lot(a["lotId"], chain_id=chain)
            step, disposition = _HANDOFF_STEPS[fact.event]
            body = {
                **_what(lot, a["quantity"]),
                "action": "OBSERVE",
                "bizStep": step,
                "disposition": disposition,
                "bizTransactionList": [
                    {"type": "desadv", "bizTransaction": _urn("handoff", fact, a["handoffId"])}
                ],
                "sourceList": [
                    {"type": "owning_party", "source": names.party(a["sender"], chain_id=chain)}
                ],
                "destinationList": [
                    {
                        "type": "owning_party",
                        "destination": names.party(a["receiver"], chain_id=chain),
                    }
                ],
            }
            return _event(fact, "ObjectEvent", _object_order(body), reason=a.get("reason", ""))
        case "LotsBundled" | "LotsUnbundled":
            bundle = names.lot(a["bundleId"], chain_id=chain)
            children = [names.lot(i, chain_id=chain) for i in a["lotIds"]]
            packing = fact.event == "LotsBundled"
            body = {
                "parentID": bundle.uri,
                **_lots(
                    children, a["quantities"], epcs="childEPCs", quantity_list="childQuantityList"
                ),
                "action": "ADD" if packing else "DELETE",
                "bizStep": "packing" if packing else "unpacking",
            }
            return _event(fact, "AggregationEvent", body)
        case "LotsTransformed":
            inputs = [names.lot(i, chain_id=chain) for i in a["inputIds"]]
            outputs = [names.lot(i, chain_id=chain) for i in a["outputIds"]]
            body = {
                **_lots(
                    inputs, a["inputQuantities"], epcs="inputEPCList",
                    quantity_list="inputQuantityList",
                ),
                **_lots(
                    outputs, a["outputQuantities"], epcs="outputEPCList",
                    quantity_list="outputQuantityList",
                ),
                "transformationID": _urn("transformation", fact, a["transformationId"]),
                "bizStep": "creating_class_instance",
                "disposition": "active",
            }  # fmt: skip
            return _event(fact, "TransformationEvent", body, processHash=a["processHash"])
        case "QuarantineSet" | "QuarantineCleared":
            lot = names.lot(a["lotId"], chain_id=chain)
            on = fact.event == "QuarantineSet"
            body = {
                **_what(lot, None),
                "action": "OBSERVE",
                "bizStep": "holding" if on else "inspecting",
                "disposition": "non_sellable_other" if on else "conformant",
            }
            return _event(fact, "ObjectEvent", _object_order(body), reason=a.get("reason", ""))
        case "CertificateIssued" | "CertificateRevoked":
            certificate = int(a["certificateId"])
            if fact.event == "CertificateIssued":
                if int(a["subjectKind"]) != SUBJECT_LOT:
                    return None
                subject = int(a["subject"])
            elif (found := names.certificate_subjects.get(certificate)) is not None:
                subject = found
            else:
                return None  # a participant's certificate
            lot = names.lot(subject, chain_id=chain)
            body = {
                "certificationInfo": _urn("certificate", fact, certificate),
                **_what(lot, None),
                "action": "OBSERVE",
                "bizStep": "inspecting",
            }
            return _event(fact, "ObjectEvent", _object_order(body), reason=a.get("reason", ""))
    return None


def _object_order(body: dict[str, Any]) -> dict[str, Any]:
    """An ObjectEvent's properties in the standard's order (readability only: the hash
    orders them itself)."""
    order = (
        "certificationInfo", "epcList", "quantityList", "action", "bizStep", "disposition",
        "bizTransactionList", "sourceList", "destinationList",
    )  # fmt: skip
    return {k: body[k] for k in order if k in body}


def fact_events(facts: Iterable[Fact], names: Names) -> list[tuple[Fact, dict[str, Any]]]:
    """Each fact with the EPCIS event that states it (facts without one left out)."""
    found = []
    for fact in facts:
        event = fact_event(fact, names)
        if event is not None:
            found.append((fact, event))
    return found
