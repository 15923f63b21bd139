"""Sustainability figures of a lot, rolled up through its lineage from chain facts alone.

Every input is something the chain recorded: certificates (their claims, validity and
revocation) and the lineage edges (transformation quantities, bundle contents). Validity
is judged at the as-of block's own timestamp, never the wall clock, so two participants
that replay the same chain to the same block get the same numbers. The rule itself is
:func:`contracts.proofs.figures.roll_up`, the one the offline verifier recomputes an evidence
pack's figures with; this module only gathers its input from the mirror.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.conf import settings

from contracts.proofs.figures import LotFacts, Part, ValidCertificate, roll_up
from webapp.certificates.selectors import certificate_type_name
from webapp.chain.models import Block
from webapp.projections.models import BundleContent, LotVersion, TransformationEdge
from webapp.provenance.selectors import (
    LineageEdge,
    LotNotFound,
    lot_summaries,
    lots_upstream,
)


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


def _upstream(
    *, lot_ids: list[int], block: int, chain_id: int
) -> tuple[dict[int, list[LineageEdge]], set[int]]:
    """The lineage edges into each lot of the lots' upstream closure (by child, each once),
    and that closure: one walk from every lot something went into."""
    edges: dict[int, list[LineageEdge]] = defaultdict(list)
    # A lot nothing went into (a raw lot, most of a large batch) is its own closure: one
    # query for all of them instead of a walk each.
    fed = _fed(lot_ids=lot_ids, block=block, chain_id=chain_id)
    leaves = set(lot_ids) - fed
    known = {
        int(i)
        for i in LotVersion.objects.filter(chain_id=chain_id, lot_id__in=sorted(leaves))
        .values_list("lot_id", flat=True)
        .distinct()
    }
    if missing := leaves - known:
        raise LotNotFound(min(missing))
    closure: set[int] = set(leaves)
    if fed:
        reached, found = lots_upstream(lot_ids=sorted(fed), block=block, chain_id=chain_id)
        closure |= reached
        for edge in found:
            if edge not in edges[edge.child]:
                edges[edge.child].append(edge)
    return edges, closure


def _fed(*, lot_ids: list[int], block: int, chain_id: int) -> set[int]:
    """The lots among `lot_ids` that something went into by `block`: made by a
    transformation, or a bundle packed with lots."""
    made = TransformationEdge.objects.filter(
        chain_id=chain_id, output_lot__in=lot_ids, block_from__lte=block
    ).values_list("output_lot", flat=True)
    packed = BundleContent.objects.filter(
        chain_id=chain_id, bundle_id__in=lot_ids, block_from__lte=block
    ).values_list("bundle_id", flat=True)
    return {int(i) for i in made} | {int(i) for i in packed}


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
    edges, closure = _upstream(lot_ids=lot_ids, block=block, chain_id=chain_id)
    summaries = lot_summaries(
        lot_ids=sorted(closure), block=block, chain_id=chain_id, holders=False, names=False
    )
    transformations = {e.transformation_id for es in edges.values() for e in es} - {None}
    outputs: dict[int, dict[int, int]] = defaultdict(dict)
    for t_id, out_lot, out_qty in TransformationEdge.objects.filter(
        chain_id=chain_id, transformation_id__in=transformations
    ).values_list("transformation_id", "output_lot", "output_quantity"):
        outputs[int(t_id)][int(out_lot)] = int(out_qty)
    lots: dict[int, LotFacts] = {}
    for lot_id, summary in summaries.items():
        facts = LotFacts(
            quantity=int(summary.quantity),
            valid=[
                ValidCertificate(
                    certificate_id=int(c.certificate_id),
                    claims={certificate_type_name(k): int(v) for k, v in c.claims.items()},
                )
                for c in summary.certificates
                if not c.revoked and moment is not None and c.valid_from <= moment < c.valid_until
            ],
        )
        for edge in edges.get(lot_id, []):
            part = Part(
                parent=edge.parent,
                quantity=int(edge.parent_quantity),
                transformation_id=edge.transformation_id,
            )
            if edge.kind == "bundle":
                facts.contents.append(part)
            else:
                facts.inputs.append(part)
                assert edge.transformation_id is not None
                facts.outputs_total = sum(outputs[edge.transformation_id].values())
        lots[lot_id] = facts
    return {
        lot_id: Figures(
            lot_id=lot_id,
            block=block,
            footprint_g_per_unit=f.footprint_g_per_unit,
            footprint_complete=f.footprint_complete,
            recycled_permille=f.recycled_permille,
            certified_input_share=f.certified_input_share,
            certificates=f.certificates,
            transformations=f.transformations,
        )
        for lot_id, f in roll_up(lots, lot_ids).items()
    }


def lot_figures(*, lot_id: int, block: int | None = None, chain_id: int | None = None) -> Figures:
    """One lot's figures (raises provenance's LotNotFound for an unknown lot)."""
    figures = lots_figures(lot_ids=[lot_id], block=block, chain_id=chain_id)
    if lot_id not in figures:
        raise LotNotFound(lot_id)
    return figures[lot_id]
