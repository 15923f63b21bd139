"""The chain's facts as EPCIS events: a consumer of the event store (after the projections).

Flow: the pipeline hands over each batch of mirrored events of the kinds in
`webapp.epcis.facts.KINDS`, in chain order. One pass reads what the mirror knows that the
events do not say (lots' GS1 keys and units, organisations' GLNs, revoked certificates'
subjects; a lot whose metadata has not arrived is named by our URN), `facts.fact_event`
states each fact as an EPCIS event, and the rows go in with one `bulk_create` that ignores
an event hash already stored, so a replayed batch adds nothing. A reorganisation calls
`rollback`, which deletes the chain-sourced events above the surviving block; the events of
the new branch arrive as an ordinary batch.

A fact a captured EPCIS event put on the chain (its transaction is an operation whose
idempotency key is `epcis:<event hash>[:<n>]`, see `webapp.epcis.mapping`) is already an
EPCIS event: the captured one. It gets no twin; the captured row takes the fact's chain
pointers (the first fact of the transaction) and the lots the fact is about, so a capture
round-trips with its own eventID and the lot's parties find it. A reorganisation that
removes the transaction clears the pointers again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from webapp.chain.models import ChainEvent
from webapp.epcis.anchoring import epcis_anchors_forget
from webapp.epcis.columns import event_columns
from webapp.epcis.facts import KINDS, SUBJECT_LOT, Fact, Names, fact_events, wanted
from webapp.epcis.models import EpcisEvent
from webapp.lots.identities import lot_identities, parties
from webapp.operations.models import Operation
from webapp.projections.models import CertificateVersion

_CAPTURED_KEY = "epcis:"


def chain_facts_names(*, chain_id: int, events: Sequence[ChainEvent]) -> Names:
    """What the mirror knows of the lots, parties and certificates `events` name."""
    need = wanted(events)
    subjects = {
        int(certificate_id): int(subject)
        for certificate_id, subject in CertificateVersion.objects.filter(
            chain_id=chain_id,
            certificate_id__in=need.certificate_ids,
            subject_kind=SUBJECT_LOT,
        ).values_list("certificate_id", "subject")
    }
    return Names(
        lots=lot_identities(need.lot_ids | set(subjects.values()), chain_id=chain_id),
        parties=parties(need.addresses, chain_id=chain_id),
        certificate_subjects=subjects,
    )


#: Facts every member may see of any lot (what the public passport shows of it too).
PUBLIC_FACTS = frozenset(
    {
        "LotRegistered",
        "QuarantineSet",
        "QuarantineCleared",
        "CertificateIssued",
        "CertificateRevoked",
    }
)


def _lots_of(fact: Fact, names: Names) -> set[int]:
    """The lots a fact is about: who may see the event follows who may see them."""
    lots = wanted([fact]).lot_ids
    if fact.event == "CertificateRevoked":
        subject = names.certificate_subjects.get(int(fact.args["certificateId"]))
        if subject is not None:
            lots.add(subject)
    return lots


def _captured_hash(idempotency_key: str) -> str:
    """The event hash in `epcis:<hash>` or `epcis:<hash>:<n>` (a hash ends `?ver=CBV2.0`)."""
    key = idempotency_key.removeprefix(_CAPTURED_KEY)
    head, _, tail = key.rpartition(":")
    return head if tail.isdigit() else key


def _captured_by_transaction(stated: list[tuple[Fact, dict[str, Any]]]) -> dict[str, str]:
    """Transaction hash -> the hash of the captured event whose operation sent it."""
    transactions = {fact.transaction_hash for fact, _ in stated}
    return {
        tx: _captured_hash(key)
        for tx, key in Operation.objects.filter(
            transaction_hash__in=transactions, idempotency_key__startswith=_CAPTURED_KEY
        ).values_list("transaction_hash", "idempotency_key")
    }


def _point_captured(
    chain_id: int,
    stated: list[tuple[Fact, dict[str, Any]]],
    names: Names,
    captured: dict[str, str],
) -> None:
    """Give each captured event the chain pointers and lots of the facts it put on chain."""
    facts: dict[str, list[Fact]] = {}
    for fact, _ in stated:
        if fact.transaction_hash in captured:
            facts.setdefault(captured[fact.transaction_hash], []).append(fact)
    rows = EpcisEvent.objects.select_for_update().filter(
        event_hash__in=list(facts), source=EpcisEvent.Source.CAPTURED
    )
    for row in rows:
        mine = facts[row.event_hash]
        first = min(mine, key=lambda f: (f.block_number, f.log_index))
        lots = set(row.lot_ids).union(str(i) for f in mine for i in _lots_of(f, names))
        row.chain_id, row.block_number = chain_id, first.block_number
        row.transaction_hash, row.log_index = first.transaction_hash, first.log_index
        row.lot_ids = sorted(lots, key=int)
        row.save(
            update_fields=["chain_id", "block_number", "transaction_hash", "log_index", "lot_ids"]
        )


def chain_facts_record(*, chain_id: int, events: Sequence[ChainEvent]) -> int:
    """Store each fact of `events` as an EPCIS event (source=chain), or point the captured
    event that stated it at it; returns how many events the batch stated (stored now or
    before, or captured)."""
    names = chain_facts_names(chain_id=chain_id, events=events)
    stated = fact_events(events, names)
    captured = _captured_by_transaction(stated)
    if captured:
        _point_captured(chain_id, stated, names, captured)
    rows = [
        EpcisEvent(
            event_hash=document["eventID"],
            **event_columns(document),
            lot_ids=[str(i) for i in sorted(_lots_of(fact, names))],
            public=fact.event in PUBLIC_FACTS,
            record_time=fact.block_timestamp,
            document=document,
            source=EpcisEvent.Source.CHAIN,
            chain_id=chain_id,
            block_number=fact.block_number,
            transaction_hash=fact.transaction_hash,
            log_index=fact.log_index,
        )
        for fact, document in stated
        if fact.transaction_hash not in captured
    ]
    EpcisEvent.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(stated)


def chain_facts_forget(*, chain_id: int, to_block: int) -> int:
    """Delete the events derived from chain facts above `to_block`, and clear the chain
    pointers of captured events that pointed there; returns how many were deleted."""
    above = {"chain_id": chain_id, "block_number__gt": to_block}
    deleted, _ = EpcisEvent.objects.filter(source=EpcisEvent.Source.CHAIN, **above).delete()
    EpcisEvent.objects.filter(source=EpcisEvent.Source.CAPTURED, **above).update(
        chain_id=None, block_number=None, transaction_hash="", log_index=None
    )
    return deleted


class ChainFacts:
    name = "epcis"
    kinds: frozenset[str] | None = KINDS
    after = ("projections",)  # bundles' kinds and revoked certificates' subjects

    def apply(self, events: Sequence[ChainEvent], *, chain_id: int) -> None:
        chain_facts_record(chain_id=chain_id, events=events)

    def rollback(self, to_block: int, *, chain_id: int) -> None:
        chain_facts_forget(chain_id=chain_id, to_block=to_block)
        epcis_anchors_forget(chain_id=chain_id, to_block=to_block)
