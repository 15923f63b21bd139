"""Anchoring off-chain batches with the `Anchors` contract: what every kind of batch
(captured EPCIS events, sensor readings) does alike once its Merkle root is known.

A batch model has ``organisation`` (the anchorer), ``root`` (0x-hex), ``item_count``,
``operation`` (the anchoring operation) and the ``anchor_transaction_hash``,
``anchor_log_index`` and ``anchor_block_number`` of its mirrored ``RootAnchored`` log. An
:class:`AnchorKind` names the batches of one kind and does, for them:

- ``batch_create``: the batch of a list of items (its root computed) with its anchor
  queued, in the caller's transaction; ``close_due`` runs a kind's batch closing for each
  organisation with items waiting and a signing key;
- ``queue``: the ``Anchors.anchor(root, kind, itemCount, "")`` operation, signed by the
  batch's organisation; its idempotency key is derived from the root (``<key>:<root>``,
  ``<key>:<root>:<attempt>`` for a retry), so running it twice queues nothing twice;
- ``retry_failed``: queue again the anchors whose operation failed for good;
- ``record``: give each mined batch its mirrored ``RootAnchored`` log;
- ``forget``: clear what the batches recorded above a block a reorganisation removed
  (the batch keeps its items and operation, and records the re-mined log once mirrored);
- ``proofs``: the ``provenant-anchored-item/1`` proofs of items of a recorded batch.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import models, transaction
from web3 import Web3
from web3.exceptions import Web3Exception

from contracts.proofs.build import ProofError, anchored_items_proofs
from contracts.proofs.merkle import item_leaf, merkle_root
from webapp.chain.models import ChainEvent
from webapp.operations.calls import ContractCall
from webapp.operations.models import Operation
from webapp.operations.services import operation_queue
from webapp.organisations.models import Organisation


class NotAnchored(LookupError):
    """The item has no anchored batch yet: nothing to prove (a plain reason inside)."""


class ProofUnavailable(RuntimeError):
    """The proof cannot be built now (the node is unreachable or disagrees)."""


@dataclass(frozen=True)
class AnchorKind:
    #: The operations' action (`epcis.anchor`).
    action: str
    #: What the batches hold, as the contract's bytes32 ASCII kind (`EPCIS`).
    label: str
    #: The idempotency keys' prefix (`epcis-anchor`).
    key: str

    @property
    def kind(self) -> str:
        """The label as the contract's bytes32, 0x-hex."""
        return "0x" + self.label.encode().ljust(32, b"\0").hex()

    def batch_create(
        self,
        model: type[Any],
        *,
        organisation: Organisation,
        items: Sequence[Any],
        columns: dict[str, Any] | None = None,
    ) -> tuple[Any, bool]:
        """The batch of `items` (in tree order; `columns` are its model's other columns)
        with its anchoring operation queued, and True; or the batch `organisation` built
        before with the same root, and False (the same items are never anchored twice)."""
        root = "0x" + merkle_root([item_leaf(i) for i in items]).hex()
        batch, created = model.objects.get_or_create(
            organisation=organisation,
            root=root,
            defaults={"item_count": len(items), **(columns or {})},
        )
        if created:
            batch.operation = self.queue(batch)
            batch.save(update_fields=["operation"])
        return batch, created

    def close_due(
        self, *, organisation_ids: Collection[int], close: Callable[[Organisation], Any]
    ) -> list[Any]:
        """Call `close` for each organisation of `organisation_ids` until it builds no more
        batches; returns the batches built. An organisation without a signing key cannot
        anchor: its items wait for one."""
        built: list[Any] = []
        signers = Organisation.objects.filter(id__in=organisation_ids).exclude(address="")
        for organisation in signers.order_by("id"):
            while (batch := close(organisation)) is not None:
                built.append(batch)
        return built

    def queue(self, batch: Any, attempt: int = 0) -> Operation:
        """The anchoring operation of a batch (the same one however often this runs, for
        an attempt)."""
        call = ContractCall(
            contract="Anchors",
            function="anchor",
            args=(batch.root, self.kind, batch.item_count, ""),
        )
        operation, _ = operation_queue(
            organisation=batch.organisation,
            action=self.action,
            request={"root": batch.root, "kind": self.label, "itemCount": batch.item_count},
            call=call,
            idempotency_key=f"{self.key}:{batch.root}" + (f":{attempt}" if attempt else ""),
        )
        return operation

    def retry_failed(self, batches: models.QuerySet[Any]) -> int:
        """Queue again the anchors of `batches` whose operation failed; returns how many."""
        retried = 0
        failed = batches.filter(
            anchor_transaction_hash="", operation__status=Operation.Status.FAILED
        ).select_related("organisation")
        for batch in failed:
            with transaction.atomic():
                attempts = Operation.objects.filter(
                    organisation=batch.organisation,
                    action=self.action,
                    idempotency_key__startswith=f"{self.key}:{batch.root}",
                ).count()
                batch.operation = self.queue(batch, attempt=attempts)
                batch.save(update_fields=["operation"])
            retried += 1
        return retried

    def forget(self, batches: models.QuerySet[Any], *, chain_id: int, to_block: int) -> int:
        """Clear the anchors recorded above `to_block` (a reorganisation removed them)."""
        return batches.filter(
            operation__chain_id=chain_id, anchor_block_number__gt=to_block
        ).update(anchor_transaction_hash="", anchor_log_index=None, anchor_block_number=None)

    def record(self, batches: models.QuerySet[Any]) -> int:
        """Give each of `batches` whose anchor was mined and mirrored its `RootAnchored` log
        (the transaction hash, log index and block); returns how many were recorded."""
        recorded = 0
        # Only the batches whose anchor was sent: the others have no log to wait for.
        waiting = (
            batches.filter(anchor_transaction_hash="", operation__isnull=False)
            .exclude(operation__transaction_hash="")
            .select_related("operation")
        )
        for batch in waiting:
            operation = batch.operation
            if operation is None or not operation.transaction_hash:
                continue
            log = (
                ChainEvent.objects.filter(
                    chain_id=operation.chain_id,
                    event="RootAnchored",
                    transaction_hash=operation.transaction_hash.lower(),
                )
                .order_by("-block_number", "log_index")
                .first()
            )
            if log is None or str(log.args.get("root", "")).lower() != batch.root:
                continue
            batch.anchor_transaction_hash = log.transaction_hash
            batch.anchor_log_index = log.log_index
            batch.anchor_block_number = log.block_number
            batch.save(
                update_fields=["anchor_transaction_hash", "anchor_log_index", "anchor_block_number"]
            )
            recorded += 1
        return recorded

    def proofs(
        self,
        batch: Any,
        *,
        items: Sequence[Any],
        indexes: Sequence[int],
        connect: Callable[[], tuple[Web3, Any]],
    ) -> list[dict[str, Any]]:
        """The proofs that ``items[i]`` (for each i of `indexes`) is in `batch` (whose items
        are `items`, in tree order), built from the node `connect` gives. Raises NotAnchored
        while the batch's anchor is not recorded, ProofUnavailable when the node cannot give
        the proofs."""
        if not batch.anchor_transaction_hash or batch.anchor_log_index is None:
            raise NotAnchored(
                "The batch is not anchored on chain yet (its anchor is still on its way); "
                "ask again later."
            )
        try:
            w3, _ = connect()
            return anchored_items_proofs(
                w3,
                items=items,
                indexes=indexes,
                anchor_transaction_hash=batch.anchor_transaction_hash,
                anchor_log_index=batch.anchor_log_index,
            )
        except ProofError as exc:
            raise ProofUnavailable(f"The node's data cannot be proven right now: {exc}") from exc
        except (OSError, Web3Exception) as exc:
            raise ProofUnavailable(
                f"The chain node is not reachable ({type(exc).__name__}); try again later."
            ) from exc
