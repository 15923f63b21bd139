"""The evidence pack of a product, and the proof of one mirrored fact.

A proof is built from the node, never from the mirror: the mirror only says which log to
prove. The evidence pack gathers a product's lineage, custody, certificates (with their
status at download time), quarantines and figures, plus one proof per chain fact they
rest on; `python -m contracts.proofs.verify pack.json` checks every proof offline and rebuilds
every summary claim from them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db.models import Q

from contracts.proofs.verify.summary import HIDDEN, PACK_FORMAT, without
from webapp.certificates.selectors import certificate_status
from webapp.chain.chain_client import deployment
from webapp.chain.models import Block, ChainEvent
from webapp.epcis.anchoring import ProofUnavailable, lot_event_proofs
from webapp.lots.selectors.scope import StockScope
from webapp.organisations.selectors import organisation_names
from webapp.passport.proofs import NodeUnreachable, block_header_stored, event_proofs_stored
from webapp.projections.models import BundleContent, CertificateVersion
from webapp.provenance.selectors import (
    MAX_DEPTH,
    CustodyStep,
    LotNotFound,
    custody_timeline,
    lot_trace,
)
from webapp.provenance.shapes import certificate_json, custody_json, trace_json
from webapp.sustainability.selectors import lot_figures
from webapp.sustainability.shapes import figures_json

MAX_FACTS = 2000


class FactUnknown(LookupError):
    """The mirror holds no such event: there is nothing to prove."""


def fact_proof(*, transaction_hash: str, log_index: int) -> dict[str, Any]:
    """The proof document of one mirrored event, stored once built (raises FactUnknown
    for an event the mirror does not hold, NodeUnreachable when it cannot be built now)."""
    chain_id = settings.CHAIN_ID
    event = ChainEvent.objects.filter(
        chain_id=chain_id, transaction_hash=transaction_hash.lower(), log_index=log_index
    ).first()
    if event is None:
        raise FactUnknown(f"No mirrored event at {transaction_hash} log {log_index}.")
    (document,) = event_proofs_stored(events=[event])
    return document


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


def custody_events(*, lot_id: int, steps: list[CustodyStep]) -> list[ChainEvent]:
    """What a lot's custody rests on: both ends of each handoff (of the lot, or of a bundle
    while it held the lot) and the packing and unpacking of those bundles."""
    chain_id = settings.CHAIN_ID
    events = [e for s in steps for e in (s.offered, s.settled) if e is not None]
    bundles = [
        int(b)
        for b in BundleContent.objects.filter(chain_id=chain_id, lot_id=lot_id).values_list(
            "bundle_id", flat=True
        )
    ]
    if bundles:
        events += ChainEvent.objects.filter(
            chain_id=chain_id,
            event__in=["LotsBundled", "LotsUnbundled"],
            args__bundleId__in=bundles,
        )
    return events


def _strip_labels(
    lineage: dict[str, Any], custody: list[dict[str, Any]]
) -> tuple[dict[str, str], dict[str, dict[str, str]], dict[str, list[dict[str, Any]]]]:
    """Move what the chain does not prove out of the summary: organisation names, lot
    names and units (off-chain labels) and holders (the mirror's balances)."""
    organisations: dict[str, str] = {}
    lots: dict[str, dict[str, str]] = {}
    holders: dict[str, list[dict[str, Any]]] = {}
    for node in lineage["nodes"]:
        lots[str(node["lot_id"])] = {"name": node.pop("name"), "unit": node.pop("unit")}
        if name := node.pop("creator_name"):
            organisations[node["creator"]] = name
        holders[str(node["lot_id"])] = [
            {"address": h["address"], "quantity": h["quantity"]} for h in node.pop("holders")
        ]
        for h in holders[str(node["lot_id"])]:
            organisations.setdefault(h["address"], "")
    for step in custody:
        for end in ("sender", "receiver"):
            if name := step.pop(f"{end}_name"):
                organisations[step[end]] = name
    return organisations, lots, holders


def evidence_pack(
    *, lot_id: int, tier: str = "public", scope: StockScope | None = None
) -> dict[str, Any]:
    """Everything needed to check a product's story without trusting this server.

    Every section but ``labels`` and ``holders`` is rebuilt from the proofs by the
    verifier (:mod:`contracts.proofs.verify.summary`), which rejects the pack if one differs. The
    ``public`` tier leaves out what the public passport hides: lot creators' addresses,
    certificates' document hashes and holders. In the ``participant`` tier the holders
    follow the viewer's `scope` (the one stock rule): for a lot outside it only the
    viewer's own holding is listed. Proofs come from the store when built
    before, so a repeated download asks the node nothing; NodeUnreachable when one
    cannot be built. Raises LotNotFound and, past MAX_FACTS events, ValueError.
    """
    if tier not in HIDDEN:
        raise ValueError(f"unknown tier {tier!r}")
    trace = lot_trace(lot_id=lot_id, direction="up", depth=MAX_DEPTH)
    manifest = deployment()
    chain_id = manifest.chain_id
    head = Block.objects.filter(chain_id=chain_id).order_by("-number").first()
    if head is None:
        raise LotNotFound(lot_id)
    moment = head.timestamp
    lineage = trace_json(trace)
    lot_ids = list(trace.nodes)
    crossed = sorted({t for e in trace.edges if (t := e.transformation_id) is not None})
    steps = custody_timeline(lot_id=lot_id)
    custody = custody_json(steps)
    found = {
        e.pk: e
        for e in [
            *lineage_events(
                lot_ids=lot_ids,
                transformation_ids=crossed,
                custody_of=lot_id,
            ),
            *custody_events(lot_id=lot_id, steps=steps),
        ]
        if e.block_number <= head.number
    }
    events = sorted(found.values(), key=lambda e: (e.block_number, e.log_index))
    if len(events) > MAX_FACTS:
        raise ValueError(
            f"Lot {lot_id}'s lineage rests on {len(events)} events; an evidence pack holds at "
            f"most {MAX_FACTS}. Ask for the packs of its inputs instead."
        )
    certificates = CertificateVersion.objects.filter(
        chain_id=chain_id, subject_kind=1, subject__in=lot_ids, block_to__isnull=True
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
    organisations, lot_labels, holders = _strip_labels(lineage, custody)
    header = block_header_stored(chain_id=chain_id, number=head.number, block_hash=head.hash)
    proofs = event_proofs_stored(events=events)
    summary: dict[str, Any] = {
        "lineage": lineage,
        "custody": custody,
        "certificates": [
            {**certificate_json(c), "status": certificate_status(c, moment)} for c in certificates
        ],
        "quarantines": quarantines,
        "figures": figures_json(lot_figures(lot_id=lot_id, block=head.number)),
    }
    hidden = HIDDEN[tier]
    if tier == "public":
        # Only the names of the parties the public summary shows (custody, issuers).
        shown = {s[end] for s in custody for end in ("sender", "receiver")}
        shown |= {c["issuer"] for c in summary["certificates"]}
        organisations = {a: n for a, n in organisations.items() if a in shown}
    organisations.update(
        {
            c["issuer"]: name
            for c in summary["certificates"]
            if (name := organisation_names().get(c["issuer"]))
        }
    )
    pack: dict[str, Any] = {
        "format": PACK_FORMAT,
        "tier": tier,
        "generated_at": datetime.now(tz=UTC).isoformat(),
        "chain_id": chain_id,
        "contracts": manifest.addresses,
        "lot_id": lot_id,
        "as_of": {"block_number": head.number, "block_hash": head.hash.lower(), "header": header},
        **{k: without(v, hidden) for k, v in summary.items()},
        "labels": {
            "organisations": {a: n for a, n in sorted(organisations.items()) if n},
            "lots": lot_labels,
        },
    }
    if tier == "participant":
        if scope is not None:
            covered = scope.covered([int(lot) for lot in holders])
            holders = {
                lot: rows
                if int(lot) in covered
                else [h for h in rows if h["address"] in scope.addresses]
                for lot, rows in holders.items()
            }
        pack["holders"] = holders
        if scope is not None:
            # The anchoring proofs of the captured EPCIS events about the lineage's lots
            # that the viewer may see (provenant-anchored-item/1, checked like the rest).
            try:
                proofs = proofs + lot_event_proofs(organisation=scope.organisation, lot_ids=lot_ids)
            except ProofUnavailable as exc:
                raise NodeUnreachable(str(exc)) from exc
    pack["proofs"] = proofs
    return pack
