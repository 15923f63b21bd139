"""Where a lot is now, in words: the organisations holding it, what is in transit or packed
in a bundle (held by escrow accounts), what transformations consumed, a bundle unpacked.
Read from the projections (the chain's mirror), within what a `StockScope` shows."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from eth_abi.abi import encode
from web3 import Web3

from webapp.chain.models import ChainEvent
from webapp.lots.selectors import metadata_for
from webapp.lots.selectors.scope import StockScope
from webapp.organisations.selectors import organisation_names
from webapp.projections.models import Balance, BundleContent, HandoffVersion, TransformationEdge


@dataclass(frozen=True)
class Custody:
    """Where (part of) a lot is now, in words: "Nordic Refinery", "in transit to
    EuroLogistics (handoff 8)", "packed in pallet 1004", "consumed by transformation 2".
    `lot_id` links what it is in or became (the bundle, the transformation's first output);
    `holder` is the organisation's address when an organisation holds it."""

    text: str
    quantity: int | None = None
    lot_id: int | None = None
    holder: str = ""


#: The Lots contract's salt for a bundle's escrow account (`Lots.bundleEscrow`).
_BUNDLE_ESCROW = Web3.keccak(text="provenant.bundle.escrow")


def bundle_escrow(bundle_id: int) -> str:
    """The account that holds a closed bundle's contents, as `Lots.bundleEscrow` derives it
    (no key exists for it; only the contract moves its balances)."""
    digest = Web3.keccak(encode(["bytes32", "uint256"], [_BUNDLE_ESCROW, int(bundle_id)]))
    return Web3.to_checksum_address(digest[-20:])


def lot_custody(
    *, lot_ids: list[int], scope: StockScope, names: dict[str, str] | None = None
) -> dict[int, list[Custody]]:
    """Where each lot is now, from the mirror: the organisations holding it; what escrow
    accounts hold of it, told as the open handoffs (in transit to whom) and the bundles it
    is packed in; what transformations consumed; a bundle that was unpacked. Only the
    organisation's own holding for a lot whose stock the scope does not show."""
    ids = [int(i) for i in lot_ids]
    names = organisation_names() if names is None else names
    covered = sorted(scope.covered(ids))
    out: dict[int, list[Custody]] = {i: [] for i in ids}
    escrowed = _escrowed(covered, names) if covered else []
    escrows = {escrow for _, escrow, _ in escrowed}
    balances = Balance.objects.filter(
        chain_id=settings.CHAIN_ID, lot_id__in=ids, block_to__isnull=True, quantity__gt=0
    ).order_by("holder")
    for b in balances:
        lot_id = int(b.lot_id)
        mine = b.holder in scope.addresses
        if (lot_id in covered or mine) and b.holder.lower() not in escrows:
            name = names.get(b.holder, b.holder)
            out[lot_id].append(Custody(text=name, quantity=int(b.quantity), holder=b.holder))
    for parts in out.values():
        parts.sort(key=lambda c: c.text.lower())
    for lot_id, _, part in escrowed:
        out[lot_id].append(part)
    if covered:
        for lot_id, part in _consumed(covered):
            out[lot_id].append(part)
        for lot_id, part in _unpacked(covered, names):
            if not out[lot_id]:
                out[lot_id].append(part)
    return out


def _escrowed(lot_ids: list[int], names: dict[str, str]) -> list[tuple[int, str, Custody]]:
    """What escrow accounts hold of these lots: open handoffs (in transit) and bundles
    (packed), each with its escrow account (lower case)."""
    chain_id = settings.CHAIN_ID
    parts = []
    handoffs = HandoffVersion.objects.filter(
        chain_id=chain_id, lot_id__in=lot_ids, block_to__isnull=True, status="open"
    ).order_by("handoff_id")
    for h in handoffs:
        receiver = names.get(h.receiver, h.receiver)
        text = f"in transit to {receiver} (handoff {int(h.handoff_id)})"
        part = Custody(text=text, quantity=int(h.quantity))
        parts.append((int(h.lot_id), h.escrow.lower(), part))
    packed = list(
        BundleContent.objects.filter(
            chain_id=chain_id, lot_id__in=lot_ids, block_to__isnull=True
        ).order_by("bundle_id")
    )
    bundles = metadata_for(sorted({int(p.bundle_id) for p in packed})) if packed else {}
    for p in packed:
        bundle_id = int(p.bundle_id)
        name = bundles[bundle_id].name if bundle_id in bundles else ""
        text = f"packed in {name} {bundle_id}" if name else f"packed in bundle {bundle_id}"
        part = Custody(text=text, quantity=int(p.quantity), lot_id=bundle_id)
        parts.append((int(p.lot_id), bundle_escrow(bundle_id).lower(), part))
    return parts


def _consumed(lot_ids: list[int]) -> list[tuple[int, Custody]]:
    """What transformations consumed of these lots (linking their first output)."""
    consumed: dict[tuple[int, int], tuple[int, int]] = {}
    edges = TransformationEdge.objects.filter(
        chain_id=settings.CHAIN_ID, input_lot__in=lot_ids
    ).order_by("transformation_id", "output_lot")
    for e in edges:
        # One edge per output: the input's quantity repeats on each.
        key = (int(e.input_lot), int(e.transformation_id))
        consumed.setdefault(key, (int(e.input_quantity), int(e.output_lot)))
    return [
        (lot_id, Custody(text=f"consumed by transformation {t}", quantity=used, lot_id=output))
        for (lot_id, t), (used, output) in sorted(consumed.items())
    ]


def _unpacked(lot_ids: list[int], names: dict[str, str]) -> list[tuple[int, Custody]]:
    """Bundles among these lots that were unpacked (the bundle itself is then gone)."""
    events = ChainEvent.objects.filter(
        chain_id=settings.CHAIN_ID, event="LotsUnbundled", args__bundleId__in=lot_ids
    ).order_by("-block_number", "-log_index")
    parts = []
    for e in events:
        holder = str(e.args.get("holder", ""))
        text = f"unpacked by {names.get(holder, holder)}: its lots are out again"
        parts.append((int(e.args["bundleId"]), Custody(text=text)))
    return parts
