"""The buttons on a subscription's page: pause, resume, rewind, rotate the signing secret,
send a test event, replay dead letters. Each is a POST through the streams service the API
calls; it answers with the page again (a flash says what happened), or, refused, with the
page and its form as sent, the reason next to the field."""

from __future__ import annotations

from datetime import datetime, timedelta
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.http import require_POST

from webapp import formatting
from webapp.portal.access import requires
from webapp.portal.subscription_forms import RewindForm, RotateForm, overlap_words
from webapp.portal.subscription_views import detail_page, secret_page, subscription_for
from webapp.portal.subscription_words import problem_words
from webapp.streams.models import DeliveryAttempt, Subscription
from webapp.streams.services import (
    dead_letter_replay,
    secret_rotate,
    subscription_pause,
    subscription_resume,
    subscription_rewind,
    subscription_send_test,
)


def _back(subscription: Subscription) -> HttpResponse:
    return redirect("portal:subscription", subscription_id=subscription.pk)


@login_required
@require_POST
@requires("subscription-pause")
def subscription_pause_view(request: HttpRequest, subscription_id: UUID) -> HttpResponse:
    subscription = subscription_pause(subscription=subscription_for(request, subscription_id))
    messages.success(request, f"{subscription.name} is paused: nothing is sent until resumed.")
    return _back(subscription)


@login_required
@require_POST
@requires("subscription-resume")
def subscription_resume_view(request: HttpRequest, subscription_id: UUID) -> HttpResponse:
    subscription = subscription_resume(subscription=subscription_for(request, subscription_id))
    messages.success(
        request, f"{subscription.name} is active again: deliveries go on from its checkpoint."
    )
    return _back(subscription)


@login_required
@require_POST
@requires("subscription-rewind")
def subscription_rewind_view(request: HttpRequest, subscription_id: UUID) -> HttpResponse:
    subscription = subscription_for(request, subscription_id)
    form = RewindForm(request.POST)
    if form.is_valid():
        try:
            rewound = subscription_rewind(subscription=subscription, to=form.point())
        except ValidationError as exc:
            form.refuse(exc)
        else:
            messages.success(
                request,
                f"{rewound.name} is rewound: the events after sequence {rewound.checkpoint}"
                " are delivered again (a receiver that deduplicates by webhook-id takes"
                " each once).",
            )
            return _back(rewound)
    return detail_page(request, subscription, rewind_form=form, status=400)


def rotated_words(overlap_s: int, previous_until: datetime | None) -> str:
    """How the previous secret and the new one overlap, in words."""
    if overlap_s <= 0 or previous_until is None:
        return "The previous secret stopped signing at once: only the new one signs from now."
    until = formatting.when(previous_until, timezone.get_current_timezone_name())
    return (
        f"For {overlap_words(overlap_s)}, until {until}, every delivery is signed with both"
        " the previous secret and the new one, so the receiver can switch over; after that"
        " only the new one signs."
    )


@login_required
@require_POST
@requires("subscription-rotate")
def subscription_rotate_view(request: HttpRequest, subscription_id: UUID) -> HttpResponse:
    subscription = subscription_for(request, subscription_id)
    form = RotateForm(request.POST)
    if not form.is_valid():
        return detail_page(request, subscription, rotate_form=form, status=400)
    overlap_s = form.cleaned_data["overlap_s"]
    try:
        secret = secret_rotate(subscription=subscription, overlap=timedelta(seconds=overlap_s))
    except ValidationError as exc:  # a live subscription has no secret
        messages.error(request, " ".join(exc.messages))
        return _back(subscription)
    previous = subscription.secrets.exclude(secret=secret).order_by("-created_at").first()
    until = previous.expires_at if previous is not None else None
    return secret_page(request, subscription, secret, rotated=rotated_words(overlap_s, until))


@login_required
@require_POST
@requires("subscription-test")
def subscription_test_view(request: HttpRequest, subscription_id: UUID) -> HttpResponse:
    subscription = subscription_for(request, subscription_id)
    try:
        attempt = subscription_send_test(subscription=subscription)
    except ValidationError as exc:  # a live subscription is read, not sent to
        messages.error(request, " ".join(exc.messages))
        return _back(subscription)
    if attempt.status == DeliveryAttempt.Status.DELIVERED:
        messages.success(
            request,
            f"The test event was delivered: the receiver answered {attempt.response_code}"
            f" in {attempt.duration_ms} ms.",
        )
    else:
        problem = problem_words(attempt.error, attempt.response_code)
        messages.error(request, f"The test event was not delivered. {problem}")
    return _back(subscription)


@login_required
@require_POST
@requires("dead-letters-replay")
def dead_letters_replay_view(request: HttpRequest, subscription_id: UUID) -> HttpResponse:
    subscription = subscription_for(request, subscription_id)
    queued = dead_letter_replay(subscription=subscription)
    if queued:
        noun = "dead letter is" if queued == 1 else "dead letters are"
        messages.success(request, f"{queued} {noun} queued to be delivered again.")
    else:
        messages.info(request, "There are no dead letters to replay.")
    return _back(subscription)


@login_required
@require_POST
@requires("dead-letter-replay")
def dead_letter_replay_view(
    request: HttpRequest, subscription_id: UUID, message_pk: int
) -> HttpResponse:
    subscription = subscription_for(request, subscription_id)
    if dead_letter_replay(subscription=subscription, message_pk=message_pk):
        messages.success(request, "The dead letter is queued to be delivered again.")
    else:
        messages.error(request, "That dead letter is no longer waiting: it was replayed already.")
    return _back(subscription)
