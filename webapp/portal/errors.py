"""The site's own error pages (never Django's debug pages); problem+json under /api/."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader

from webapp.api.problems import is_api_request, problem_response


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    reason = str(exception) if exception is not None else ""
    if is_api_request(request):
        return problem_response(400, "The request was refused", reason)
    return render(request, "400.html", {"reason": reason}, status=400)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_request(request):
        return problem_response(404, "Not found", "No such resource.")
    return render(request, "404.html", {"path": request.path}, status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api_request(request):
        return problem_response(500, "Server error", "The server failed; try again later.")
    # Rendered without the request: the failure may be the database the context reads.
    return HttpResponse(loader.get_template("500.html").render(), status=500)
