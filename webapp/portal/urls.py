from django.urls import include, path

from webapp.converters import Uint256Converter  # noqa: F401  (registers <uint:>)
from webapp.portal import (
    alert_views,
    device_views,
    epcis_views,
    lots_views,
    origin_views,
    page_views,
    settings_views,
    subscription_actions,
    subscription_views,
    token_views,
    views,
)
from webapp.portal import provenance_views as pv

app_name = "portal"

urlpatterns = [
    path("", page_views.dashboard, name="dashboard"),
    path("lots", lots_views.lots_view, name="lots"),
    path("search", lots_views.search_view, name="search"),
    path("lots/new", views.lot_register_view, name="lot-register"),
    path("lots/<uint:lot_id>", page_views.lot_view, name="lot"),
    path("lots/<uint:lot_id>/unbundle", views.unbundle_view, name="unbundle"),
    path("handoffs/new", views.handoff_initiate_view, name="handoff-initiate"),
    path(
        "handoffs/<uint:handoff_id>/accept",
        views.handoff_accept_view,
        name="handoff-accept",
    ),
    path(
        "handoffs/<uint:handoff_id>/cancel",
        views.handoff_cancel_view,
        name="handoff-cancel",
    ),
    path("handoffs/<uint:handoff_id>/reject", views.handoff_reject_view, name="handoff-reject"),
    path("bundles/new", views.bundle_view, name="bundle"),
    path("transformations/new", views.transform_view, name="transform"),
    path("certificates/new", views.certificate_view, name="certificate"),
    path(
        "certificates/<uint:certificate_id>/revoke",
        views.certificate_revoke_view,
        name="certificate-revoke",
    ),
    path("settings", settings_views.organisation_settings_view, name="organisation-settings"),
    path(
        "settings/acceptance-policy",
        settings_views.acceptance_policy_view,
        name="acceptance-policy",
    ),
    path("settings/time-zone", settings_views.time_zone_view, name="time-zone"),
    path("operations", page_views.operations_view, name="operations"),
    path("operations/<uuid:operation_id>", page_views.operation_view, name="operation"),
    path(
        "operations/<uuid:operation_id>/status",
        page_views.operation_status,
        name="operation-status",
    ),
    path("documents/<str:sha256>", page_views.document_download, name="document"),
    path("api-tokens", token_views.api_tokens_view, name="api-tokens"),
    path(
        "api-tokens/<uint:token_id>/revoke",
        token_views.api_token_revoke_view,
        name="api-token-revoke",
    ),
    path("certificates/<uint:certificate_id>/impact", pv.impact_view, name="revocation-impact"),
    path("notifications/read", pv.notifications_read, name="notifications-read"),
    path("alerts", alert_views.alerts_view, name="alerts"),
    path("alerts/<int:alert_id>/clear", alert_views.alert_clear_view, name="alert-clear"),
    path("sustainability", pv.sustainability_view, name="sustainability"),
    path("sustainability/origins", origin_views.origins_view, name="origins"),
    path("sustainability/origins.csv", origin_views.origins_csv, name="origins-csv"),
    path("sustainability/<str:table>.csv", pv.sustainability_csv, name="sustainability-csv"),
    path("traceability/epcis", epcis_views.epcis_events_view, name="epcis"),
    path("traceability/epcis/download", epcis_views.epcis_download_view, name="epcis-download"),
    path("traceability/epcis/upload", epcis_views.epcis_upload_view, name="epcis-upload"),
    path("traceability/epcis/jobs/<uuid:job_id>", epcis_views.epcis_job_view, name="epcis-job"),
    path("traceability/epcis/event/<str:digest>", epcis_views.epcis_event_view, name="epcis-event"),
    path(
        "traceability/epcis/jobs/<uuid:job_id>/status",
        epcis_views.epcis_job_status,
        name="epcis-job-status",
    ),
    path("devices", device_views.devices_view, name="devices"),
    path("subscriptions", subscription_views.subscriptions_view, name="subscriptions"),
    path(
        "subscriptions/new",
        subscription_views.subscription_create_view,
        name="subscription-create",
    ),
    path(
        "subscriptions/<uuid:subscription_id>",
        subscription_views.subscription_view,
        name="subscription",
    ),
    path(
        "subscriptions/<uuid:subscription_id>/status",
        subscription_views.subscription_status,
        name="subscription-status",
    ),
    path(
        "subscriptions/<uuid:subscription_id>/edit",
        subscription_views.subscription_edit_view,
        name="subscription-edit",
    ),
    path(
        "subscriptions/<uuid:subscription_id>/delete",
        subscription_views.subscription_delete_view,
        name="subscription-delete",
    ),
    *[
        path(f"subscriptions/<uuid:subscription_id>/{action}", view, name=f"subscription-{action}")
        for action, view in (
            ("pause", subscription_actions.subscription_pause_view),
            ("resume", subscription_actions.subscription_resume_view),
            ("rewind", subscription_actions.subscription_rewind_view),
            ("rotate", subscription_actions.subscription_rotate_view),
            ("test", subscription_actions.subscription_test_view),
        )
    ],
    path(
        "subscriptions/<uuid:subscription_id>/dead-letters/replay",
        subscription_actions.dead_letters_replay_view,
        name="dead-letters-replay",
    ),
    path(
        "subscriptions/<uuid:subscription_id>/dead-letters/<int:message_pk>/replay",
        subscription_actions.dead_letter_replay_view,
        name="dead-letter-replay",
    ),
    path("", include("webapp.imports.urls")),
]
