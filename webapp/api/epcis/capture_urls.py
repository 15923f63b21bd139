"""The EPCIS 2.0 REST binding's capture endpoints, mounted at /epcis/."""

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
    path("events", capture_views.EventCaptureApi.as_view(), name="epcis-event-capture"),
]
