"""The EPCIS 2.0 REST binding's query resources, mounted at `/epcis/` (see `query_views`).
Identifiers in the path (an eventID, a Digital Link EPC) may hold slashes once decoded."""

from django.urls import path

from webapp.api.epcis import query_views as views

app_name = "epcis-query"

RESOURCES = ["epcs", "bizSteps", "bizLocations", "readPoints", "dispositions", "eventTypes"]

urlpatterns = [
    path("", views.TopLevelApi.as_view(), name="top-level"),
    path("events", views.EventsApi.as_view(), name="events"),
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
