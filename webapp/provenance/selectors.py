"""Reads about where material came from and where it went, from the projections alone.

A trace walks the lineage graph (the `provenance_lineage_edge` view: transformation
inputs -> outputs and lots -> the bundles that held them) with one recursive query. The
walk carries (lot, depth) pairs and unions them, so a lot reached twice at the same depth
(a diamond) is expanded once, and the depth cap bounds the walk even if the graph held a
cycle (it cannot by construction: outputs are always new lots, but the cap is the guard).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from django.conf import settings
from django.db import connection
from django.db.models import Q

from webapp.chain.models import Block, ChainEvent
from webapp.lots.models import LotMetadata
from webapp.memo import memo
from webapp.organisations.models import Organisation
from webapp.projections.models import (
    Balance,
    BundleContent,
    CertificateVersion,
    LotVersion,
)
from webapp.projections.selectors import block_at
from webapp.provenance.models import Notification

Direction = Literal["up", "down"]
MAX_DEPTH = 64


class LotNotFound(LookupError):
    """No lot with this id has been registered (as the mirror knows it)."""


@dataclass(frozen=True)
class LineageEdge:
    """parent -> child: `parent_quantity` of parent went into `child`.

    For a transformation, child_quantity is the output's quantity; for a bundle, 1.
    """

    parent: int
    child: int
    kind: str  # "transform" or "bundle"
    transformation_id: int | None
    parent_quantity: Decimal
    child_quantity: Decimal
    block: int
    log: int
    until_block: int | None


@dataclass
class Trace:
    lot_id: int
    direction: Direction
    depth: int
    block: int | None  # as of this block; None: every edge the chain ever recorded
    nodes: dict[int, int]  # lot id -> distance from the start
    edges: list[LineageEdge]

    @property
    def reached_cap(self) -> bool:
        """True when some lot sits at the depth cap: the walk may have stopped early."""
        return any(d == self.depth for d in self.nodes.values())


def _alive(alias: str, as_of: bool, alive_only: bool) -> str:
    if not as_of:
        return ""
    clause = f" AND {alias}.block_from <= %(block)s"
    if alive_only:
        clause += f" AND ({alias}.block_to IS NULL OR {alias}.block_to > %(block)s)"
    return clause


def _walk_sql_postgresql(direction: Direction, as_of: bool, alive_only: bool) -> str:
    """The walk for PostgreSQL: each step is a LATERAL lookup into both edge tables, so
    every reached lot costs two index probes (the planner does not push a join into a
    UNION ALL view inside a recursive query: it hash-joins whole tables instead)."""
    t_near, t_far = (
        ("output_lot", "input_lot") if direction == "up" else ("input_lot", "output_lot")
    )
    b_near, b_far = ("bundle_id", "lot_id") if direction == "up" else ("lot_id", "bundle_id")
    t_alive, b_alive = _alive("t", as_of, alive_only), _alive("b", as_of, alive_only)
    return f"""
WITH RECURSIVE walk(node, depth, parent, child, kind, transformation_id, parent_quantity,
                    child_quantity, block_from, log_from, block_to) AS (
    SELECT s, 0, NULL::numeric, NULL::numeric, NULL::text, NULL::numeric, NULL::numeric,
           NULL::numeric, NULL::bigint, NULL::bigint, NULL::bigint
      FROM unnest(CAST(%(starts)s AS numeric[])) s
    UNION
    SELECT x.far, w.depth + 1, x.parent, x.child, x.kind, x.transformation_id,
           x.parent_quantity, x.child_quantity, x.block_from, x.log_from, x.block_to
      FROM walk w
     CROSS JOIN LATERAL (
        SELECT t.{t_far}::numeric AS far, t.input_lot::numeric AS parent,
               t.output_lot::numeric AS child, 'transform'::text AS kind,
               t.transformation_id::numeric AS transformation_id,
               t.input_quantity::numeric AS parent_quantity,
               t.output_quantity::numeric AS child_quantity, t.block_from::bigint AS block_from,
               t.log_from::bigint AS log_from, t.block_to::bigint AS block_to
          FROM projections_transformationedge t
         WHERE t.chain_id = %(chain)s AND t.{t_near} = w.node{t_alive}
        UNION ALL
        SELECT b.{b_far}::numeric, b.lot_id::numeric, b.bundle_id::numeric, 'bundle'::text,
               NULL::numeric, b.quantity::numeric, 1::numeric, b.block_from::bigint,
               b.log_from::bigint, b.block_to::bigint
          FROM projections_bundlecontent b
         WHERE b.chain_id = %(chain)s AND b.{b_near} = w.node{b_alive}
     ) x
     WHERE w.depth < %(depth)s
)
SELECT parent, child, kind, transformation_id, parent_quantity, child_quantity, block_from,
       log_from, block_to, depth - 1
  FROM walk
 WHERE depth > 0
"""


def _walk_sql(direction: Direction, as_of: bool, alive_only: bool) -> str:
    """The walk in portable SQL over the `provenance_lineage_edge` view (SQLite: the
    first-run default, small mirrors)."""
    # `near` is the end of an edge already reached, `far` the end the walk moves to.
    near, far = ("child", "parent") if direction == "up" else ("parent", "child")
    alive = _alive("e", as_of, alive_only)
    return f"""
WITH RECURSIVE walk(node, depth) AS (
    SELECT CAST(%(start)s AS NUMERIC(78, 0)), 0
    UNION
    SELECT e.{far}, w.depth + 1
      FROM walk w
      JOIN provenance_lineage_edge e ON e.chain_id = %(chain)s AND e.{near} = w.node{alive}
     WHERE w.depth < %(depth)s
)
SELECT DISTINCT e.parent, e.child, e.kind, e.transformation_id, e.parent_quantity,
       e.child_quantity, e.block_from, e.log_from, e.block_to, w.depth
  FROM walk w
  JOIN provenance_lineage_edge e ON e.chain_id = %(chain)s AND e.{near} = w.node{alive}
 WHERE w.depth < %(depth)s
"""


def lot_exists(*, lot_id: int, chain_id: int | None = None) -> bool:
    chain_id = chain_id or settings.CHAIN_ID
    return memo(
        ("lot_exists", chain_id, lot_id),
        LotVersion.objects.filter(chain_id=chain_id, lot_id=lot_id).exists,
    )


def lot_trace(
    *,
    lot_id: int,
    direction: Direction = "up",
    depth: int = 16,
    block: int | None = None,
    chain_id: int | None = None,
    alive_only: bool = True,
) -> Trace:
    """Every lot upstream (what it was made of) or downstream (what it went into) of a lot,
    with the edges between them, up to `depth` steps, as of `block` (None: all history).

    As of a block, a bundle's contents are what it held then (`alive_only`), or everything
    it was packed with up to then (`alive_only=False`: a bundle is packed once, so an
    unpacked bundle still says what it carried — what roll-ups and passports need).
    """
    if direction not in ("up", "down"):
        raise ValueError("direction must be 'up' or 'down'")
    if not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be between 1 and {MAX_DEPTH}")
    chain_id = chain_id or settings.CHAIN_ID
    if not lot_exists(lot_id=lot_id, chain_id=chain_id):
        raise LotNotFound(lot_id)
    nodes, ordered = _walk([lot_id], direction, depth, block, chain_id, alive_only)
    return Trace(lot_id, direction, depth, block, nodes, ordered)


def lots_upstream(
    *, lot_ids: list[int], block: int, chain_id: int | None = None
) -> tuple[set[int], list[LineageEdge]]:
    """Every lot upstream of any of `lot_ids` (the lots themselves included) and the edges
    between them, as of `block`, counting what a since-unpacked bundle carried: one walk
    from all of them at once (on PostgreSQL), for roll-ups over many lots. The lots are
    taken to be on the chain (the caller knows them from the mirror)."""
    chain_id = chain_id or settings.CHAIN_ID
    nodes, edges = _walk(lot_ids, "up", MAX_DEPTH, block, chain_id, alive_only=False)
    return set(nodes), edges


def _lateral_walk() -> bool:
    """Whether walks use PostgreSQL's LATERAL form (from many starts in one query)."""
    return connection.vendor == "postgresql"


def _walk(
    starts: list[int],
    direction: Direction,
    depth: int,
    block: int | None,
    chain_id: int,
    alive_only: bool,
) -> tuple[dict[int, int], list[LineageEdge]]:
    """(lot -> distance from the nearest start, the edges in chain order) of a walk from
    `starts`: one query on PostgreSQL, one per start on SQLite."""
    params: dict[str, Any] = {"chain": chain_id, "depth": depth, "block": block}
    rows: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        if _lateral_walk():
            sql = _walk_sql_postgresql(direction, block is not None, alive_only)
            cursor.execute(sql, {**params, "starts": [int(s) for s in starts]})
            rows = cursor.fetchall()
        else:
            sql = _walk_sql(direction, block is not None, alive_only)
            for start in starts:
                cursor.execute(sql, {**params, "start": start})
                rows += cursor.fetchall()
    nodes = dict.fromkeys(starts, 0)
    edges: dict[tuple[int, int, int, int], LineageEdge] = {}
    for parent, child, kind, t_id, p_qty, c_qty, b_from, l_from, b_to, d in rows:
        edge = LineageEdge(
            parent=int(parent),
            child=int(child),
            kind=kind,
            transformation_id=None if t_id is None else int(t_id),
            parent_quantity=Decimal(p_qty),
            child_quantity=Decimal(c_qty),
            block=int(b_from),
            log=int(l_from),
            until_block=None if b_to is None else int(b_to),
        )
        edges[(edge.parent, edge.child, edge.block, edge.log)] = edge
        far = edge.parent if direction == "up" else edge.child
        nodes[far] = min(nodes.get(far, depth), int(d) + 1)
    ordered = sorted(edges.values(), key=lambda e: (e.block, e.log, e.parent, e.child))
    return nodes, ordered


# --------------------------------------------------------------------------- details


@dataclass
class LotSummary:
    """What a trace shows about each lot: identity, state and certificates."""

    lot_id: int
    kind: int
    creator: str
    quantity: Decimal
    name: str
    unit: str
    quarantined: bool
    holders: dict[str, Decimal] = field(default_factory=dict)
    certificates: list[CertificateVersion] = field(default_factory=list)


def lot_summaries(
    *,
    lot_ids: list[int],
    block: int | None = None,
    chain_id: int | None = None,
    holders: bool = True,
    names: bool = True,
) -> dict[int, LotSummary]:
    """Lot state, holders and certificates for many lots in four queries (now or as of);
    without `holders` (or `names`), their holders (or name and unit) stay empty and the
    query for them is left out."""
    chain_id = chain_id or settings.CHAIN_ID

    def as_of(rows: Q) -> Q:
        if block is None:
            return rows & Q(block_to__isnull=True)
        return rows & Q(block_from__lte=block) & (Q(block_to__isnull=True) | Q(block_to__gt=block))

    ids = Q(chain_id=chain_id, lot_id__in=lot_ids)
    metadata = (
        {
            int(m.lot_id): m
            for m in LotMetadata.objects.filter(chain_id=chain_id, lot_id__in=lot_ids).only(
                "lot_id", "document"
            )
        }
        if names
        else {}
    )
    summaries: dict[int, LotSummary] = {}
    for lot in LotVersion.objects.filter(as_of(ids)):
        meta = metadata.get(int(lot.lot_id))
        summaries[int(lot.lot_id)] = LotSummary(
            lot_id=int(lot.lot_id),
            kind=lot.kind,
            creator=lot.creator,
            quantity=lot.quantity,
            name=meta.name if meta else "",
            unit=meta.unit if meta else "",
            quarantined=lot.quarantined,
        )
    for balance in Balance.objects.filter(as_of(ids) & Q(quantity__gt=0)) if holders else []:
        if (s := summaries.get(int(balance.lot_id))) is not None:
            s.holders[balance.holder] = balance.quantity
    subjects = Q(chain_id=chain_id, subject_kind=1, subject__in=lot_ids)
    for certificate in CertificateVersion.objects.filter(as_of(subjects)).order_by(
        "certificate_id"
    ):
        if (s := summaries.get(int(certificate.subject))) is not None:
            s.certificates.append(certificate)
    return summaries


# --------------------------------------------------------------------------- custody


@dataclass
class CustodyStep:
    """One handoff of a lot (or of a bundle while it held the lot), both ends of it."""

    handoff_id: int
    lot_id: int  # the lot itself, or the bundle that carried it
    sender: str
    receiver: str
    quantity: int
    offered: ChainEvent
    settled: ChainEvent | None  # accepted, rejected or cancelled; None while open

    @property
    def status(self) -> str:
        if self.settled is None:
            return "open"
        return str(self.settled.event).removeprefix("Handoff").lower()


def custody_timeline(*, lot_id: int, chain_id: int | None = None) -> list[CustodyStep]:
    """Every handoff of a lot, and of each bundle while that bundle held the lot, in
    chain order. Registration and bundling are in the lot's history; this is custody."""
    chain_id = chain_id or settings.CHAIN_ID
    carriers = Q(args__lotId=lot_id)
    for held in BundleContent.objects.filter(chain_id=chain_id, lot_id=lot_id):
        window = Q(args__lotId=int(held.bundle_id), block_number__gte=held.block_from)
        if held.block_to is not None:
            window &= Q(block_number__lt=held.block_to)
        carriers |= window
    events = ChainEvent.objects.filter(chain_id=chain_id, event__startswith="Handoff").filter(
        carriers
    )
    steps: dict[int, CustodyStep] = {}
    for event in events.order_by("block_number", "log_index"):
        a = event.args
        handoff = int(a["handoffId"])
        if event.event == "HandoffInitiated":
            steps[handoff] = CustodyStep(
                handoff_id=handoff,
                lot_id=int(a["lotId"]),
                sender=a["sender"],
                receiver=a["receiver"],
                quantity=int(a["quantity"]),
                offered=event,
                settled=None,
            )
        elif handoff in steps:
            steps[handoff].settled = event
    return list(steps.values())


def resolve_as_of(*, value: str, chain_id: int | None = None) -> int:
    """An as-of parameter (a block number, or an ISO date / date-time) as a block number.

    A date means the end of that day (UTC). Raises ValueError with a readable message.
    """
    chain_id = chain_id or settings.CHAIN_ID
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{value!r} is neither a block number nor an ISO date (2026-05-01 or "
            "2026-05-01T12:00:00+00:00)."
        ) from None
    if len(text) == 10:  # a bare date: the state at the end of that day
        moment = moment.replace(hour=23, minute=59, second=59, microsecond=999999)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    found = block_at(chain_id=chain_id, at=moment)
    if found is None:
        first = Block.objects.filter(chain_id=chain_id).order_by("number").first()
        raise ValueError(
            f"Nothing was recorded by {moment.isoformat()}"
            + (f"; the first block is from {first.timestamp.isoformat()}." if first else ".")
        )
    return found


def notifications_unread(*, organisation: Organisation, limit: int = 20) -> list[Notification]:
    """The organisation's unread notifications, at most `limit`."""
    return list(
        Notification.objects.filter(organisation=organisation, read_at__isnull=True)[:limit]
    )
