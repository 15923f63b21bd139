"""Writes of the provenance app: notifications that follow from mirrored chain events,
and the proofs of mirrored events, stored once built.

The event store is the source; the cursor moves in the same transaction as the
notifications it produced, and notifications are unique per (organisation, key), so a
crash or a replay neither loses nor doubles one.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.conf import settings
from django.urls import reverse
from web3 import Web3
from web3.exceptions import Web3Exception

from contracts.proofs.build import ProofError, block_header, event_proof
from webapp.chain.chain_client import chain
from webapp.chain.models import ChainEvent
from webapp.organisations.models import Organisation
from webapp.projections.models import CertificateVersion
from webapp.provenance.models import (
    BlockHeaderProof,
    EventProof,
    Notification,
)
from webapp.provenance.selectors import MAX_DEPTH, LotSummary, lot_summaries, lot_trace

T = TypeVar("T")


@dataclass
class RevocationImpact:
    """What a certificate's revocation touches: its subject lot and everything made from
    it or packed with it, and the organisations holding any of those now."""

    certificate: CertificateVersion
    lots: list[LotSummary] = field(default_factory=list)
    holders: dict[Organisation, list[int]] = field(default_factory=dict)


def certificate_revocation_impact(
    *, certificate_id: int, chain_id: int | None = None
) -> RevocationImpact | None:
    """Every lot and bundle downstream of a certificate's subject (the subject included),
    with their current holders. None when the certificate is unknown."""
    chain_id = chain_id or settings.CHAIN_ID
    certificate = (
        CertificateVersion.objects.filter(chain_id=chain_id, certificate_id=certificate_id)
        .order_by("-block_from", "-log_from")
        .first()
    )
    if certificate is None:
        return None
    impact = RevocationImpact(certificate=certificate)
    if certificate.subject_kind != 1:  # a participant's certificate: no lot carried it
        return impact
    trace = lot_trace(
        lot_id=int(certificate.subject), direction="down", depth=MAX_DEPTH, chain_id=chain_id
    )
    summaries = lot_summaries(lot_ids=list(trace.nodes), chain_id=chain_id)
    impact.lots = [summaries[i] for i in sorted(trace.nodes, key=trace.nodes.__getitem__)]
    by_address = {
        o.address: o
        for o in Organisation.objects.filter(
            address__in={h for s in impact.lots for h in s.holders}
        )
    }
    for summary in impact.lots:
        for holder in summary.holders:
            if (organisation := by_address.get(holder)) is not None:
                impact.holders.setdefault(organisation, []).append(summary.lot_id)
    return impact


def notifications_emit(*, chain_id: int, events: Iterable[ChainEvent]) -> int:
    """Turn mirrored revocations into notifications for the holders they affect.

    The pipeline's "notifications" consumer calls it with each batch of
    ``CertificateRevoked`` events, after the projections (the impact is read from them).
    A notification is keyed by its certificate, so a replayed batch creates nothing twice.
    Returns how many notifications were created.
    """
    created = 0
    for event in events:
        if event.event != "CertificateRevoked":
            continue
        certificate_id = int(event.args["certificateId"])
        impact = certificate_revocation_impact(certificate_id=certificate_id, chain_id=chain_id)
        if impact is None:
            continue
        for organisation, lot_ids in impact.holders.items():
            listed = ", ".join(str(i) for i in lot_ids)
            _, new = Notification.objects.get_or_create(
                organisation=organisation,
                key=f"revoked:{certificate_id}",
                defaults={
                    "subject": f"Certificate {certificate_id} was revoked",
                    "body": (
                        f"Certificate {certificate_id} on lot {impact.certificate.subject} "
                        f"was revoked ({event.args.get('reason', '')}). You hold lots "
                        f"made from or packed with it: {listed}."
                    ),
                    "link": reverse("portal:revocation-impact", args=[certificate_id]),
                },
            )
            created += new
    return created


# ------------------------------------------------------------------ stored proofs


class NodeUnreachable(RuntimeError):
    """A proof that is not stored yet cannot be built now: the node did not answer (or
    its data no longer matches the mirror, e.g. mid-reorganisation)."""


def _from_node(build: Callable[[Web3], T]) -> T:
    """Run `build` against the node, turning every way it can be unreachable into one
    error with a reason a person can read."""
    try:
        w3, _ = chain()
        return build(w3)
    except ProofError as exc:
        raise NodeUnreachable(f"The node's data cannot be proven right now: {exc}") from exc
    except (OSError, Web3Exception) as exc:
        raise NodeUnreachable(
            f"The chain node is not reachable ({type(exc).__name__}); proofs that are not "
            "stored yet cannot be built until it answers again."
        ) from exc


def event_proofs_stored(*, events: list[ChainEvent]) -> list[dict[str, Any]]:
    """The proof document of each mirrored event, in order: from the store when built
    before, else from the node (and then stored). Raises NodeUnreachable when a missing
    proof cannot be built."""
    if not events:
        return []
    stored = {
        (p.chain_id, p.block_hash, p.log_index): p.document
        for p in EventProof.objects.filter(
            chain_id__in={e.chain_id for e in events},
            block_hash__in={e.block_hash.lower() for e in events},
            log_index__in={e.log_index for e in events},
        )
    }
    documents: list[dict[str, Any]] = []
    for event in events:
        key = (event.chain_id, event.block_hash.lower(), event.log_index)
        if key not in stored:
            document = _from_node(
                functools.partial(
                    event_proof, transaction_hash=event.transaction_hash, log_index=event.log_index
                )
            )
            if document["block_hash"] != key[1]:
                raise NodeUnreachable(
                    f"The node puts this event in block {document['block_hash']}, the mirror "
                    f"in {key[1]}: the chain is reorganising; try again in a moment."
                )
            EventProof.objects.bulk_create(
                [
                    EventProof(
                        chain_id=key[0],
                        block_hash=key[1],
                        log_index=key[2],
                        block_number=event.block_number,
                        document=document,
                    )
                ],
                ignore_conflicts=True,
            )
            stored[key] = document
        documents.append(stored[key])
    return documents


def block_header_stored(*, chain_id: int, number: int, block_hash: str) -> str:
    """The RLP header (0x-hex) of the mirrored block `number` with `block_hash`: from the
    store, else from the node (and then stored)."""
    block_hash = block_hash.lower()
    row = BlockHeaderProof.objects.filter(chain_id=chain_id, block_hash=block_hash).first()
    if row is not None:
        return row.header
    on_node, header = _from_node(lambda w3: block_header(w3, number=number))
    if on_node != block_hash:
        raise NodeUnreachable(
            f"Block {number} on the node is {on_node}, the mirror has {block_hash}: the chain "
            "is reorganising; try again in a moment."
        )
    BlockHeaderProof.objects.bulk_create(
        [
            BlockHeaderProof(
                chain_id=chain_id, block_hash=block_hash, block_number=number, header=header
            )
        ],
        ignore_conflicts=True,
    )
    return header
