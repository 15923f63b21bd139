"""Apply stored chain events to the projections, and roll them back on a reorganisation."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import models, transaction

from webapp.chain.models import ChainEvent
from webapp.chain.pipeline import consumer_catch_up, consumer_reset, consumer_rollback
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
HANDLERS: dict[str, Handler] = {}


def handles(*names: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for name in names:
            HANDLERS[name] = fn
        return fn

    return register


class Projector:
    """Fold the event store, in chain order, into versioned read models.

    It runs as the pipeline's "projections" consumer (`ProjectionConsumer`): events come in
    store order (ids, which the indexer assigns in chain order) after its cursor, and the
    cursor moves in the same transaction as the rows, so a crash re-applies nothing twice.
    Events without a handler (e.g. admin-role changes) advance the cursor and change nothing.
    """

    CONSUMER = "projections"

    def __init__(self, chain_id: int) -> None:
        self.chain_id = chain_id
        self._reset_batch()

    def apply(self, events: Sequence[ChainEvent]) -> None:
        """Fold one batch (the caller's transaction moves the cursor with it)."""
        self._reset_batch()
        for event in events:
            handler = HANDLERS.get(event.event)
            if handler is not None:
                handler(self, event, event.args)
        self._flush()

    def undo_after(self, block_number: int) -> None:
        """Undo every change made after `block_number` (the caller moves the cursor back)."""
        for model in VERSIONED:
            rows = model.objects.filter(chain_id=self.chain_id)
            rows.filter(block_from__gt=block_number).delete()
            rows.filter(block_to__gt=block_number).update(block_to=None)

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

    # ---------------------------------------------------------------- versioning
    #
    # A batch keeps the current version of every entity it touched in memory: the first
    # touch reads it from the database, later ones do not. New versions are inserted and
    # closed stored versions updated in bulk when the batch ends, in the same transaction
    # as the cursor.

    def _reset_batch(self) -> None:
        self._current: dict[tuple[type[models.Model], tuple[Any, ...]], Any] = {}
        self._new: dict[type[models.Model], list[Any]] = defaultdict(list)
        self._closed: dict[type[models.Model], list[Any]] = defaultdict(list)
        # Lots registered in this batch: nobody can hold one from before, so balance
        # look-ups for them need no query.
        self._fresh_lots: set[str] = set()

    def _flush(self) -> None:
        for model, rows in self._closed.items():
            model.objects.bulk_update(rows, ["block_to"], batch_size=1000)  # type: ignore[attr-defined]
        for model, rows in self._new.items():
            model.objects.bulk_create(rows, batch_size=1000)  # type: ignore[attr-defined]
        self._reset_batch()

    def current(self, model: type[models.Model], **key: Any) -> Any:
        slot = (model, tuple(sorted((k, str(v)) for k, v in key.items())))
        if (
            slot not in self._current
            and model is Balance
            and str(key["lot_id"]) in self._fresh_lots
        ):
            return None
        if slot not in self._current:
            self._current[slot] = (
                model.objects.filter(chain_id=self.chain_id, block_to__isnull=True, **key)  # type: ignore[attr-defined]
                .order_by("-block_from", "-log_from")
                .first()
            )
        return self._current[slot]

    def _set_current(self, model: type[models.Model], key: dict[str, Any], row: Any) -> None:
        self._current[(model, tuple(sorted((k, str(v)) for k, v in key.items())))] = row

    def _close_row(self, model: type[models.Model], row: Any, block: int) -> None:
        row.block_to = block
        if row.pk is not None:  # stored before this batch: update it at flush
            self._closed[model].append(row)

    def add(self, model: type[models.Model], event: ChainEvent, **values: Any) -> Any:
        row = model(
            chain_id=self.chain_id,
            block_from=event.block_number,
            log_from=event.log_index,
            **values,
        )
        self._new[model].append(row)
        return row

    def change(
        self,
        model: type[models.Model],
        event: ChainEvent,
        key: dict[str, Any],
        *,
        new: bool = False,
        **fields: Any,
    ) -> None:
        """Close the entity's current version at this event and open one with `fields`.

        `new` says the contract guarantees the entity did not exist (a fresh id), which
        saves the look-up.
        """
        now = None if new else self.current(model, **key)
        values: dict[str, Any] = {}
        if now is not None:
            values = {
                f.name: getattr(now, f.name)
                for f in model._meta.concrete_fields
                if f.name not in {"id", "chain_id", "block_from", "log_from", "block_to"}
            }
            self._close_row(model, now, event.block_number)
        values.update(key)
        values.update(fields)
        self._set_current(model, key, self.add(model, event, **values))

    def close(self, model: type[models.Model], event: ChainEvent, **key: Any) -> None:
        now = self.current(model, **key)
        if now is not None:
            self._close_row(model, now, event.block_number)
            self._set_current(model, key, None)

    def close_all(self, model: type[models.Model], event: ChainEvent, **key: Any) -> None:
        """Close every current row matching `key` (stored or added in this batch)."""
        stored = model.objects.filter(chain_id=self.chain_id, block_to__isnull=True, **key)  # type: ignore[attr-defined]
        for row in stored:
            self._close_row(model, row, event.block_number)
        for row in self._new[model]:
            if row.block_to is None and all(str(getattr(row, k)) == str(v) for k, v in key.items()):
                row.block_to = event.block_number

    def move(self, event: ChainEvent, lot_id: int, sender: str, receiver: str, qty: int) -> None:
        for holder, delta in ((sender, -qty), (receiver, qty)):
            if holder == ZERO_ADDRESS:
                continue
            now = self.current(Balance, lot_id=lot_id, holder=holder)
            balance = (now.quantity if now else 0) + delta
            self.close(Balance, event, lot_id=lot_id, holder=holder)
            if balance:
                row = self.add(Balance, event, lot_id=lot_id, holder=holder, quantity=balance)
                self._set_current(Balance, {"lot_id": lot_id, "holder": holder}, row)


@handles("ParticipantRegistered")
def _participant_registered(p: Projector, e: ChainEvent, a: dict[str, Any]) -> None:
    p.change(
        ParticipantVersion, e, {"account": a["account"]},
        roles=a["roles"], active=True, profile_hash=a["profileHash"], acceptance_policy="",
    )  # fmt: skip


@handles("ParticipantRolesChanged")
def _roles_changed(p: Projector, e: ChainEvent, a: dict[str, Any]) -> None:
    p.change(ParticipantVersion, e, {"account": a["account"]}, roles=a["roles"])


@handles("ParticipantSuspended", "ParticipantReactivated")
def _participant_status(p: Projector, e: ChainEvent, a: dict[str, Any]) -> None:
    p.change(
        ParticipantVersion, e, {"account": a["account"]},
        active=e.event == "ParticipantReactivated",
    )  # fmt: skip


@handles("AcceptancePolicySet")
def _policy(p: Projector, e: ChainEvent, a: dict[str, Any]) -> None:
    policy = "" if int(a["certificateType"], 16) == 0 else a["certificateType"]
    p.change(ParticipantVersion, e, {"account": a["account"]}, acceptance_policy=policy)


@handles("LotRegistered")
def _lot_registered(p: Projector, e: ChainEvent, a: dict[str, Any]) -> None:
    p._fresh_lots.add(str(a["lotId"]))
    p.change(
        LotVersion, e, {"lot_id": a["lotId"]}, new=True,
        kind=a["kind"], creator=a["owner"], quantity=a["quantity"],
        metadata_hash=a["metadataHash"], gs1_key_hash=a["gs1KeyHash"],
        quarantined=False, quarantine_reason="", quarantined_by="",
    )  # fmt: skip


@handles("QuarantineSet", "QuarantineCleared")
def _quarantine(p: Projector, e: ChainEvent, a: dict[str, Any]) -> None:
    on = e.event == "QuarantineSet"
    p.change(
        LotVersion, e, {"lot_id": a["lotId"]},
        quarantined=on, quarantine_reason=a["reason"] if on else "",
        quarantined_by=a["by"] if on else "",
    )  # fmt: skip


@handles("TransferSingle")
def _transfer_single(p: Projector, e: ChainEvent, a: dict[str, Any]) -> None:
    p.move(e, a["id"], a["from"], a["to"], a["value"])


@handles("TransferBatch")
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


@handles("HandoffAccepted", "HandoffRejected", "HandoffCancelled")
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


@handles("CertificateRevoked")
def _certificate_revoked(p: Projector, e: ChainEvent, a: dict[str, Any]) -> None:
    p.change(
        CertificateVersion, e, {"certificate_id": a["certificateId"]},
        revoked=True, revoke_reason=a["reason"],
    )  # fmt: skip
