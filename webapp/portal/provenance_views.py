"""Portal pages about provenance: the lot page's lineage, the public product passport and
its proofs, the evidence pack, the /verify page, revocation impact and the sustainability
dashboard with its CSV exports."""

from __future__ import annotations

import csv
import json
from typing import Any

import segno
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from contracts.proofs.safe_json import JsonRefused, json_loads_bounded
from contracts.proofs.verify import verify_document
from webapp.api.problems import PROBLEM
from webapp.limits import MAX_VERIFY_BYTES, MAX_VERIFY_DEPTH
from webapp.lots.selectors import KIND_NAMES, organisation_names, stock_scope
from webapp.organisations.selectors import organisation_of_user
from webapp.portal import charts
from webapp.portal.access import organisation_of
from webapp.provenance.evidence import (
    FactUnknown,
    certificate_status,
    evidence_pack,
    fact_events,
    fact_proof,
)
from webapp.provenance.models import Notification
from webapp.provenance.selectors import (
    MAX_DEPTH,
    LotNotFound,
    custody_timeline,
    lot_summaries,
    lot_trace,
)
from webapp.provenance.services import NodeUnreachable, certificate_revocation_impact
from webapp.provenance.shapes import custody_json, trace_json
from webapp.provenance.throttle import throttle_hit
from webapp.security import client_address
from webapp.sustainability.dashboard import TABLES, dashboard_tables, sees_everything
from webapp.sustainability.selectors import lot_figures

GRAPH_DEPTH = 8


def _depth(request: HttpRequest) -> int:
    try:
        return max(1, min(int(request.GET.get("depth", GRAPH_DEPTH)), MAX_DEPTH))
    except ValueError:
        return GRAPH_DEPTH


def qr_svg(url: str) -> str:
    """The passport link as an inline SVG QR code (error correction M)."""
    return segno.make(url, error="m").svg_inline(scale=3, border=2)


def lineage_context(request: HttpRequest, lot_id: int) -> dict[str, Any]:
    """What the lot page adds about provenance: both traces, custody, figures, the QR."""
    depth = _depth(request)
    scope = stock_scope(organisation=organisation_of(request))
    up = trace_json(lot_trace(lot_id=lot_id, direction="up", depth=depth))
    down = trace_json(lot_trace(lot_id=lot_id, direction="down", depth=depth))
    up["nodes"], down["nodes"] = scope.trace_nodes(up["nodes"]), scope.trace_nodes(down["nodes"])
    passport = request.build_absolute_uri(reverse("portal:passport", args=[lot_id]))
    return {
        "lineage_up": up,
        "lineage_down": down,
        "lineage_depth": depth,
        "lineage_count": len(up["nodes"]) + len(down["nodes"]) - 2,
        "custody": custody_json(custody_timeline(lot_id=lot_id)),
        "figures": lot_figures(lot_id=lot_id),
        "passport_url": passport,
        "passport_qr": mark_safe(
            qr_svg(passport)
        ),  # segno escapes nothing user-made: a URL we built
    }


def passport_view(request: HttpRequest, lot_id: int) -> HttpResponse:
    """The public product passport: origin, custody, certificates and figures, each figure
    linked to the proof of the chain facts it rests on. Participants see more."""
    try:
        trace = lot_trace(lot_id=lot_id, direction="up", depth=MAX_DEPTH)
    except LotNotFound:
        raise Http404(f"Lot {lot_id} is not on the chain.") from None
    names = organisation_names()
    summaries = lot_summaries(lot_ids=list(trace.nodes))
    lot = summaries[lot_id]
    sources = {e.parent for e in trace.edges}
    fed = {e.child for e in trace.edges}
    origins = [summaries[i] for i in sorted(sources - fed) if i in summaries]
    figures = lot_figures(lot_id=lot_id)
    facts = fact_events(certificates=figures.certificates, transformations=figures.transformations)
    now = timezone.now()
    certificates = [
        (c, s, certificate_status(c, now)) for s in summaries.values() for c in s.certificates
    ]
    crossed = sorted(
        {(e.transformation_id, e.child) for e in trace.edges if e.transformation_id is not None}
    )
    organisation = organisation_of_user(request.user) if request.user.is_authenticated else None
    return render(
        request,
        "portal/passport.html",
        {
            "lot": lot,
            "kind": KIND_NAMES.get(lot.kind, ""),
            "names": names,
            "origins": origins,
            "custody": custody_json(custody_timeline(lot_id=lot_id)),
            "certificates": certificates,
            "figures": figures,
            "facts": facts,
            "transformations": [
                (t, facts.get(f"transformation:{t}"), child) for t, child in crossed
            ],
            "restricted": organisation is not None,
            "organisation": organisation,
            "lot_count": len(trace.nodes),
        },
    )


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
        response = render(request, "portal/error.html", {"message": reason}, status=503)
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
        response = render(request, "portal/error.html", {"message": reason}, status=429)
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
        raise Http404(str(exc)) from None
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
        raise Http404(f"Lot {lot_id} is not on the chain.") from None
    except NodeUnreachable as exc:
        return _unavailable(request, str(exc))
    except ValueError as exc:
        return render(request, "portal/error.html", {"message": str(exc)}, status=413)
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
    return render(request, "portal/verify.html", context, status=status)


@login_required
def impact_view(request: HttpRequest, certificate_id: int) -> HttpResponse:
    organisation = organisation_of(request)
    impact = certificate_revocation_impact(certificate_id=certificate_id)
    if impact is None:
        raise Http404(f"Certificate {certificate_id} is not on the chain.")
    scope = stock_scope(organisation=organisation)
    impact.holders = scope.holdings_by_organisation(impact.holders, scope.summaries(impact.lots))
    return render(
        request,
        "portal/impact.html",
        {"impact": impact, "names": organisation_names(), "kinds": KIND_NAMES},
    )


@login_required
@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    organisation = organisation_of(request)
    Notification.objects.filter(organisation=organisation, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    return redirect("portal:dashboard")


@login_required
def sustainability_view(request: HttpRequest) -> HttpResponse:
    organisation = organisation_of(request)
    tables = dashboard_tables(organisation=organisation)
    lines = tables["product_lines"].rows
    return render(
        request,
        "portal/sustainability.html",
        {
            "organisation": organisation,
            "everything": sees_everything(organisation),
            "tables": tables,
            "charts": {
                "footprint": charts.bar_chart(
                    lines, label=0, value=3, unit="g CO2e/unit", title="Footprint per line"
                ),
                "recycled": charts.bar_chart(
                    lines, label=0, value=4, unit="‰", title="Recycled content per line"
                ),
                "monthly": charts.line_chart(
                    tables["monthly"].rows,
                    label=0,
                    values=[3, 4],
                    names=["footprint g CO2e/unit", "recycled ‰"],
                    title="Footprint and recycled content by month",
                ),
                "certified": charts.bar_chart(
                    tables["certified_inputs"].rows[:40],
                    label=0,
                    value=3,
                    title="Certified-input share per lot",
                ),
                "partners": charts.bar_chart(
                    [[f"{r[0]} → {r[1]}", r[3]] for r in tables["partners"].rows],
                    label=0,
                    value=1,
                    unit="units",
                    title="Handoff volume per partner",
                ),
            },
        },
    )


@login_required
def sustainability_csv(request: HttpRequest, table: str) -> HttpResponse:
    if table not in TABLES:
        raise Http404(f"No table {table!r}; the tables are {', '.join(TABLES)}.")
    organisation = organisation_of(request)
    data = dashboard_tables(organisation=organisation)[table]
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{table}.csv"'
    writer = csv.writer(response)
    writer.writerow(data.columns)
    writer.writerows(data.rows)
    return response
