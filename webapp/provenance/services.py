"""Writes of the provenance app: notifications that follow from mirrored chain events.

The event store is the source; the cursor moves in the same transaction as the
notifications it produced, and notifications are unique per (organisation, key), so a
crash or a replay neither loses nor doubles one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypeVar

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from webapp.chain.models import ChainEvent
from webapp.formatting import number
from webapp.organisations.models import Organisation
from webapp.organisations.selectors import organisation_by_address
from webapp.projections.models import CertificateVersion
from webapp.provenance.models import (
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
    """Turn mirrored revocations into notifications for the holders they affect, and
    rejected handoffs into a notification for their sender.

    The pipeline's "notifications" consumer calls it with each batch of
    ``CertificateRevoked`` events, after the projections (the impact is read from them).
    A notification is keyed by its certificate, so a replayed batch creates nothing twice.
    Returns how many notifications were created.
    """
    created = 0
    for event in events:
        if event.event == "HandoffRejected":
            created += _rejection_notify(event)
            continue
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


def _rejection_notify(event: ChainEvent) -> int:
    """Tell the sender of a rejected handoff who rejected it and why (the reason is
    otherwise only in the lot's history). Keyed by handoff: a replay adds nothing."""
    a = event.args
    sender = organisation_by_address(a["sender"])
    if sender is None:
        return 0
    receiver = organisation_by_address(a["receiver"])
    handoff_id, lot_id = int(a["handoffId"]), int(a["lotId"])
    who = receiver.name if receiver is not None else a["receiver"]
    reason = str(a.get("reason", "")).strip() or "no reason given"
    _, new = Notification.objects.get_or_create(
        organisation=sender,
        key=f"rejected:{handoff_id}",
        defaults={
            "subject": f"{who} rejected handoff {handoff_id}"[:200],
            "body": (
                f"{who} rejected your offer of {number(a['quantity'])} of lot {lot_id}"
                f" (handoff {handoff_id}): {reason}. The quantity is back in your inventory."
            ),
            "link": reverse("portal:lot", args=[lot_id]),
        },
    )
    return int(new)


def notifications_mark_read(*, organisation: Organisation) -> int:
    """Mark every unread notification of the organisation read; returns how many."""
    return Notification.objects.filter(organisation=organisation, read_at__isnull=True).update(
        read_at=timezone.now()
    )
