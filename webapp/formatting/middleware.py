"""Times on a page are in the reader's organisation's time zone (UTC for the public)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from webapp.formatting import zone


class ReaderTimeZone:
    """Activate the signed-in member's organisation's time zone for the request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        membership = getattr(getattr(request, "user", None), "membership", None)
        name = getattr(getattr(membership, "organisation", None), "time_zone", "") or "UTC"
        timezone.activate(zone(name))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
