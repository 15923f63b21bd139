"""Reads about lots, handoffs and certificates, from the projections (the chain's mirror)
and the off-chain metadata. Everything here is what the chain says, as of the mirror."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet

from contracts.chain.domain import LotKind
from webapp.certificates.selectors import certificate_list
from webapp.chain.models import ChainEvent
from webapp.formatting import quantity
from webapp.formatting.labels import certificate_type_label
from webapp.lots.models import LotMetadata
from webapp.lots.selectors.scope import StockScope, current_lots
from webapp.operations.models import Operation
from webapp.operations.titles import LotLabel
from webapp.organisations.models import Organisation
from webapp.projections.models import (
    Balance,
    BundleContent,
    CertificateVersion,
    HandoffVersion,
    LotVersion,
    TransformationEdge,
)
from webapp.projections.selectors import bundle_contents

#: A lot's kind for people to read (pages, passport, evidence pack): "raw material".
KIND_NAMES = {k.value: k.name.replace("_", " ").lower() for k in LotKind}
#: A lot's kind as the API spells it, in answers and filters alike: "raw_material".
KIND_CODES = {k.value: k.name.lower() for k in LotKind}


def lot_list(
    *,
    holder: str = "",
    creator: str = "",
    kind: int | None = None,
    quarantined: bool | None = None,
    scope: StockScope | None = None,
) -> QuerySet[LotVersion]:
    """Current lots, filtered by holder address, creator address, kind, quarantine. A
    holder filter is stock: with a `scope`, it only finds lots whose stock the scope shows
    (a member asking what a stranger holds learns nothing of lots it never touched)."""
    lots = current_lots()
    if holder:
        held = Balance.objects.filter(
            chain_id=settings.CHAIN_ID, holder=holder, block_to__isnull=True, quantity__gt=0
        ).values("lot_id")
        lots = lots.filter(lot_id__in=held)
        if scope is not None:
            lots = scope.lots(lots)
    if creator:
        lots = lots.filter(creator=creator)
    if kind is not None:
        lots = lots.filter(kind=kind)
    if quarantined is not None:
        lots = lots.filter(quarantined=quarantined)
    return lots.order_by("-lot_id")


def metadata_for(lot_ids: list[Any]) -> dict[int, LotMetadata]:
    rows = LotMetadata.objects.filter(chain_id=settings.CHAIN_ID, lot_id__in=lot_ids)
    return {int(m.lot_id): m for m in rows}


@dataclass
class Holding:
    lot_id: int
    quantity: int
    name: str
    unit: str
    kind: str
    quarantined: bool
    kind_code: str = ""


def inventory(*, organisation: Organisation) -> list[Holding]:
    """What the organisation holds now (escrowed quantities are not its own until accepted)."""
    if not organisation.address:
        return []
    balances = list(
        Balance.objects.filter(
            chain_id=settings.CHAIN_ID,
            holder=organisation.address,
            block_to__isnull=True,
            quantity__gt=0,
        ).order_by("-lot_id")
    )
    ids = [b.lot_id for b in balances]
    lots = {int(v.lot_id): v for v in current_lots().filter(lot_id__in=ids)}
    meta = metadata_for(ids)
    out = []
    for b in balances:
        lot = lots.get(int(b.lot_id))
        m = meta.get(int(b.lot_id))
        out.append(
            Holding(
                lot_id=int(b.lot_id),
                quantity=b.quantity,
                name=m.name if m else "",
                unit=m.unit if m else "",
                kind=KIND_NAMES.get(lot.kind, "") if lot else "",
                quarantined=bool(lot and lot.quarantined),
                kind_code=KIND_CODES.get(lot.kind, "") if lot else "",
            )
        )
    return out


def handoff_list(
    *, organisation: Organisation, direction: str = "", status: str = ""
) -> QuerySet[HandoffVersion]:
    """Current handoffs the organisation sends (`outgoing`) or receives (`incoming`)."""
    rows = HandoffVersion.objects.filter(chain_id=settings.CHAIN_ID, block_to__isnull=True)
    address = organisation.address or "-"
    if direction == "incoming":
        rows = rows.filter(receiver=address)
    elif direction == "outgoing":
        rows = rows.filter(sender=address)
    else:
        rows = rows.filter(Q(receiver=address) | Q(sender=address))
    if status:
        rows = rows.filter(status=status)
    return rows.order_by("-handoff_id")


def handoff_of(*, organisation: Organisation, handoff_id: int) -> HandoffVersion | None:
    """A handoff as the mirror knows it now, if `organisation` is its sender or receiver."""
    address = organisation.address or "-"
    return (
        HandoffVersion.objects.filter(
            chain_id=settings.CHAIN_ID, handoff_id=handoff_id, block_to__isnull=True
        )
        .filter(Q(receiver=address) | Q(sender=address))
        .first()
    )


@dataclass
class LotDetail:
    lot: LotVersion
    metadata: LotMetadata | None
    metadata_matches: bool | None
    holders: dict[str, int]
    contents: dict[int, int]
    certificates: list[CertificateVersion]
    history: list[ChainEvent]
    open_handoffs: list[HandoffVersion]
    pending: list[Operation] = field(default_factory=list)
    inputs: list[TransformationEdge] = field(default_factory=list)
    outputs: list[TransformationEdge] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return KIND_NAMES.get(self.lot.kind, "")

    @property
    def kind_code(self) -> str:
        return KIND_CODES.get(self.lot.kind, "")


def lot_detail(*, lot_id: int, organisation: Organisation | None = None) -> LotDetail | None:
    """A lot's current state and its whole history, as the mirror holds it; `pending` holds
    the viewer's own operations on it still in progress (none without a viewer)."""
    chain_id = settings.CHAIN_ID
    lot = current_lots().filter(lot_id=lot_id).first()
    if lot is None:
        return None
    metadata = LotMetadata.objects.filter(chain_id=chain_id, lot_id=lot_id).first()
    holders = {
        b.holder: b.quantity
        for b in Balance.objects.filter(
            chain_id=chain_id, lot_id=lot_id, block_to__isnull=True, quantity__gt=0
        )
    }
    certificates = list(certificate_list(lot_id=lot_id))
    inputs = list(TransformationEdge.objects.filter(chain_id=chain_id, output_lot=lot_id))
    outputs = list(TransformationEdge.objects.filter(chain_id=chain_id, input_lot=lot_id))
    return LotDetail(
        lot=lot,
        metadata=metadata,
        metadata_matches=None if metadata is None else metadata.metadata_hash == lot.metadata_hash,
        holders=holders,
        contents=bundle_contents(chain_id=chain_id, bundle_id=lot_id),
        certificates=certificates,
        history=lot_history(
            lot_id=lot_id, certificate_ids=[c.certificate_id for c in certificates]
        ),
        open_handoffs=list(
            HandoffVersion.objects.filter(
                chain_id=chain_id, lot_id=lot_id, block_to__isnull=True, status="open"
            )
        ),
        pending=list(
            Operation.objects.filter(chain_id=chain_id, lot_id=lot_id, organisation=organisation)
            .exclude(status=Operation.Status.CONFIRMED)
            .select_related("organisation")[:20]
        )
        if organisation is not None
        else [],
        inputs=inputs,
        outputs=outputs,
    )


def lot_history(*, lot_id: int, certificate_ids: list[int] | None = None) -> list[ChainEvent]:
    """Every event about a lot, oldest first: registration, handoffs, quarantines,
    bundling, transformations in and out, certificates issued and revoked."""
    chain_id = settings.CHAIN_ID
    events = ChainEvent.objects.filter(chain_id=chain_id)
    about = (
        Q(args__lotId=lot_id)
        | Q(event__in=["LotsBundled", "LotsUnbundled"], args__bundleId=lot_id)
        | Q(event="CertificateIssued", args__subject=lot_id, args__subjectKind=1)
    )
    if certificate_ids:
        about |= Q(
            event="CertificateRevoked", args__certificateId__in=[int(c) for c in certificate_ids]
        )
    positions = set(
        TransformationEdge.objects.filter(chain_id=chain_id)
        .filter(Q(input_lot=lot_id) | Q(output_lot=lot_id))
        .values_list("block_from", "log_from")
    ) | set(
        BundleContent.objects.filter(chain_id=chain_id, lot_id=lot_id).values_list(
            "block_from", "log_from"
        )
    )
    for block, log in positions:
        about |= Q(block_number=block, log_index=log)
    return list(events.filter(about).order_by("block_number", "log_index"))


#: Lots.QuarantineAuthority: in what capacity a quarantine was set.
QUARANTINE_AUTHORITY = {1: "reporter", 2: "certifier", 3: "custodian of the whole lot"}


Who = Callable[[str], str]  # an address argument's name -> the name of whoever it is


def _quarantine_set(who: Who, a: dict[str, Any]) -> str:
    capacity = QUARANTINE_AUTHORITY.get(int(a.get("authority", 0)), "")
    as_what = f" as {capacity}" if capacity else ""
    return f"{who('by')} quarantined the lot{as_what}: {a['reason']}"


def _quarantine_cleared(who: Who, a: dict[str, Any]) -> str:
    if not a.get("setBy") or a.get("setBy") == a.get("by"):
        return f"{who('by')} lifted its quarantine: {a['reason']}"
    return f"{who('by')} lifted the quarantine set by {who('setBy')}: {a['reason']}"


Size = Callable[[object, object], str]  # (lot id, quantity) -> "400 kg"


def _lots(size: Size, ids: list[Any], quantities: list[Any]) -> str:
    return ", ".join(f"lot {int(i)} ({size(i, q)})" for i, q in zip(ids, quantities, strict=False))


def _handoff(verb: str, to: str) -> Callable[[Who, Size, dict[str, Any]], str]:
    """Handoff lines: the party acting, what moved, the other party, the handoff's id."""

    def line(who: Who, size: Size, a: dict[str, Any]) -> str:
        quantity = size(a["lotId"], a["quantity"])
        actor, other = ("sender", "receiver") if to == "to" else ("receiver", "sender")
        text = f"{who(actor)} {verb} {quantity} {to} {who(other)} (handoff {a['handoffId']})"
        return f"{text}: {a['reason']}" if a.get("reason") else text

    return line


#: Event name -> its line, from who is who, the size of a quantity of a lot, and the
#: event's arguments.
_DESCRIPTIONS: dict[str, Callable[[Who, Size, dict[str, Any]], str]] = {
    "LotRegistered": lambda who, size, a: (
        f"{who('owner')} registered {size(a['lotId'], a['quantity'])}"
    ),
    "HandoffInitiated": _handoff("handed", "to"),
    "HandoffAccepted": _handoff("accepted", "from"),
    "HandoffRejected": _handoff("rejected", "from"),
    "HandoffCancelled": _handoff("took back the offer of", "to"),
    "LotsBundled": lambda who, size, a: (
        f"{who('holder')} packed {_lots(size, a['lotIds'], a['quantities'])}"
        f" into bundle {a['bundleId']}"
    ),
    "LotsUnbundled": lambda who, size, a: (
        f"{who('holder')} unpacked bundle {a['bundleId']}:"
        f" {_lots(size, a['lotIds'], a['quantities'])} came out"
    ),
    "LotsTransformed": lambda who, size, a: (
        f"{who('actor')} turned {_lots(size, a['inputIds'], a['inputQuantities'])} into"
        f" {_lots(size, a['outputIds'], a['outputQuantities'])}"
        f" (transformation {a['transformationId']})"
    ),
    "QuarantineSet": lambda who, size, a: _quarantine_set(who, a),
    "QuarantineCleared": lambda who, size, a: _quarantine_cleared(who, a),
    "CertificateIssued": lambda who, size, a: (
        f"{who('issuer')} issued certificate {a['certificateId']}"
        f" ({certificate_type_label(str(a.get('certificateType', '')))})"
        if a.get("certificateType")
        else f"{who('issuer')} issued certificate {a['certificateId']}"
    ),
    "CertificateRevoked": lambda who, size, a: (
        f"{who('issuer')} revoked certificate {a['certificateId']}: {a['reason']}"
    ),
}


def describe_event(
    event: ChainEvent, names: dict[str, str], units: dict[int, str] | None = None
) -> str:
    """One line a person can read: who did what, quantities in each lot's unit from
    `units` (lot id -> unit; a lot not in it counts units). The event's name when it has
    no line."""
    describe = _DESCRIPTIONS.get(event.event)
    if describe is None:
        return event.event
    a = event.args
    units = units or {}

    def who(key: str) -> str:
        address = str(a.get(key, ""))
        return names.get(address, address)

    def size(lot_id: object, amount: object) -> str:
        try:
            unit = units.get(int(str(lot_id)), "units")
        except ValueError:
            unit = "units"
        return quantity(amount, unit)

    return describe(who, size, a)


def units_of(events: list[ChainEvent], *extra: int) -> dict[int, str]:
    """The unit of every lot the events name (and `extra` lots): for `describe_event`."""
    ids: set[int] = {int(i) for i in extra}
    for e in events:
        a = e.args
        for key in ("lotId", "bundleId"):
            if key in a:
                ids.add(int(a[key]))
        for key in ("lotIds", "inputIds", "outputIds"):
            ids.update(int(i) for i in a.get(key, []))
    return {i: m.unit for i, m in metadata_for(sorted(ids)).items() if m.unit}


def lot_labels(lot_ids: list[int]) -> dict[int, LotLabel]:
    """Lots' names and units from their metadata (for operation titles)."""
    return {i: LotLabel(name=m.name, unit=m.unit) for i, m in metadata_for(lot_ids).items()}
