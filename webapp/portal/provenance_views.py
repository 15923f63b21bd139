"""Portal pages about provenance: the lot page's lineage, revocation impact and the
sustainability dashboard with its CSV exports. (The public passport, proofs, evidence
pack and /verify page are `webapp.passport`.)"""

from __future__ import annotations

import csv
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_POST

from webapp import formatting
from webapp.lots.selectors import KIND_NAMES
from webapp.lots.selectors.scope import stock_scope
from webapp.memo import shared
from webapp.organisations.models import Organisation
from webapp.organisations.selectors import organisation_names
from webapp.passport.qr import label_uri, qr_svg
from webapp.portal import charts
from webapp.portal.access import organisation_of
from webapp.provenance.selectors import MAX_DEPTH, custody_timeline, lot_summaries, lot_trace
from webapp.provenance.services import certificate_revocation_impact, notifications_mark_read
from webapp.provenance.shapes import custody_json, trace_json
from webapp.sustainability.dashboard import (
    KIND_FILTERS,
    TABLES,
    BadFilter,
    Filters,
    Table,
    dashboard,
    sees_everything,
)
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
    traces = [
        lot_trace(lot_id=lot_id, direction="up", depth=depth),
        lot_trace(lot_id=lot_id, direction="down", depth=depth),
    ]
    summaries = lot_summaries(lot_ids=sorted({n for t in traces for n in t.nodes}))
    up, down = (trace_json(t, summaries=summaries) for t in traces)
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
        # The label's URI: the lot's GS1 Digital Link when it has a GTIN and batch (or an
        # SSCC), else the passport's address. segno escapes nothing user-made: its SVG
        # holds only the modules' path, never the encoded text.
        "label_uri": (label := label_uri(request, lot_id)),
        "passport_qr": mark_safe(qr_svg(label)),
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


def _charts(tables: dict[str, Table]) -> dict[str, SafeString]:
    """The dashboard's charts, drawn from its tables' rows and written as the tables are."""
    lines, monthly = tables["product_lines"], tables["monthly"]
    inputs, partners = tables["certified_inputs"], tables["partners"]
    return {
        "footprint": charts.bar_chart(
            [
                charts.Bar(row[0], float(row[4]), cells[3])
                for row, cells in zip(lines.rows, lines.cells, strict=True)
                if row[4] is not None
            ],
            title="Footprint per unit of each product line, certified lots only",
            legend="Footprint per unit (certified lots only)",
            axis="CO2e per unit of the line (lines with no certified lot are not drawn)",
        ),
        "recycled": charts.bar_chart(
            [
                charts.Bar(row[0], float(row[6] or 0), cells[5])
                for row, cells in zip(lines.rows, lines.cells, strict=True)
            ],
            title="Recycled content of each product line",
            legend="Recycled content",
            axis="Share of the line's mass, %",
        ),
        "monthly": charts.column_chart(
            [
                charts.Bar(cells[0], float(row[3]), cells[3])
                for row, cells in zip(monthly.rows, monthly.cells, strict=True)
            ],
            title="CO2e of the certified lots registered each month",
            legend="CO2e of the lots with a certified footprint",
            axis="CO2e",
            across="Month of registration",
            tick=formatting.co2e,
        ),
        "certified": charts.bar_chart(
            [
                charts.Bar(
                    f"{row[0]} · {row[1]}" if row[1] else str(row[0]), float(row[3]), cells[3]
                )
                for row, cells in zip(inputs.rows[:40], inputs.cells[:40], strict=True)
            ],
            title="Certified-input share of each lot",
            legend="Certified-input share" + (" (first 40 lots)" if len(inputs.rows) > 40 else ""),
            axis="Share of the input mass from certified sources, %",
        ),
        "partners": charts.bar_chart(
            [
                charts.Bar(f"{row[0]} → {row[1]}", float(row[3]), cells[3])
                for row, cells in zip(partners.rows, partners.cells, strict=True)
            ],
            title="Quantity handed over, per pair of partners",
            legend="Accepted handoffs",
            axis="Quantity handed over",
            label_room=360,
        ),
    }


@login_required
def sustainability_view(request: HttpRequest) -> HttpResponse:
    organisation = organisation_of(request)
    context: dict[str, Any] = {
        "organisation": organisation,
        "everything": sees_everything(organisation),
        "kinds": {code: KIND_NAMES[value] for code, value in KIND_FILTERS.items()},
        "params": request.GET,
    }
    try:
        filters = Filters.parse(request.GET)
    except BadFilter as error:
        context["error"] = str(error)
        return render(request, "portal/sustainability.html", context, status=400)
    zone = timezone.get_current_timezone_name()
    key = f"sustainability:{organisation.pk}:{organisation.roles}:{zone}:{filters.query()}"
    report = shared(
        key, settings.REPORT_CACHE_S, lambda: _sustainability_report(organisation, filters)
    )
    context.update(
        {
            "tables_html": mark_safe(report["html"]),
            "lines": report["lines"],
            "filters": filters,
            "query": filters.query(),
            "computed_at": formatting.when(report["at"], zone),
            "refresh_s": settings.REPORT_CACHE_S,
        }
    )
    return render(request, "portal/sustainability.html", context)


def _sustainability_report(organisation: Organisation, filters: Filters) -> dict[str, Any]:
    """The dashboard's tables and charts as HTML, its product lines and when it was worked
    out: what the page shows, and what `shared` keeps for every web process."""
    board = dashboard(organisation=organisation, filters=filters)
    html = render_to_string(
        "portal/sustainability_tables.html",
        {"tables": board.tables, "charts": _charts(board.tables), "query": filters.query()},
    )
    return {"html": str(html), "lines": board.lines, "at": timezone.now()}


@login_required
def sustainability_csv(request: HttpRequest, table: str) -> HttpResponse:
    """A table of the dashboard as the page shows it, under the same filters."""
    if table not in TABLES:
        raise Http404(f"No table {table!r}; the tables are {', '.join(TABLES)}.")
    try:
        filters = Filters.parse(request.GET)
    except BadFilter as error:
        return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")
    organisation = organisation_of(request)
    data = dashboard(organisation=organisation, filters=filters).tables[table]
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{table}.csv"'
    writer = csv.writer(response)
    writer.writerow(data.columns)
    writer.writerows(
        [text if i in data.numeric else csv_cell(text) for i, text in enumerate(row)]
        for row in data.cells
    )
    return response


def csv_cell(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula: names are people's input."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
