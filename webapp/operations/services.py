"""Writes to operations: queue one (idempotently), and confirm or un-confirm them as the
indexer sees their transactions land or vanish."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from celery import Celery
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from webapp.bulk import rows_copy
from webapp.fields import as_uint256
from webapp.operations.calls import ContractCall
from webapp.operations.models import Operation
from webapp.operations.references import references_expected
from webapp.organisations.models import Organisation

log = logging.getLogger(__name__)


#: Called as ``hook(operation=...)`` inside the transaction that fails an operation, to
#: remove what was recorded off chain for it alone. The apps that record such things
#: register theirs in ``AppConfig.ready`` (the lots app: lot metadata, personal data,
#: documents); this app knows none of them.
FailureHook = Callable[..., None]
FAILURE_HOOKS: list[FailureHook] = []


def on_operation_failed(hook: FailureHook) -> None:
    """Register a hook to run whenever an operation fails (once, however often called)."""
    if hook not in FAILURE_HOOKS:
        FAILURE_HOOKS.append(hook)


class IdempotencyConflict(Exception):
    """The idempotency key was used before with a different request."""


def request_fingerprint(action: str, request: dict[str, Any]) -> str:
    canonical = json.dumps({"action": action, "request": request}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@functools.cache
def task_producer() -> Celery:
    """A Celery app that only sends, configured like the workers' (the CELERY_* settings):
    the web process names the submitter's task and never imports the workers package
    (`cache_clear()` after changing the broker settings)."""
    producer = Celery("provenant", set_as_current=False)
    producer.config_from_object("django.conf:settings", namespace="CELERY")
    return producer


#: The submitter's task, by the name the workers register it under.
SUBMIT_TASK = "workers.tasks.submit_operation"
TRACK_TASK = "workers.tasks.track_operation"


def operation_dispatch(operation_id: str) -> None:
    """Hand an operation to the submitter. A broker that is down loses nothing: the
    sweeper finds queued operations in the database and sends them."""
    if not settings.OPERATIONS_DISPATCH:
        return
    try:
        task_producer().send_task(SUBMIT_TASK, args=[operation_id])
    except Exception:  # the row is committed; the sweeper will pick it up
        log.warning("could not enqueue operation %s; the sweeper will send it", operation_id)


def task_send_on_commit(task: str, *args: str) -> None:
    """Send `task` to the workers once the current transaction commits. A broker that is
    down is logged, not raised: the rows are committed, and the caller's periodic resume
    (the sweeper, `imports_resume`, `capture_jobs_resume`) sends the task again."""

    def send() -> None:
        try:
            task_producer().send_task(task, args=list(args))
        except Exception:
            log.exception("could not enqueue %s %s; it is sent again later", task, args)

    transaction.on_commit(send)


def operation_queue(
    *,
    organisation: Organisation,
    action: str,
    request: dict[str, Any],
    call: ContractCall,
    lot_id: int | None = None,
    idempotency_key: str = "",
    user: AbstractBaseUser | AnonymousUser | None = None,
    sender: str = "",
) -> tuple[Operation, bool]:
    """Record an operation (the outbox row) and enqueue it once the transaction commits.

    Returns (operation, created). With an idempotency key, the same key and request give
    back the first operation and never a second fact; the same key with another request
    raises IdempotencyConflict. `sender` is one of the organisation's addresses (default:
    its current key); a key rotation moves holdings with the outgoing key.
    """
    fingerprint = request_fingerprint(action, request)
    if idempotency_key:
        existing = _by_key(organisation, idempotency_key, fingerprint)
        if existing is not None:
            return existing, False
    try:
        with transaction.atomic():
            operation = Operation.objects.create(
                organisation=organisation,
                created_by=user if isinstance(user, get_user_model()) else None,
                chain_id=settings.CHAIN_ID,
                sender=sender or organisation.address,
                action=action,
                request=request,
                call=call.as_json(),
                # Only a uint256 is a lot id; anything else the chain refuses with a reason.
                lot_id=as_uint256(lot_id),
                idempotency_key=idempotency_key,
                request_fingerprint=fingerprint,
                expects=references_expected(chain_id=settings.CHAIN_ID, action=action, call=call),
            )
            transaction.on_commit(lambda: operation_dispatch(str(operation.id)))
    except IntegrityError:
        # A concurrent request with the same key committed first.
        existing = _by_key(organisation, idempotency_key, fingerprint)
        if existing is None:
            raise
        return existing, False
    return operation, True


@dataclass(frozen=True)
class Queued:
    """One operation of `operations_queue_many`: what `operation_queue` takes, per item."""

    action: str
    request: dict[str, Any]
    call: ContractCall
    lot_id: int | None = None
    idempotency_key: str = ""


def operations_queue_many(
    *,
    organisation: Organisation,
    items: list[Queued],
    user: AbstractBaseUser | AnonymousUser | None = None,
) -> list[tuple[Operation, bool]]:
    """`operation_queue` for many operations at once (a capture or an import of thousands
    of records): the same rows, idempotency and dispatch, in a few statements. Call it
    inside a transaction. An item whose key was used before gives back that operation
    (created False); a key used for another request raises IdempotencyConflict before
    anything is written. Keys must differ within `items`."""
    keys = [item.idempotency_key for item in items if item.idempotency_key]
    if len(keys) != len(set(keys)):
        raise ValueError("idempotency keys repeat within one batch")
    earlier = {
        op.idempotency_key: op
        for op in Operation.objects.filter(organisation=organisation, idempotency_key__in=keys)
    }
    created_by = user if isinstance(user, get_user_model()) else None
    results: list[tuple[Operation, bool]] = []
    new: list[Operation] = []
    for item in items:
        fingerprint = request_fingerprint(item.action, item.request)
        existing = earlier.get(item.idempotency_key) if item.idempotency_key else None
        if existing is not None:
            if existing.request_fingerprint != fingerprint:
                raise IdempotencyConflict(
                    f"Idempotency-Key {item.idempotency_key!r} was already used for a"
                    f" different request (operation {existing.id})"
                )
            results.append((existing, False))
            continue
        operation = Operation(
            organisation=organisation,
            created_by=created_by,
            chain_id=settings.CHAIN_ID,
            sender=organisation.address,
            action=item.action,
            request=item.request,
            call=item.call.as_json(),
            lot_id=as_uint256(item.lot_id),
            idempotency_key=item.idempotency_key,
            request_fingerprint=fingerprint,
            expects=references_expected(
                chain_id=settings.CHAIN_ID, action=item.action, call=item.call
            ),
        )
        new.append(operation)
        results.append((operation, True))
    rows_copy(Operation, new)
    ids = [str(op.id) for op in new]

    def dispatch() -> None:
        for operation_id in ids:
            operation_dispatch(operation_id)

    transaction.on_commit(dispatch)
    return results


def operation_replayed(
    *, organisation: Organisation, idempotency_key: str, action: str, request: dict[str, Any]
) -> Operation | None:
    """The operation an earlier request with this idempotency key created, if any; raises
    IdempotencyConflict when that request was a different one."""
    if not idempotency_key:
        return None
    return _by_key(organisation, idempotency_key, request_fingerprint(action, request))


def _by_key(organisation: Organisation, key: str, fingerprint: str) -> Operation | None:
    existing = Operation.objects.filter(organisation=organisation, idempotency_key=key).first()
    if existing is not None and existing.request_fingerprint != fingerprint:
        raise IdempotencyConflict(
            f"Idempotency-Key {key!r} was already used for a different request"
            f" (operation {existing.id})"
        )
    return existing


def operations_confirm(*, chain_id: int, mined: Iterable[tuple[str, int]]) -> int:
    """Mark confirmed the operations whose transactions' events reached the event store.

    `mined` holds (transaction hash, block number) pairs from one batch of stored events.
    The pipeline's "operations" consumer calls it, after the projections have applied the
    same events, so "confirmed" never runs ahead of what the portal shows.
    """
    by_hash = dict(mined)
    if not by_hash:
        return 0
    # Queued too: the indexer may see the transaction before the submitter has recorded
    # that the node took it.
    pending = Operation.objects.filter(
        chain_id=chain_id,
        transaction_hash__in=list(by_hash),
        status__in=[Operation.Status.QUEUED, Operation.Status.SUBMITTED, Operation.Status.MINED],
    )
    confirmed = 0
    for operation in pending.select_for_update():
        operation.status = Operation.Status.CONFIRMED
        operation.confirmed_block = by_hash[operation.transaction_hash]
        operation.mined_block = by_hash[operation.transaction_hash]
        operation.waiting_reason = ""
        operation.save(
            update_fields=[
                "status",
                "confirmed_block",
                "mined_block",
                "waiting_reason",
                "updated_at",
            ]
        )
        confirmed += 1
    return confirmed


REVIVED_NOTE = (
    "it had failed ({reason}) in a block that left the chain, and what it recorded off"
    " chain for itself alone (lot metadata, personal data, documents) was discarded then"
)


def operations_unconfirm(*, chain_id: int, above_block: int) -> int:
    """A reorganisation removed the blocks above `above_block`: their operations are only
    submitted again, with no block, until the submitter has found their transactions on
    the new chain, sent them again, or failed them with a reason (see
    `submitter.operation_track`).

    That includes an operation that failed because its transaction reverted in one of
    those blocks: on the new chain the same transaction may succeed (what made it revert
    left with it). Its off-chain leftovers were discarded when it failed (on QBFT, which
    never reorganises, that is final at once; waiting here for a depth nobody configures
    would keep personal data of a failed request for ever). So it keeps, in its error, the
    note that they are gone: if it now succeeds, the operation says so; if it fails again,
    the new reason replaces the note."""
    vanished = models.Q(confirmed_block__gt=above_block) | models.Q(mined_block__gt=above_block)
    now = timezone.now()
    rows = (
        Operation.objects.filter(chain_id=chain_id)
        .filter(status__in=[Operation.Status.CONFIRMED, Operation.Status.MINED])
        .filter(vanished)
    )
    followed = [str(i) for i in rows.values_list("id", flat=True)]
    count = Operation.objects.filter(id__in=followed).update(
        status=Operation.Status.SUBMITTED,
        confirmed_block=None,
        mined_block=None,
        waiting_reason="the block that held its transaction left the chain; checking again",
        updated_at=now,
    )
    reverted = (
        Operation.objects.filter(chain_id=chain_id, status=Operation.Status.FAILED)
        .exclude(transaction_hash="")
        .filter(mined_block__gt=above_block)
    )
    for operation in reverted.select_for_update():
        operation.status = Operation.Status.SUBMITTED
        operation.mined_block = None
        operation.confirmed_block = None
        operation.error = REVIVED_NOTE.format(reason=operation.error or "reverted")
        operation.waiting_reason = (
            "the block in which its transaction reverted left the chain; checking again"
        )
        operation.updated_at = now
        operation.save(
            update_fields=[
                "status",
                "mined_block",
                "confirmed_block",
                "error",
                "waiting_reason",
                "updated_at",
            ]
        )
        count += 1
        followed.append(str(operation.id))
    if settings.OPERATIONS_DISPATCH:
        # Followed at once (the sweeper would wait until they look stale): their
        # transactions are found on the new chain, or sent again while their nonces are free.
        for operation_id in followed:
            task_send_on_commit(TRACK_TASK, operation_id)
    return count


def operation_fail(*, operation: Operation, reason: str, keep_transaction: bool = False) -> None:
    """End an operation as failed with `reason`, and remove what was recorded off chain only
    for it (the hooks in ``FAILURE_HOOKS``), in one database transaction.

    `keep_transaction` keeps the hash and block of a transaction that is on chain (it
    reverted); otherwise the signed bytes, hash and nonce go: they never took effect.
    """
    with transaction.atomic():
        operation.status = Operation.Status.FAILED
        operation.error = reason
        operation.waiting_reason = ""
        fields = ["status", "error", "waiting_reason", "updated_at"]
        if not keep_transaction:
            operation.transaction_hash, operation.raw_transaction = "", ""
            operation.nonce = None
            fields += ["transaction_hash", "raw_transaction", "nonce"]
        operation.save(update_fields=fields)
        for hook in FAILURE_HOOKS:
            hook(operation=operation)
