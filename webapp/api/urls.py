from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from webapp.api import provenance, views
from webapp.api.views import alerts, devices, imports, origins, reading_evidence, search
from webapp.api.views import subscriptions as subs
from webapp.converters import Uint256Converter  # noqa: F401  (registers <uint:>)

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("v1/organisations", views.OrganisationListApi.as_view(), name="organisations"),
    path("v1/search", search.SearchApi.as_view(), name="search"),
    path("v1/inventory", views.InventoryApi.as_view(), name="inventory"),
    path("v1/lots", views.LotListApi.as_view(), name="lots"),
    path("v1/lots/register", views.LotRegisterApi.as_view(), name="lot-register"),
    path("v1/lots/<uint:lot_id>", views.LotDetailApi.as_view(), name="lot"),
    path("v1/lots/<uint:lot_id>/trace", provenance.TraceApi.as_view(), name="lot-trace"),
    path("v1/lots/<uint:lot_id>/custody", provenance.CustodyApi.as_view(), name="lot-custody"),
    path("v1/lots/<uint:lot_id>/holders", provenance.HoldersApi.as_view(), name="lot-holders"),
    path("v1/lots/<uint:lot_id>/figures", provenance.FiguresApi.as_view(), name="lot-figures"),
    path("v1/lots/<uint:lot_id>/origins", origins.LotOriginsApi.as_view(), name="lot-origins"),
    path("v1/origins", origins.OriginReportApi.as_view(), name="origins"),
    path(
        "v1/lots/<uint:lot_id>/readings/evidence",
        reading_evidence.ReadingEvidenceApi.as_view(),
        name="lot-reading-evidence",
    ),
    path("v1/handoffs", views.HandoffListApi.as_view(), name="handoffs"),
    path("v1/handoffs/initiate", views.HandoffInitiateApi.as_view(), name="handoff-initiate"),
    path(
        "v1/handoffs/<uint:handoff_id>/accept",
        views.HandoffAcceptApi.as_view(),
        name="handoff-accept",
    ),
    path(
        "v1/handoffs/<uint:handoff_id>/reject",
        views.HandoffRejectApi.as_view(),
        name="handoff-reject",
    ),
    path(
        "v1/handoffs/<uint:handoff_id>/cancel",
        views.HandoffCancelApi.as_view(),
        name="handoff-cancel",
    ),
    path("v1/bundles", views.BundleCreateApi.as_view(), name="bundle-create"),
    path(
        "v1/bundles/<uint:bundle_id>/unpack", views.BundleUnpackApi.as_view(), name="bundle-unpack"
    ),
    path(
        "v1/bundles/<uint:bundle_id>/contents",
        provenance.BundleContentsApi.as_view(),
        name="bundle-contents",
    ),
    path("v1/transformations", views.TransformationApi.as_view(), name="transformations"),
    path("v1/certificates", views.CertificateListApi.as_view(), name="certificates"),
    path("v1/certificates/issue", views.CertificateIssueApi.as_view(), name="certificate-issue"),
    path(
        "v1/certificates/<uint:certificate_id>/revoke",
        views.CertificateRevokeApi.as_view(),
        name="certificate-revoke",
    ),
    path(
        "v1/certificates/<uint:certificate_id>/impact",
        provenance.RevocationImpactApi.as_view(),
        name="certificate-impact",
    ),
    path("v1/documents", views.DocumentUploadApi.as_view(), name="documents"),
    path("v1/documents/<str:sha256>", views.DocumentDownloadApi.as_view(), name="document"),
    path("v1/operations", views.OperationListApi.as_view(), name="operations"),
    path("v1/operations/<uuid:operation_id>", views.OperationDetailApi.as_view(), name="operation"),
    path("v1/rules", alerts.RuleListApi.as_view(), name="rules"),
    path("v1/rules/<int:rule_id>", alerts.RuleDetailApi.as_view(), name="rule"),
    path("v1/alerts", alerts.AlertListApi.as_view(), name="alerts"),
    path("v1/alerts/<int:alert_id>", alerts.AlertDetailApi.as_view(), name="alert"),
    path("v1/alerts/<int:alert_id>/clear", alerts.AlertClearApi.as_view(), name="alert-clear"),
    path("v1/imports", imports.ImportCreateApi.as_view(), name="imports"),
    path("v1/imports/<uuid:job_id>", imports.ImportDetailApi.as_view(), name="import"),
    path(
        "v1/imports/<uuid:job_id>/submit", imports.ImportSubmitApi.as_view(), name="import-submit"
    ),
    path(
        "v1/imports/<uuid:job_id>/result", imports.ImportResultApi.as_view(), name="import-result"
    ),
    path("v1/devices", devices.DeviceListApi.as_view(), name="devices"),
    path("v1/devices/readings", devices.ReadingsApi.as_view(), name="device-readings"),
    path("v1/devices/<str:device_id>", devices.DeviceDetailApi.as_view(), name="device"),
    path(
        "v1/devices/<str:device_id>/attach", devices.DeviceAttachApi.as_view(), name="device-attach"
    ),
    path(
        "v1/devices/<str:device_id>/revoke", devices.DeviceRevokeApi.as_view(), name="device-revoke"
    ),
    path("v1/subscriptions", subs.SubscriptionListApi.as_view(), name="subscriptions"),
    path(
        "v1/subscriptions/<uuid:subscription_id>",
        subs.SubscriptionDetailApi.as_view(),
        name="subscription",
    ),
    path(
        "v1/subscriptions/<uuid:subscription_id>/pause",
        subs.SubscriptionPauseApi.as_view(),
        name="subscription-pause",
    ),
    path(
        "v1/subscriptions/<uuid:subscription_id>/resume",
        subs.SubscriptionResumeApi.as_view(),
        name="subscription-resume",
    ),
    path(
        "v1/subscriptions/<uuid:subscription_id>/rewind",
        subs.SubscriptionRewindApi.as_view(),
        name="subscription-rewind",
    ),
    path(
        "v1/subscriptions/<uuid:subscription_id>/rotate-secret",
        subs.SecretRotateApi.as_view(),
        name="subscription-rotate-secret",
    ),
    path(
        "v1/subscriptions/<uuid:subscription_id>/test",
        subs.SubscriptionTestApi.as_view(),
        name="subscription-test",
    ),
    path(
        "v1/subscriptions/<uuid:subscription_id>/deliveries",
        subs.DeliveryListApi.as_view(),
        name="subscription-deliveries",
    ),
    path(
        "v1/subscriptions/<uuid:subscription_id>/dead-letters",
        subs.DeadLetterListApi.as_view(),
        name="subscription-dead-letters",
    ),
    path(
        "v1/subscriptions/<uuid:subscription_id>/dead-letters/replay",
        subs.DeadLetterReplayAllApi.as_view(),
        name="subscription-dead-letters-replay",
    ),
    path(
        "v1/subscriptions/<uuid:subscription_id>/dead-letters/<int:message_pk>/replay",
        subs.DeadLetterReplayApi.as_view(),
        name="subscription-dead-letter-replay",
    ),
]
