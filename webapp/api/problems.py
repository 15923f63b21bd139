"""Errors as RFC 9457 problem details (`application/problem+json`)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from webapp.operations.services import IdempotencyConflict

PROBLEM = "application/problem+json"


class IdempotencyKeyMissing(exceptions.APIException):
    status_code = 400
    default_detail = "Every write needs an `Idempotency-Key` header (any unique string)."


def problem(status_code: int, title: str, detail: str = "", **extra: Any) -> Response:
    body = {"type": "about:blank", "title": title, "status": status_code}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return Response(body, status=status_code, content_type=PROBLEM)


def problem_response(status_code: int, title: str, detail: str = "") -> HttpResponse:
    """The same problem document outside DRF (middleware, the 404 and 500 handlers)."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status_code}
    if detail:
        body["detail"] = detail
    return JsonResponse(body, status=status_code, content_type=PROBLEM)


def is_api_request(request: HttpRequest) -> bool:
    """The REST API and the EPCIS binding answer errors as problem+json, not HTML."""
    return request.path.startswith(("/api/", "/epcis/"))


def _field_errors(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {
            ("non_field_errors" if k == "__all__" else str(k)): [str(m) for m in _flat(v)]
            for k, v in detail.items()
        }
    return {"non_field_errors": [str(m) for m in _flat(detail)]}


def _flat(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [m for v in value for m in _flat(v)]
    if isinstance(value, dict):
        return [f"{k}: {m}" for k, v in value.items() for m in _flat(v)]
    return [value]


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, IdempotencyConflict):
        return problem(422, "Idempotency-Key reused with a different request", str(exc))
    if isinstance(exc, DjangoValidationError):
        errors = _field_errors(exc.message_dict if hasattr(exc, "error_dict") else exc.messages)
        return problem(400, "The request was refused", _summary(errors), errors=errors)
    if isinstance(exc, Http404):
        return problem(404, "Not found", str(exc) or "No such resource.")
    if isinstance(exc, RequestDataTooBig):
        return problem(413, "Request too large", str(exc))
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        errors = _field_errors(exc.detail)
        return problem(400, "The request was refused", _summary(errors), errors=errors)
    detail = getattr(exc, "detail", "")
    titles = {
        401: "Not authenticated",
        403: "Forbidden",
        404: "Not found",
        405: "Method not allowed",
        429: "Too many requests",
        406: "Not acceptable",
        413: "Request too large",
        415: "Unsupported media type",
    }
    out = problem(
        response.status_code,
        titles.get(response.status_code, "Error"),
        str(detail),
    )
    for header in ("WWW-Authenticate", "Allow", "Retry-After"):
        if header in response:
            out[header] = response[header]
    return out


def _summary(errors: dict[str, list[str]]) -> str:
    return " ".join(
        f"{k}: {m}" if k != "non_field_errors" else m for k, ms in errors.items() for m in ms
    )


#: Seconds a client is asked to wait before sending the request again.
DATABASE_RETRY_AFTER_S = 5


def is_database_unavailable(exception: BaseException | None) -> bool:
    return isinstance(exception, OperationalError | InterfaceError)


def database_unavailable(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: problem+json for the API, plain text otherwise (no template:
    rendering one may need the database itself)."""
    reason = (
        "The database is unavailable for a moment. Send the request again; a write with"
        " the same Idempotency-Key is never done twice."
    )
    response: HttpResponse
    if is_api_request(request):
        response = problem_response(503, "Service unavailable", reason)
    else:
        response = HttpResponse(reason, status=503, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_S)
    return response
