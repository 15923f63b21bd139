"""Apply stored chain events to the projections, and roll them back on a reorganisation."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import models, transaction

from webapp.chain.models import ChainEvent
from webapp.chain.pipeline import consumer_catch_up, consumer_reset, consumer_rollback
from webapp.projections.batch import VersionBatch
from webapp.projections.models import (
    VERSIONED,
    Balance,
    BundleContent,
    CertificateVersion,
    HandoffVersion,
    LotVersion,
    ParticipantVersion,
    TransformationEdge,
)

ZERO_ADDRESS = "0x" + "00" * 20
#: 9999-12-31T23:59:59Z: certificate times beyond it (uint40 allows them) are clamped.
MAX_TIMESTAMP = 253402300799
Handler = Callable[["Projector", ChainEvent, dict[str, Any]], None]
Key = tuple[type[models.Model], dict[str, Any]]
#: What an event's arguments say it will read: the entities whose current version the
#: batch fetches up front (one query per table) instead of one query per entity.
Touches = Callable[[dict[str, Any]], Iterable[Key]]
HANDLERS: dict[str, Handler] = {}
TOUCHES: dict[str, Touches] = {}


def handles(*names: str, touches: Touches | None = None) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            HANDLERS[name] = fn
            if touches is not None:
                TOUCHES[name] = touches
        return fn

    return register


class Projector(VersionBatch):
    """Fold the event store, in chain order, into versioned read models.

    It runs as the pipeline's "projections" consumer (`ProjectionConsumer`): events come in
    store order (ids, which the indexer assigns in chain order) after its cursor, and the
    cursor moves in the same transaction as the rows, so a crash re-applies nothing twice.
    Events without a handler (e.g. admin-role changes) advance the cursor and change nothing.
    """

    CONSUMER = "projections"

    def apply(self, events: Sequence[ChainEvent]) -> None:
        """Fold one batch (the caller's transaction moves the cursor with it)."""
        self._reset_batch()
        self.prefetch(self._touched(events))
        for event in events:
            handler = HANDLERS.get(event.event)
            if handler is not None:
                handler(self, event, event.args)
        self._flush()

    @staticmethod
    def _touched(events: Sequence[ChainEvent]) -> Iterator[Key]:
        # A lot registered in the batch has no balance from before it.
        fresh = {int(e.args["lotId"]) for e in events if e.event == "LotRegistered"}
        for event in events:
            touches = TOUCHES.get(event.event)
            if touches is None:
                continue
            for model, key in touches(event.args):
                if model is Balance and int(key["lot_id"]) in fresh:
                    continue
                yield model, key

    def undo_after(self, block_number: int) -> None:
        """Undo every change made after `block_number` (the caller moves the cursor back)."""
        for model in VERSIONED:
            rows = model.objects.filter(chain_id=self.chain_id)
            rows.filter(block_from__gt=block_number).delete()
            rows.filter(block_to__gt=block_number).update(block_to=None)

    def move(self, event: ChainEvent, lot_id: int, sender: str, receiver: str, qty: int) -> None:
        for holder, delta in ((sender, -qty), (receiver, qty)):
            if holder == ZERO_ADDRESS:
                continue
            # close() and change() by hand: one look-up of the balance's slot, not three.
            slot = self.slot(Balance, {"lot_id": lot_id, "holder": holder})
            current = self._current
            now = (
                current[slot]
                if slot in current
                else self.current(Balance, lot_id=lot_id, holder=holder)
            )
            balance = (now["quantity"] if now else 0) + delta
            if now is not None:
                self._close_row(Balance, now, event.block_number)
                current[slot] = None
            if balance:
                current[slot] = self.add(
                    Balance, event, lot_id=lot_id, holder=holder, quantity=balance
                )

    def apply_pending(self, batch: int = 2000) -> int:
        """Bring the projections alone up to the event store; returns events applied."""
        from webapp.projections.consumers import ProjectionConsumer

        return consumer_catch_up(consumer=ProjectionConsumer(), chain_id=self.chain_id, batch=batch)

    def rollback_to(self, block_number: int) -> None:
        """Undo the projections above `block_number`, as a reorg does.

        The cursor only ever moves back: events the projector had not reached yet stay
        pending instead of being skipped.
        """
        from webapp.projections.consumers import ProjectionConsumer

        consumer_rollback(
            consumer=ProjectionConsumer(), chain_id=self.chain_id, to_block=block_number
        )

    def rebuild(self) -> int:
        """Drop every projection row of this chain and replay the whole event store.

        Run it under the indexer's leader lock (the command does), so no batch is applied
        between the delete and the replay.
        """
        with transaction.atomic():
            for model in VERSIONED:
                model.objects.filter(chain_id=self.chain_id).delete()
            consumer_reset(chain_id=self.chain_id, name=self.CONSUMER)
        return self.apply_pending()


# What each kind of event reads before it writes (see TOUCHES). Events that open a fresh
# id (LotRegistered, HandoffInitiated, CertificateIssued) read nothing.


def _participant(a: dict[str, Any]) -> Iterable[Key]:
    return [(ParticipantVersion, {"account": a["account"]})]


def _lot(a: dict[str, Any]) -> Iterable[Key]:
    return [(LotVersion, {"lot_id": a["lotId"]})]


def _holders(lot_id: int, sender: str, receiver: str) -> Iterable[Key]:
    return [
        (Balance, {"lot_id": lot_id, "holder": holder})
        for holder in (sender, receiver)
        if holder != ZERO_ADDRESS
    ]


def _single_holders(a: dict[str, Any]) -> Iterable[Key]:
    return _holders(a["id"], a["from"], a["to"])


def _batch_holders(a: dict[str, Any]) -> Iterable[Key]:
    return [key for lot_id in a["ids"] for key in _holders(lot_id, a["from"], a["to"])]


def _handoff(a: dict[str, Any]) -> Iterable[Key]:
    return [(HandoffVersion, {"handoff_id": a["handoffId"]})]


def _certificate(a: dict[str, Any]) -> Iterable[Key]:
    return [(CertificateVersion, {"certificate_id": a["certificateId"]})]


@handles("ParticipantRegistered", touches=_participant)
def _participant_registered(p: Projector, e: ChainEvent, a: dict[str, Any]) -> None:
    p.change(
        ParticipantVersion, e, {"account": a["account"]},
        roles=a["roles"], active=True, profile_hash=a["profileHash"], acceptance_policy="",
    )  # fmt: skip


@handles("ParticipantRolesChanged", touches=_participant)
def _roles_changed(p: Projector, e: ChainEvent, a: dict[str, Any]) -> None:
    p.change(ParticipantVersion, e, {"account": a["account"]}, roles=a["roles"])


@handles("ParticipantSuspended", "ParticipantReactivated", touches=_participant)
def _participant_status(p: Projector, e: ChainEvent, a: dict[str, Any]) -> None:
    p.change(
        ParticipantVersion, e, {"account": a["account"]},
        active=e.event == "ParticipantReactivated",
    )  # fmt: skip


@handles("AcceptancePolicySet", touches=_participant)
def _policy(p: Projector, e: ChainEvent, a: dict[str, Any]) -> None:
    policy = "" if int(a["certificateType"], 16) == 0 else a["certificateType"]
    p.change(ParticipantVersion, e, {"account": a["account"]}, acceptance_policy=policy)


@handles("LotRegistered")
def _lot_registered(p: Projector, e: ChainEvent, a: dict[str, Any]) -> None:
    p._fresh_lots.add(int(a["lotId"]))
    p.change(
        LotVersion, e, {"lot_id": a["lotId"]}, new=True,
        kind=a["kind"], creator=a["owner"], quantity=a["quantity"],
        metadata_hash=a["metadataHash"], gs1_key_hash=a["gs1KeyHash"],
        quarantined=False, quarantine_reason="", quarantined_by="",
    )  # fmt: skip


@handles("QuarantineSet", "QuarantineCleared", touches=_lot)
def _quarantine(p: Projector, e: ChainEvent, a: dict[str, Any]) -> None:
    on = e.event == "QuarantineSet"
    p.change(
        LotVersion, e, {"lot_id": a["lotId"]},
        quarantined=on, quarantine_reason=a["reason"] if on else "",
        quarantined_by=a["by"] if on else "",
    )  # fmt: skip


@handles("TransferSingle", touches=_single_holders)
def _transfer_single(p: Projector, e: ChainEvent, a: dict[str, Any]) -> None:
    p.move(e, a["id"], a["from"], a["to"], a["value"])


@handles("TransferBatch", touches=_batch_holders)
def _transfer_batch(p: Projector, e: ChainEvent, a: dict[str, Any]) -> None:
    for lot_id, qty in zip(a["ids"], a["values"], strict=True):
        p.move(e, lot_id, a["from"], a["to"], qty)


@handles("HandoffInitiated")
def _handoff_initiated(p: Projector, e: ChainEvent, a: dict[str, Any]) -> None:
    p.change(
        HandoffVersion, e, {"handoff_id": a["handoffId"]}, new=True,
        lot_id=a["lotId"], sender=a["sender"], receiver=a["receiver"],
        quantity=a["quantity"], escrow=a["escrow"], status="open", reason="",
    )  # fmt: skip


@handles("HandoffAccepted", "HandoffRejected", "HandoffCancelled", touches=_handoff)
def _handoff_closed(p: Projector, e: ChainEvent, a: dict[str, Any]) -> None:
    status = {"HandoffAccepted": "accepted", "HandoffRejected": "rejected"}.get(
        e.event, "cancelled"
    )
    p.change(
        HandoffVersion, e, {"handoff_id": a["handoffId"]},
        status=status, reason=a.get("reason", ""),
    )  # fmt: skip


@handles("LotsBundled")
def _bundled(p: Projector, e: ChainEvent, a: dict[str, Any]) -> None:
    for lot_id, qty in zip(a["lotIds"], a["quantities"], strict=True):
        p.add(BundleContent, e, bundle_id=a["bundleId"], lot_id=lot_id, quantity=qty)


@handles("LotsUnbundled")
def _unbundled(p: Projector, e: ChainEvent, a: dict[str, Any]) -> None:
    p.close_all(BundleContent, e, bundle_id=a["bundleId"])


@handles("LotsTransformed")
def _transformed(p: Projector, e: ChainEvent, a: dict[str, Any]) -> None:
    for i, iq in zip(a["inputIds"], a["inputQuantities"], strict=True):
        for o, oq in zip(a["outputIds"], a["outputQuantities"], strict=True):
            p.add(
                TransformationEdge, e,
                transformation_id=a["transformationId"], actor=a["actor"],
                input_lot=i, input_quantity=iq, output_lot=o, output_quantity=oq,
                process_hash=a["processHash"],
            )  # fmt: skip


@handles("CertificateIssued")
def _certificate_issued(p: Projector, e: ChainEvent, a: dict[str, Any]) -> None:
    p.change(
        CertificateVersion, e, {"certificate_id": a["certificateId"]}, new=True,
        subject_kind=a["subjectKind"], subject=a["subject"],
        certificate_type=a["certificateType"], issuer=a["issuer"],
        document_hash=a["documentHash"],
        valid_from=datetime.fromtimestamp(min(a["validFrom"], MAX_TIMESTAMP), tz=UTC),
        valid_until=datetime.fromtimestamp(min(a["validUntil"], MAX_TIMESTAMP), tz=UTC),
        claims=dict(zip(a["claimKeys"], a["claimValues"], strict=True)),
        revoked=False, revoke_reason="",
    )  # fmt: skip


@handles("CertificateRevoked", touches=_certificate)
def _certificate_revoked(p: Projector, e: ChainEvent, a: dict[str, Any]) -> None:
    p.change(
        CertificateVersion, e, {"certificate_id": a["certificateId"]},
        revoked=True, revoke_reason=a["reason"],
    )  # fmt: skip
