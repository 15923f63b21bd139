from django.urls import path

from webapp.imports import views

app_name = "imports"

urlpatterns = [
    path("imports", views.import_list_view, name="list"),
    path("imports/new", views.import_new_view, name="new"),
    path(
        "imports/templates/<str:record_type>.<str:extension>",
        views.import_template_view,
        name="template",
    ),
    path("imports/<uuid:job_id>", views.import_job_view, name="job"),
    path("imports/<uuid:job_id>/status", views.import_status_view, name="status"),
    path("imports/<uuid:job_id>/submit", views.import_submit_view, name="submit"),
    path("imports/<uuid:job_id>/result.csv", views.import_result_view, name="result"),
]
