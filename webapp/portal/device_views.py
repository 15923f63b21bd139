"""The organisation's devices: each with its state, what it is attached to, its last reading
and how many readings were refused, per reason. Registering and revoking go through the
API (`/api/v1/devices`), which gives a device its MQTT password once."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from webapp.monitoring.devices import devices_of, mqtt_topic
from webapp.monitoring.payload import REASONS
from webapp.portal.access import organisation_of


@login_required
def devices_view(request: HttpRequest) -> HttpResponse:
    organisation = organisation_of(request)
    rows = [
        {
            "device": device,
            "topic": mqtt_topic(device),
            "refused": [
                {"code": code, "says": REASONS.get(code, code), "count": count}
                for code, count in sorted(device.rejected.items())
            ],
            "refused_total": sum(device.rejected.values()),
        }
        for device in devices_of(organisation=organisation).select_related("organisation")
    ]
    return render(request, "portal/devices.html", {"organisation": organisation, "rows": rows})
