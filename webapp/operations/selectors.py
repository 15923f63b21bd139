"""Reads of operations."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db.models import Count, Min, QuerySet
from django.utils import timezone

from contracts.chain.domain import SubjectKind
from webapp.chain.models import ChainEvent
from webapp.operations.models import Operation
from webapp.operations.titles import (
    CertificateFacts,
    Facts,
    HandoffFacts,
    LotLabel,
    Outcome,
    operation_outcome,
    operation_title,
)
from webapp.organisations.models import Organisation
from webapp.organisations.selectors import organisation_names
from webapp.projections.models import CertificateVersion, HandoffVersion

#: The statuses an operation passes through on its way to confirmed or failed.
IN_FLIGHT = [Operation.Status.QUEUED, Operation.Status.SUBMITTED, Operation.Status.MINED]

KEY_STORE_WAIT = (
    "The organisation's key store is unavailable; the operation waits and is tried again"
    " (an administrator finds the details in the operation's admin page)."
)
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s'\"<>)]+", re.IGNORECASE)
_PATH = re.compile(r"(?<![\w.:/~-])(?:~|[A-Za-z]:)?(?:[/\\][\w.@+-]+){2,}[/\\]?")


def operations_in_flight(*, chain_id: int, sender: str, before: datetime | None = None) -> bool:
    """Whether the sender has operations queued or submitted (created before `before`).

    Their effects are not in the latest block yet, so a simulation against it may refuse
    what will succeed once they are mined.
    """
    rows = Operation.objects.filter(
        chain_id=chain_id,
        sender=sender,
        status__in=[Operation.Status.QUEUED, Operation.Status.SUBMITTED],
    )
    if before is not None:
        rows = rows.filter(created_at__lt=before)
    return rows.exists()


def operations_stuck(*, older_than_seconds: float | None = None) -> dict[int, dict[str, int]]:
    """Per chain, per status: operations still queued, submitted or mined that were created
    longer ago than the threshold (settings.OPERATION_STUCK_SECONDS). Zero counts included
    for every chain that has operations."""
    seconds = settings.OPERATION_STUCK_SECONDS if older_than_seconds is None else older_than_seconds
    cutoff = timezone.now() - timedelta(seconds=seconds)
    stuck: dict[int, dict[str, int]] = {
        chain_id: {str(status): 0 for status in IN_FLIGHT}
        for chain_id in Operation.objects.values_list("chain_id", flat=True).distinct()
    }
    rows = (
        Operation.objects.filter(status__in=IN_FLIGHT, created_at__lt=cutoff)
        .values("chain_id", "status")
        .annotate(n=Count("id"))
    )
    for row in rows:
        stuck.setdefault(row["chain_id"], {str(s): 0 for s in IN_FLIGHT})[row["status"]] = row["n"]
    return stuck


def operations_by_status() -> dict[int, dict[str, int]]:
    """Per chain, how many operations are in each status."""
    counts: dict[int, dict[str, int]] = {}
    for chain_id, status, n in (
        Operation.objects.values("chain_id", "status")
        .annotate(n=Count("id"))
        .values_list("chain_id", "status", "n")
    ):
        counts.setdefault(chain_id, {})[status] = n
    return counts


def oldest_queued_seconds() -> dict[int, float]:
    """Per chain, the age of the oldest operation still queued (chains with none left out)."""
    now = timezone.now()
    return {
        chain_id: max(0.0, (now - oldest).total_seconds())
        for chain_id, oldest in Operation.objects.filter(status=Operation.Status.QUEUED)
        .values("chain_id")
        .annotate(oldest=Min("created_at"))
        .values_list("chain_id", "oldest")
    }


def operation_reason_for_user(reason: str) -> str:
    """An operation's waiting reason or error as a person or partner system may see it.

    The stored text keeps the technical detail for administrators (the operation's admin
    page); what users see never names a server path, a key store's address or its
    configuration: a key-store problem becomes one plain sentence, and any other path
    or URL left in a node's or a contract's message is blanked.
    """
    if not reason:
        return reason
    if reason.lower().startswith("key store unavailable"):
        return KEY_STORE_WAIT
    return _PATH.sub("[server path]", _URL.sub("[server address]", reason))


def operation_list(
    *, organisation: Organisation, status: str = "", action: str = ""
) -> QuerySet[Operation]:
    """The organisation's operations, newest first, optionally of one status or action."""
    rows = Operation.objects.filter(organisation=organisation)
    if status:
        rows = rows.filter(status=status)
    if action:
        rows = rows.filter(action=action)
    return rows.select_related("organisation")


def operation_of(*, organisation: Organisation, operation_id: UUID | str) -> Operation | None:
    """One of the organisation's operations (None for another organisation's)."""
    return Operation.objects.filter(id=operation_id, organisation=organisation).first()


def operation_in_flight_for_lot(*, organisation: Organisation, lot_id: int) -> Operation | None:
    """The organisation's latest operation on a lot that is still on its way, if any."""
    return (
        Operation.objects.filter(
            chain_id=settings.CHAIN_ID,
            lot_id=lot_id,
            organisation=organisation,
            status__in=IN_FLIGHT,
        )
        .order_by("-created_at")
        .first()
    )


# ------------------------------------------------------------------ in a person's words


@dataclass(frozen=True)
class DescribedOperation:
    """An operation with its title and, once final, its outcome (see `titles`)."""

    operation: Operation
    title: str
    outcome: Outcome | None


#: Given lot ids, their names and units (the lots app's metadata; it sits above this one).
LotLabels = Callable[[list[int]], Mapping[int, LotLabel]]


def _ids(value: object) -> set[int]:
    """Every id in a request value: a number, or lists of [id, quantity] pairs."""
    if isinstance(value, bool):
        return set()
    if isinstance(value, int):
        return {value}
    if isinstance(value, str) and value.isdigit():
        return {int(value)}
    if isinstance(value, list) and value:
        return {i for item in value for i in _ids(item[0] if isinstance(item, list) else item)}
    return set()


def operations_described(
    operations: Iterable[Operation], *, lot_labels: LotLabels
) -> list[DescribedOperation]:
    """Operations with plain titles ("Hand off 400 kg of lot 1001 to Nordic Refinery") and
    what came of them ("Lot 1005 registered", or the reason it failed): the one place the
    operation page, the operations list and the dashboard get their words from."""
    rows = list(operations)
    chain_id = settings.CHAIN_ID
    lot_ids: set[int] = set()
    handoff_ids: set[int] = set()
    certificate_ids: set[int] = set()
    for op in rows:
        request = op.request or {}
        for key in ("lot_id", "bundle_id", "items", "inputs"):
            lot_ids |= _ids(request.get(key))
        handoff_ids |= _ids(request.get("handoff_id"))
        certificate_ids |= _ids(request.get("certificate_id"))
    hashes = [op.transaction_hash for op in rows if op.status == Operation.Status.CONFIRMED]
    events: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for e in ChainEvent.objects.filter(chain_id=chain_id, transaction_hash__in=hashes).order_by(
        "block_number", "log_index"
    ):
        events.setdefault(e.transaction_hash, []).append((e.event, e.args))
        for key in ("lotId", "bundleId"):
            lot_ids |= _ids(e.args.get(key))
    handoffs = {
        int(h.handoff_id): HandoffFacts(
            lot_id=int(h.lot_id), sender=h.sender, receiver=h.receiver, quantity=int(h.quantity)
        )
        for h in HandoffVersion.objects.filter(
            chain_id=chain_id, handoff_id__in=sorted(handoff_ids)
        ).order_by("block_from")  # the latest version wins
    }
    lot_ids |= {h.lot_id for h in handoffs.values()}
    certificates = {
        int(c.certificate_id): CertificateFacts(
            certificate_type=c.certificate_type,
            lot_id=int(c.subject) if c.subject_kind == int(SubjectKind.LOT) else None,
        )
        for c in CertificateVersion.objects.filter(
            chain_id=chain_id, certificate_id__in=sorted(certificate_ids), block_to__isnull=True
        )
    }
    facts = Facts(
        names=organisation_names(),
        slugs=dict(Organisation.objects.values_list("slug", "name")),
        lots=lot_labels(sorted(lot_ids)),
        handoffs=handoffs,
        certificates=certificates,
    )
    return [
        DescribedOperation(
            operation=op,
            title=operation_title(
                action=op.action,
                request=op.request or {},
                facts=facts,
                lot_id=op.lot_id,
                expects=op.expects or {},
            ),
            outcome=operation_outcome(
                status=op.status,
                error=operation_reason_for_user(op.error),
                lot_id=op.lot_id,
                events=events.get(op.transaction_hash, []),
                facts=facts,
            ),
        )
        for op in rows
    ]
