"""The EPCIS 2.0 REST binding's query resources, mounted at `/epcis/` (see `query_views`).
Identifiers in the path (an eventID, a Digital Link EPC) may hold slashes once decoded."""

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from webapp.api.epcis import capture_views, proof_views, subscription_views
from webapp.api.epcis import query_views as views

app_name = "epcis-query"

RESOURCES = ["epcs", "bizSteps", "bizLocations", "readPoints", "dispositions", "eventTypes"]

_query_events = views.EventsApi.as_view()
_capture_event = capture_views.EventCaptureApi.as_view()


@csrf_exempt
def events(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """`/events` is both the query (GET) and the capture of one event (POST)."""
    view = _capture_event if request.method == "POST" else _query_events
    response: HttpResponse = view(request, *args, **kwargs)
    return response


urlpatterns = [
    path("", views.TopLevelApi.as_view(), name="top-level"),
    path("events", events, name="events"),
    # Before `events/<path:event_id>`, which would take "/proof" as part of the eventID.
    path("events/<path:event_id>/proof", proof_views.EventProofApi.as_view(), name="event-proof"),
    path("events/<path:event_id>", views.EventApi.as_view(), name="event"),
    path("queries", views.QueriesApi.as_view(), name="queries"),
    path("queries/<str:name>", views.QueryApi.as_view(), name="query"),
    path(
        "queries/<str:name>/events",
        views.EventsApi.as_view(resource="queries"),
        name="query-events",
    ),
]
for resource in RESOURCES:
    urlpatterns += [
        path(f"{resource}", views.ResourceListApi.as_view(resource=resource), name=resource),
        path(
            f"{resource}/<path:name>/events",
            views.EventsApi.as_view(resource=resource),
            name=f"{resource}-events",
        ),
        path(
            f"{resource}/<path:name>",
            views.ResourceApi.as_view(resource=resource),
            name=f"{resource}-one",
        ),
    ]
urlpatterns += [
    path(
        "queries/<str:name>/subscriptions",
        subscription_views.SubscriptionsApi.as_view(),
        name="query-subscriptions",
    ),
    path(
        "queries/<str:name>/subscriptions/<str:subscription_id>",
        subscription_views.SubscriptionApi.as_view(),
        name="query-subscription",
    ),
]
