"""JSON shapes of provenance reads, shared by the partner API, the portal's graph and the
evidence pack, so the three never disagree about what a trace says (the figures' shape is
`webapp.sustainability.shapes`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from webapp.certificates.selectors import certificate_type_name
from webapp.lots.selectors import KIND_NAMES
from webapp.organisations.selectors import organisation_names
from webapp.projections.models import CertificateVersion
from webapp.provenance.selectors import CustodyStep, LotSummary, Trace, lot_summaries


def certificate_json(c: CertificateVersion) -> dict[str, Any]:
    return {
        "certificate_id": int(c.certificate_id),
        "lot_id": int(c.subject),
        "certificate_type": certificate_type_name(c.certificate_type),
        "issuer": c.issuer,
        "document_hash": c.document_hash,
        "valid_from": c.valid_from.isoformat(),
        "valid_until": c.valid_until.isoformat(),
        "claims": {certificate_type_name(k): v for k, v in c.claims.items()},
        "revoked": c.revoked,
        "revoke_reason": c.revoke_reason,
    }


def lot_json(
    summary: LotSummary,
    names: dict[str, str],
    *,
    depth: int | None = None,
    kinds: Mapping[int, str] = KIND_NAMES,
) -> dict[str, Any]:
    """`kinds` spells the lot's kind: readable names by default, the API's codes
    (`webapp.lots.selectors.KIND_CODES`) in the API."""
    shaped: dict[str, Any] = {
        "lot_id": summary.lot_id,
        "kind": kinds.get(summary.kind, ""),
        "name": summary.name,
        "unit": summary.unit,
        "quantity": int(summary.quantity),
        "creator": summary.creator,
        "creator_name": names.get(summary.creator, ""),
        "quarantined": summary.quarantined,
        "holders": [
            {"address": a, "name": names.get(a, ""), "quantity": int(q)}
            for a, q in summary.holders.items()
        ],
        "certificates": [certificate_json(c) for c in summary.certificates],
    }
    if depth is not None:
        shaped["depth"] = depth
    return shaped


def trace_json(
    trace: Trace,
    *,
    kinds: Mapping[int, str] = KIND_NAMES,
    summaries: Mapping[int, LotSummary] | None = None,
) -> dict[str, Any]:
    """A trace with every lot's state, holders and certificates (as of the trace's block).
    `summaries`: the lots' summaries as of that block when the caller has read them
    already (for several traces at once), else they are read here."""
    names = organisation_names()
    if summaries is None:
        summaries = lot_summaries(lot_ids=list(trace.nodes), block=trace.block)
    return {
        "lot_id": trace.lot_id,
        "direction": trace.direction,
        "depth": trace.depth,
        "as_of_block": trace.block,
        "reached_depth_cap": trace.reached_cap,
        "nodes": [
            lot_json(summaries[lot_id], names, depth=d, kinds=kinds)
            for lot_id, d in sorted(trace.nodes.items(), key=lambda item: (item[1], item[0]))
            if lot_id in summaries
        ],
        "edges": [
            {
                "from": e.parent,
                "to": e.child,
                "kind": e.kind,
                "transformation_id": e.transformation_id,
                "quantity": int(e.parent_quantity),
                "output_quantity": int(e.child_quantity),
                "block_number": e.block,
                "log_index": e.log,
                "until_block": e.until_block,
            }
            for e in trace.edges
        ],
    }


def custody_json(steps: list[CustodyStep]) -> list[dict[str, Any]]:
    names = organisation_names()

    def moment(event: Any) -> dict[str, Any]:
        return {
            "block_number": event.block_number,
            "timestamp": event.block_timestamp.isoformat(),
            "transaction_hash": event.transaction_hash,
            "log_index": event.log_index,
        }

    return [
        {
            "handoff_id": s.handoff_id,
            "carried_by": s.lot_id,
            "sender": s.sender,
            "sender_name": names.get(s.sender, ""),
            "receiver": s.receiver,
            "receiver_name": names.get(s.receiver, ""),
            "quantity": s.quantity,
            "status": s.status,
            "offered": moment(s.offered),
            "settled": None if s.settled is None else moment(s.settled),
        }
        for s in steps
    ]
