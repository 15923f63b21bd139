"""The portal's event subscriptions (webhooks), per organisation: the list, a new one, a
subscription's page (its settings, where it stands, the live delivery log that polls
`subscription_status`, the dead letters, rewind and rotation), an edit and a delete.

Every write goes through `webapp.streams.services`, the functions the subscriptions API
calls. The signing secret is shown once, in the answer to the POST that made it (a create
or a rotation), marked `no-store`; the pages never show it again. Another organisation's
subscription answers 404, as an unknown one does (the API's rule).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_cache_control

from webapp.operations.services import IdempotencyConflict
from webapp.organisations.models import Organisation
from webapp.portal import subscription_words as words
from webapp.portal.access import organisation_of, requires
from webapp.portal.subscription_forms import (
    RewindForm,
    RotateForm,
    SubscriptionCreateForm,
    SubscriptionForm,
)
from webapp.streams.asymmetric import public_key_of
from webapp.streams.models import Subscription
from webapp.streams.selectors import subscription_of, subscriptions_of
from webapp.streams.services import subscription_create, subscription_delete, subscription_update


def private(response: HttpResponse) -> HttpResponse:
    """Never stored by a browser or a proxy: the pages that show a secret."""
    add_never_cache_headers(response)
    patch_cache_control(response, no_store=True, private=True)
    return response


def subscription_for(request: HttpRequest, subscription_id: UUID) -> Subscription:
    found = subscription_of(organisation=organisation_of(request), subscription_id=subscription_id)
    if found is None:  # or another organisation's: the same answer
        raise Http404("No such subscription.")
    return found


def secret_page(
    request: HttpRequest,
    subscription: Subscription,
    secret: str,
    *,
    rotated: str = "",
    public_key: str = "",
) -> HttpResponse:
    """The one page that shows a signing secret: the answer to a create or a rotation."""
    context = {
        "subscription": subscription,
        "secret": secret,
        "rotated": rotated,
        "public_key": public_key,
    }
    return private(render(request, "portal/subscription_secret.html", context))


@login_required
def subscriptions_view(request: HttpRequest) -> HttpResponse:
    organisation = organisation_of(request)
    rows = []
    for subscription in subscriptions_of(organisation=organisation):
        rows.append({"subscription": subscription, "standing": words.standing(subscription)})
    return render(
        request, "portal/subscriptions.html", {"organisation": organisation, "rows": rows}
    )


def _already_made(organisation: Organisation, key: str) -> Subscription | None:
    if not key:
        return None
    return subscriptions_of(organisation=organisation).filter(idempotency_key=key).first()


@login_required
@requires("subscription-create")
def subscription_create_view(request: HttpRequest) -> HttpResponse:
    organisation = organisation_of(request)
    form = SubscriptionCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        key = data["idempotency_key"]
        earlier = _already_made(organisation, key)
        if earlier is not None:  # the form sent twice: its secret was shown the first time
            messages.info(
                request,
                f"{earlier.name} was already created; its signing secret was shown then."
                " Rotate the secret if it was not kept.",
            )
            return redirect("portal:subscription", subscription_id=earlier.pk)
        changes = form.given(data)
        live = form.is_live()
        try:
            created = subscription_create(
                organisation=organisation,
                name=changes.pop("name"),
                url="" if live else changes.pop("url"),
                start=form.start_point(),
                filters={k: changes[k] for k in ("event_types", "lot_ids", "own_only")},
                options={
                    k: changes[k]
                    for k in ("batch_size", "batch_timeout_s", "confirmations", "ordered", "format")
                },
                idempotency_key=key,
                ed25519=changes.pop("ed25519"),
                transport=data["transport"],
            )
        except ValidationError as exc:
            form.refuse(exc)
        except (IdempotencyConflict, IntegrityError):
            form.add_error(None, "This form was already sent once; open the subscription.")
        else:
            if live:
                messages.success(request, f"{created.subscription.name} is created: read it live.")
                return redirect("portal:subscription", subscription_id=created.subscription.pk)
            return secret_page(
                request, created.subscription, created.secret, public_key=created.public_key
            )
    return render(
        request,
        "portal/subscription_form.html",
        {"form": form, "title": "New subscription", "subscription": None},
        status=400 if form.is_bound else 200,
    )


@login_required
@requires("subscription-edit")
def subscription_edit_view(request: HttpRequest, subscription_id: UUID) -> HttpResponse:
    subscription = subscription_for(request, subscription_id)
    live = subscription.transport == Subscription.Transport.WEBSOCKET
    form = SubscriptionForm(request.POST, live=live) if request.method == "POST" else None
    if form is not None and form.is_valid():
        try:
            subscription_update(subscription=subscription, changes=form.changes())
        except ValidationError as exc:
            form.refuse(exc)
        else:
            messages.success(request, "The subscription is changed.")
            return redirect("portal:subscription", subscription_id=subscription.pk)
    return render(
        request,
        "portal/subscription_form.html",
        {
            "form": form or SubscriptionForm.of(subscription),
            "title": f"Change {subscription.name}",
            "subscription": subscription,
        },
        status=400 if form is not None else 200,
    )


@login_required
@requires("subscription-delete")
def subscription_delete_view(request: HttpRequest, subscription_id: UUID) -> HttpResponse:
    """GET asks to confirm; POST deletes."""
    subscription = subscription_for(request, subscription_id)
    if request.method == "POST":
        subscription_delete(subscription=subscription)
        messages.success(request, f"{subscription.name} is deleted; nothing more is sent.")
        return redirect("portal:subscriptions")
    return render(request, "portal/subscription_delete.html", {"subscription": subscription})


def _secrets(subscription: Subscription) -> list[dict[str, Any]]:
    now = timezone.now()
    return [
        {"created_at": s.created_at, "expires_at": s.expires_at}
        for s in subscription.secrets.order_by("-created_at")
        if s.expires_at is None or s.expires_at > now
    ]


def detail_page(
    request: HttpRequest,
    subscription: Subscription,
    *,
    rewind_form: RewindForm | None = None,
    rotate_form: RotateForm | None = None,
    status: int = 200,
) -> HttpResponse:
    """The subscription's page; a refused rewind or rotation comes back to it, its form
    filled in as sent with the reason next to the field."""
    context = {
        "subscription": subscription,
        "standing": words.standing(subscription),
        "log": words.delivery_log(subscription),
        "dead_letters": words.dead_letter_rows(subscription),
        "secrets": _secrets(subscription),
        "public_key": public_key_of(subscription=subscription),
        "start": words.start_words(subscription.start),
        "rewind_form": rewind_form or RewindForm(),
        "rotate_form": rotate_form or RotateForm(),
        "log_rows": words.LOG_ROWS,
        "live": subscription.transport == Subscription.Transport.WEBSOCKET,
    }
    return render(request, "portal/subscription.html", context, status=status)


@login_required
def subscription_view(request: HttpRequest, subscription_id: UUID) -> HttpResponse:
    return detail_page(request, subscription_for(request, subscription_id))


@login_required
def subscription_status(request: HttpRequest, subscription_id: UUID) -> JsonResponse:
    """What the subscription page polls: where it stands and the newest delivery log."""
    subscription = subscription_for(request, subscription_id)
    body = {
        **words.standing(subscription).json(),
        "log": words.delivery_log(subscription),
    }
    response = JsonResponse(body)
    add_never_cache_headers(response)
    return response
