"""The EPCIS 2.0 REST binding's query subscriptions (webhook form), mounted at `/epcis/`:
`GET`/`POST /queries/{name}/subscriptions` and `GET`/`DELETE
/queries/{name}/subscriptions/{subscriptionID}`, on the organisation's named queries. The
work is `webapp.streams.epcis_subscriptions`; the WebSocket form is not served.

A refused body answers 400 problem+json with the binding's types
(`epcisException:ValidationException` for the body and `dest`,
`epcisException:SubscriptionControlsException` for `stream`, `schedule`, `reportIfEmpty`);
an unknown query or subscription 404 `NoSuchResourceException`.
"""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from webapp.api.authentication import acting_organisation
from webapp.api.epcis.query_views import EpcisApi, NoSuchResource, epcis_problem
from webapp.epcis.models import NamedQuery
from webapp.epcis.selectors import named_query
from webapp.streams.epcis_requests import (
    SubscriptionRefused,
    epcis_subscription_json,
    subscription_request,
)
from webapp.streams.epcis_subscriptions import (
    epcis_subscription_create,
    epcis_subscription_delete,
    epcis_subscription_of,
    epcis_subscriptions_of,
)


class SubscriptionApiBase(EpcisApi):
    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, SubscriptionRefused):
            return epcis_problem(400, exc.kind, "Subscription error", str(exc))
        return super().handle_exception(exc)

    def query(self, request: Request, name: str) -> NamedQuery:
        stored = named_query(organisation=acting_organisation(request), name=name)
        if stored is None:
            raise NoSuchResource(f"No query named {name!r}.")
        return stored


class SubscriptionsApi(SubscriptionApiBase):
    """`GET`: the query's subscriptions; `POST` (`{"dest", "signatureToken", "stream":
    true}` or `{..., "schedule": {...}, "reportIfEmpty"}`): a new one, 201 + `Location`."""

    allow = "OPTIONS, GET, POST"

    def get(self, request: Request, name: str) -> Response:
        query = self.query(request, name)
        return Response([epcis_subscription_json(s) for s in epcis_subscriptions_of(query=query)])

    def post(self, request: Request, name: str) -> Response:
        query = self.query(request, name)
        body: Any = request.data
        created = epcis_subscription_create(query=query, request=subscription_request(body))
        location = request.build_absolute_uri(f"{request.path.rstrip('/')}/{created.pk}")
        return Response(
            epcis_subscription_json(created), status=201, headers={"Location": location}
        )


class SubscriptionApi(SubscriptionApiBase):
    """`GET`: one subscription; `DELETE`: unsubscribe."""

    allow = "OPTIONS, GET, DELETE"

    def get(self, request: Request, name: str, subscription_id: str) -> Response:
        return Response(epcis_subscription_json(self.one(request, name, subscription_id)))

    def delete(self, request: Request, name: str, subscription_id: str) -> Response:
        epcis_subscription_delete(epcis=self.one(request, name, subscription_id))
        return Response(status=204)

    def one(self, request: Request, name: str, subscription_id: str) -> Any:
        found = epcis_subscription_of(
            query=self.query(request, name), subscription_id=subscription_id
        )
        if found is None:
            raise NoSuchResource(f"No subscription {subscription_id!r} to the query {name!r}.")
        return found
