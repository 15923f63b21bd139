"""What the published OpenAPI schema says beyond the serializers: the problem+json shape
every refusal has, which statuses each kind of endpoint answers, and the write header.

The statuses follow the code paths: 400 from a serializer, a query check, the JSON parser
or the NUL-byte guard (webapp/edge.py); 401 from a missing, unknown, revoked or expired
token; 403 from a read-only token on a write (webapp/api/authentication.py) or a portal
session without an organisation; 404 from an unknown id, a path id past uint256 or a page
past the last; 406 from an `Accept` header naming no type the endpoint answers in; 413 and
415 from the parsers; 422 from an Idempotency-Key reused with another body; 429 from the
rate limits (webapp/api/throttling.py)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from webapp.api.problems import PROBLEM
from webapp.limits import MAX_IDEMPOTENCY_KEY_LENGTH

#: Printable ASCII with at least one character that is not a space (the server strips
#: surrounding spaces and refuses an empty key).
IDEMPOTENCY_KEY_PATTERN = r"^[ -~]*[!-~][ -~]*$"

IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key",
    {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH,
        "pattern": IDEMPOTENCY_KEY_PATTERN,
    },
    OpenApiParameter.HEADER,
    required=True,
    description="Unique per intended write (printable ASCII, at most"
    f" {MAX_IDEMPOTENCY_KEY_LENGTH} characters). The same key and body return the first"
    " operation; the same key with another body is refused with 422.",
)


class Problem(serializers.Serializer[Any]):
    """An RFC 9457 problem document."""

    class Meta:
        ref_name = "Problem"

    type = serializers.CharField(help_text="always `about:blank`")
    title = serializers.CharField()
    status = serializers.IntegerField(min_value=400, max_value=599)
    detail = serializers.CharField(required=False)
    # The metaclass moves declared fields out of the class: `Serializer.errors` stays intact.
    errors = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="400 only: the messages per refused field (`non_field_errors` for the"
        " request as a whole)",
    )


_MEANING = {
    400: "The request was refused: a field, a query parameter, the JSON body or a header is"
    " not acceptable (`errors` names each field).",
    401: "No API token, or an unknown, revoked or expired one.",
    403: "A read-only token on a write, or a portal session without an organisation.",
    404: "No such resource (or not one this organisation may read), or a page past the last.",
    406: "The `Accept` header names no type this endpoint answers in.",
    409: "The stored document does not match its hash.",
    413: "The request body is larger than the API accepts.",
    415: "The request body's media type is not accepted here.",
    422: "The Idempotency-Key was used before with a different request.",
    429: "Too many requests for this token or address; see `Retry-After`.",
}


def problems(*statuses: int) -> dict[Any, Any]:
    """Responses for the given refusal statuses, each a `Problem` as problem+json."""
    return {
        (status, PROBLEM): OpenApiResponse(response=Problem, description=_MEANING[status])
        for status in statuses
    }


def read_responses(ok: Any, *, by_id: bool = True, org: bool = True) -> dict[Any, Any]:
    """A read: 200 with `ok`; 404 when the path names a resource or the list is paged; 403
    when the view acts for an organisation."""
    statuses = [400, 401] + ([403] if org else []) + ([404] if by_id else []) + [406, 429]
    return {200: ok, **problems(*statuses)}


def write_responses(ok: Any, *, by_id: bool = False, body: bool = True) -> dict[Any, Any]:
    """A write that queues an operation: 202 with it, or a refusal."""
    statuses = [400, 401, 403] + ([404] if by_id else []) + [406]
    statuses += [413, 415] if body else []
    return {202: ok, **problems(*statuses, 422, 429)}


INT64_MAX = 2**63 - 1


def say_what_the_server_takes(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Postprocessing hook for two things drf-spectacular states more narrowly than the
    server takes them:

    - a blank-able field with a pattern is published as `oneOf: [pattern, maxLength 0]`,
      which refuses "" (it matches both branches): `anyOf` says what the server does;
    - an integer bounded past 2^63 - 1 (ids are uint256, quantities uint240) is marked
      `format: int64`, which refuses the larger numbers the server takes: the format goes,
      the minimum and maximum stay."""

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            branches = node.get("oneOf")
            if isinstance(branches, list) and {"type": "string", "maxLength": 0} in branches:
                node["anyOf"] = node.pop("oneOf")
            if node.get("format") == "int64" and node.get("maximum", 0) > INT64_MAX:
                del node["format"]
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(result)
    return result
