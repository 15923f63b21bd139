"""Celery tasks: thin wrappers that load what they need and call one service."""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.utils import timezone
from requests.exceptions import ConnectionError as NodeUnreachable
from requests.exceptions import Timeout

from webapp.chain.chain_client import chain
from webapp.chain.indexer import ChainIndexer, IndexerBusy, leader_lock
from webapp.chain.pipeline import chain_sync
from webapp.epcis.anchoring import epcis_anchor as epcis_anchor_run
from webapp.epcis.capture import capture_job_run as epcis_capture_run
from webapp.epcis.capture import capture_jobs_resume
from webapp.exports.lake.snapshots import snapshot_personal_values, snapshot_projections
from webapp.exports.lake.storage import lake_open
from webapp.imports import services as imports
from webapp.monitoring.anchoring import readings_anchor as readings_anchor_run
from webapp.monitoring.rules import silence_evaluate
from webapp.operations.models import Operation
from webapp.operations.submitter import SubmitLater, operation_send, operation_track
from webapp.streams.delivery import streams_deliver_due
from webapp.streams.epcis_subscriptions import epcis_subscriptions_deliver_due
from webapp.streams.selectors import subscriptions_active
from workers.celery import app

log = logging.getLogger(__name__)


@app.task(
    autoretry_for=(NodeUnreachable, Timeout),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=10,
    ignore_result=True,
)
def index_chain() -> int:
    """Index to the head and run the consumers under the leader lock; a second concurrent
    run returns at once."""
    w3, manifest = chain()
    try:
        with leader_lock(manifest.chain_id):
            result = chain_sync(indexer=ChainIndexer(w3, manifest))
    except IndexerBusy:
        log.debug("indexer already running for chain %s", manifest.chain_id)
        return 0
    if result.applied.get("streams") and subscriptions_active():
        # New events: deliver them now rather than at the next beat (which is the fallback
        # if the broker refuses the message).
        try:
            streams_deliver.delay()
        except Exception:
            log.warning("could not queue streams.deliver", exc_info=True)
    return result.stored


#: A database that is away (restarting, failing over) is waited out like a node that is:
#: the task is tried again with backoff rather than dropped for the sweeper to find later.
DATABASE_AWAY = (OperationalError, InterfaceError)


def _again(task: Any, operation_id: str, attempt: int, *, cap_s: float, attempts: int) -> None:
    """Queue `task` for the operation once more after an exponential backoff with full
    jitter (Celery's own formula: a random wait up to 2 ** attempt seconds, at most
    `cap_s`); after `attempts` tries the sweeper takes over, as it does for an operation no
    task follows.

    Not Celery's retry: a retry builds an exception report for every wait (the traceback
    formatted, each frame's code positions copied), which cost the submission worker's
    pool children memory at every operation that waited for its block, and CPU."""
    if attempt + 1 >= attempts:
        log.info("operation %s: %s tries, left to the sweeper", operation_id, attempts)
        return
    countdown = random.uniform(0, min(cap_s, 2.0**attempt))
    task.apply_async(args=[operation_id], kwargs={"attempt": attempt + 1}, countdown=countdown)


@app.task(
    autoretry_for=DATABASE_AWAY,
    retry_backoff=1,
    retry_backoff_max=60,
    max_retries=12,
    ignore_result=True,
)
def submit_operation(operation_id: str, attempt: int = 0) -> None:
    """Sign and send one operation, then look for its receipt. A node or key store that is
    down leaves it queued; it is tried again with backoff, and the sweeper takes over after
    that."""
    try:
        operation = operation_send(operation_id=operation_id)
    except SubmitLater:
        _again(submit_operation, operation_id, attempt, cap_s=60, attempts=13)
        return
    if operation.status == Operation.Status.SUBMITTED:
        track_operation.apply_async(args=[operation_id], countdown=0.5)


@app.task(
    autoretry_for=DATABASE_AWAY,
    retry_backoff=1,
    retry_backoff_max=30,
    max_retries=20,
    ignore_result=True,
)
def track_operation(operation_id: str, attempt: int = 0) -> None:
    """Follow a sent operation to its receipt, looking again with backoff while it is not
    in a block yet."""
    try:
        operation_track(operation_id=operation_id)
    except SubmitLater:
        _again(track_operation, operation_id, attempt, cap_s=30, attempts=21)


@app.task(ignore_result=True)
def sweep_operations(stale_after_seconds: float = 15.0, limit: int = 200) -> int:
    """Follow submitted and mined operations that no task is looking after (retries
    exhausted while the node was down, a reorganisation that took their block away), then
    send queued ones (a message lost with a broker restart), each oldest first.

    Following comes first so that transactions that left the chain go out again with their
    own signed bytes and nonces before anything is signed afresh. Each operation has its
    own error boundary: one that raises is logged, counted and left for the next sweep (its
    waiting reason says so); it never stops the others.
    """
    stale = timezone.now() - timedelta(seconds=stale_after_seconds)
    swept = broken = 0
    for statuses, step in (
        ([Operation.Status.SUBMITTED, Operation.Status.MINED], operation_track),
        ([Operation.Status.QUEUED], operation_send),
    ):
        rows = (
            Operation.objects.filter(status__in=statuses, updated_at__lt=stale)
            .order_by("created_at")
            .values_list("id", "status")[:limit]
        )
        for operation_id, status in rows:
            try:
                step(operation_id=operation_id)
            except SubmitLater:
                continue  # the node or key store is down, or nothing to decide yet
            except Exception:
                broken += 1
                log.exception("sweep: operation %s raised; the others go on", operation_id)
                Operation.objects.filter(id=operation_id, status=status).update(
                    waiting_reason="an unexpected error stopped this operation; the operator"
                    " has been alerted and it is tried again",
                    updated_at=timezone.now(),
                )
                continue
            swept += 1
    if broken:
        log.error("sweep: %s operations raised unexpected errors", broken)
    return swept


@app.task(ignore_result=True)
def import_validate(job_id: str) -> None:
    """Check every row of an uploaded import (the dry run), then submit it if asked to."""
    imports.import_validate(job_id=job_id)


@app.task(ignore_result=True)
def import_submit(job_id: str) -> None:
    """Queue one operation per valid row of an import."""
    imports.import_submit(job_id=job_id)


@app.task(ignore_result=True)
def resume_imports() -> int:
    """Send again the step of imports that stopped moving (a worker gone, a lost message)."""
    return imports.imports_resume()


@app.task(ignore_result=True)
def epcis_capture(job_id: str) -> None:
    """Capture a large EPCIS document a capture request handed over."""
    epcis_capture_run(job_id=job_id)


@app.task(ignore_result=True)
def resume_epcis_captures() -> int:
    """Send again the background captures that stopped moving."""
    return capture_jobs_resume()


@app.task(ignore_result=True)
def epcis_anchor() -> int:
    """Batch the captured EPCIS events that are due under a Merkle root and queue its
    anchor; record the anchors mirrored since."""
    return len(epcis_anchor_run())


@app.task(ignore_result=True)
def readings_anchor() -> int:
    """Batch the sensor readings that are due under a Merkle root and queue its anchor;
    record the anchors mirrored since."""
    return len(readings_anchor_run())


@app.task(name="streams.deliver", ignore_result=True)
def streams_deliver() -> int:
    """Deliver what is due for every active subscription, webhooks and EPCIS query
    subscriptions (each on its own: one that fails never holds up the others)."""
    return streams_deliver_due() + epcis_subscriptions_deliver_due()


@app.task(ignore_result=True)
def lake_snapshots() -> int:
    """Today's snapshots of the projections and sealed personal values, once a day (a
    no-op without a lake, or once today's are written)."""
    if not settings.LAKE_URL:
        return 0
    lake, day = lake_open(settings.LAKE_URL), timezone.now().date()
    written = snapshot_personal_values(lake, day=day)
    return written + sum(snapshot_projections(lake, day=day, chain_id=settings.CHAIN_ID).values())


@app.task(ignore_result=True)
def monitoring_silence() -> int:
    """Raise the "device silent" breaches: lots watched by such a rule that have had no
    reading for its duration."""
    return len(silence_evaluate())
