"""What every EPCIS 2.0 REST binding resource shares, capture and query alike: the version
headers on every answer, the refusal (406) of a version range this repository does not
serve, `OPTIONS` discovery (204 with `Allow` and the binding's discovery headers, open to
anyone: it tells versions and limits, no data) and the binding's type for security
errors. A resource says which methods its path allows and what it adds to discovery."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from webapp.api.problems import PROBLEM
from webapp.epcis.capture import CAPTURE_FILE_SIZE_LIMIT, CAPTURE_LIMIT

EPCIS_VERSION = "2.0.0"
CBV_VERSION = "2.0.0"
VERSION_HEADERS = {"GS1-EPCIS-Version": EPCIS_VERSION, "GS1-CBV-Version": CBV_VERSION}
DISCOVERY_HEADERS = {
    **VERSION_HEADERS,
    "GS1-EPCIS-Min": EPCIS_VERSION,
    "GS1-EPCIS-Max": EPCIS_VERSION,
    "GS1-CBV-Min": CBV_VERSION,
    "GS1-CBV-Max": CBV_VERSION,
    "GS1-EPC-Format": "Always_GS1_Digital_Link",
    "GS1-CBV-XML-Format": "Always_Web_URI",
    "GS1-Vendor-Version": "provenant",
}
SERVED = (2, 0, 0)
SECURITY = "epcisException:SecurityException"
SECURITY_ERRORS = (
    exceptions.NotAuthenticated,
    exceptions.AuthenticationFailed,
    exceptions.PermissionDenied,
)


class VersionNotServed(Exception):
    pass


def capture_limit_headers() -> dict[str, str]:
    """What a resource that captures announces: how many events and bytes a call takes."""
    return {
        "GS1-EPCIS-Capture-Limit": str(CAPTURE_LIMIT),
        "GS1-EPCIS-Capture-File-Size-Limit": str(CAPTURE_FILE_SIZE_LIMIT),
    }


def epcis_problem(status: int, kind: str, title: str, detail: str, **extra: Any) -> Response:
    """A problem+json answer with the binding's exception type (`epcisException:<kind>`)."""
    body: dict[str, Any] = {"type": f"epcisException:{kind}", "title": title, "status": status}
    body.update(detail=detail, **extra)
    return Response(body, status=status, content_type=PROBLEM)


def _version(text: str) -> tuple[int, ...]:
    """`2.0.0` as (2, 0, 0); what is no version sorts below every version."""
    parts = text.strip().split(".")
    if not all(p.isascii() and p.isdigit() and len(p) < 6 for p in parts):
        return ()
    return tuple(int(p) for p in parts)


@extend_schema(exclude=True)
class EpcisResource(APIView):
    """The base of every EPCIS view (see the module)."""

    #: The `Allow` header: the methods this path answers (more than the view's own
    #: handlers where two views share a path, as `/events` does).
    allow = "OPTIONS, GET"

    def discovery_headers(self) -> dict[str, str]:
        """What `OPTIONS` announces besides the versions (capture limits, ...)."""
        return {}

    def get_permissions(self) -> Any:
        if self.request.method == "OPTIONS":
            return []
        return super().get_permissions()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        for kind in ("EPCIS", "CBV"):
            low = request.headers.get(f"GS1-{kind}-Min")
            high = request.headers.get(f"GS1-{kind}-Max")
            if (low and _version(low) > SERVED) or (high and _version(high) < SERVED):
                raise VersionNotServed(
                    f"This repository answers in {kind} 2.0.0 only"
                    f" (asked for {low or 'any'} to {high or 'any'})."
                )

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        for name, value in VERSION_HEADERS.items():
            response[name] = value
        response["Allow"] = self.allow
        return response

    def options(self, request: Any, *args: Any, **kwargs: Any) -> Response:
        return Response(status=204, headers={**DISCOVERY_HEADERS, **self.discovery_headers()})

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, VersionNotServed):
            return epcis_problem(
                406, "NotAcceptableException", "Conflicting request and response headers", str(exc)
            )
        response: Response = super().handle_exception(exc)
        if isinstance(exc, SECURITY_ERRORS) and isinstance(response.data, dict):
            response.data["type"] = SECURITY
        return response
