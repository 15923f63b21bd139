"""What an operation is and what came of it, in a person's words.

An operation is stored as its action ("handoff.initiate") and the request as given (ids,
slugs, plain quantities). People read "Hand off 400 kg of lot 1001 to Nordic Refinery":
the title is built from the request and what the ids name (organisations, lots, handoffs,
certificates; `Facts`), and once the operation is confirmed its outcome is read from the
events of its transaction ("Lot 1005 registered"). Nothing here reads the database: the
selectors gather the facts (`operations.selectors.operations_described`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from webapp.formatting import quantity
from webapp.formatting.labels import certificate_type_label


def quoted(name: object) -> str:
    """A name in typographic single quotes, as titles show names people typed."""
    return "\u2018" + str(name or "") + "\u2019"


@dataclass(frozen=True)
class LotLabel:
    """A lot's name and unit, as its metadata gives them."""

    name: str = ""
    unit: str = ""


@dataclass(frozen=True)
class HandoffFacts:
    lot_id: int
    sender: str
    receiver: str
    quantity: int


@dataclass(frozen=True)
class CertificateFacts:
    certificate_type: str
    lot_id: int | None


@dataclass
class Facts:
    """What the ids in operations name: organisations by address and by slug, lots,
    handoffs, certificates."""

    names: Mapping[str, str] = field(default_factory=dict)
    slugs: Mapping[str, str] = field(default_factory=dict)
    lots: Mapping[int, LotLabel] = field(default_factory=dict)
    handoffs: Mapping[int, HandoffFacts] = field(default_factory=dict)
    certificates: Mapping[int, CertificateFacts] = field(default_factory=dict)

    def size(self, lot_id: object, amount: object) -> str:
        """A quantity of a lot in its unit ("400 kg"; units when the lot is unknown)."""
        label = self.lots.get(_int(lot_id) or -1)
        return quantity(amount, label.unit if label and label.unit else "units")

    def lot(self, lot_id: object) -> str:
        """ "lot 1001" and the lot's name in quotes, when it has one."""
        label = self.lots.get(_int(lot_id) or -1)
        return f"lot {lot_id} {quoted(label.name)}" if label and label.name else f"lot {lot_id}"

    def organisation(self, slug_or_address: object) -> str:
        text = str(slug_or_address or "")
        return self.slugs.get(text) or self.names.get(text) or text or "an organisation"


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None


def _items(facts: Facts, items: Any) -> str:
    parts = [f"{facts.size(i, q)} of lot {i}" for i, q in (items or [])]
    return _and(parts) or "nothing"


def _and(parts: list[str]) -> str:
    return ", ".join(parts[:-1]) + f" and {parts[-1]}" if len(parts) > 1 else "".join(parts)


def _handoff(facts: Facts, request: dict[str, Any], expects: dict[str, Any], to: bool) -> str:
    """ "handoff 8 (400 kg of lot 1001 from Katanga Cobalt Mine)" as far as known (`to`:
    "… to Nordic Refinery", for the sender's own view)."""
    handoff_id = request["handoff_id"]
    known = facts.handoffs.get(_int(handoff_id) or -1)
    expected = (expects or {}).get("handoff") or {}
    if known is None and expected:
        known = HandoffFacts(
            lot_id=int(expected["lot_id"]),
            sender=str(expected["sender"]),
            receiver=str(expected["receiver"]),
            quantity=int(expected["quantity"]),
        )
    if known is None:
        return f"handoff {handoff_id}"
    other = (
        f"to {facts.organisation(known.receiver)}"
        if to
        else (f"from {facts.organisation(known.sender)}")
    )
    size = facts.size(known.lot_id, known.quantity)
    return f"handoff {handoff_id} ({size} of lot {known.lot_id} {other})"


def _register(f: Facts, r: dict[str, Any], e: dict[str, Any]) -> str:
    return f"Register lot {quoted(r['name'])} ({quantity(r['quantity'], r['unit'])})"


def _initiate(f: Facts, r: dict[str, Any], e: dict[str, Any]) -> str:
    size = f.size(r["lot_id"], r["quantity"])
    return f"Hand off {size} of {f.lot(r['lot_id'])} to {f.organisation(r['receiver'])}"


def _answer(verb: str) -> Callable[[Facts, dict[str, Any], dict[str, Any]], str]:
    def title(f: Facts, r: dict[str, Any], e: dict[str, Any]) -> str:
        text = f"{verb} {_handoff(f, r, e, to=verb == 'Cancel')}"
        return f"{text}: {r['reason']}" if r.get("reason") else text

    return title


def _bundle(f: Facts, r: dict[str, Any], e: dict[str, Any]) -> str:
    return f"Pack {_items(f, r['items'])} into bundle {quoted(r['name'])}"


def _unpack(f: Facts, r: dict[str, Any], e: dict[str, Any]) -> str:
    return f"Unpack {f.lot(r['bundle_id']).replace('lot', 'bundle', 1)}"


def _transform(f: Facts, r: dict[str, Any], e: dict[str, Any]) -> str:
    outputs = [
        f"{quoted(o.get('name'))} ({quantity(o.get('quantity'), o.get('unit', ''))})"
        for o in r["outputs"]
    ]
    return f"Turn {_items(f, r['inputs'])} into {_and(outputs) or 'nothing'}"


def _certify(f: Facts, r: dict[str, Any], e: dict[str, Any]) -> str:
    kind = certificate_type_label(str(r["certificate_type"]))
    return f"Certify {f.lot(r['lot_id'])}: {kind.lower()}"


def _revoke(f: Facts, r: dict[str, Any], e: dict[str, Any]) -> str:
    certificate_id = r["certificate_id"]
    known = f.certificates.get(_int(certificate_id) or -1)
    about = ""
    if known is not None:
        kind = certificate_type_label(known.certificate_type).lower()
        about = f" ({kind}, lot {known.lot_id})" if known.lot_id is not None else f" ({kind})"
    text = f"Revoke certificate {certificate_id}{about}"
    return f"{text}: {r['reason']}" if r.get("reason") else text


def _organisation(f: Facts, r: dict[str, Any], e: dict[str, Any]) -> str:
    roles = ", ".join(str(role).lower() for role in r.get("roles") or [])
    who = f.organisation(r["organisation"])
    return f"Register {who} on the chain" + (f" ({roles})" if roles else "")


#: Action -> its title, from the facts, the request and what the operation expects.
_TITLES: dict[str, Callable[[Facts, dict[str, Any], dict[str, Any]], str]] = {
    "lot.register": _register,
    "handoff.initiate": _initiate,
    "handoff.accept": _answer("Accept"),
    "handoff.reject": _answer("Reject"),
    "handoff.cancel": _answer("Cancel"),
    "bundle.create": _bundle,
    "bundle.unpack": _unpack,
    "transformation.record": _transform,
    "certificate.issue": _certify,
    "certificate.revoke": _revoke,
    "organisation.register": _organisation,
    "organisation.rotate_key": lambda f, r, e: (
        f"Give {f.organisation(r.get('organisation'))} a new signing key"
    ),
    "organisation.migrate_holdings": lambda f, r, e: (
        f"Move {len(r.get('lots') or [])} lots' holdings to {f.organisation(r.get('to'))}'s new key"
    ),
    "epcis.anchor": lambda f, r, e: (
        f"Anchor {r.get('itemCount', 0)} captured EPCIS events on the chain (root"
        f" {str(r.get('root', ''))[:10]}…)"
    ),
    "organisation.retire_key": lambda f, r, e: (
        f"Retire an old signing key of {f.organisation(r.get('organisation'))}"
    ),
}


def _humanised(action: str) -> str:
    """ "setQuarantine" or "lot.set_quarantine" → "Set quarantine"."""
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", action).replace(".", " ").replace("_", " ")
    return words.strip().lower().capitalize() or "Operation"


def operation_title(*, action: str, request: dict[str, Any], facts: Facts, lot_id: object = None,
                    expects: dict[str, Any] | None = None) -> str:  # fmt: skip
    """What the operation does, in words: "Hand off 400 kg of lot 1001 to Nordic Refinery"."""
    title = _TITLES.get(action)
    if title is not None:
        try:
            return title(facts, request or {}, expects or {})
        except (KeyError, TypeError, ValueError):  # a request of an older shape
            pass
    text = _humanised(action)
    return f"{text} (lot {lot_id})" if lot_id is not None else text


@dataclass(frozen=True)
class Outcome:
    """What came of a confirmed operation (or why it failed), and what to link: a lot, or a
    certificate (its revocation's impact page)."""

    text: str
    lot_id: int | None = None
    certificate_id: int | None = None


#: Event name -> what it says happened, from the facts and the event's arguments.
_OUTCOMES: dict[str, Callable[[Facts, dict[str, Any]], Outcome]] = {
    "LotRegistered": lambda f, a: Outcome(f"Lot {a['lotId']} registered", int(a["lotId"])),
    "HandoffInitiated": lambda f, a: Outcome(
        f"Handoff {a['handoffId']} opened: {f.size(a['lotId'], a['quantity'])} of lot"
        f" {a['lotId']} offered to {f.organisation(a['receiver'])}",
        int(a["lotId"]),
    ),
    "HandoffAccepted": lambda f, a: Outcome(
        f"Handoff {a['handoffId']} accepted: {f.organisation(a['receiver'])} holds"
        f" {f.size(a['lotId'], a['quantity'])} of lot {a['lotId']}",
        int(a["lotId"]),
    ),
    "HandoffRejected": lambda f, a: Outcome(
        f"Handoff {a['handoffId']} rejected: {f.size(a['lotId'], a['quantity'])} of lot"
        f" {a['lotId']} went back to {f.organisation(a['sender'])}",
        int(a["lotId"]),
    ),
    "HandoffCancelled": lambda f, a: Outcome(
        f"Handoff {a['handoffId']} cancelled: {f.size(a['lotId'], a['quantity'])} of lot"
        f" {a['lotId']} went back to {f.organisation(a['sender'])}",
        int(a["lotId"]),
    ),
    "LotsBundled": lambda f, a: Outcome(
        f"Bundle {a['bundleId']} packed ({len(a['lotIds'])} lots)", int(a["bundleId"])
    ),
    "LotsUnbundled": lambda f, a: Outcome(
        f"Bundle {a['bundleId']} unpacked: lots {', '.join(str(i) for i in a['lotIds'])} are"
        " out again",
        int(a["bundleId"]),
    ),
    "LotsTransformed": lambda f, a: Outcome(
        f"Transformation {a['transformationId']} recorded: lot"
        f"{'s' if len(a['outputIds']) > 1 else ''} {', '.join(str(i) for i in a['outputIds'])}"
        " made",
        int(a["outputIds"][0]) if a["outputIds"] else None,
    ),
    "CertificateIssued": lambda f, a: Outcome(
        f"Certificate {a['certificateId']} issued for lot {a['subject']}",
        int(a["subject"]) if int(a.get("subjectKind", 1)) == 1 else None,
    ),
    "CertificateRevoked": lambda f, a: Outcome(
        f"Certificate {a['certificateId']} revoked", certificate_id=int(a["certificateId"])
    ),
    "ParticipantRegistered": lambda f, a: Outcome(
        f"{f.organisation(a.get('account'))} is on the chain"
    ),
}


def operation_outcome(
    *,
    status: str,
    error: str,
    lot_id: object,
    events: list[tuple[str, dict[str, Any]]],
    facts: Facts,
) -> Outcome | None:
    """What happened: for a confirmed operation, the first event of its transaction the
    portal has words for; for a failed one, the reason; None while it is on its way."""
    if status == "failed":
        return Outcome(error or "The chain refused it.")
    if status != "confirmed":
        return None
    for name, args in events:
        outcome = _OUTCOMES.get(name)
        if outcome is not None:
            try:
                return outcome(facts, args)
            except (KeyError, TypeError, ValueError):
                continue
    lot = _int(lot_id) if lot_id is not None else None
    return Outcome("Done: the chain has it.", lot)
