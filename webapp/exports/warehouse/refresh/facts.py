"""The facts: handoffs, certificate lifecycles, transformation edges, quarantine events."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from contracts.chain.domain import SubjectKind
from webapp.bulk import server_bound
from webapp.certificates.selectors import certificate_type_name
from webapp.chain.models import ChainEvent
from webapp.exports.warehouse.refresh.dimensions import dates_upsert
from webapp.exports.warehouse.refresh.rows import as_of_sql, day_key, ids_text
from webapp.exports.warehouse.refresh.touched import Touched, whole

#: A day key (yyyymmdd, UTC) of the block numbered by column `block` (NULL: no such block).
_DAY = (
    "(SELECT to_char(b.timestamp AT TIME ZONE 'UTC', 'YYYYMMDD')::int FROM chain_block b "
    "WHERE b.chain_id = v.chain_id AND b.number = {block})"
)
_FIRST = (
    "(SELECT min(w.block_from) FROM {table} w WHERE w.chain_id = v.chain_id AND w.{key} = v.{key})"
)
_HANDOFFS = f"""
SELECT v.handoff_id::text, v.lot_id::text, v.sender, v.receiver, v.quantity::text, v.status,
       v.reason, f.first, {_DAY.format(block="f.first")},
       CASE WHEN v.status <> 'open' THEN v.block_from END,
       CASE WHEN v.status <> 'open' THEN {_DAY.format(block="v.block_from")} END,
       v.block_from
  FROM projections_handoffversion v
 CROSS JOIN LATERAL (SELECT {_FIRST.format(table="projections_handoffversion", key="handoff_id")}
                     AS first) f
 WHERE v.chain_id = %s AND v.handoff_id = ANY(%s::numeric[]) AND {{as_of}}
"""
_CERTIFICATES = f"""
SELECT v.certificate_id::text, v.subject_kind, v.subject::text, v.issuer, v.certificate_type,
       v.claims, v.valid_from, v.valid_until, f.first, {_DAY.format(block="f.first")},
       v.revoked, CASE WHEN v.revoked THEN v.block_from END, v.revoke_reason, v.block_from
  FROM projections_certificateversion v
 CROSS JOIN LATERAL (SELECT {
    _FIRST.format(table="projections_certificateversion", key="certificate_id")
} AS first) f
 WHERE v.chain_id = %s AND v.certificate_id = ANY(%s::numeric[]) AND {{as_of}}
"""
_EDGES = f"""
SELECT v.transformation_id::text, v.input_lot::text, v.output_lot::text, v.actor,
       v.input_quantity::text, v.output_quantity::text, v.block_from,
       {_DAY.format(block="v.block_from")}
  FROM projections_transformationedge v
 WHERE v.chain_id = %s AND v.transformation_id = ANY(%s::numeric[]) AND v.block_from <= %s
"""
_NO_BLOCK = 2**62


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


@dataclass
class Facts:
    """Projection rows for the facts of a batch (as tuples, in the order of the SELECTs
    above), read before the dimensions are written: they name the lots and accounts the
    dimensions must hold."""

    handoffs: list[tuple[Any, ...]]
    certificates: list[tuple[Any, ...]]
    edges: list[tuple[Any, ...]]

    def lots(self) -> set[int]:
        found = {int(h[1]) for h in self.handoffs}
        found |= {int(c[2]) for c in self.certificates if c[1] == SubjectKind.LOT}
        for e in self.edges:
            found |= {int(e[1]), int(e[2])}
        return found

    def accounts(self) -> set[str]:
        found = {h[2] for h in self.handoffs} | {h[3] for h in self.handoffs}
        found |= {c[3] for c in self.certificates}
        return found | {e[3] for e in self.edges}

    def certified_lots(self) -> set[int]:
        return {int(c[2]) for c in self.certificates if c[1] == SubjectKind.LOT}


def facts_read(chain_id: int, t: Touched, block: int | None) -> Facts:
    def read(sql: str, ids: set[int], *extra: Any) -> list[tuple[Any, ...]]:
        if not ids:
            return []
        return server_bound(
            sql.format(as_of=as_of_sql("v", block)), [chain_id, ids_text(sorted(ids)), *extra]
        )

    return Facts(
        handoffs=read(_HANDOFFS, t.handoffs),
        certificates=read(_CERTIFICATES, t.certificates),
        edges=read(_EDGES, t.transformations, _NO_BLOCK if block is None else block),
    )


def handoffs_upsert(chain_id: int, facts: Facts) -> None:
    if not facts.handoffs:
        return
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
        [chain_id, *_columns(facts.handoffs, 12), chain_id, chain_id, chain_id],
    )


def _claims(value: Any) -> dict[str, Any]:
    """A jsonb column as Django's connection hands it back (text), decoded."""
    found = json.loads(value) if isinstance(value, str) else value
    return found if isinstance(found, dict) else {}


def certificates_upsert(chain_id: int, facts: Facts) -> None:
    if not facts.certificates:
        return
    (ids, kinds, subjects, issuers, types, claims, starts, ends, issued, issued_days, revoked,
     revoked_blocks, reasons, states) = _columns(facts.certificates, 14)  # fmt: skip
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
            ids,
            kinds,
            subjects,
            issuers,
            [certificate_type_name(t) for t in types],
            [
                json.dumps({certificate_type_name(k): str(v) for k, v in _claims(c).items()})
                for c in claims
            ],
            starts,
            ends,
            issued,
            issued_days,
            revoked,
            revoked_blocks,
            reasons,
            states,
            chain_id,
            int(SubjectKind.LOT),
            chain_id,
        ],
    )


def edges_upsert(chain_id: int, facts: Facts) -> None:
    if not facts.edges:
        return
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
        [chain_id, *_columns(facts.edges, 8), chain_id, chain_id, chain_id],
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
