"""Portal pages about provenance: the lot page's lineage, revocation impact and the
sustainability dashboard with its CSV exports. (The public passport, proofs, evidence
pack and /verify page are `webapp.passport`.)"""

from __future__ import annotations

import csv
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from webapp import formatting
from webapp.lots.selectors import KIND_NAMES, stock_scope
from webapp.organisations.selectors import organisation_names
from webapp.passport.views import qr_svg
from webapp.portal import charts
from webapp.portal.access import organisation_of
from webapp.provenance.selectors import MAX_DEPTH, custody_timeline, lot_trace
from webapp.provenance.services import certificate_revocation_impact, notifications_mark_read
from webapp.provenance.shapes import custody_json, trace_json
from webapp.sustainability.dashboard import TABLES, dashboard_tables, sees_everything
from webapp.sustainability.selectors import lot_figures

GRAPH_DEPTH = 8


def _depth(request: HttpRequest) -> int:
    try:
        return max(1, min(int(request.GET.get("depth", GRAPH_DEPTH)), MAX_DEPTH))
    except ValueError:
        return GRAPH_DEPTH


def _label(trace: dict[str, Any]) -> None:
    """Adds the words the graph shows: each lot's quantity and each edge's label, written by
    the formatting layer ("400 kg used", "packed 600 g")."""
    units = {n["lot_id"]: n["unit"] for n in trace["nodes"]}
    for node in trace["nodes"]:
        node["quantity_text"] = formatting.quantity(node["quantity"], node["unit"])
    for edge in trace["edges"]:
        amount = formatting.quantity(edge["quantity"], units.get(edge["from"], ""))
        edge["label"] = f"packed {amount}" if edge["kind"] == "bundle" else f"{amount} used"


def lineage_context(request: HttpRequest, lot_id: int) -> dict[str, Any]:
    """What the lot page adds about provenance: both traces, custody, figures, the QR."""
    depth = _depth(request)
    scope = stock_scope(organisation=organisation_of(request))
    up = trace_json(lot_trace(lot_id=lot_id, direction="up", depth=depth))
    down = trace_json(lot_trace(lot_id=lot_id, direction="down", depth=depth))
    up["nodes"], down["nodes"] = scope.trace_nodes(up["nodes"]), scope.trace_nodes(down["nodes"])
    _label(up)
    _label(down)
    passport = request.build_absolute_uri(reverse("passport:passport", args=[lot_id]))
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
    notifications_mark_read(organisation=organisation)
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
