"""Portal actions. Each action page: a form, one service call, then the operation's page
(`webapp.portal.page_views`), which follows its status live until it is confirmed or failed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from contracts.chain.domain import LotKind
from webapp.certificates.services import certificate_issue, certificate_revoke
from webapp.documents.models import Document
from webapp.documents.selectors import pending_document
from webapp.documents.services import (
    document_transaction,
    document_upload,
)
from webapp.lots import selectors
from webapp.lots.selectors import Holding, handoff_of
from webapp.lots.selectors.scope import stock_scope
from webapp.lots.services import (
    Claims,
    Output,
    bundle_create,
    bundle_unpack,
    handoff_accept,
    handoff_acceptance_warning,
    handoff_cancel,
    handoff_initiate,
    handoff_reject,
    lot_register,
    transformation_record,
)
from webapp.operations.models import Operation
from webapp.operations.services import IdempotencyConflict
from webapp.organisations.models import Organisation
from webapp.organisations.selectors import organisation_names
from webapp.portal import forms
from webapp.portal.access import organisation_of, requires
from webapp.projections.models import HandoffVersion
from webapp.provenance.services import certificate_revocation_impact


def _submit(
    request: HttpRequest,
    form: forms.ActionForm,
    perform: Any,
    title: str,
    template: str = "",
    note: str = "",
    extra: dict[str, Any] | None = None,
    refused: Callable[[], None] | None = None,
) -> HttpResponse:
    """Validate `form`; call `perform(data, key)`; on success go to the operation's page."""
    adding_row = isinstance(form, forms.LineItemsForm) and not form.is_bound
    if request.method == "POST" and not adding_row and form.is_valid():
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
    if form.is_bound and refused is not None:
        refused()
    context = {"form": form, "title": title, "note": note, **(extra or {})}
    return render(request, template or "portal/form.html", context)


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
@requires("lot-register")
def lot_register_view(request: HttpRequest) -> HttpResponse:
    organisation = organisation_of(request)
    form = forms.LotRegisterForm(request.POST or None, request.FILES or None)

    def perform(data: dict[str, Any], key: str) -> Operation:
        documents = []
        if data["document"]:
            documents = [_upload(organisation, data["document"]).hash_hex]
        elif data["pending_document"]:
            documents = ["0x" + data["pending_document"]]
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

    return _submit(
        request,
        form,
        perform,
        "Register a lot",
        refused=lambda: _keep_document(request, organisation, form),
    )


def _keep_document(
    request: HttpRequest, organisation: Organisation, form: forms.LotRegisterForm
) -> None:
    """A refused form is shown again with its document still attached: the upload is kept
    as a pending document and its hash travels in the form, so the person need not find
    the file again. (A browser cannot re-fill a file input; nothing else can keep it.)"""
    if not form.is_bound:
        return
    upload = request.FILES.get("document")
    if upload is not None:
        try:
            document = _upload(organisation, upload)
        except ValidationError:
            return  # the field's own error says what is wrong with the file
        form.keep_document(document.sha256, document.name)
        return
    pending = form.cleaned_data.get("pending_document") if hasattr(form, "cleaned_data") else ""
    if pending:
        kept = pending_document(organisation=organisation, sha256=pending)
        if kept is not None:
            form.keep_document(kept.sha256, kept.name)


def _holdings(organisation: Organisation) -> list[Holding]:
    """The lots the organisation holds that a picker offers (quarantined ones cannot move)."""
    return [h for h in selectors.inventory(organisation=organisation) if not h.quarantined]


@login_required
@requires("handoff-initiate")
def handoff_initiate_view(request: HttpRequest) -> HttpResponse:
    organisation = organisation_of(request)
    lot = request.GET.get("lot", "")
    initial = {"lot_id": lot} if lot.isascii() and lot.isdigit() else None
    form = forms.HandoffForm(
        request.POST or None,
        initial=initial,
        organisation=organisation,
        holdings=_holdings(organisation),
    )

    def perform(data: dict[str, Any], key: str) -> Operation:
        operation = handoff_initiate(
            organisation=organisation,
            lot_id=data["lot_id"],
            receiver=data["receiver"],
            quantity=data["quantity"],
            idempotency_key=key,
            user=request.user,
        )
        warning = handoff_acceptance_warning(lot_id=data["lot_id"], receiver=data["receiver"])
        if warning:
            messages.warning(request, warning)
        return operation

    return _submit(
        request, form, perform, "Hand a lot to another organisation", template="portal/pick.html"
    )


@login_required
@requires("handoff-accept")
@require_POST
def handoff_accept_view(request: HttpRequest, handoff_id: int) -> HttpResponse:
    """Accept in one click. A refusal answers at once, on a page of its own that names the
    handoff and the reason and offers to reject it instead."""
    organisation = organisation_of(request)
    key = request.POST.get("idempotency_key", "")
    try:
        forms.ActionForm.base_fields["idempotency_key"].clean(key)
    except ValidationError as exc:
        return render(request, "400.html", {"reason": " ".join(exc.messages)}, status=400)
    try:
        operation = handoff_accept(
            organisation=organisation, handoff_id=handoff_id, idempotency_key=key,
            user=request.user,
        )  # fmt: skip
    except ValidationError as exc:
        return render(
            request,
            "portal/handoff_refused.html",
            {
                "reasons": exc.messages,
                **_handoff_context(handoff_of(organisation=organisation, handoff_id=handoff_id)),
            },
            status=409,
        )
    return redirect("portal:operation", operation_id=operation.id)


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


def _handoff_context(handoff: HandoffVersion | None) -> dict[str, Any]:
    """What a page about one handoff shows: the lot's name and unit, both parties' names."""
    if handoff is None:
        return {"handoff": None}
    names = organisation_names()
    metadata = selectors.metadata_for([handoff.lot_id]).get(int(handoff.lot_id))
    return {
        "handoff": handoff,
        "lot_name": metadata.name if metadata else "",
        "unit": metadata.unit if metadata else "",
        "sender_name": names.get(handoff.sender, handoff.sender),
        "receiver_name": names.get(handoff.receiver, handoff.receiver),
    }


def _own_open_handoff(
    organisation: Organisation, handoff_id: int, side: str
) -> HandoffVersion | None:
    """The open handoff if `organisation` is its `side` ("sender" or "receiver")."""
    handoff = handoff_of(organisation=organisation, handoff_id=handoff_id)
    if handoff is None or handoff.status != "open":
        return None
    return handoff if getattr(handoff, side) == organisation.address else None


@login_required
@requires("handoff-reject")
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

    handoff = _own_open_handoff(organisation, handoff_id, "receiver")
    return _submit(
        request,
        form,
        perform,
        f"Reject handoff {handoff_id}",
        template="portal/handoff_answer.html",
        extra={**_handoff_context(handoff), "verb": "reject"},
    )


@login_required
@requires("handoff-cancel")
def handoff_cancel_view(request: HttpRequest, handoff_id: int) -> HttpResponse:
    """Cancelling takes two steps: a page naming the lot, quantity and receiver, then the
    confirming POST (a plain form, no script)."""
    organisation = organisation_of(request)
    form = forms.ConfirmForm(request.POST or None)

    def perform(data: dict[str, Any], key: str) -> Operation:
        return handoff_cancel(
            organisation=organisation, handoff_id=handoff_id, idempotency_key=key,
            user=request.user,
        )  # fmt: skip

    handoff = _own_open_handoff(organisation, handoff_id, "sender")
    return _submit(
        request,
        form,
        perform,
        f"Cancel handoff {handoff_id}",
        template="portal/handoff_answer.html",
        extra={**_handoff_context(handoff), "verb": "cancel"},
    )


def _line_items_form(
    request: HttpRequest, form_class: type[forms.LineItemsForm], organisation: Organisation
) -> forms.LineItemsForm:
    holdings = _holdings(organisation)
    if request.method == "POST" and "add_row" in request.POST:
        return form_class.with_another_row(request.POST, holdings=holdings)
    return form_class(request.POST or None, holdings=holdings)


@login_required
@requires("bundle")
def bundle_view(request: HttpRequest) -> HttpResponse:
    organisation = organisation_of(request)
    form = _line_items_form(request, forms.BundleForm, organisation)

    def perform(data: dict[str, Any], key: str) -> Operation:
        return bundle_create(
            organisation=organisation,
            items=data["items"],
            name=data["name"],
            sscc=data["sscc"],
            idempotency_key=key,
            user=request.user,
        )

    return _submit(request, form, perform, "Pack lots into a bundle", template="portal/pick.html")


@login_required
@requires("unbundle")
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
@requires("transform")
def transform_view(request: HttpRequest) -> HttpResponse:
    organisation = organisation_of(request)
    form = _line_items_form(request, forms.TransformForm, organisation)

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

    return _submit(
        request, form, perform, "Transform inputs into a new lot", template="portal/pick.html"
    )


@login_required
@requires("certificate")
def certificate_view(request: HttpRequest) -> HttpResponse:
    organisation = organisation_of(request)
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
@requires("certificate-revoke")
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
        scope = stock_scope(organisation=organisation)
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
