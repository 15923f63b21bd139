"""The organisation's API tokens, for its admins: create one (name, scope, optional
expiry; the token is shown once, in that response only), list them with when each was
last used, revoke one.

The plain token never goes into a message, a session, a log or a cache: the page that
shows it is the response to the POST that made it, marked `no-store`.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers, patch_cache_control
from django.views.decorators.http import require_POST

from webapp.organisations.models import ApiToken
from webapp.organisations.selectors import api_token_list
from webapp.organisations.services import api_token_create, api_token_revoke_for
from webapp.portal.access import organisation_admin_of


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="the system that will use it, e.g. 'ERP'")
    scope = forms.ChoiceField(choices=ApiToken.Scope.choices, initial=ApiToken.Scope.READ)
    expires_on = forms.DateField(
        required=False,
        help_text="optional, YYYY-MM-DD: the token stops working at the end of that day (UTC)",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def refuse(self, error: ValidationError) -> None:
        for field, problems in error.message_dict.items():
            target = {"expires_at": "expires_on"}.get(field, field)
            for message in problems:
                self.add_error(target if target in self.fields else None, message)


def _private(response: HttpResponse) -> HttpResponse:
    add_never_cache_headers(response)
    patch_cache_control(response, no_store=True, private=True)
    return response


@login_required
def api_tokens_view(request: HttpRequest) -> HttpResponse:
    organisation = organisation_admin_of(request)
    form = ApiTokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        expires = data["expires_on"]
        try:
            token, row = api_token_create(
                organisation=organisation,
                name=data["name"],
                scope=data["scope"],
                expires_at=datetime.combine(expires, time.max, tzinfo=UTC) if expires else None,
                created_by=request.user,
            )
        except ValidationError as exc:
            form.refuse(exc)
        else:
            return _private(
                render(request, "portal/api_token_created.html", {"token": token, "row": row})
            )
    return _private(
        render(
            request,
            "portal/api_tokens.html",
            {
                "organisation": organisation,
                "form": form,
                "tokens": api_token_list(organisation=organisation),
            },
            status=400 if form.is_bound else 200,
        )
    )


@login_required
@require_POST
def api_token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    organisation = organisation_admin_of(request)
    try:
        row = api_token_revoke_for(organisation=organisation, token_id=token_id)
    except ApiToken.DoesNotExist:
        raise Http404("No such API token.") from None
    messages.success(request, f"API token {row.name} ({row.prefix}…) is revoked.")
    return redirect("portal:api-tokens")
