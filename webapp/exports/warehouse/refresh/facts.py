"""The facts: handoffs, certificate lifecycles, transformation edges, quarantine events."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db.models import Q

from contracts.chain.domain import SubjectKind
from webapp.bulk import server_bound
from webapp.certificates.selectors import certificate_type_name
from webapp.chain.models import ChainEvent
from webapp.exports.warehouse.refresh.dimensions import dates_upsert
from webapp.exports.warehouse.refresh.rows import (
    as_of,
    block_times,
    day_key,
    first_blocks,
    ids_text,
)
from webapp.exports.warehouse.refresh.touched import Touched, whole
from webapp.projections.models import CertificateVersion, HandoffVersion, TransformationEdge


@dataclass
class Facts:
    """Projection rows for the facts of a batch, read before the dimensions are written
    (they name the lots and accounts the dimensions must hold)."""

    handoffs: list[HandoffVersion]
    handoff_first: dict[int, int]
    certificates: list[CertificateVersion]
    certificate_first: dict[int, int]
    edges: list[TransformationEdge]

    def lots(self) -> set[int]:
        found = {int(h.lot_id) for h in self.handoffs}
        found |= {int(c.subject) for c in self.certificates if c.subject_kind == SubjectKind.LOT}
        for e in self.edges:
            found |= {int(e.input_lot), int(e.output_lot)}
        return found

    def accounts(self) -> set[str]:
        found = {h.sender for h in self.handoffs} | {h.receiver for h in self.handoffs}
        found |= {c.issuer for c in self.certificates}
        return found | {e.actor for e in self.edges}


def facts_read(chain_id: int, t: Touched, block: int | None) -> Facts:
    handoffs = list(
        HandoffVersion.objects.filter(
            Q(chain_id=chain_id, handoff_id__in=sorted(t.handoffs)) & as_of(block)
        )
    )
    certificates = list(
        CertificateVersion.objects.filter(
            Q(chain_id=chain_id, certificate_id__in=sorted(t.certificates)) & as_of(block)
        )
    )
    edges = TransformationEdge.objects.filter(
        chain_id=chain_id, transformation_id__in=sorted(t.transformations)
    )
    if block is not None:
        edges = edges.filter(block_from__lte=block)
    return Facts(
        handoffs=handoffs,
        handoff_first=first_blocks(
            HandoffVersion, "handoff_id", [int(h.handoff_id) for h in handoffs], chain_id
        ),
        certificates=certificates,
        certificate_first=first_blocks(
            CertificateVersion,
            "certificate_id",
            [int(c.certificate_id) for c in certificates],
            chain_id,
        ),
        edges=list(edges),
    )


def handoffs_upsert(chain_id: int, facts: Facts) -> None:
    rows = facts.handoffs
    if not rows:
        return
    initiated = [facts.handoff_first.get(int(h.handoff_id), h.block_from) for h in rows]
    closed = [None if h.status == "open" else h.block_from for h in rows]
    times = block_times(chain_id, set(initiated) | {b for b in closed if b is not None})
    server_bound(
        """INSERT INTO reporting.fact_handoff (chain_id, handoff_id, lot_key, sender_key,
               receiver_key, quantity, status, reason, initiated_block, initiated_date_key,
               closed_block, closed_date_key, state_block)
           SELECT %s, t.handoff_id, l.lot_key, s.organisation_key, r.organisation_key,
                  t.quantity, t.status, t.reason, t.initiated, t.initiated_day, t.closed,
                  t.closed_day, t.state
             FROM unnest(%s::numeric[], %s::numeric[], %s::text[], %s::text[], %s::numeric[],
                         %s::text[], %s::text[], %s::bigint[], %s::int[], %s::bigint[],
                         %s::int[], %s::bigint[])
                  AS t(handoff_id, lot_id, sender, receiver, quantity, status, reason,
                       initiated, initiated_day, closed, closed_day, state)
             JOIN reporting.dim_lot l ON l.chain_id = %s AND l.lot_id = t.lot_id
             JOIN reporting.dim_organisation s ON s.chain_id = %s AND s.account = t.sender
             JOIN reporting.dim_organisation r ON r.chain_id = %s AND r.account = t.receiver
           ON CONFLICT (chain_id, handoff_id) DO UPDATE
              SET status = EXCLUDED.status, reason = EXCLUDED.reason,
                  closed_block = EXCLUDED.closed_block,
                  closed_date_key = EXCLUDED.closed_date_key,
                  state_block = EXCLUDED.state_block""",
        [
            chain_id,
            ids_text(h.handoff_id for h in rows),
            ids_text(h.lot_id for h in rows),
            [h.sender for h in rows],
            [h.receiver for h in rows],
            ids_text(h.quantity for h in rows),
            [h.status for h in rows],
            [h.reason for h in rows],
            initiated,
            [day_key(times.get(b)) for b in initiated],
            closed,
            [None if b is None else day_key(times.get(b)) for b in closed],
            [h.block_from for h in rows],
            chain_id,
            chain_id,
            chain_id,
        ],
    )


def certificates_upsert(chain_id: int, facts: Facts) -> None:
    rows = facts.certificates
    if not rows:
        return
    issued = [facts.certificate_first.get(int(c.certificate_id), c.block_from) for c in rows]
    revoked = [c.block_from if c.revoked else None for c in rows]
    times = block_times(chain_id, set(issued))
    server_bound(
        """INSERT INTO reporting.fact_certificate (chain_id, certificate_id, subject_kind,
               subject, lot_key, issuer_key, certificate_type, claims, valid_from,
               valid_until, issued_block, issued_date_key, revoked, revoked_block,
               revoke_reason, state_block)
           SELECT %s, t.certificate_id, t.subject_kind, t.subject, l.lot_key,
                  o.organisation_key, t.type, t.claims, t.valid_from, t.valid_until,
                  t.issued, t.issued_day, t.revoked, t.revoked_block, t.reason, t.state
             FROM unnest(%s::numeric[], %s::smallint[], %s::numeric[], %s::text[],
                         %s::text[], %s::jsonb[], %s::timestamptz[], %s::timestamptz[],
                         %s::bigint[], %s::int[], %s::boolean[], %s::bigint[], %s::text[],
                         %s::bigint[])
                  AS t(certificate_id, subject_kind, subject, issuer, type, claims,
                       valid_from, valid_until, issued, issued_day, revoked, revoked_block,
                       reason, state)
             JOIN reporting.dim_organisation o ON o.chain_id = %s AND o.account = t.issuer
             LEFT JOIN reporting.dim_lot l
                    ON t.subject_kind = %s AND l.chain_id = %s AND l.lot_id = t.subject
           ON CONFLICT (chain_id, certificate_id) DO UPDATE
              SET revoked = EXCLUDED.revoked, revoked_block = EXCLUDED.revoked_block,
                  revoke_reason = EXCLUDED.revoke_reason, lot_key = EXCLUDED.lot_key,
                  state_block = EXCLUDED.state_block""",
        [
            chain_id,
            ids_text(c.certificate_id for c in rows),
            [c.subject_kind for c in rows],
            ids_text(c.subject for c in rows),
            [c.issuer for c in rows],
            [certificate_type_name(c.certificate_type) for c in rows],
            [
                json.dumps({certificate_type_name(k): str(v) for k, v in c.claims.items()})
                for c in rows
            ],
            [c.valid_from for c in rows],
            [c.valid_until for c in rows],
            issued,
            [day_key(times.get(b)) for b in issued],
            [c.revoked for c in rows],
            revoked,
            [c.revoke_reason for c in rows],
            [c.block_from for c in rows],
            chain_id,
            int(SubjectKind.LOT),
            chain_id,
        ],
    )


def edges_upsert(chain_id: int, facts: Facts) -> None:
    rows = facts.edges
    if not rows:
        return
    times = block_times(chain_id, {e.block_from for e in rows})
    server_bound(
        """INSERT INTO reporting.fact_transformation_edge (chain_id, transformation_id,
               input_lot_key, output_lot_key, actor_key, input_quantity, output_quantity,
               block, date_key)
           SELECT %s, t.transformation_id, i.lot_key, o.lot_key, a.organisation_key,
                  t.input_quantity, t.output_quantity, t.block, t.day
             FROM unnest(%s::numeric[], %s::numeric[], %s::numeric[], %s::text[],
                         %s::numeric[], %s::numeric[], %s::bigint[], %s::int[])
                  AS t(transformation_id, input_lot, output_lot, actor, input_quantity,
                       output_quantity, block, day)
             JOIN reporting.dim_lot i ON i.chain_id = %s AND i.lot_id = t.input_lot
             JOIN reporting.dim_lot o ON o.chain_id = %s AND o.lot_id = t.output_lot
             JOIN reporting.dim_organisation a ON a.chain_id = %s AND a.account = t.actor
           ON CONFLICT (chain_id, transformation_id, input_lot_key, output_lot_key)
           DO NOTHING""",
        [
            chain_id,
            ids_text(e.transformation_id for e in rows),
            ids_text(e.input_lot for e in rows),
            ids_text(e.output_lot for e in rows),
            [e.actor for e in rows],
            ids_text(e.input_quantity for e in rows),
            ids_text(e.output_quantity for e in rows),
            [e.block_from for e in rows],
            [day_key(times.get(e.block_from)) for e in rows],
            chain_id,
            chain_id,
            chain_id,
        ],
    )


def quarantines_insert(chain_id: int, events: list[ChainEvent]) -> None:
    rows = [e for e in events if whole(e.args.get("lotId")) is not None]
    if not rows:
        return
    dates_upsert(e.block_timestamp for e in rows)
    server_bound(
        """INSERT INTO reporting.fact_quarantine (chain_id, block_hash, log_index, lot_key,
               reporter_key, action, reason, block, date_key)
           SELECT %s, t.block_hash, t.log_index, l.lot_key, o.organisation_key, t.action,
                  t.reason, t.block, t.day
             FROM unnest(%s::text[], %s::int[], %s::numeric[], %s::text[], %s::text[],
                         %s::text[], %s::bigint[], %s::int[])
                  AS t(block_hash, log_index, lot_id, reporter, action, reason, block, day)
             JOIN reporting.dim_lot l ON l.chain_id = %s AND l.lot_id = t.lot_id
             JOIN reporting.dim_organisation o ON o.chain_id = %s AND o.account = t.reporter
           ON CONFLICT (chain_id, block_hash, log_index) DO NOTHING""",
        [
            chain_id,
            [e.block_hash for e in rows],
            [e.log_index for e in rows],
            ids_text(e.args["lotId"] for e in rows),
            [str(e.args.get("by", "")) for e in rows],
            ["set" if e.event == "QuarantineSet" else "cleared" for e in rows],
            [str(e.args.get("reason", "")) for e in rows],
            [e.block_number for e in rows],
            [day_key(e.block_timestamp) for e in rows],
            chain_id,
            chain_id,
        ],
    )
