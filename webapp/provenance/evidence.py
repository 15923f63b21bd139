"""Proofs of mirrored facts, and the evidence pack of a product.

A proof is built from the node, never from the mirror: the mirror only says which log to
prove. The evidence pack gathers a product's lineage, custody, certificates (with their
status at download time), quarantines and figures, plus one proof per chain fact they
rest on; `python -m contracts.verify pack.json` checks every proof offline.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db.models import Q

from contracts.proofs import event_proof
from webapp.chain.chain_client import chain
from webapp.chain.models import ChainEvent
from webapp.projections.models import CertificateVersion
from webapp.provenance.selectors import MAX_DEPTH, custody_timeline, lot_trace
from webapp.provenance.shapes import certificate_json, custody_json, figures_json, trace_json
from webapp.sustainability.selectors import lot_figures, mirror_head

PACK_FORMAT = "provenant-evidence/1"
MAX_FACTS = 2000


class FactUnknown(LookupError):
    """The mirror holds no such event: there is nothing to prove."""


def fact_proof(*, transaction_hash: str, log_index: int) -> dict[str, Any]:
    """The proof document of one mirrored event (raises FactUnknown otherwise)."""
    chain_id = settings.CHAIN_ID
    if not ChainEvent.objects.filter(
        chain_id=chain_id, transaction_hash=transaction_hash.lower(), log_index=log_index
    ).exists():
        raise FactUnknown(f"No mirrored event at {transaction_hash} log {log_index}.")
    w3, _ = chain()
    return event_proof(w3, transaction_hash=transaction_hash, log_index=log_index)


def fact_events(*, certificates: list[int], transformations: list[int]) -> dict[str, ChainEvent]:
    """The events behind figures: "certificate:7" -> its CertificateIssued, and
    "transformation:3" -> its LotsTransformed."""
    chain_id = settings.CHAIN_ID
    wanted = Q(pk__in=[])
    if certificates:
        wanted |= Q(event="CertificateIssued", args__certificateId__in=certificates)
    if transformations:
        wanted |= Q(event="LotsTransformed", args__transformationId__in=transformations)
    found: dict[str, ChainEvent] = {}
    for event in ChainEvent.objects.filter(chain_id=chain_id).filter(wanted):
        if event.event == "CertificateIssued":
            found[f"certificate:{event.args['certificateId']}"] = event
        else:
            found[f"transformation:{event.args['transformationId']}"] = event
    return found


def lineage_events(
    *, lot_ids: list[int], transformation_ids: list[int], custody_of: int
) -> list[ChainEvent]:
    """Every event a product's lineage rests on: each lot's registration, quarantines and
    certificates, the transformations and packings that link them, and the product's
    custody handoffs."""
    chain_id = settings.CHAIN_ID
    certificate_ids = list(
        CertificateVersion.objects.filter(
            chain_id=chain_id, subject_kind=1, subject__in=lot_ids
        ).values_list("certificate_id", flat=True)
    )
    about = (
        Q(
            event__in=["LotRegistered", "QuarantineSet", "QuarantineCleared"],
            args__lotId__in=lot_ids,
        )
        | Q(event__in=["LotsBundled", "LotsUnbundled"], args__bundleId__in=lot_ids)
        | Q(event="CertificateIssued", args__subjectKind=1, args__subject__in=lot_ids)
        | Q(event="CertificateRevoked", args__certificateId__in=[int(c) for c in certificate_ids])
        | Q(event__startswith="Handoff", args__lotId=custody_of)
        | Q(event="LotsTransformed", args__transformationId__in=transformation_ids)
    )
    events = ChainEvent.objects.filter(chain_id=chain_id).filter(about)
    return list(events.order_by("block_number", "log_index"))


def certificate_status(certificate: CertificateVersion, now: datetime) -> str:
    if certificate.revoked:
        return "revoked"
    if now < certificate.valid_from:
        return "not yet valid"
    if now >= certificate.valid_until:
        return "expired"
    return "valid"


def evidence_pack(*, lot_id: int) -> dict[str, Any]:
    """Everything needed to check a product's story without trusting this server."""
    w3, manifest = chain()
    now = datetime.now(tz=UTC)
    trace = lot_trace(lot_id=lot_id, direction="up", depth=MAX_DEPTH)
    lineage = trace_json(trace)
    lot_ids = list(trace.nodes)
    crossed = sorted({e.transformation_id for e in trace.edges} - {None})
    events = lineage_events(
        lot_ids=lot_ids,
        transformation_ids=crossed,
        custody_of=lot_id,  # type: ignore[arg-type]
    )
    if len(events) > MAX_FACTS:
        raise ValueError(
            f"Lot {lot_id}'s lineage rests on {len(events)} events; an evidence pack holds at "
            f"most {MAX_FACTS}. Ask for the packs of its inputs instead."
        )
    certificates = CertificateVersion.objects.filter(
        chain_id=manifest.chain_id, subject_kind=1, subject__in=lot_ids, block_to__isnull=True
    ).order_by("certificate_id")
    quarantines = [
        {
            "lot_id": int(e.args["lotId"]),
            "event": e.event,
            "reason": e.args.get("reason", ""),
            "block_number": e.block_number,
            "transaction_hash": e.transaction_hash,
        }
        for e in events
        if e.event in ("QuarantineSet", "QuarantineCleared")
    ]
    head = mirror_head(chain_id=manifest.chain_id)
    proofs = [
        event_proof(w3, transaction_hash=e.transaction_hash, log_index=e.log_index) for e in events
    ]
    return {
        "format": PACK_FORMAT,
        "generated_at": now.isoformat(),
        "chain_id": manifest.chain_id,
        "contracts": manifest.addresses,
        "lot_id": lot_id,
        "as_of_block": None if head is None else head[0],
        "lineage": lineage,
        "custody": custody_json(custody_timeline(lot_id=lot_id)),
        "certificates": [
            {**certificate_json(c), "status_at_download": certificate_status(c, now)}
            for c in certificates
        ],
        "quarantines": quarantines,
        "figures": figures_json(lot_figures(lot_id=lot_id)),
        "proofs": proofs,
    }
