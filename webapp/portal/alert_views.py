"""Condition alerts in the portal: the organisation's alerts (open first), clearing one
with a reason (admins and quality managers), and the readings chart of a lot's page."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_POST

from webapp.monitoring.alert_selectors import alert_list, alert_of, lot_conditions, rule_list
from webapp.monitoring.alerts import alert_clear, may_clear, rule_description
from webapp.monitoring.chart import readings_chart
from webapp.organisations.models import Organisation
from webapp.portal.access import organisation_of

TYPE_NAMES = {
    "gs1:Temperature": "Temperature",
    "gs1:RelativeHumidity": "Relative humidity",
    "gs1:Acceleration": "Shock",
}


@login_required
def alerts_view(request: HttpRequest) -> HttpResponse:
    organisation = organisation_of(request)
    alerts = list(alert_list(organisation=organisation)[:200])
    alerts.sort(key=lambda a: a.state != "open")  # open first, newest first within
    rules = [(r, rule_description(r)) for r in rule_list(organisation=organisation)]
    return render(
        request,
        "portal/alerts.html",
        {
            "organisation": organisation,
            "alerts": alerts,
            "rules": rules,
            "may_clear": may_clear(request.user, organisation),
        },
    )


@login_required
@require_POST
def alert_clear_view(request: HttpRequest, alert_id: int) -> HttpResponse:
    organisation = organisation_of(request)
    alert = alert_of(organisation=organisation, alert_id=alert_id)
    if alert is None:
        raise Http404("No such alert.")
    try:
        alert_clear(alert=alert, user=request.user, reason=request.POST.get("reason", ""))
    except PermissionDenied as refusal:
        messages.error(request, str(refusal))
    except ValidationError as refusal:
        messages.error(request, " ".join(refusal.messages))
    else:
        messages.success(request, f"Alert {alert_id} cleared; its quarantines are being lifted.")
    return redirect("portal:alerts")


def lot_charts(*, organisation: Organisation, lot_ids: list[int]) -> list[SafeString]:
    """One SVG chart per measurement type read about these lots (a bundle and what it
    holds), with the organisation's bounds and the excursions of its alerts."""
    conditions = lot_conditions(organisation=organisation, lot_ids=lot_ids)
    charts = []
    for kind, points in sorted(conditions.series.items()):
        svg = readings_chart(
            title=TYPE_NAMES.get(kind, kind),
            unit=conditions.units.get(kind, ""),
            points=points,
            bounds=conditions.bounds.get(kind, []),
            excursions=conditions.excursions,
        )
        charts.append(mark_safe(svg))  # every text in it is escaped
    return charts
