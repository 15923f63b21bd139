"""Portal actions. Each action page: a form, one service call, then the operation's page
(`webapp.portal.page_views`), which follows its status live until it is confirmed or failed."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from contracts.chain.domain import LotKind, Role
from webapp.certificates.services import certificate_issue, certificate_revoke
from webapp.documents.models import Document
from webapp.documents.services import (
    document_transaction,
    document_upload,
)
from webapp.lots import selectors
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
from webapp.operations.services import IdempotencyConflict
from webapp.organisations.models import Organisation
from webapp.portal import forms
from webapp.portal.access import organisation_of
from webapp.provenance.services import certificate_revocation_impact


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
