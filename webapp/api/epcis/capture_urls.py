"""The EPCIS 2.0 REST binding's capture endpoints, mounted at /epcis/. (POST /events, one
event, is routed from `query_urls`, which owns the path.)"""

from django.urls import path

from webapp.api.epcis import capture_views

urlpatterns = [
    path("capture", capture_views.CaptureApi.as_view(), name="epcis-capture"),
    path("capture/", capture_views.CaptureApi.as_view()),
    path(
        "capture/<str:capture_id>",
        capture_views.CaptureJobApi.as_view(),
        name="epcis-capture-job",
    ),
]
