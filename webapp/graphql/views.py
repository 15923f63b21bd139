"""`/graphql`: the hub over HTTP, with the partner API's authentication and tiers.

An organisation's system sends its API token (`Authorization: Bearer pvn_…`); a person
signed in to the portal uses the session, and a POST on a session needs the CSRF token
(as the REST API's session authentication does). The hub only reads (no mutations), so a
read-only token is good for POST too. Requests count against the partner API's rate per
token (or person): 429 past it. Without credentials: 401; a person outside any
organisation or a session POST without CSRF: 403. Both answers have the GraphQL error
shape.

GraphiQL: in development (DEBUG), a signed-in person opening `/graphql` in a browser gets
GraphiQL, its scripts served from the npm packages in node_modules (never a CDN: the
Content-Security-Policy allows the site's own scripts only). In production there is none:
use any GraphQL client against `/graphql`, or introspect the committed
`webapp/graphql/schema.graphql`.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.authentication import SessionAuthentication
from rest_framework.request import Request
from rest_framework.views import APIView
from strawberry.django.views import GraphQLView

from webapp.api.authentication import ApiClient, ApiTokenAuthentication
from webapp.api.throttling import TokenRateThrottle
from webapp.graphql.loaders import LotLoader
from webapp.graphql.schema import schema
from webapp.graphql.types import HubContext
from webapp.lots.selectors.scope import stock_scope
from webapp.organisations.models import Organisation
from webapp.organisations.selectors import organisation_of_user


def _refusal(status: int, message: str, code: str) -> JsonResponse:
    response = JsonResponse(
        {"data": None, "errors": [{"message": message, "extensions": {"code": code}}]},
        status=status,
    )
    if status == 401:
        response["WWW-Authenticate"] = ApiTokenAuthentication.keyword
    return response


def _principal(request: HttpRequest) -> Request | None:
    """The request as DRF sees it once authenticated (`user`: an ApiClient or a person;
    `auth`: the token), or None. Raises DRF's authentication exceptions."""
    found: tuple[Any, Any] | None
    if request.headers.get("Authorization"):
        as_read = copy.copy(request)
        as_read.method = "GET"  # no mutations here: every request is a read
        found = ApiTokenAuthentication().authenticate(Request(as_read))
    else:
        # DRF's SessionAuthentication, with its CSRF check run on Django's request: on a
        # DRF request the check would parse the JSON body (and fail: the hub parses it).
        person: Any = getattr(request, "user", None)
        found = None
        if person is not None and person.is_active:
            SessionAuthentication().enforce_csrf(request)  # type: ignore[arg-type]
            found = (person, None)
    if found is None:
        return None
    drf = Request(request)
    user: Any = found[0]  # an ApiClient stands in for a user, as in the partner API
    drf.user, drf.auth = user, found[1]
    return drf


def _throttled(drf: Request) -> JsonResponse | None:
    """The partner API's per-token (or per-person) rate, counted in the same bucket."""
    throttle = TokenRateThrottle()
    if throttle.allow_request(drf, APIView()):
        return None
    wait = throttle.wait()
    response = _refusal(429, "Too many requests: slow down and retry later.", "THROTTLED")
    if wait is not None:
        response["Retry-After"] = str(max(1, math.ceil(wait)))
    return response


@method_decorator(csrf_exempt, name="dispatch")  # CSRF is checked for sessions below
class HubView(GraphQLView):
    graphql_ide = None
    allow_queries_via_get = True
    organisation: Organisation

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        try:
            drf = _principal(request)
        except exceptions.AuthenticationFailed as exc:
            return _refusal(401, str(exc.detail), "UNAUTHENTICATED")
        except exceptions.PermissionDenied as exc:
            return _refusal(403, str(exc.detail), "FORBIDDEN")
        if drf is None:
            return _refusal(
                401,
                "Authentication required: send `Authorization: Bearer <API token>` or sign in.",
                "UNAUTHENTICATED",
            )
        if (refused := _throttled(drf)) is not None:
            return refused
        principal = drf.user
        organisation = (
            principal.organisation
            if isinstance(principal, ApiClient)
            else organisation_of_user(principal)
        )
        if organisation is None:
            return _refusal(403, "This account does not belong to an organisation.", "FORBIDDEN")
        self.organisation = organisation
        # GraphiQL for a signed-in developer, in development only (its scripts come from
        # node_modules through `graphiql_asset`, never a CDN).
        self.graphql_ide = "graphiql" if settings.DEBUG else None
        return super().dispatch(request, *args, **kwargs)

    def get_context(  # type: ignore[override]  # strawberry types the context as None
        self, request: HttpRequest, response: HttpResponse
    ) -> HubContext:
        return HubContext(
            request=request,
            response=response,
            organisation=self.organisation,
            loader=LotLoader(stock_scope(organisation=self.organisation)),
        )


hub_view = HubView.as_view(schema=schema)

#: GraphiQL's files in node_modules (npm packages graphiql, react, react-dom).
GRAPHIQL_ASSETS = {
    "react.js": ("react/umd/react.production.min.js", "text/javascript"),
    "react-dom.js": ("react-dom/umd/react-dom.production.min.js", "text/javascript"),
    "graphiql.js": ("graphiql/graphiql.min.js", "text/javascript"),
    "graphiql.css": ("graphiql/graphiql.min.css", "text/css"),
}


def graphiql_asset(request: HttpRequest, name: str) -> FileResponse:
    """One of GraphiQL's files, in development only (404 otherwise, or when npm's packages
    are not installed)."""
    if not settings.DEBUG or name not in GRAPHIQL_ASSETS:
        raise Http404("GraphiQL is served in development only.")
    relative, content_type = GRAPHIQL_ASSETS[name]
    path = Path(settings.BASE_DIR) / "node_modules" / relative
    if not path.is_file():
        raise Http404(f"{relative} is missing: run `npm ci`.")
    return FileResponse(path.open("rb"), content_type=content_type)
