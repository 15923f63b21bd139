"""Portal pages that show things: the dashboard, a lot, operations, documents."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from contracts.chain.domain import Role, SubjectKind
from webapp import formatting
from webapp.certificates.selectors import (
    EXPIRING_DAYS,
    certificates_issued,
    certificates_revoked_recently,
)
from webapp.chain.selectors import indexer_health
from webapp.documents.services import (
    DocumentAltered,
    document_read,
)
from webapp.formatting.labels import claim_lines
from webapp.lots import selectors
from webapp.lots.claims import lot_claims
from webapp.lots.custody import lot_custody
from webapp.lots.document_access import document_for_reader
from webapp.lots.search import consortium_overview
from webapp.lots.selectors.scope import sees_all_stock, stock_scope
from webapp.operations.models import Operation
from webapp.operations.selectors import (
    DescribedOperation,
    operation_in_flight_for_lot,
    operation_list,
    operation_of,
    operation_reason_for_user,
    operations_described,
)
from webapp.organisations.models import Organisation
from webapp.organisations.selectors import organisation_names
from webapp.portal import provenance_views
from webapp.portal.access import organisation_of
from webapp.portal.alert_views import lot_charts
from webapp.projections.models import CertificateVersion
from webapp.provenance.selectors import notifications_unread


def _explorer(tx_hash: str) -> str:
    return f"{settings.EXPLORER_TX_URL}{tx_hash}" if settings.EXPLORER_TX_URL else ""


#: Roles that hold and move lots (their dashboards show inventory and handoffs).
CUSTODY_ROLES = Role.MINER | Role.MANUFACTURER | Role.DISTRIBUTOR | Role.RETAILER
#: Roles that may register new lots.
REGISTERING_ROLES = Role.MINER | Role.MANUFACTURER
#: How far back an auditor's dashboard lists revocations.
RECENT_DAYS = 30


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    """Each role's work first: custodians their stock and handoffs, certifiers the
    certificates they issued, auditors the consortium's quarantines, registrations and
    revocations."""
    organisation = organisation_of(request)
    names = organisation_names()
    now = timezone.now()
    custodian = bool(organisation.roles & CUSTODY_ROLES)
    auditor = sees_all_stock(organisation)
    inventory = selectors.inventory(organisation=organisation)
    incoming = selectors.handoff_list(
        organisation=organisation, direction="incoming", status="open"
    )
    outgoing = selectors.handoff_list(
        organisation=organisation, direction="outgoing", status="open"
    )
    context: dict[str, Any] = {
        "organisation": organisation,
        "custodian": custodian or bool(inventory),
        "may_register": bool(organisation.roles & REGISTERING_ROLES),
        "inventory": inventory,
        "incoming": incoming,
        "outgoing": outgoing,
        "operations": _described(operation_list(organisation=organisation)[:15]),
        "names": names,
        "health": next((h for h in indexer_health() if h.chain_id == settings.CHAIN_ID), None),
        "notifications": notifications_unread(organisation=organisation),
    }
    if organisation.has_role(Role.CERTIFIER):
        scope = stock_scope(organisation=organisation)
        issued = certificates_issued(addresses=sorted(scope.addresses), now=now)
        context["issued"] = {
            "expiring": _certificate_rows(issued.expiring),
            "valid": _certificate_rows(issued.valid),
            "revoked": _certificate_rows(issued.revoked),
        }
        context["expiring_days"] = EXPIRING_DAYS
    if auditor:
        scope = stock_scope(organisation=organisation)
        context["overview"] = consortium_overview(scope=scope)
        context["revoked_recently"] = certificates_revoked_recently(
            since=now - timedelta(days=RECENT_DAYS)
        )
        context["recent_days"] = RECENT_DAYS
    return render(request, "portal/dashboard.html", context)


@login_required
def lot_view(request: HttpRequest, lot_id: int) -> HttpResponse:
    organisation = organisation_of(request)
    detail = selectors.lot_detail(lot_id=lot_id, organisation=organisation)
    if detail is None:
        # Only the viewer's own operation still on its way: another organisation's is none
        # of its business, and a confirmed one whose lot left the chain in a reorganisation,
        # or a failed one, would send the reader round in circles.
        pending = operation_in_flight_for_lot(organisation=organisation, lot_id=lot_id)
        if pending is not None:
            return redirect("portal:operation", operation_id=pending.id)
        raise Http404(f"Lot {lot_id} is not on the chain.")
    names = organisation_names()
    scope = stock_scope(organisation=organisation)
    holders_complete = scope.covers(lot_id)
    if not holders_complete:
        detail.holders = scope.own(detail.holders)
    provenance = provenance_views.lineage_context(request, lot_id)
    related = [int(h["carried_by"]) for h in provenance["custody"]] + list(detail.contents)
    related += [int(e.input_lot) for e in detail.inputs]
    related += [int(e.output_lot) for e in detail.outputs]
    units = selectors.units_of(detail.history, lot_id, *related)

    def size(lot: object, amount: object) -> str:
        return formatting.quantity(amount, units.get(int(str(lot)), "units"))

    history = [
        (e, selectors.describe_event(e, names, units), _explorer(e.transaction_hash))
        for e in detail.history
    ]
    documents = []
    if detail.metadata:
        for digest in detail.metadata.document.get("documents", []):
            documents.append(document_for_reader(sha256=digest, organisation=organisation))
    return render(
        request,
        "portal/lot.html",
        {
            "organisation": organisation,
            "detail": detail,
            "names": names,
            "history": history,
            "holds": detail.holders.get(organisation.address, 0),
            "holders_complete": holders_complete,
            # A lot whose metadata the mirror lacks counts units.
            "unit": detail.metadata.unit if detail.metadata else "units",
            "custody_now": lot_custody(lot_ids=[lot_id], scope=scope, names=names)[lot_id],
            "claims": lot_claims(detail=detail, names=names, now=timezone.now()),
            "documents": [d for d in documents if d],
            "pending": _described(detail.pending),
            "is_certifier": organisation.has_role(Role.CERTIFIER),
            "condition_charts": lot_charts(
                organisation=organisation, lot_ids=[lot_id, *map(int, detail.contents)]
            ),
            **provenance,
            "custody": _custody_rows(provenance["custody"], units),
            "contents": [(i, size(i, q)) for i, q in detail.contents.items()],
            "inputs": [
                (int(e.input_lot), size(e.input_lot, e.input_quantity)) for e in detail.inputs
            ],
            "outputs": [
                (int(e.output_lot), size(e.output_lot, e.output_quantity)) for e in detail.outputs
            ],
        },
    )


def _certificate_rows(certificates: list[CertificateVersion]) -> list[dict[str, Any]]:
    """Certificates with their claims in words, in the unit of the lot each is about."""
    labels = selectors.lot_labels(sorted({int(c.subject) for c in certificates}))
    rows = []
    for c in certificates:
        label = labels.get(int(c.subject))
        unit = label.unit if label and c.subject_kind == int(SubjectKind.LOT) else ""
        rows.append({"c": c, "claims": claim_lines(c.claims, unit or "units")})
    return rows


def _custody_rows(steps: list[dict[str, Any]], units: dict[int, str]) -> list[dict[str, Any]]:
    """The custody timeline with each quantity in its lot's unit and times to show."""
    rows = []
    for step in steps:
        unit = units.get(int(step["carried_by"]), "units")
        rows.append(
            {
                **step,
                "size": formatting.quantity(step["quantity"], unit),
                "offered_at": _moment(step["offered"]),
                "settled_at": _moment(step["settled"]),
            }
        )
    return rows


def _moment(moment: dict[str, Any] | None) -> datetime | None:
    return datetime.fromisoformat(moment["timestamp"]) if moment else None


def _operation(organisation: Organisation, operation_id: str) -> Operation:
    operation = operation_of(organisation=organisation, operation_id=operation_id)
    if operation is None:
        raise Http404("No such operation.")
    return operation


def _described(operations: Any) -> list[DescribedOperation]:
    return operations_described(operations, lot_labels=selectors.lot_labels)


@login_required
def operation_view(request: HttpRequest, operation_id: str) -> HttpResponse:
    organisation = organisation_of(request)
    (described,) = _described([_operation(organisation, operation_id)])
    return render(
        request,
        "portal/operation.html",
        {"operation": described.operation, "described": described},
    )


@login_required
def operation_status(request: HttpRequest, operation_id: str) -> JsonResponse:
    """What the operation page polls for its live status: the status, and once final what
    came of it (`outcome`: words and the page to go to)."""
    organisation = organisation_of(request)
    (described,) = _described([_operation(organisation, operation_id)])
    operation, outcome = described.operation, described.outcome
    link = text = ""
    if operation.status == Operation.Status.CONFIRMED and outcome is not None:
        if outcome.certificate_id is not None:
            link = reverse("portal:revocation-impact", args=[outcome.certificate_id])
            text = f"What certificate {outcome.certificate_id} covers"
        elif outcome.lot_id is not None:
            link, text = reverse("portal:lot", args=[outcome.lot_id]), f"Open lot {outcome.lot_id}"
    return JsonResponse(
        {
            "status": operation.status,
            "final": operation.is_final,
            "title": described.title,
            "outcome": outcome.text if outcome else "",
            "outcome_url": link,
            "outcome_link": text,
            "error": operation_reason_for_user(operation.error),
            "waiting_reason": operation_reason_for_user(operation.waiting_reason),
            "transaction_hash": operation.transaction_hash,
            "lot_id": int(operation.lot_id) if operation.lot_id is not None else None,
        }
    )


@login_required
def operations_view(request: HttpRequest) -> HttpResponse:
    organisation = organisation_of(request)
    status = request.GET.get("status", "")
    rows = operation_list(organisation=organisation, status=status)
    return render(
        request,
        "portal/operations.html",
        {
            "operations": _described(rows[:200]),
            "status": status,
            "statuses": [s.value for s in Operation.Status],
        },
    )


@login_required
def document_download(request: HttpRequest, sha256: str) -> HttpResponse:
    document = document_for_reader(sha256=sha256, organisation=organisation_of(request))
    if document is None:  # or not one this organisation may read: the same answer
        raise Http404("No document with that hash.")
    try:
        content = document_read(document=document)
    except DocumentAltered as exc:
        return render(request, "portal/error.html", {"message": str(exc)}, status=409)
    response = HttpResponse(content, content_type=document.content_type)
    response["Content-Disposition"] = f'attachment; filename="{document.name}"'
    response["X-Document-SHA256"] = document.sha256
    return response
