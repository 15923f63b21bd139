"""`Accept: application/xml` on the EPCIS events resources: an EPCIS 2.0 XML
`EPCISQueryDocument` valid by GS1's vendored XSDs, whose events our own XML capture
parser reads back as the stored JSON events (up to what the XML binding normalises)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client
from lxml import etree

from tests.webapp.test_epcis_query import (  # noqa: F401 (fixtures)
    PROBLEM,
    START,
    event_list,
    events,
    mine,
    orgs,
    store,
)
from webapp.epcis.models import EpcisEvent
from webapp.epcis.xml import EPCIS_2_NAMESPACE, parse_epcis_xml
from webapp.epcis.xml.vocabulary import cbv_term
from webapp.organisations.models import Organisation

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

XSD = Path(__file__).parents[2] / "webapp" / "epcis" / "gs1_xsd"
XML = "application/xml"


@cache
def _query_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD / "EPCglobal-epcis-query-2_0.xsd")))


def _valid_query_document(content: bytes) -> etree._Element:
    root = etree.fromstring(content)
    schema = _query_schema()
    assert schema.validate(root), schema.error_log
    return root


def _read_back(root: etree._Element) -> list[dict[str, Any]]:
    """The query answer's events through the XML capture parser (which takes an
    EPCISDocument: the EventList moved into one)."""
    event_list_element = root.find("EPCISBody/{*}QueryResults/resultsBody/EventList")
    assert event_list_element is not None
    document = etree.Element(
        f"{{{EPCIS_2_NAMESPACE}}}EPCISDocument",
        nsmap={**root.nsmap, "epcis": EPCIS_2_NAMESPACE},
        attrib={"schemaVersion": "2.0", "creationDate": "2026-12-02T10:00:00Z"},
    )
    body = etree.SubElement(document, "EPCISBody")
    body.append(event_list_element)
    parsed = parse_epcis_xml(etree.tostring(document))
    return list(parsed["epcisBody"]["eventList"])


def _as_xml_reads(value: Any, key: str = "") -> Any:
    """A JSON event as the XML binding carries it: CBV values as bare terms, scalars in
    user extensions as text, one certificationInfo."""
    if isinstance(value, dict):
        return {k: _as_xml_reads(v, k) for k, v in value.items() if k != "@context"}
    if isinstance(value, list):
        if key == "certificationInfo":
            return value[0]
        return [_as_xml_reads(v, key) for v in value]
    return _scalar_as_xml_reads(value, key)


def _scalar_as_xml_reads(value: Any, key: str) -> Any:
    kinds = {
        "bizStep": ["bizStep"],
        "disposition": ["disposition"],
        "set": ["disposition"],
        "unset": ["disposition"],
        "reason": ["errorReason"],
        "type": ["bizTransactionType", "sourceDestType", "measurementType"],
    }
    if key in kinds and isinstance(value, str):
        for kind in kinds[key]:
            value = cbv_term(value, kind)
        return value
    if ":" in key and not isinstance(value, str):
        return "true" if value is True else "false" if value is False else str(value)
    return value


def test_the_query_answer_in_xml_validates_and_reads_back_as_the_json_events(
    mine: Client,  # noqa: F811
    events: dict[str, list[EpcisEvent]],  # noqa: F811
) -> None:
    as_json = event_list(mine.get("/epcis/events?perPage=100"))
    response = mine.get("/epcis/events?perPage=100", HTTP_ACCEPT=XML)
    assert response.status_code == 200
    assert response["Content-Type"].startswith(XML)
    assert response["GS1-EPCIS-Version"] == "2.0.0"
    root = _valid_query_document(response.content)
    assert root.findtext("EPCISBody/{*}QueryResults/queryName") == "SimpleEventQuery"
    read_back = _read_back(root)
    assert len(read_back) == len(as_json) == 15
    for original, again in zip(as_json, read_back, strict=True):
        assert again == _as_xml_reads(original), original["eventID"]


def test_every_events_resource_answers_xml(
    mine: Client,  # noqa: F811
    events: dict[str, list[EpcisEvent]],  # noqa: F811
) -> None:
    one = events["object_events"][4]
    urn = "urn:epc:id:sgtin:4012345.011111.9876"
    for path, count in [
        (f"/epcis/events/{quote(one.event_id, safe='')}", 1),
        ("/epcis/bizSteps/shipping/events", 2),
        (f"/epcis/epcs/{urn}/events", 2),
        ("/epcis/eventTypes/TransformationEvent/events", 2),
        ("/epcis/events?EQ_type=Temperature", 1),
    ]:
        response = mine.get(path, HTTP_ACCEPT=XML)
        assert response.status_code == 200, path
        assert len(_read_back(_valid_query_document(response.content))) == count, path


def test_a_refusal_asked_for_in_xml_is_still_a_problem_document(
    mine: Client,  # noqa: F811
    events: dict[str, list[EpcisEvent]],  # noqa: F811
) -> None:
    refused = mine.get("/epcis/events?EQ_action=MOVE", HTTP_ACCEPT=XML)
    assert refused.status_code == 400
    assert refused["Content-Type"] == PROBLEM
    assert refused.json()["parameter"] == "EQ_action"
    missing = mine.get(
        "/epcis/events/urn:uuid:00000000-0000-0000-0000-000000000000", HTTP_ACCEPT=XML
    )
    assert missing.status_code == 404
    assert missing.json()["type"] == "epcisException:NoSuchResourceException"
    too_large = mine.get("/epcis/events?maxEventCount=1", HTTP_ACCEPT=XML)
    assert too_large.status_code == 413
    assert too_large["Content-Type"] == PROBLEM
    # An Accept nothing here can give is not acceptable.
    assert mine.get("/epcis/events", HTTP_ACCEPT="text/csv").status_code == 406


def test_an_events_own_prefixes_and_an_empty_answer_are_valid_xml(
    orgs: dict[str, Organisation],  # noqa: F811
    mine: Client,  # noqa: F811
) -> None:
    empty = mine.get("/epcis/events", HTTP_ACCEPT=XML)
    assert _read_back(_valid_query_document(empty.content)) == []
    context = [
        "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        {"acme": "https://acme.example/epcis/"},
    ]
    event = {
        "type": "ObjectEvent",
        "eventTime": "2026-12-01T10:00:00.000+01:00",
        "eventTimeZoneOffset": "+01:00",
        "epcList": ["urn:epc:id:sgtin:4012345.011111.1"],
        "action": "OBSERVE",
        "bizStep": "inspecting",
        "@context": context,
        "acme:batchNote": "night shift",
        "acme:checks": [{"acme:by": "ann"}, {"acme:by": "bob"}],
    }
    store(event, context, organisation=orgs["mine"], record_time=START)
    root = _valid_query_document(mine.get("/epcis/events", HTTP_ACCEPT=XML).content)
    assert root.nsmap["acme"] == "https://acme.example/epcis/"
    (again,) = _read_back(root)
    assert again["acme:batchNote"] == "night shift"
    assert again["acme:checks"] == [{"acme:by": "ann"}, {"acme:by": "bob"}]
    assert again["bizStep"] == "inspecting"
