"""The EPCIS 2.0 REST binding's query side, mounted at `/epcis/`: `GET /events` with the
standard query parameters answering an `EPCISQueryDocument` (JSON-LD, or XML when asked
with `Accept: application/xml`), one event by its ID, and the
top-level resources (`/eventTypes`, `/epcs`, `/bizSteps`, `/bizLocations`, `/readPoints`,
`/dispositions`, each with `/{id}` and `/{id}/events`), and an organisation's named
queries (`/queries`, `/queries/{name}`, `/queries/{name}/events`; their subscriptions are
in `subscription_views.py`).

Thin views: the parameters go to `webapp.epcis.query`, the rows come from
`webapp.epcis.selectors` (which applies the visibility tiers). Errors are problem+json with
the binding's exception types (`epcisException:QueryParameterException`, ...). GS1 publishes
the binding's own OpenAPI document, so these views stay out of the partner API's schema.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.core import signing
from django.http import Http404
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from webapp.api.authentication import acting_organisation
from webapp.api.epcis.base import EpcisResource, capture_limit_headers
from webapp.api.epcis.base import epcis_problem as epcis_problem  # proof_views uses it
from webapp.api.epcis.renderers import EpcisXmlRenderer
from webapp.epcis.documents import EPCIS_CONTEXT, query_document
from webapp.epcis.query import (
    EVENT_TYPES,
    EventQuery,
    QueryParameterError,
    QueryTooLarge,
    parse_query,
    per_page,
    query_parameters,
)
from webapp.epcis.selectors import (
    event_by_id,
    event_count_exceeds,
    event_page,
    named_queries,
    named_query,
    resource_exists,
    resource_names,
)
from webapp.epcis.services import QueryNameTaken, named_query_create, named_query_delete

#: How long a nextPageToken is honoured.
TOKEN_LIFETIME = timedelta(hours=24)
TOKEN_SALT = "webapp.api.epcis.nextPageToken"
TOP_LEVEL = [
    "events",
    "eventTypes",
    "epcs",
    "bizSteps",
    "bizLocations",
    "readPoints",
    "dispositions",
]
#: Which query parameter a top-level resource's `/{id}/events` stands for.
RESOURCE_PARAMETERS = {
    "eventTypes": "eventType",
    "epcs": "MATCH_anyEPC",
    "bizSteps": "EQ_bizStep",
    "bizLocations": "EQ_bizLocation",
    "readPoints": "EQ_readPoint",
    "dispositions": "EQ_disposition",
}


class NoSuchResource(Exception):
    pass


class EpcisApi(EpcisResource):
    """What every EPCIS query resource shares besides `EpcisResource`: the binding's query
    exceptions, collections and the next page's link."""

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, QueryParameterError):
            return epcis_problem(
                400,
                "QueryParameterException",
                "EPCIS query exception",
                str(exc),
                parameter=exc.parameter,
            )
        if isinstance(exc, QueryTooLarge):
            return epcis_problem(413, "QueryTooLargeException", "Query result too large", str(exc))
        if isinstance(exc, QueryNameTaken):
            return epcis_problem(409, "ResourceAlreadyExistsException", "Conflict", str(exc))
        if isinstance(exc, NoSuchResource | Http404):
            return epcis_problem(404, "NoSuchResourceException", "Resource not found", str(exc))
        return super().handle_exception(exc)

    def collection(self, request: Request, members: list[str], next_after: str | None) -> Response:
        body = {"@context": EPCIS_CONTEXT, "type": "Collection", "member": members}
        response = Response(body)
        if next_after is not None:
            self.link_next(request, response, {"after": next_after})
        return response

    def link_next(self, request: Request, response: Response, key: dict[str, Any]) -> None:
        token = signing.dumps({**key, "q": _fingerprint(request)}, salt=TOKEN_SALT)
        params = [
            (k, v) for k, vs in request.query_params.lists() if k != "nextPageToken" for v in vs
        ]
        url = (
            request.build_absolute_uri(request.path)
            + "?"
            + urlencode([*params, ("nextPageToken", token)])
        )
        response["Link"] = f'<{url}>; rel="next"'
        expires = datetime.now(UTC) + TOKEN_LIFETIME
        response["GS1-Next-Page-Token-Expires"] = expires.isoformat(timespec="seconds")


def _fingerprint(request: Request) -> str:
    """What a page token is bound to: the path and the query, paging aside."""
    shown = sorted(
        (k, v)
        for k, vs in request.query_params.lists()
        if k not in {"nextPageToken", "perPage"}
        for v in vs
    )
    return request.path + "?" + urlencode(shown)


def _page_key(request: Request) -> dict[str, Any] | None:
    """The key a nextPageToken carries, checked to belong to this very query."""
    token = request.query_params.get("nextPageToken")
    if token is None:
        return None
    try:
        key = signing.loads(token, salt=TOKEN_SALT, max_age=TOKEN_LIFETIME)
    except signing.SignatureExpired:
        raise QueryParameterError("nextPageToken", "the token has expired.") from None
    except signing.BadSignature:
        raise QueryParameterError("nextPageToken", "not a token this server gave.") from None
    if not isinstance(key, dict) or key.get("q") != _fingerprint(request):
        raise QueryParameterError("nextPageToken", "the token belongs to another query.")
    return key


#: The events resources answer JSON (the default) or, asked for it, XML.
EVENT_RENDERERS: list[type[BaseRenderer]] = [JSONRenderer, EpcisXmlRenderer]


class EventsApi(EpcisApi):
    """`GET /events`: the visible events a query selects, a page at a time. (`/events`
    itself also captures one event by POST, `capture_views.EventCaptureApi`; its OPTIONS
    answers here and says so.)"""

    #: A path parameter this resource adds to the query (`/bizSteps/{id}/events`).
    resource = ""
    renderer_classes = EVENT_RENDERERS

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        if not self.resource:
            self.allow = "OPTIONS, GET, POST"
        super().initial(request, *args, **kwargs)

    def discovery_headers(self) -> dict[str, str]:
        return capture_limit_headers() if not self.resource else {}

    def get(self, request: Request, name: str = "") -> Response:
        query = parse_query(dict(request.query_params.lists()))
        if self.resource == "queries":
            stored = named_query(organisation=acting_organisation(request), name=name)
            if stored is None:
                raise NoSuchResource(f"No query named {name!r}.")
            query.include(parse_query(query_parameters(stored.query)))
            return self.answer(request, query, query_name=name)
        if self.resource:
            if not resource_known(request, self.resource, name):
                raise NoSuchResource(f"No {self.resource} {name!r} in the events you may see.")
            query.filters += parse_query({RESOURCE_PARAMETERS[self.resource]: [name]}).filters
        return self.answer(request, query)

    def answer(
        self, request: Request, query: EventQuery, query_name: str = "SimpleEventQuery"
    ) -> Response:
        size = per_page(request.query_params.getlist("perPage"))
        key = _page_key(request)
        after = None
        #: Events the earlier pages gave (`eventCountLimit` counts over all pages).
        given = 0
        if key is not None:
            after, given = key.get("after"), key.get("n", 0)
            if not (isinstance(after, list) and len(after) == 2 and isinstance(given, int)):
                raise QueryParameterError("nextPageToken", "not a token this server gave.")
            after = (str(after[0]), str(after[1]))
        organisation = acting_organisation(request)
        if query.max_count is not None and event_count_exceeds(
            organisation=organisation, query=query, limit=query.max_count
        ):
            raise QueryTooLarge(query.max_count)
        if query.count_limit is not None:
            size = max(1, min(size, query.count_limit - given))
        page = event_page(organisation=organisation, query=query, per_page=size, after=after)
        response = Response(query_document(page.events, query_name))
        more = page.next_key is not None
        if query.count_limit is not None and given + len(page.events) >= query.count_limit:
            more = False
        if more:
            next_key = {"after": list(page.next_key or ()), "n": given + len(page.events)}
            self.link_next(request, response, next_key)
        return response


def resource_known(request: Request, resource: str, name: str) -> bool:
    if resource == "eventTypes":
        return name in EVENT_TYPES
    return resource_exists(organisation=acting_organisation(request), resource=resource, name=name)


class EventApi(EpcisApi):
    """`GET /events/{eventID}`: one visible event (by its eventID or its event hash)."""

    renderer_classes = EVENT_RENDERERS

    def get(self, request: Request, event_id: str) -> Response:
        event = event_by_id(organisation=acting_organisation(request), event_id=event_id)
        if event is None:
            raise NoSuchResource(f"No event {event_id!r} among the events you may see.")
        return Response(query_document([event]))


class TopLevelApi(EpcisApi):
    """`GET /`: the top-level resources."""

    def get(self, request: Request) -> Response:
        return self.collection(request, TOP_LEVEL, None)


class ResourceListApi(EpcisApi):
    """`GET /eventTypes`, `/epcs`, `/bizSteps`, ...: the values the visible events name."""

    resource = ""

    def get(self, request: Request) -> Response:
        if self.resource == "eventTypes":
            return self.collection(request, list(EVENT_TYPES), None)
        size = per_page(request.query_params.getlist("perPage"))
        unknown = sorted(set(request.query_params) - {"perPage", "nextPageToken"})
        if unknown:
            raise QueryParameterError(unknown[0], "no such parameter for this resource.")
        key = _page_key(request)
        after = key.get("after") if key else None
        if key is not None and not isinstance(after, str):
            raise QueryParameterError("nextPageToken", "not a token this server gave.")
        names, next_after = resource_names(
            organisation=acting_organisation(request),
            resource=self.resource,
            per_page=size,
            after=after,
        )
        return self.collection(request, names, next_after)


class ResourceApi(EpcisApi):
    """`GET /bizSteps/{id}` and the like: the sub-resources (`events`) of a known value."""

    resource = ""

    def get(self, request: Request, name: str) -> Response:
        if not resource_known(request, self.resource, name):
            raise NoSuchResource(f"No {self.resource} {name!r} in the events you may see.")
        return self.collection(request, ["events"], None)


def _definition(stored: Any) -> dict[str, Any]:
    return {"name": stored.name, "query": stored.query}


class QueriesApi(EpcisApi):
    """`GET /queries`: the organisation's named queries; `POST /queries` keeps one
    (`{"name": ..., "query": {...}}`), answering 201 with its `Location`."""

    allow = "OPTIONS, GET, POST"

    def get(self, request: Request) -> Response:
        stored = named_queries(organisation=acting_organisation(request))
        return Response([_definition(q) for q in stored])

    def post(self, request: Request) -> Response:
        body = request.data if isinstance(request.data, dict) else {}
        stored = named_query_create(
            organisation=acting_organisation(request),
            name=body.get("name"),
            query=body.get("query"),
        )
        location = request.build_absolute_uri(f"{request.path.rstrip('/')}/{stored.name}")
        return Response(_definition(stored), status=201, headers={"Location": location})


class QueryApi(EpcisApi):
    """`GET /queries/{name}`: the definition; `DELETE`: gone."""

    allow = "OPTIONS, GET, DELETE"

    def get(self, request: Request, name: str) -> Response:
        stored = named_query(organisation=acting_organisation(request), name=name)
        if stored is None:
            raise NoSuchResource(f"No query named {name!r}.")
        return Response(_definition(stored))

    def delete(self, request: Request, name: str) -> Response:
        if not named_query_delete(organisation=acting_organisation(request), name=name):
            raise NoSuchResource(f"No query named {name!r}.")
        return Response(status=204)
