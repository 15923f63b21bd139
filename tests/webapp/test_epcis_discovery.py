"""OPTIONS discovery and the version headers, the same on every EPCIS resource (one base
view): `/epcis/events` announces the query (GET) and the capture of one event (POST) with
the capture limits; read-only resources announce GET alone; capture its limits and error
behaviours; a version range not served is refused everywhere."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.webapp.test_epcis_query import (  # noqa: F401 (fixtures)
    PROBLEM,
    event_list,
    events,
    mine,
    orgs,
)
from webapp.epcis import capture
from webapp.epcis.models import EpcisEvent

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

DISCOVERY = {
    "GS1-EPCIS-Version": "2.0.0",
    "GS1-CBV-Version": "2.0.0",
    "GS1-EPCIS-Min": "2.0.0",
    "GS1-EPCIS-Max": "2.0.0",
    "GS1-CBV-Min": "2.0.0",
    "GS1-CBV-Max": "2.0.0",
    "GS1-EPC-Format": "Always_GS1_Digital_Link",
    "GS1-CBV-XML-Format": "Always_Web_URI",
}


def _discovery(response: object) -> None:
    for name, value in DISCOVERY.items():
        assert response[name] == value, name  # type: ignore[index]


def test_options_on_events_announces_query_and_capture_of_one_event() -> None:
    options = Client().options("/epcis/events")
    assert options.status_code == 204
    assert options["Allow"] == "OPTIONS, GET, POST"
    _discovery(options)
    assert options["GS1-EPCIS-Capture-Limit"] == str(capture.CAPTURE_LIMIT)
    assert options["GS1-EPCIS-Capture-File-Size-Limit"] == str(capture.CAPTURE_FILE_SIZE_LIMIT)


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/epcis/", "OPTIONS, GET"),
        ("/epcis/eventTypes", "OPTIONS, GET"),
        ("/epcis/epcs", "OPTIONS, GET"),
        ("/epcis/bizSteps/shipping/events", "OPTIONS, GET"),
        ("/epcis/events/urn:uuid:1", "OPTIONS, GET"),
        ("/epcis/queries", "OPTIONS, GET, POST"),
        ("/epcis/queries/mine", "OPTIONS, GET, DELETE"),
        ("/epcis/capture", "OPTIONS, GET, POST"),
        ("/epcis/capture/00000000-0000-0000-0000-000000000000", "OPTIONS, GET"),
    ],
)
def test_every_resource_answers_options_with_its_methods_and_the_versions(
    path: str, allow: str
) -> None:
    options = Client().options(path)
    assert options.status_code == 204, path
    assert options["Allow"] == allow
    _discovery(options)
    captures = path in {"/epcis/capture"}
    assert ("GS1-EPCIS-Capture-Limit" in options) is captures


def test_answers_of_query_and_capture_carry_the_version_headers_and_allow(
    mine: Client,  # noqa: F811
    events: dict[str, list[EpcisEvent]],  # noqa: F811
) -> None:
    query = mine.get("/epcis/events")
    assert len(event_list(query)) > 0
    assert query["Allow"] == "OPTIONS, GET, POST"
    anonymous = Client().post("/epcis/events", b"{}", content_type="application/json")
    assert anonymous.status_code == 401
    assert anonymous["Allow"] == "OPTIONS, GET, POST"
    assert anonymous.json()["type"] == "epcisException:SecurityException"
    for response in (query, anonymous, mine.get("/epcis/capture")):
        assert response["GS1-EPCIS-Version"] == "2.0.0"
        assert response["GS1-CBV-Version"] == "2.0.0"


@pytest.mark.parametrize("path", ["/epcis/events", "/epcis/capture", "/epcis/epcs"])
def test_a_version_range_not_served_is_not_acceptable_on_every_resource(
    mine: Client,  # noqa: F811
    path: str,
) -> None:
    refused = mine.get(path, headers={"GS1-EPCIS-Min": "2.1.0"})
    assert refused.status_code == 406
    assert refused["Content-Type"] == PROBLEM
    assert refused.json()["type"] == "epcisException:NotAcceptableException"
    assert refused["GS1-EPCIS-Version"] == "2.0.0"
