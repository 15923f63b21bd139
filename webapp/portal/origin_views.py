"""The portal's origin report: origin credit per product line and month, with a CSV of
the same cells (`webapp.sustainability.origins`)."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render

from webapp.portal.access import organisation_of
from webapp.portal.provenance_views import csv_cell
from webapp.sustainability.dashboard import BadFilter, sees_everything
from webapp.sustainability.origin_report import OriginFilters, origin_report
from webapp.sustainability.origin_shapes import origin_table


@login_required
def origins_view(request: HttpRequest) -> HttpResponse:
    organisation = organisation_of(request)
    context: dict[str, Any] = {
        "organisation": organisation,
        "everything": sees_everything(organisation),
        "params": request.GET,
    }
    try:
        filters = OriginFilters.parse(request.GET)
    except BadFilter as error:
        context["error"] = str(error)
        return render(request, "portal/origins.html", context, status=400)
    report = origin_report(organisation=organisation, filters=filters)
    context.update(
        {
            "table": origin_table(report),
            "report": report,
            "lines": report.lines,
            "query": filters.query(),
        }
    )
    return render(request, "portal/origins.html", context)


@login_required
def origins_csv(request: HttpRequest) -> HttpResponse:
    """The report's table as the page shows it, under the same filters."""
    try:
        filters = OriginFilters.parse(request.GET)
    except BadFilter as error:
        return HttpResponseBadRequest(str(error), content_type="text/plain; charset=utf-8")
    table = origin_table(origin_report(organisation=organisation_of(request), filters=filters))
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="origins.csv"'
    writer = csv.writer(response)
    writer.writerow(table.columns)
    writer.writerows(
        [text if i in table.numeric else csv_cell(text) for i, text in enumerate(row)]
        for row in table.cells
    )
    return response
