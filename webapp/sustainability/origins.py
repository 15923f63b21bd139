"""Origin credit: which origins (the mines, farms and recyclers that registered the root
lots) each end product that reached a retailer is made of, how many kilograms of it and
what share, per product and per product line and month. The rule is
`webapp.sustainability.mass_balance`; this module gathers its facts from the projections.

Reaching a retailer: a handoff accepted by a participant holding the RETAILER role (as the
chain's participant registry said at that block) from one that did not, either of the lot
itself or of a bundle that held it then (bundles inside bundles too, a content's quantity
scaled by the share of the bundle handed). Retailers cannot register or transform lots on
chain, so every lot a retailer holds came in this way; a lot passed on between retailers
arrived once. The month of an arrival is the UTC month of its block, so every participant
files it under the same month.

Only chain facts count: the lineage (transformation inputs, bundle contents), lot
quantities and creators, handoffs, roles, block times, and each lot's unit, taken from its
metadata document only when the document's hash is the one the chain holds (otherwise the
unit is unknown and the lot has no mass). Everything is read in a fixed number of queries
plus one lineage walk (`lot_trace`, one recursive query) per end product not already
reached from another one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from django.conf import settings

from contracts.chain.domain import LotKind, Role
from webapp import formatting
from webapp.chain.models import Block
from webapp.lots.models import LotMetadata
from webapp.organisations.selectors import organisation_names
from webapp.projections.models import (
    BundleContent,
    HandoffVersion,
    LotVersion,
    ParticipantVersion,
    TransformationEdge,
)
from webapp.provenance.selectors import MAX_DEPTH, LotNotFound, lot_trace
from webapp.sustainability.dashboard import product_line
from webapp.sustainability.mass_balance import (
    GRAMS,
    LotFacts,
    MassBalance,
    Part,
    allocated,
    rounded,
)
from webapp.sustainability.selectors import mirror_head

KG = Fraction(1000)


@dataclass(frozen=True)
class Arrival:
    """`quantity` of end product `lot_id` reached `retailer` with handoff `handoff_id`
    (of the lot itself, or of bundle `carried_by` holding it), at (block, log)."""

    lot_id: int
    quantity: Fraction
    block: int
    log: int
    handoff_id: int
    retailer: str
    carried_by: int | None = None


@dataclass(frozen=True)
class Credit:
    """One origin's part of an amount: its share (0..1) and the amount (kg, or the
    product's own unit when it has no mass), both rounded so the parts add up."""

    address: str
    name: str
    share: Decimal
    amount: Decimal | None


@dataclass
class World:
    """The facts origin credit reads, gathered once for many lots."""

    chain_id: int
    block: int | None
    balance: MassBalance
    lines: dict[int, str]  # product line of each lot read
    names: dict[int, str]  # lot names
    units: dict[int, str]  # the unit as the metadata says, when it matches the chain
    creators: dict[int, str]
    kinds: dict[int, int]
    reached_cap: bool = False


def _mix_credits(
    mix: Mapping[str, Fraction], amount: Fraction | None, names: Mapping[str, str]
) -> list[Credit]:
    """An origin mix as rounded credits (largest share first, then address)."""
    shares = allocated(mix)
    amounts = allocated({a: amount * f / KG for a, f in mix.items()}) if amount is not None else {}
    credits = [
        Credit(address=a, name=names.get(a, ""), share=shares[a], amount=amounts.get(a))
        for a in mix
    ]
    return sorted(credits, key=lambda c: (-mix[c.address], c.address))


@dataclass
class _Lineage:
    """Every lineage edge upstream of some lots: transformation inputs by output (and the
    transformation that made it), bundle contents by bundle."""

    inputs: dict[int, list[Part]]
    contents: dict[int, list[Part]]
    made_by: dict[int, int]
    reached_cap: bool


def _upstream(lot_ids: Iterable[int], chain_id: int) -> _Lineage:
    inputs: dict[int, dict[int, int]] = defaultdict(dict)
    contents: dict[int, dict[int, int]] = defaultdict(dict)
    made_by: dict[int, int] = {}
    closure: set[int] = set()
    capped = False
    # Newest first: a product's ids come after its inputs', so its walk covers theirs.
    for lot_id in sorted(set(lot_ids), reverse=True):
        if lot_id in closure:
            continue
        trace = lot_trace(
            lot_id=lot_id, direction="up", depth=MAX_DEPTH, chain_id=chain_id, alive_only=False
        )
        closure |= set(trace.nodes)
        capped |= trace.reached_cap
        for edge in trace.edges:  # each edge once (by its event), in chain order
            if edge.kind == "bundle":
                packed = contents[edge.child]
                packed[edge.parent] = packed.get(edge.parent, 0) + int(edge.parent_quantity)
            else:
                assert edge.transformation_id is not None
                inputs[edge.child][edge.parent] = int(edge.parent_quantity)
                made_by[edge.child] = edge.transformation_id

    def parts(edges: dict[int, dict[int, int]]) -> dict[int, list[Part]]:
        return {child: [Part(p, q) for p, q in sorted(by.items())] for child, by in edges.items()}

    return _Lineage(parts(inputs), parts(contents), made_by, capped)


def world_read(*, lot_ids: Iterable[int], chain_id: int | None = None) -> World:
    """The facts behind the origin credit of `lot_ids`: one lineage walk per lot not
    reached from an earlier one, then four queries."""
    chain_id = chain_id or settings.CHAIN_ID
    lot_ids = sorted(set(lot_ids))
    lineage = _upstream(lot_ids, chain_id)
    inputs, contents, made_by = lineage.inputs, lineage.contents, lineage.made_by
    outputs: dict[int, list[Part]] = defaultdict(list)
    for t_id, out_lot, out_qty in (
        TransformationEdge.objects.filter(
            chain_id=chain_id, transformation_id__in=sorted(set(made_by.values()))
        )
        .values_list("transformation_id", "output_lot", "output_quantity")
        .distinct()
        .order_by("transformation_id", "output_lot")
    ):
        outputs[int(t_id)].append(Part(int(out_lot), int(out_qty)))
    ids = set(lot_ids) | set(inputs) | set(contents)
    ids |= {p.parent for parts in [*inputs.values(), *contents.values()] for p in parts}
    ids |= {p.parent for parts in outputs.values() for p in parts}
    versions = {
        int(v.lot_id): v
        for v in LotVersion.objects.filter(
            chain_id=chain_id, lot_id__in=sorted(ids), block_to__isnull=True
        )
    }
    metas = {
        int(m.lot_id): m
        for m in LotMetadata.objects.filter(chain_id=chain_id, lot_id__in=sorted(ids))
    }
    lots: dict[int, LotFacts] = {}
    lines, names, units = {}, {}, {}
    for lot_id, version in versions.items():
        meta = metas.get(lot_id)
        trusted = meta is not None and meta.metadata_hash == version.metadata_hash
        written = meta.unit.strip() if trusted and meta is not None else ""
        mass = formatting.mass_unit(written)
        lots[lot_id] = LotFacts(
            creator=version.creator,
            quantity=int(version.quantity),
            unit_grams=GRAMS[mass] if mass else None,
            unit=mass or written.lower(),
            transformation=made_by.get(lot_id),
            inputs=inputs.get(lot_id, []),
            contents=contents.get(lot_id, []),
        )
        lines[lot_id] = product_line(meta, version)
        names[lot_id] = meta.name if meta is not None else ""
        units[lot_id] = written
    head = mirror_head(chain_id=chain_id)
    return World(
        chain_id=chain_id,
        block=None if head is None else head[0],
        balance=MassBalance(lots, outputs),
        lines=lines,
        names=names,
        units=units,
        creators={i: v.creator for i, v in versions.items()},
        kinds={i: v.kind for i, v in versions.items()},
        reached_cap=lineage.reached_cap,
    )


# ------------------------------------------------------------------------ arrivals


def _retail_windows(chain_id: int) -> dict[str, list[tuple[int, int | None]]]:
    """Each account's block windows [from, to) holding the RETAILER role."""
    windows: dict[str, list[tuple[int, int | None]]] = defaultdict(list)
    for account, roles, start, end in ParticipantVersion.objects.filter(
        chain_id=chain_id
    ).values_list("account", "roles", "block_from", "block_to"):
        if roles & Role.RETAILER:
            windows[account].append((start, end))
    return windows


def _is_retailer(windows: Mapping[str, list[tuple[int, int | None]]], who: str, at: int) -> bool:
    return any(start <= at and (end is None or at < end) for start, end in windows.get(who, []))


def _carriers(lot_id: int, chain_id: int) -> set[int]:
    """The lot and every bundle that ever held it, at any depth (one query per level)."""
    found, frontier = {lot_id}, {lot_id}
    while frontier:
        frontier = {
            int(b)
            for b in BundleContent.objects.filter(
                chain_id=chain_id, lot_id__in=sorted(frontier)
            ).values_list("bundle_id", flat=True)
        } - found
        found |= frontier
    return found


def _contents(
    chain_id: int, lots: set[int]
) -> tuple[dict[int, list[BundleContent]], dict[int, int]]:
    """Of `lots`, the bundles (their quantity) and everything ever packed in them, bundles
    inside them too, in chain order: two queries per level of nesting."""
    held: dict[int, list[BundleContent]] = defaultdict(list)
    sizes: dict[int, int] = {}
    seen: set[int] = set()
    wanted = set(lots)
    while wanted:
        seen |= wanted
        found = {
            int(i): int(q)
            for i, q in LotVersion.objects.filter(
                chain_id=chain_id,
                block_to__isnull=True,
                kind=LotKind.BUNDLE,
                lot_id__in=sorted(wanted),
            ).values_list("lot_id", "quantity")
        }
        sizes.update(found)
        if not found:
            break
        rows = BundleContent.objects.filter(chain_id=chain_id, bundle_id__in=sorted(found))
        wanted = set()
        for row in rows.order_by("block_from", "log_from", "lot_id"):
            held[int(row.bundle_id)].append(row)
            wanted.add(int(row.lot_id))
        wanted -= seen
    return held, sizes


def arrivals_read(*, chain_id: int | None = None, of_lot: int | None = None) -> list[Arrival]:
    """Every arrival of an end product at a retailer (only of lot `of_lot`, when given), in
    chain order (block, log index), bundles opened (as they held their lots then)."""
    chain_id = chain_id or settings.CHAIN_ID
    windows = _retail_windows(chain_id)
    accepted = HandoffVersion.objects.filter(
        chain_id=chain_id, block_to__isnull=True, status="accepted", receiver__in=list(windows)
    )
    if of_lot is not None:
        accepted = accepted.filter(lot_id__in=sorted(_carriers(of_lot, chain_id)))
    handoffs = [
        h
        for h in accepted.order_by("block_from", "log_from", "handoff_id")
        if _is_retailer(windows, h.receiver, h.block_from)
        and not _is_retailer(windows, h.sender, h.block_from)
    ]
    held, bundles = _contents(chain_id, {int(h.lot_id) for h in handoffs})

    def opened(
        lot: int, quantity: Fraction, at: tuple[int, int], seen: frozenset[int]
    ) -> Iterable[tuple[int, Fraction, int | None]]:
        if lot not in bundles or lot in seen:
            yield lot, quantity, None
            return
        size = Fraction(max(bundles[lot], 1))
        for row in held.get(lot, []):
            inside = (row.block_from, row.log_from) <= at and (
                row.block_to is None or row.block_to > at[0]
            )
            if inside:
                share = quantity * int(row.quantity) / size
                for item, amount, _ in opened(int(row.lot_id), share, at, seen | {lot}):
                    yield item, amount, lot

    arrivals = []
    for h in handoffs:
        at = (int(h.block_from), int(h.log_from))
        whole = Fraction(int(h.quantity))
        for lot, amount, carrier in opened(int(h.lot_id), whole, at, frozenset()):
            arrivals.append(
                Arrival(lot, amount, at[0], at[1], int(h.handoff_id), h.receiver, carrier)
            )
    return [a for a in arrivals if of_lot is None or a.lot_id == of_lot]


# ------------------------------------------------------------------------ one product


@dataclass
class LotOrigins:
    """The origin credit of one lot: its whole quantity, and what of it reached retail."""

    lot_id: int
    name: str
    unit: str
    product_line: str
    block: int | None
    quantity: int
    grams_per_unit: Fraction | None
    weighed_by_quantity: bool
    origins: list[Credit]  # of the whole lot (amount in kg; None without a mass)
    at_retail: Fraction = Fraction(0)
    first_arrival: Arrival | None = None
    arrived_at: datetime | None = None
    retail_origins: list[Credit] = field(default_factory=list)
    reached_cap: bool = False

    @property
    def kilograms(self) -> Decimal | None:
        if self.grams_per_unit is None:
            return None
        return rounded(self.quantity * self.grams_per_unit / KG)

    @property
    def retail_kilograms(self) -> Decimal | None:
        if self.grams_per_unit is None or self.first_arrival is None:
            return None
        return rounded(self.at_retail * self.grams_per_unit / KG)


def lot_origins(*, lot_id: int, chain_id: int | None = None) -> LotOrigins:
    """Origin credit of one lot (raises LotNotFound): the shares of its origins, their
    kilograms in the whole lot and in what of it reached retailers."""
    chain_id = chain_id or settings.CHAIN_ID
    world = world_read(lot_ids=[lot_id], chain_id=chain_id)
    if lot_id not in world.creators:
        raise LotNotFound(lot_id)
    balance = world.balance
    people = organisation_names()
    mix = balance.mix(lot_id)
    per_unit = balance.grams_per_unit(lot_id)
    quantity = int(balance.lots[lot_id].quantity)
    arrived = arrivals_read(chain_id=chain_id, of_lot=lot_id)
    at_retail = sum((a.quantity for a in arrived), Fraction(0))
    result = LotOrigins(
        lot_id=lot_id,
        name=world.names.get(lot_id, ""),
        unit=world.units.get(lot_id, ""),
        product_line=world.lines.get(lot_id, ""),
        block=world.block,
        quantity=quantity,
        grams_per_unit=per_unit,
        weighed_by_quantity=balance.by_quantity(lot_id),
        origins=_mix_credits(mix, None if per_unit is None else quantity * per_unit, people),
        reached_cap=world.reached_cap,
    )
    if arrived:
        result.at_retail = at_retail
        result.first_arrival = arrived[0]
        result.arrived_at = block_times(chain_id, {arrived[0].block}).get(arrived[0].block)
        grams = None if per_unit is None else at_retail * per_unit
        result.retail_origins = _mix_credits(mix, grams, people)
    return result


def block_times(chain_id: int, numbers: set[int]) -> dict[int, datetime]:
    return dict(
        Block.objects.filter(chain_id=chain_id, number__in=sorted(numbers)).values_list(
            "number", "timestamp"
        )
    )
