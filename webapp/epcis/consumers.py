"""The chain's facts as EPCIS events: a consumer of the event store (after the projections).

Flow: the pipeline hands over each batch of mirrored events of the kinds in
`webapp.epcis.facts.KINDS`, in chain order. One pass reads what the mirror knows that the
events do not say (lots' GS1 keys and units, organisations' GLNs, revoked certificates'
subjects; a lot whose metadata has not arrived is named by our URN), `facts.fact_event`
states each fact as an EPCIS event, and the rows go in with one `bulk_create` that ignores
an event hash already stored, so a replayed batch adds nothing. A reorganisation calls
`rollback`, which deletes the chain-sourced events above the surviving block; the events of
the new branch arrive as an ordinary batch.
"""

from __future__ import annotations

from collections.abc import Sequence

from webapp.chain.models import ChainEvent
from webapp.epcis.columns import event_columns
from webapp.epcis.facts import KINDS, SUBJECT_LOT, Fact, Names, fact_events, wanted
from webapp.epcis.models import EpcisEvent
from webapp.lots.identities import lot_identities, parties
from webapp.projections.models import CertificateVersion


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


def chain_facts_record(*, chain_id: int, events: Sequence[ChainEvent]) -> int:
    """Store each fact of `events` as an EPCIS event (source=chain); returns how many
    events the batch stated (stored now or before)."""
    names = chain_facts_names(chain_id=chain_id, events=events)
    stated = fact_events(events, names)
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
    ]
    EpcisEvent.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(rows)


def chain_facts_forget(*, chain_id: int, to_block: int) -> int:
    """Delete the events derived from chain facts above `to_block`; returns how many."""
    deleted, _ = EpcisEvent.objects.filter(
        source=EpcisEvent.Source.CHAIN, chain_id=chain_id, block_number__gt=to_block
    ).delete()
    return deleted


class ChainFacts:
    name = "epcis"
    kinds: frozenset[str] | None = KINDS
    after = ("projections",)  # bundles' kinds and revoked certificates' subjects

    def apply(self, events: Sequence[ChainEvent], *, chain_id: int) -> None:
        chain_facts_record(chain_id=chain_id, events=events)

    def rollback(self, to_block: int, *, chain_id: int) -> None:
        chain_facts_forget(chain_id=chain_id, to_block=to_block)
