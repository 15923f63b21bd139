"""The organisation's own settings: the certificate it requires of lots it accepts (on
chain, changed as an operation) and the time zone its members read times in (off chain).
Every member sees them; only the organisation's admins change them."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from webapp.certificates.selectors import certificate_type_name
from webapp.lots.services import acceptance_policy_set
from webapp.operations.selectors import operation_list
from webapp.organisations.models import Organisation
from webapp.organisations.selectors import member_is_admin
from webapp.organisations.services import organisation_time_zone_set
from webapp.participants.selectors import acceptance_policy
from webapp.portal import forms
from webapp.portal.access import allowed, organisation_of, refusal, requires


def _page(
    request: HttpRequest,
    organisation: Organisation,
    policy_form: forms.AcceptancePolicyForm | None = None,
    zone_form: forms.TimeZoneForm | None = None,
    status: int = 200,
) -> HttpResponse:
    policy = acceptance_policy(organisation=organisation)
    name = certificate_type_name(policy) if policy else ""
    pending = [
        o
        for o in operation_list(organisation=organisation, action="participant.acceptance_policy")[
            :5
        ]
        if not o.is_final
    ]
    return render(
        request,
        "portal/organisation_settings.html",
        {
            "organisation": organisation,
            "policy": name,
            "pending": pending,
            "is_admin": member_is_admin(request.user),
            "may_set_policy": allowed(organisation, "acceptance-policy"),
            "policy_refusal": refusal(organisation, "acceptance-policy"),
            "policy_form": policy_form
            or forms.AcceptancePolicyForm(initial={"certificate_type": name}),
            "zone_form": zone_form
            or forms.TimeZoneForm(initial={"time_zone": organisation.time_zone}),
        },
        status=status,
    )


def _not_admin(request: HttpRequest, organisation: Organisation, what: str) -> HttpResponse:
    reason = f"Only {organisation.name}'s admins change its {what}; ask one of them."
    return render(
        request,
        "portal/forbidden.html",
        {"reason": reason, "organisation": organisation},
        status=403,
    )


@login_required
def organisation_settings_view(request: HttpRequest) -> HttpResponse:
    return _page(request, organisation_of(request))


@login_required
@requires("acceptance-policy")
@require_POST
def acceptance_policy_view(request: HttpRequest) -> HttpResponse:
    organisation = organisation_of(request)
    if not member_is_admin(request.user):
        return _not_admin(request, organisation, "acceptance policy")
    form = forms.AcceptancePolicyForm(request.POST)
    if not form.is_valid():
        return _page(request, organisation, policy_form=form, status=400)
    try:
        operation = acceptance_policy_set(
            organisation=organisation,
            certificate_type=form.cleaned_data["certificate_type"],
            idempotency_key=form.cleaned_data["idempotency_key"],
            user=request.user,
        )
    except ValidationError as exc:
        form.refuse(exc)
        return _page(request, organisation, policy_form=form, status=400)
    messages.success(request, "Recorded. It goes on chain in a moment; this page follows it.")
    return redirect("portal:operation", operation_id=operation.id)


@login_required
@require_POST
def time_zone_view(request: HttpRequest) -> HttpResponse:
    organisation = organisation_of(request)
    if not member_is_admin(request.user):
        return _not_admin(request, organisation, "time zone")
    form = forms.TimeZoneForm(request.POST)
    if not form.is_valid():
        return _page(request, organisation, zone_form=form, status=400)
    organisation_time_zone_set(organisation=organisation, time_zone=form.cleaned_data["time_zone"])
    messages.success(request, f"Times are now shown in {organisation.time_zone}.")
    return redirect("portal:organisation-settings")
