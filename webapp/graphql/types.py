"""The hub's types. Every field reads through a selector (never a model query of its own),
and a lot's state comes from the request's `LotLoader`, so lists of lots batch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

import strawberry
from django.utils import timezone
from strawberry.types import Info

from webapp.certificates.selectors import certificate_status, certificate_type_name
from webapp.graphql.loaders import LotLoader
from webapp.lots.selectors import KIND_CODES
from webapp.organisations.models import Organisation
from webapp.projections.models import CertificateVersion
from webapp.provenance.selectors import (
    MAX_DEPTH,
    Direction,
    LotNotFound,
    LotSummary,
    custody_timeline,
    lot_trace,
)

Resolver = TypeVar("Resolver", bound=Callable[..., Any])


def described(text: str) -> Callable[[Resolver], Resolver]:
    """`@strawberry.field(description=...)`, typed (its overload for that is untyped)."""
    return cast(Callable[[Resolver], Resolver], strawberry.field(description=text))


@dataclass
class HubContext:
    """What every resolver may use: the acting organisation and its loader."""

    request: Any
    response: Any
    organisation: Organisation
    loader: LotLoader


def hub(info: Info[Any, Any]) -> HubContext:
    context: HubContext = info.context
    return context


@strawberry.type
class Holder:
    address: str
    name: str
    quantity: str = strawberry.field(description="uint256 as a decimal string")


@strawberry.type
class Holders:
    as_of_block: int | None
    scope: str = strawberry.field(
        description='"all", or "own" when only your own holding of this lot is in view'
    )
    holders: list[Holder]


@strawberry.type
class Certificate:
    certificate_id: strawberry.ID
    certificate_type: str
    issuer: str
    valid_from: datetime
    valid_until: datetime
    revoked: bool
    revoke_reason: str
    status: str

    @staticmethod
    def of(c: CertificateVersion) -> Certificate:
        return Certificate(
            certificate_id=strawberry.ID(str(int(c.certificate_id))),
            certificate_type=certificate_type_name(c.certificate_type),
            issuer=c.issuer,
            valid_from=c.valid_from,
            valid_until=c.valid_until,
            revoked=c.revoked,
            revoke_reason=c.revoke_reason,
            status=certificate_status(c, timezone.now()),
        )


@strawberry.type
class Figures:
    block: int
    footprint_g_per_unit: str
    footprint_complete: bool
    recycled_permille: str
    certified_input_share: str
    certificates: list[strawberry.ID]
    transformations: list[strawberry.ID]


@strawberry.type
class CustodyStep:
    handoff_id: strawberry.ID
    carrier_lot_id: strawberry.ID = strawberry.field(
        description="The lot itself, or the bundle that carried it"
    )
    sender: str
    receiver: str
    quantity: str
    status: str
    offered_block: int
    settled_block: int | None


@strawberry.type
class LineageEdge:
    parent: strawberry.ID
    child: strawberry.ID
    kind: str = strawberry.field(description='"transform" or "bundle"')
    transformation_id: strawberry.ID | None
    parent_quantity: str
    child_quantity: str
    block: int
    until_block: int | None


@strawberry.type
class LineageNode:
    distance: int
    lot: Lot


@strawberry.type
class Lineage:
    direction: str
    depth: int
    reached_cap: bool = strawberry.field(
        description="Some lot sits at the depth cap: the walk may have stopped early"
    )
    nodes: list[LineageNode]
    edges: list[LineageEdge]


def _id(value: int | None) -> strawberry.ID | None:
    return None if value is None else strawberry.ID(str(value))


@strawberry.type
class Lot:
    id: strawberry.ID
    block: strawberry.Private[int | None]

    def _summary(self, info: Info[Any, Any]) -> LotSummary:
        found = hub(info).loader.summaries.get(int(self.id), self.block)
        if found is None:
            raise LotNotFound(f"Lot {self.id} did not exist at that block.")
        return found

    @described("As of this block; null: now")
    def as_of_block(self) -> int | None:
        return self.block

    @strawberry.field
    def kind(self, info: Info[Any, Any]) -> str:
        return KIND_CODES.get(self._summary(info).kind, str(self._summary(info).kind))

    @strawberry.field
    def creator(self, info: Info[Any, Any]) -> str:
        return self._summary(info).creator

    @described("uint256 as a decimal string")
    def quantity(self, info: Info[Any, Any]) -> str:
        return str(int(self._summary(info).quantity))

    @strawberry.field
    def name(self, info: Info[Any, Any]) -> str:
        return self._summary(info).name

    @strawberry.field
    def unit(self, info: Info[Any, Any]) -> str:
        return self._summary(info).unit

    @strawberry.field
    def quarantined(self, info: Info[Any, Any]) -> bool:
        return self._summary(info).quarantined

    @described("Who held how much, as of the lot's block, within your tier")
    def holders(self, info: Info[Any, Any]) -> Holders:
        summary = self._summary(info)
        shown, scope = hub(info).loader.holders_in_view(int(self.id), summary.holders)
        names = hub(info).loader.names()
        return Holders(
            as_of_block=self.block,
            scope=scope,
            holders=[
                Holder(address=a, name=names.get(a, ""), quantity=str(int(q)))
                for a, q in shown.items()
                if q > 0
            ],
        )

    @strawberry.field
    def certificates(self, info: Info[Any, Any]) -> list[Certificate]:
        return [Certificate.of(c) for c in self._summary(info).certificates]

    @described("Rolled-up figures as of the lot's block (default: head)")
    def figures(self, info: Info[Any, Any]) -> Figures | None:
        f = hub(info).loader.figures.get(int(self.id), self.block)
        if f is None:
            return None
        return Figures(
            block=f.block,
            footprint_g_per_unit=str(f.footprint_g_per_unit),
            footprint_complete=f.footprint_complete,
            recycled_permille=str(f.recycled_permille),
            certified_input_share=str(f.certified_input_share),
            certificates=[strawberry.ID(str(i)) for i in f.certificates],
            transformations=[strawberry.ID(str(i)) for i in f.transformations],
        )

    @described("Each handoff of the lot, and of bundles while they held it")
    def custody(self) -> list[CustodyStep]:
        return [
            CustodyStep(
                handoff_id=strawberry.ID(str(s.handoff_id)),
                carrier_lot_id=strawberry.ID(str(s.lot_id)),
                sender=s.sender,
                receiver=s.receiver,
                quantity=str(s.quantity),
                status=s.status,
                offered_block=s.offered.block_number,
                settled_block=None if s.settled is None else s.settled.block_number,
            )
            for s in custody_timeline(lot_id=int(self.id))
        ]

    @described(f"What the lot was made of, up to `depth` (1-{MAX_DEPTH}) steps")
    def upstream(self, info: Info[Any, Any], depth: int = 4) -> Lineage:
        return self._lineage(info, "up", depth)

    @described(f"What the lot went into, up to `depth` (1-{MAX_DEPTH}) steps")
    def downstream(self, info: Info[Any, Any], depth: int = 4) -> Lineage:
        return self._lineage(info, "down", depth)

    def _lineage(self, info: Info[Any, Any], direction: Direction, depth: int) -> Lineage:
        if not 1 <= depth <= MAX_DEPTH:
            raise ValueError(f"depth must be between 1 and {MAX_DEPTH}.")
        trace = lot_trace(lot_id=int(self.id), direction=direction, depth=depth, block=self.block)
        # Most downstream first (see LotLoader.want): going up, the start lot's own walk
        # covers every node's figures.
        downstream_first = sorted(
            trace.nodes, key=lambda i: trace.nodes[i] if direction == "up" else -trace.nodes[i]
        )
        hub(info).loader.want(downstream_first, self.block)
        return Lineage(
            direction=direction,
            depth=depth,
            reached_cap=trace.reached_cap,
            nodes=[
                LineageNode(distance=d, lot=Lot(id=strawberry.ID(str(i)), block=self.block))
                for i, d in sorted(trace.nodes.items(), key=lambda n: (n[1], n[0]))
                if d > 0
            ],
            edges=[
                LineageEdge(
                    parent=strawberry.ID(str(e.parent)),
                    child=strawberry.ID(str(e.child)),
                    kind=e.kind,
                    transformation_id=_id(e.transformation_id),
                    parent_quantity=str(int(e.parent_quantity)),
                    child_quantity=str(int(e.child_quantity)),
                    block=e.block,
                    until_block=e.until_block,
                )
                for e in trace.edges
            ],
        )


@strawberry.type
class Operation:
    id: strawberry.ID
    action: str
    status: str
    transaction_hash: str
    mined_block: int | None
    created_at: datetime
    reason: str


@strawberry.type
class EpcisEvent:
    event_id: str
    event_hash: str
    event_type: str
    action: str
    biz_step: str
    disposition: str
    event_time: datetime
    record_time: datetime
    lot_ids: list[strawberry.ID]
