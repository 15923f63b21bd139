"""The public face of a product: its passport page, the proof of each chain fact it rests
on, its evidence pack, and the /verify page that checks them offline. No login needed;
participants (signed-in members of an organisation) see more."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from contracts.proofs.safe_json import JsonRefused, json_loads_bounded
from contracts.proofs.verify import verify_document
from webapp.api.problems import PROBLEM
from webapp.limits import MAX_ID, MAX_VERIFY_BYTES, MAX_VERIFY_DEPTH
from webapp.lots.identities import lot_on_chain
from webapp.lots.selectors.scope import stock_scope
from webapp.organisations.selectors import organisation_of_user
from webapp.passport.evidence import FactUnknown, evidence_pack, fact_proof
from webapp.passport.proofs import NodeUnreachable
from webapp.passport.qr import label_uri, qr_png
from webapp.passport.selectors import passport_read
from webapp.passport.throttle import throttle_hit
from webapp.provenance.selectors import LotNotFound
from webapp.security import client_address
from webapp.sustainability.origins import lot_origins


def passport_view(request: HttpRequest, lot_id: int) -> HttpResponse:
    """The public product passport: origin, custody, certificates and figures, each figure
    linked to the proof of the chain facts it rests on. Participants see more."""
    try:
        passport = passport_read(lot_id=lot_id, now=timezone.now())
    except LotNotFound:
        return _not_found(request, str(lot_id))
    organisation = organisation_of_user(request.user) if request.user.is_authenticated else None
    return render(
        request,
        "passport/passport.html",
        {
            "passport": passport,
            "lot": passport.lot,
            "restricted": organisation is not None,
            "organisation": organisation,
            "credit": lot_origins(lot_id=lot_id),
        },
    )


def qr_png_view(request: HttpRequest, lot_id: int) -> HttpResponse:
    """The lot's label QR code as a PNG (for a label printer): the Digital Link URI of its
    GS1 key when it has one, else the passport's address (the `X-Label-URI` header too)."""
    if not lot_on_chain(lot_id=lot_id):
        return _not_found(request, str(lot_id))
    uri = label_uri(request, lot_id)
    response = HttpResponse(qr_png(uri), content_type="image/png")
    response["X-Label-URI"] = uri
    response["Content-Disposition"] = f'inline; filename="lot-{lot_id}-qr.png"'
    return response


def passport_unknown_view(request: HttpRequest, code: str) -> HttpResponse:
    """A passport address whose id is no lot id at all (letters, a typo); a lot id with a
    trailing slash (typed by hand) goes to its passport."""
    bare = code.strip().rstrip("/")
    if bare.isascii() and bare.isdigit() and int(bare) <= MAX_ID:
        return redirect("passport:passport", lot_id=int(bare))
    return _not_found(request, code)


def _not_found(request: HttpRequest, code: str) -> HttpResponse:
    """The passport's own 404 page, rendered here so that it is the same page with DEBUG
    on (Django's debug 404 would list every URL of the site to whoever scanned a label)."""
    return render(request, "passport/not_found.html", {"code": code[:80]}, status=404)


def _unavailable(request: HttpRequest, reason: str) -> HttpResponse:
    """503 with the reason: problem+json for a client that asks for JSON, else a page."""
    if _wants_json(request):
        response: HttpResponse = JsonResponse(
            {
                "type": "about:blank",
                "title": "The chain node is unavailable",
                "status": 503,
                "detail": reason,
            },
            status=503,
            content_type=PROBLEM,
        )
    else:
        response = render(request, "passport/error.html", {"message": reason}, status=503)
    response["Retry-After"] = "30"
    return response


def _too_many(request: HttpRequest, retry_after: int) -> HttpResponse:
    reason = (
        f"Too many evidence packs downloaded from this address; try again in {retry_after} "
        "seconds, or sign in as a participant."
    )
    if _wants_json(request):
        response: HttpResponse = JsonResponse(
            {"type": "about:blank", "title": "Too many requests", "status": 429, "detail": reason},
            status=429,
            content_type=PROBLEM,
        )
    else:
        response = render(request, "passport/error.html", {"message": reason}, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def _wants_json(request: HttpRequest) -> bool:
    accept = request.headers.get("Accept", "")
    return "json" in accept and "text/html" not in accept


def proof_view(request: HttpRequest, transaction_hash: str, log_index: int) -> HttpResponse:
    """The proof document of one mirrored event (public), stored once built."""
    try:
        document = fact_proof(transaction_hash=transaction_hash, log_index=log_index)
    except FactUnknown as exc:
        problem = {"type": "about:blank", "title": "Not found", "status": 404, "detail": str(exc)}
        return JsonResponse(problem, status=404, content_type=PROBLEM)
    except NodeUnreachable as exc:
        return _unavailable(request, str(exc))
    response = JsonResponse(document, json_dumps_params={"indent": 1})
    response["Content-Disposition"] = (
        f'attachment; filename="proof-{transaction_hash[:12]}-{log_index}.json"'
    )
    return response


def evidence_view(request: HttpRequest, lot_id: int) -> HttpResponse:
    """A product's evidence pack, in the passport's tiers: participants (signed-in members
    of an organisation) get the participant pack; everyone else the public one, at a
    limited rate per client address. Proofs are stored once built, so a repeated download
    asks the node nothing; when one cannot be built the answer is 503 with the reason."""
    organisation = organisation_of_user(request.user) if request.user.is_authenticated else None
    if organisation is None:
        retry_after = throttle_hit(
            scope="evidence",
            client=client_address(request),
            rate=settings.EVIDENCE_ANONYMOUS_RATE,
        )
        if retry_after is not None:
            return _too_many(request, retry_after)
    try:
        pack = evidence_pack(
            lot_id=lot_id,
            tier="public" if organisation is None else "participant",
            scope=None if organisation is None else stock_scope(organisation=organisation),
        )
    except LotNotFound:
        return _not_found(request, str(lot_id))
    except NodeUnreachable as exc:
        return _unavailable(request, str(exc))
    except ValueError as exc:
        return render(request, "passport/error.html", {"message": str(exc)}, status=413)
    response = HttpResponse(json.dumps(pack, indent=1), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="evidence-lot-{lot_id}.json"'
    return response


def verify_view(request: HttpRequest) -> HttpResponse:
    """Drop a proof or an evidence pack; every proof in it is checked here, offline (no
    node is asked), exactly as `python -m contracts.proofs.verify FILE` does."""
    context: dict[str, Any] = {}
    status = 200
    if request.method == "POST":
        upload = request.FILES.get("proof")
        if upload is None:
            context["error"] = "Choose a proof or evidence pack file (.json)."
        elif upload.size is None or upload.size > MAX_VERIFY_BYTES:
            context["error"] = f"The file is larger than {MAX_VERIFY_BYTES // 2**20} MiB."
            status = 413
        else:
            try:
                document = json_loads_bounded(
                    upload.read(), max_bytes=MAX_VERIFY_BYTES, max_depth=MAX_VERIFY_DEPTH
                )
            except JsonRefused as exc:
                context["error"] = f"This is not a JSON file we can read: {exc}"
            else:
                if not isinstance(document, dict):
                    context["error"] = "A proof file holds one JSON object."
                else:
                    context["report"] = verify_document(document)
                    context["filename"] = upload.name
    if "error" in context and status == 200:
        status = 400
    return render(request, "passport/verify.html", context, status=status)
