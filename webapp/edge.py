"""Requests refused before any view sees them, and what every GET keeps for its length."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render

from webapp.api.problems import (
    database_unavailable,
    is_api_request,
    is_database_unavailable,
    problem_response,
)
from webapp.memo import kept_for_request

log = logging.getLogger(__name__)

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _has_nul(values: QueryDict) -> bool:
    return any("\x00" in key or any("\x00" in v for v in vs) for key, vs in values.lists())


class RefuseNulBytes:
    """A NUL character in the path, the query string or a form value is refused with 400.

    No text the portal or the API stores or looks up may hold one (PostgreSQL's text types
    cannot), so such a request can only fail later, and worse, as a server error."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path_info or _has_nul(request.GET) or self._form_has_nul(request):
            return refuse(request, "The request contains a NUL character.")
        return self.get_response(request)

    @staticmethod
    def _form_has_nul(request: HttpRequest) -> bool:
        if request.method != "POST" or not (request.content_type or "").startswith(FORM_TYPES):
            return False
        return _has_nul(request.POST)


class RequestMemo:
    """Reads of a GET or HEAD request are kept for its length (`webapp.memo`): the same
    small facts asked for by several parts of one page are read once. Writes keep
    nothing, so what a write changed is read afresh."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        with kept_for_request():
            return self.get_response(request)


def refuse(request: HttpRequest, reason: str, status: int = 400) -> HttpResponse:
    """A refusal in the form the caller reads: problem+json for the API, a page otherwise."""
    if is_api_request(request):
        return problem_response(status, "The request was refused", reason)
    return render(request, "portal/error.html", {"message": reason}, status=status)


class DatabaseUnavailable:
    """A request that meets a database that is away (restarting, failing over, not
    reachable) answers 503 with Retry-After, not a server error: the client sends it again,
    a write with the same Idempotency-Key, which is never done twice. (A middleware's own
    database error reaches the site's 500 handler instead, which answers the same way.)"""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_database_unavailable(exception):
            return None
        log.warning("database unavailable answering %s: %s", request.path, exception)
        return database_unavailable(request)
