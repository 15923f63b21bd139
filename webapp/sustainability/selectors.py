"""Sustainability figures of a lot, rolled up through its lineage from chain facts alone.

Every input is something the chain recorded: certificates (their claims, validity and
revocation) and the lineage edges (transformation quantities, bundle contents). Validity
is judged at the as-of block's own timestamp, never the wall clock, and the arithmetic is
exact (fractions) until the figure is rounded once, half-to-even, to three decimals. So two
participants that replay the same chain to the same block get the same numbers.

The rules (per lot L, as of block N):

- **Carbon footprint, g CO2e per unit.** L's own claim is ``CO2E_G_PER_UNIT`` from its
  latest valid certificate carrying it. A lot made by a transformation adds to its own
  claim (the process's emissions per unit of output) the inputs' footprint: the sum of
  input quantity x input footprint per unit, spread over all outputs of that
  transformation by quantity. A bundle's footprint is the sum of its contents' (quantity x
  footprint per unit; the contents it was packed with, even once unpacked) per bundle
  unit, plus its own claim. A raw lot without a claim has
  an unknown footprint: it counts as 0 and marks every figure built on it incomplete.
- **Recycled content, per mille, by mass balance.** A valid certificate's
  ``RECYCLED_PERMILLE`` claim on L is L's figure. Otherwise a transformation output or a
  bundle has the input-quantity-weighted mean of its inputs'; a raw lot without a claim
  is virgin material (0).
- **Certified input share.** The input-quantity-weighted share of L's inputs that hold a
  valid certificate (an uncertified intermediate input counts by its own share); a raw
  lot's share is 1 if it holds a valid certificate, else 0.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from django.conf import settings

from webapp.chain.models import Block
from webapp.lots.selectors import certificate_type_name
from webapp.projections.models import CertificateVersion, TransformationEdge
from webapp.provenance.selectors import (
    MAX_DEPTH,
    LineageEdge,
    LotNotFound,
    LotSummary,
    lot_summaries,
    lot_trace,
)

CO2E = "CO2E_G_PER_UNIT"
RECYCLED = "RECYCLED_PERMILLE"
THREE_PLACES = Decimal("0.001")


def _round(value: Fraction) -> Decimal:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(THREE_PLACES, rounding=ROUND_HALF_EVEN)


@dataclass
class Figures:
    """A lot's rolled-up figures and the chain facts they rest on."""

    lot_id: int
    block: int
    footprint_g_per_unit: Decimal
    footprint_complete: bool
    recycled_permille: Decimal
    certified_input_share: Decimal  # 0..1
    certificates: list[int] = field(default_factory=list)  # whose claims were used
    transformations: list[int] = field(default_factory=list)  # crossed on the way


@dataclass
class _Node:
    summary: LotSummary
    valid: list[CertificateVersion]
    contents: list[LineageEdge] = field(default_factory=list)  # bundle parts
    inputs: list[LineageEdge] = field(default_factory=list)  # transformation inputs
    outputs_total: int = 0  # all outputs of the transformation that made this lot


class _RollUp:
    """Exact, memoised evaluation of the rules above over one upstream closure."""

    def __init__(self, nodes: dict[int, _Node]) -> None:
        self.nodes = nodes
        self.footprints: dict[int, tuple[Fraction, bool]] = {}
        self.recycled: dict[int, Fraction] = {}
        self.certified: dict[int, Fraction] = {}
        self.used_certificates: dict[int, set[int]] = defaultdict(set)

    def claim(self, lot: int, key: str) -> Fraction | None:
        for certificate in reversed(self.nodes[lot].valid):  # latest first
            for raw_key, value in certificate.claims.items():
                if certificate_type_name(raw_key) == key:
                    self.used_certificates[lot].add(int(certificate.certificate_id))
                    return Fraction(int(value))
        return None

    def sources(self, lot: int) -> tuple[list[int], list[int]]:
        """The certificates whose claims fed a lot's figures, and the transformations
        crossed, over its whole upstream closure."""
        certificates: set[int] = set()
        transformations: set[int] = set()
        seen: set[int] = set()
        stack = [lot]
        while stack:
            current = stack.pop()
            if current in seen or current not in self.nodes:
                continue
            seen.add(current)
            certificates |= self.used_certificates[current]
            node = self.nodes[current]
            for edge in node.inputs + node.contents:
                if edge.transformation_id is not None:
                    transformations.add(edge.transformation_id)
                stack.append(edge.parent)
        return sorted(certificates), sorted(transformations)

    def footprint(self, lot: int) -> tuple[Fraction, bool]:
        if lot in self.footprints:
            return self.footprints[lot]
        node = self.nodes.get(lot)
        if node is None:  # beyond the depth cap: unknown
            return Fraction(0), False
        own = self.claim(lot, CO2E)
        total, complete = Fraction(0), True
        if node.inputs:
            for edge in node.inputs:
                value, ok = self.footprint(edge.parent)
                total += int(edge.parent_quantity) * value
                complete &= ok
            result = total / node.outputs_total + (own or 0)
        elif node.contents:
            for edge in node.contents:
                value, ok = self.footprint(edge.parent)
                total += int(edge.parent_quantity) * value
                complete &= ok
            result = total / max(int(node.summary.quantity), 1) + (own or 0)
        else:
            result, complete = own or Fraction(0), own is not None
        self.footprints[lot] = (result, complete)
        return result, complete

    def recycled_permille(self, lot: int) -> Fraction:
        if lot in self.recycled:
            return self.recycled[lot]
        node = self.nodes.get(lot)
        result = Fraction(0)
        if node is not None:
            own = self.claim(lot, RECYCLED)
            parts = node.inputs or node.contents
            if own is not None:
                result = own
            elif parts:
                mass = sum(int(e.parent_quantity) for e in parts)
                result = sum(
                    (int(e.parent_quantity) * self.recycled_permille(e.parent) for e in parts),
                    Fraction(0),
                ) / max(mass, 1)
        self.recycled[lot] = result
        return result

    def certified_share(self, lot: int) -> Fraction:
        if lot in self.certified:
            return self.certified[lot]
        node = self.nodes.get(lot)
        result = Fraction(0)
        if node is not None:
            parts = node.inputs or node.contents
            if not parts:
                result = Fraction(1 if node.valid else 0)
            else:
                mass = sum(int(e.parent_quantity) for e in parts)
                weighted = Fraction(0)
                for e in parts:
                    source = self.nodes.get(e.parent)
                    share = (
                        Fraction(1)
                        if source is not None and source.valid
                        else self.certified_share(e.parent)
                    )
                    weighted += int(e.parent_quantity) * share
                result = weighted / max(mass, 1)
        self.certified[lot] = result
        return result


def mirror_head(*, chain_id: int | None = None) -> tuple[int, datetime] | None:
    """The last mirrored block and its time: "now", as every participant's mirror sees it."""
    head = Block.objects.filter(chain_id=chain_id or settings.CHAIN_ID).order_by("-number").first()
    return None if head is None else (head.number, head.timestamp)


def _block_time(chain_id: int, block: int) -> datetime | None:
    found = (
        Block.objects.filter(chain_id=chain_id, number__lte=block)
        .order_by("-number")
        .values_list("timestamp", flat=True)
        .first()
    )
    return found


def lots_figures(
    *, lot_ids: list[int], block: int | None = None, chain_id: int | None = None
) -> dict[int, Figures]:
    """Figures for several lots as of `block` (default: the mirror's head), one shared
    evaluation so lots with common ancestry cost their ancestry once."""
    chain_id = chain_id or settings.CHAIN_ID
    if block is None:
        head = mirror_head(chain_id=chain_id)
        if head is None:
            return {}
        block = head[0]
    moment = _block_time(chain_id, block)
    edges: dict[int, list[LineageEdge]] = defaultdict(list)
    closure: set[int] = set()
    for lot_id in lot_ids:
        if lot_id in closure:
            continue
        trace = lot_trace(
            lot_id=lot_id,
            direction="up",
            depth=MAX_DEPTH,
            block=block,
            chain_id=chain_id,
            alive_only=False,
        )
        closure |= set(trace.nodes)
        for edge in trace.edges:
            if edge not in edges[edge.child]:
                edges[edge.child].append(edge)
    summaries = lot_summaries(lot_ids=sorted(closure), block=block, chain_id=chain_id)
    transformations = {e.transformation_id for es in edges.values() for e in es} - {None}
    outputs: dict[int, dict[int, int]] = defaultdict(dict)
    for t_id, out_lot, out_qty in TransformationEdge.objects.filter(
        chain_id=chain_id, transformation_id__in=transformations
    ).values_list("transformation_id", "output_lot", "output_quantity"):
        outputs[int(t_id)][int(out_lot)] = int(out_qty)
    nodes: dict[int, _Node] = {}
    for lot_id, summary in summaries.items():
        valid = [
            c
            for c in summary.certificates
            if not c.revoked and moment is not None and c.valid_from <= moment < c.valid_until
        ]
        node = _Node(summary=summary, valid=valid)
        for edge in edges.get(lot_id, []):
            if edge.kind == "bundle":
                node.contents.append(edge)
            else:
                node.inputs.append(edge)
                assert edge.transformation_id is not None
                node.outputs_total = sum(outputs[edge.transformation_id].values())
        nodes[lot_id] = node
    rollup = _RollUp(nodes)
    figures: dict[int, Figures] = {}
    for lot_id in lot_ids:
        if lot_id not in nodes:
            continue
        footprint, complete = rollup.footprint(lot_id)
        recycled = rollup.recycled_permille(lot_id)
        certificates, crossed = rollup.sources(lot_id)
        figures[lot_id] = Figures(
            lot_id=lot_id,
            block=block,
            footprint_g_per_unit=_round(footprint),
            footprint_complete=complete,
            recycled_permille=_round(recycled),
            certified_input_share=_round(rollup.certified_share(lot_id)),
            certificates=certificates,
            transformations=crossed,
        )
    return figures


def lot_figures(*, lot_id: int, block: int | None = None, chain_id: int | None = None) -> Figures:
    """One lot's figures (raises provenance's LotNotFound for an unknown lot)."""
    figures = lots_figures(lot_ids=[lot_id], block=block, chain_id=chain_id)
    if lot_id not in figures:
        raise LotNotFound(lot_id)
    return figures[lot_id]
