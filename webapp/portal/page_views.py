"""Portal pages that show things: the dashboard, a lot, operations, documents."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render

from contracts.chain.domain import Role
from webapp.chain.selectors import indexer_health
from webapp.documents.services import (
    DocumentAltered,
    document_read,
)
from webapp.lots import selectors
from webapp.lots.document_access import document_for_reader
from webapp.operations.models import Operation
from webapp.operations.selectors import (
    operation_in_flight_for_lot,
    operation_list,
    operation_of,
    operation_reason_for_user,
)
from webapp.organisations.models import Organisation
from webapp.organisations.selectors import organisation_names
from webapp.portal import provenance_views
from webapp.portal.access import organisation_of
from webapp.provenance.selectors import notifications_unread


def _explorer(tx_hash: str) -> str:
    return f"{settings.EXPLORER_TX_URL}{tx_hash}" if settings.EXPLORER_TX_URL else ""


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    organisation = organisation_of(request)
    names = organisation_names()
    return render(
        request,
        "portal/dashboard.html",
        {
            "organisation": organisation,
            "inventory": selectors.inventory(organisation=organisation),
            "incoming": selectors.handoff_list(
                organisation=organisation, direction="incoming", status="open"
            ),
            "outgoing": selectors.handoff_list(
                organisation=organisation, direction="outgoing", status="open"
            ),
            "operations": operation_list(organisation=organisation)[:15],
            "names": names,
            "health": next((h for h in indexer_health() if h.chain_id == settings.CHAIN_ID), None),
            "notifications": notifications_unread(organisation=organisation),
        },
    )


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
    scope = selectors.stock_scope(organisation=organisation)
    holders_complete = scope.covers(lot_id)
    if not holders_complete:
        detail.holders = scope.own(detail.holders)
    history = [
        (e, selectors.describe_event(e, names), _explorer(e.transaction_hash))
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
            "documents": [d for d in documents if d],
            "is_certifier": organisation.has_role(Role.CERTIFIER),
            **provenance_views.lineage_context(request, lot_id),
        },
    )


def _operation(organisation: Organisation, operation_id: str) -> Operation:
    operation = operation_of(organisation=organisation, operation_id=operation_id)
    if operation is None:
        raise Http404("No such operation.")
    return operation


@login_required
def operation_view(request: HttpRequest, operation_id: str) -> HttpResponse:
    organisation = organisation_of(request)
    operation = _operation(organisation, operation_id)
    return render(request, "portal/operation.html", {"operation": operation})


@login_required
def operation_status(request: HttpRequest, operation_id: str) -> JsonResponse:
    """What the operation page polls for its live status."""
    organisation = organisation_of(request)
    operation = _operation(organisation, operation_id)
    return JsonResponse(
        {
            "status": operation.status,
            "final": operation.is_final,
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
            "operations": rows[:200],
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
