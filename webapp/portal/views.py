"""Portal pages. Each action page: a form, one service call, then the operation's page,
which follows its status live until it is confirmed or failed."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from contracts.chain.domain import LotKind, Role
from webapp.certificates.services import certificate_issue, certificate_revoke
from webapp.chain.selectors import indexer_health
from webapp.documents.models import Document
from webapp.documents.services import (
    DocumentAltered,
    document_read,
    document_transaction,
    document_upload,
)
from webapp.lots import selectors
from webapp.lots.document_access import document_for_reader
from webapp.lots.services import (
    Claims,
    Output,
    bundle_create,
    bundle_unpack,
    handoff_accept,
    handoff_cancel,
    handoff_initiate,
    handoff_reject,
    lot_register,
    transformation_record,
)
from webapp.operations.models import Operation
from webapp.operations.selectors import (
    operation_in_flight_for_lot,
    operation_list,
    operation_of,
    operation_reason_for_user,
)
from webapp.operations.services import IdempotencyConflict
from webapp.organisations.models import Organisation
from webapp.organisations.selectors import organisation_names
from webapp.portal import forms, provenance_views
from webapp.portal.access import organisation_of
from webapp.provenance.selectors import notifications_unread
from webapp.provenance.services import certificate_revocation_impact


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


def _submit(
    request: HttpRequest,
    form: forms.ActionForm,
    perform: Any,
    title: str,
    template: str = "",
    note: str = "",
) -> HttpResponse:
    """Validate `form`; call `perform(data, key)`; on success go to the operation's page."""
    if request.method == "POST" and form.is_valid():
        try:
            # A document uploaded with the form is kept only if the service accepts the form.
            with document_transaction():
                operation = perform(form.cleaned_data, form.cleaned_data.get("idempotency_key", ""))
        except ValidationError as exc:
            form.refuse(exc)
        except IdempotencyConflict as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(
                request, "Recorded. It goes on chain in a moment; this page follows it."
            )
            return redirect("portal:operation", operation_id=operation.id)
    return render(
        request, template or "portal/form.html", {"form": form, "title": title, "note": note}
    )


def _claims(data: dict[str, Any]) -> Claims:
    return Claims(
        co2e_g_per_unit=data.get("co2e_g_per_unit"), recycled_permille=data.get("recycled_permille")
    )


def _upload(organisation: Organisation, upload: Any) -> Document:
    return document_upload(
        organisation=organisation,
        name=upload.name or "document",
        content=upload,
        content_type=upload.content_type or "",
    )


@login_required
def lot_register_view(request: HttpRequest) -> HttpResponse:
    organisation = organisation_of(request)
    form = forms.LotRegisterForm(request.POST or None, request.FILES or None)

    def perform(data: dict[str, Any], key: str) -> Operation:
        documents = [_upload(organisation, data["document"]).hash_hex] if data["document"] else []
        return lot_register(
            organisation=organisation,
            name=data["name"],
            quantity=data["quantity"],
            unit=data["unit"],
            kind=LotKind[data["kind"].upper()],
            description=data["description"],
            gtin=data["gtin"],
            batch=data["batch"],
            claims=_claims(data),
            documents=documents,
            idempotency_key=key,
            user=request.user,
        )

    return _submit(request, form, perform, "Register a lot")


@login_required
def handoff_initiate_view(request: HttpRequest) -> HttpResponse:
    organisation = organisation_of(request)
    initial = {"lot_id": request.GET.get("lot")} if request.GET.get("lot") else None
    form = forms.HandoffForm(request.POST or None, initial=initial, organisation=organisation)

    def perform(data: dict[str, Any], key: str) -> Operation:
        return handoff_initiate(
            organisation=organisation,
            lot_id=data["lot_id"],
            receiver=data["receiver"],
            quantity=data["quantity"],
            idempotency_key=key,
            user=request.user,
        )

    return _submit(request, form, perform, "Hand a lot to another organisation")


@login_required
@require_POST
def handoff_answer_view(request: HttpRequest, handoff_id: int, verb: str) -> HttpResponse:
    answer = {"accept": handoff_accept, "cancel": handoff_cancel}[verb]
    return _one_click(
        request,
        lambda organisation, key: answer(
            organisation=organisation, handoff_id=handoff_id, idempotency_key=key,
            user=request.user,
        ),
        back=redirect("portal:dashboard"),
    )  # fmt: skip


def _one_click(request: HttpRequest, perform: Any, back: HttpResponse) -> HttpResponse:
    """A one-button action: call `perform(organisation, idempotency key)`; go to the
    operation, or back with the refusal as a message."""
    key = request.POST.get("idempotency_key", "")
    try:
        forms.ActionForm.base_fields["idempotency_key"].clean(key)
        operation = perform(organisation_of(request), key)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return back
    return redirect("portal:operation", operation_id=operation.id)


@login_required
def handoff_reject_view(request: HttpRequest, handoff_id: int) -> HttpResponse:
    organisation = organisation_of(request)
    form = forms.RejectForm(request.POST or None)

    def perform(data: dict[str, Any], key: str) -> Operation:
        return handoff_reject(
            organisation=organisation,
            handoff_id=handoff_id,
            reason=data["reason"],
            idempotency_key=key,
            user=request.user,
        )

    return _submit(request, form, perform, f"Reject handoff {handoff_id}")


@login_required
def bundle_view(request: HttpRequest) -> HttpResponse:
    organisation = organisation_of(request)
    form = forms.BundleForm(request.POST or None)

    def perform(data: dict[str, Any], key: str) -> Operation:
        return bundle_create(
            organisation=organisation,
            items=data["items"],
            name=data["name"],
            sscc=data["sscc"],
            idempotency_key=key,
            user=request.user,
        )

    return _submit(request, form, perform, "Pack lots into a bundle")


@login_required
@require_POST
def unbundle_view(request: HttpRequest, lot_id: int) -> HttpResponse:
    return _one_click(
        request,
        lambda organisation, key: bundle_unpack(
            organisation=organisation, bundle_id=lot_id, idempotency_key=key, user=request.user
        ),
        back=redirect("portal:lot", lot_id=lot_id),
    )


@login_required
def transform_view(request: HttpRequest) -> HttpResponse:
    organisation = organisation_of(request)
    form = forms.TransformForm(request.POST or None)

    def perform(data: dict[str, Any], key: str) -> Operation:
        output = Output(
            name=data["output_name"],
            quantity=data["output_quantity"],
            unit=data["output_unit"],
            kind=LotKind[data["output_kind"].upper()],
            claims=_claims(data),
        )
        return transformation_record(
            organisation=organisation,
            inputs=data["inputs"],
            outputs=[output],
            process=data["process"],
            idempotency_key=key,
            user=request.user,
        )

    return _submit(request, form, perform, "Transform inputs into a new lot")


@login_required
def certificate_view(request: HttpRequest) -> HttpResponse:
    organisation = organisation_of(request)
    if not organisation.has_role(Role.CERTIFIER):
        messages.error(request, f"{organisation.name} is not a certifier.")
        return redirect("portal:dashboard")
    initial = {"lot_id": request.GET.get("lot")} if request.GET.get("lot") else None
    form = forms.CertificateForm(request.POST or None, request.FILES or None, initial=initial)

    def perform(data: dict[str, Any], key: str) -> Operation:
        claims = {
            k: v
            for k, v in {
                "CO2E_G_PER_UNIT": data.get("co2e_g_per_unit"),
                "RECYCLED_PERMILLE": data.get("recycled_permille"),
            }.items()
            if v is not None
        }
        document = _upload(organisation, data["document"])
        return certificate_issue(
            organisation=organisation,
            lot_id=data["lot_id"],
            certificate_type=data["certificate_type"],
            document_hash=document.hash_hex,
            valid_from=datetime.combine(data["valid_from"], time.min, tzinfo=UTC),
            valid_until=datetime.combine(data["valid_until"], time.max, tzinfo=UTC),
            claims=claims,
            idempotency_key=key,
            user=request.user,
        )

    return _submit(request, form, perform, "Issue a certificate")


@login_required
def certificate_revoke_view(request: HttpRequest, certificate_id: int) -> HttpResponse:
    organisation = organisation_of(request)
    form = forms.RevokeForm(request.POST or None)

    def perform(data: dict[str, Any], key: str) -> Operation:
        return certificate_revoke(
            organisation=organisation,
            certificate_id=certificate_id,
            reason=data["reason"],
            idempotency_key=key,
            user=request.user,
        )

    impact = certificate_revocation_impact(certificate_id=certificate_id)
    note = ""
    if impact is not None:
        scope = selectors.stock_scope(organisation=organisation)
        impact.holders = scope.holdings_by_organisation(
            impact.holders, scope.summaries(impact.lots)
        )
    if impact is not None and impact.lots:
        held = ", ".join(o.name for o in impact.holders) or "nobody you can see"
        note = (
            f"Revoking it affects {len(impact.lots)} lots and bundles downstream "
            f"(held by {held}); their holders will be notified."
        )
    return _submit(request, form, perform, f"Revoke certificate {certificate_id}", note=note)


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
