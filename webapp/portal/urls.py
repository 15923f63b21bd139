from django.urls import path

from webapp.portal import provenance_views as pv
from webapp.portal import token_views, views

app_name = "portal"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("lots/new", views.lot_register_view, name="lot-register"),
    path("lots/<int:lot_id>", views.lot_view, name="lot"),
    path("lots/<int:lot_id>/unbundle", views.unbundle_view, name="unbundle"),
    path("handoffs/new", views.handoff_initiate_view, name="handoff-initiate"),
    path(
        "handoffs/<int:handoff_id>/accept",
        views.handoff_answer_view,
        {"verb": "accept"},
        name="handoff-accept",
    ),
    path(
        "handoffs/<int:handoff_id>/cancel",
        views.handoff_answer_view,
        {"verb": "cancel"},
        name="handoff-cancel",
    ),
    path("handoffs/<int:handoff_id>/reject", views.handoff_reject_view, name="handoff-reject"),
    path("bundles/new", views.bundle_view, name="bundle"),
    path("transformations/new", views.transform_view, name="transform"),
    path("certificates/new", views.certificate_view, name="certificate"),
    path(
        "certificates/<int:certificate_id>/revoke",
        views.certificate_revoke_view,
        name="certificate-revoke",
    ),
    path("operations", views.operations_view, name="operations"),
    path("operations/<uuid:operation_id>", views.operation_view, name="operation"),
    path("operations/<uuid:operation_id>/status", views.operation_status, name="operation-status"),
    path("documents/<str:sha256>", views.document_download, name="document"),
    path("api-tokens", token_views.api_tokens_view, name="api-tokens"),
    path(
        "api-tokens/<int:token_id>/revoke",
        token_views.api_token_revoke_view,
        name="api-token-revoke",
    ),
    path("certificates/<int:certificate_id>/impact", pv.impact_view, name="revocation-impact"),
    path("notifications/read", pv.notifications_read, name="notifications-read"),
    path("sustainability", pv.sustainability_view, name="sustainability"),
    path("sustainability/<str:table>.csv", pv.sustainability_csv, name="sustainability-csv"),
    # Public, no login: the product passport, its proofs and evidence pack, the verifier.
    path("passport/<int:lot_id>", pv.passport_view, name="passport"),
    path("passport/<int:lot_id>/evidence.json", pv.evidence_view, name="evidence"),
    path("proofs/<str:transaction_hash>/<int:log_index>.json", pv.proof_view, name="proof"),
    path("verify", pv.verify_view, name="verify"),
]
