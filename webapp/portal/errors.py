"""The site's own error pages (never Django's debug pages); problem+json under /api/."""

from __future__ import annotations

import sys

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader

from webapp.api.problems import (
    database_unavailable,
    is_api_request,
    is_database_unavailable,
    problem_response,
)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's refusals of a request it could not read (SuspiciousOperation); an upload
    over the size cap (RequestDataTooBig) is 413."""
    reason = str(exception) if exception is not None else ""
    status = 413 if isinstance(exception, RequestDataTooBig) else 400
    if is_api_request(request):
        title = "Request too large" if status == 413 else "The request was refused"
        return problem_response(status, title, reason)
    return render(request, "400.html", {"reason": reason}, status=status)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_request(request):
        return problem_response(404, "Not found", "No such resource.")
    return render(request, "404.html", {"path": request.path}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_database_unavailable(sys.exc_info()[1]):  # a middleware met the database away
        return database_unavailable(request)
    if is_api_request(request):
        return problem_response(500, "Server error", "The server failed; try again later.")
    # Rendered without the request: the failure may be the database the context reads.
    return HttpResponse(loader.get_template("500.html").render(), status=500)
