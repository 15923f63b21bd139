from django.urls import path

from webapp.converters import Uint256Converter  # noqa: F401  (registers <uint:>)
from webapp.passport import views

app_name = "passport"

# Public, no login: the product passport, its proofs and evidence pack, the verifier.
urlpatterns = [
    path("passport/<uint:lot_id>", views.passport_view, name="passport"),
    path("passport/<uint:lot_id>/qr.png", views.qr_png_view, name="qr-png"),
    path("passport/<uint:lot_id>/evidence.json", views.evidence_view, name="evidence"),
    # Anything else after /passport/ is a code no lot has: the passport's own 404 page.
    path("passport/", views.passport_unknown_view, {"code": ""}),
    path("passport/<path:code>", views.passport_unknown_view, name="unknown"),
    path("proofs/<str:transaction_hash>/<uint:log_index>.json", views.proof_view, name="proof"),
    path("verify", views.verify_view, name="verify"),
]
