"""The EPCIS query parameters answered from the stored document (persistent disposition,
error declaration, quantities, sensor data, ILMD), the quantity-class matches, and the
answer's size limits (`eventCountLimit`, `maxEventCount`), over the example events."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest
from django.test import Client

from tests.webapp.test_epcis_query import (  # noqa: F401 (fixtures)
    PROBLEM,
    event_list,
    events,
    ids,
    mine,
    orgs,
    writer_of,
)
from webapp.epcis.models import EpcisEvent
from webapp.organisations.models import Organisation

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

Events = dict[str, list[EpcisEvent]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("EQ_persistentDisposition_set=completeness_verified", [("object_events", 3)]),
        (
            "EQ_persistentDisposition_unset="
            + quote("https://ref.gs1.org/cbv/Disp-completeness_inferred"),
            [("object_events", 3)],
        ),
        ("EQ_persistentDisposition_set=completeness_inferred", []),
        ("EQ_errorReason=incorrect_data", [("object_events", 5)]),
        ("EQ_errorReason=" + quote("urn:epcglobal:cbv:er:incorrect_data"), [("object_events", 5)]),
        ("EQ_errorReason=did_not_occur", []),
        (
            "EQ_correctiveEventID=" + quote("ni:///sha-256;8b3d32cf46c7b7b1b2b3b4b5b6b7b8b9babbbc"),
            [],
        ),
        ("EQ_type=Temperature", [("object_events", 4)]),
        ("EQ_type=RelativeHumidity", [("object_events", 4)]),
        ("EQ_type=Pressure", []),
        ("EQ_deviceID=" + quote("urn:epc:id:giai:4000001.111"), [("object_events", 4)]),
        ("EQ_deviceID=" + quote("urn:epc:id:giai:4000001.112"), [("object_events", 4)]),
        ("EQ_deviceID=" + quote("urn:epc:id:giai:4000001.999"), []),
        ("EQ_stringValue=SomeString", [("object_events", 4)]),
        ("EQ_booleanValue=true", [("object_events", 4)]),
        ("EQ_booleanValue=false", []),
        ("EQ_hexBinaryValue=f0f0f0", [("object_events", 4)]),
        ("GE_value_CEL=26", [("object_events", 4)]),
        ("GT_value_CEL=26", []),
        ("LT_value_CEL=-18", [("object_events", 4)]),
        ("LT_value_KMH=7", []),
        ("EQ_value_CEL=-18.4|99", [("object_events", 4)]),
        ("GE_maxValue_CEL=26.5", [("object_events", 4)]),
        ("EQ_quantity=5", [("transaction_events", 0)]),
        ("GT_quantity=2000", [("object_events", 1), ("transformation_events", 0)]),
        ("GE_quantity=2500", [("object_events", 1)]),
        ("LT_quantity=4", [("aggregation_events", 0)]),
        ("LE_quantity_KGM=10", [("association_events", 0)]),
        ("EQ_quantity_KGM=12", []),
        ("EQ_ILMD_example:bestBeforeDate=2027-11-30", [("transformation_events", 0)]),
        ("EQ_ILMD_example:cobaltShare=0.125", [("object_events", 1)]),
        ("GT_ILMD_example:cobaltShare=0.1", [("object_events", 1)]),
        ("LT_ILMD_example:cobaltShare=0.1", []),
        ("EXISTS_ILMD_example:refinedAt", [("object_events", 1)]),
        ("EXISTS_ILMD_example:purity", []),
        ("EQ_INNER_ILMD_example:purity=99.8", [("object_events", 1)]),
        ("EQ_ILMD_example:purity=99.8", []),
        (
            "EQ_transformationID=" + quote("urn:epc:id:gdti:4012345.00002.2026-11-30"),
            [("transformation_events", 0)],
        ),
        (
            "EQ_bizTransaction_po=" + quote("urn:epcglobal:cbv:bt:4012345000016:PO-1152"),
            [("transaction_events", 0), ("transaction_events", 1), ("object_events", 2)],
        ),
        ("EQ_bizTransaction_inv=" + quote("urn:epcglobal:cbv:bt:4012345000016:PO-1152"), []),
        (
            "EQ_source_possessing_party=" + quote("https://id.gs1.org/417/4012345000009"),
            [("transaction_events", 0)],
        ),
        (
            "EQ_destination_possessing_party=" + quote("https://id.gs1.org/417/0614141000005"),
            [("transaction_events", 0)],
        ),
        (
            "EQ_destination_location=" + quote("urn:epc:id:sgln:0614141.00777.0"),
            [("object_events", 2)],
        ),
        ("GE_errorDeclarationTime=2026-12-01T09:00:00Z", [("object_events", 5)]),
        ("GE_errorDeclarationTime=2026-12-01T09:00:01Z", []),
        ("LT_errorDeclarationTime=2026-12-01T10:00:01" + quote("+01:00"), [("object_events", 5)]),
        ("GE_startTime=2026-11-30T11:00:00Z", [("object_events", 4)]),
        ("GE_startTime=2026-11-30T11:00:01Z", []),
        ("LT_endTime=2026-11-30T12:00:01Z", [("object_events", 4)]),
        ("LT_endTime=2026-11-30T12:00:00Z", []),
        (
            "MATCH_inputEPCClass=" + quote("urn:epc:class:lgtin:4012345.011111.LOT-7"),
            [("transformation_events", 0)],
        ),
        ("MATCH_outputEPCClass=" + quote("urn:epc:class:lgtin:4012345.011111.LOT-7"), []),
        (
            "MATCH_outputEPCClass=" + quote("https://id.gs1.org/01/04012345333336/10/PACK-9"),
            [("transformation_events", 1)],
        ),
        (
            "MATCH_inputEPCClass=" + quote("https://id.gs1.org/01/04012345222227/10/CELL-1"),
            [("transformation_events", 1)],
        ),
    ],
)
def test_each_document_parameter_selects_the_events_it_names(
    mine: Client,  # noqa: F811
    events: Events,  # noqa: F811
    query: str,
    expected: list[tuple[str, int]],
) -> None:
    assert ids(mine, query) == {events[name][index].pk for name, index in expected}


def test_the_corrective_event_id_is_matched_whole(
    mine: Client,  # noqa: F811
    events: Events,  # noqa: F811
) -> None:
    declared = events["object_events"][5]
    corrective = declared.document["errorDeclaration"]["correctiveEventIDs"][0]
    assert ids(mine, f"EQ_correctiveEventID={quote(corrective)}") == {declared.pk}


def test_document_parameters_combine_with_the_indexed_ones(
    mine: Client,  # noqa: F811
    events: Events,  # noqa: F811
) -> None:
    sensed = events["object_events"][4]
    assert ids(mine, f"EQ_type=Temperature&eventType=ObjectEvent&EQ_action={sensed.action}") == {
        sensed.pk
    }
    assert ids(mine, "EQ_type=Temperature&eventType=AggregationEvent") == set()


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("GT_quantity=many", "GT_quantity"),
        ("GT_quantity=1|2", "GT_quantity"),
        ("EQ_quantity=nan", "EQ_quantity"),
        ("GE_value_CEL=warm", "GE_value_CEL"),
        ("EQ_booleanValue=yes", "EQ_booleanValue"),
        ("EQ_type=", "EQ_type"),
        ("GT_ILMD_example:cobaltShare=high", "GT_ILMD_example:cobaltShare"),
        ("EXISTS_ILMD_example:refinedAt=maybe", "EXISTS_ILMD_example:refinedAt"),
        ("EQ_ILMD_noPrefix=1", "EQ_ILMD_noPrefix"),
        ("GE_startTime=yesterday", "GE_startTime"),
        ("LT_errorDeclarationTime=2026-12-01T10:00:00", "LT_errorDeclarationTime"),
        ("HASATTR_example:grade=x", "HASATTR_example:grade"),
        ("EQ_ATTR_bizLocation_name=x", "EQ_ATTR_bizLocation_name"),
        ("eventCountLimit=3", "eventCountLimit"),
        ("eventCountLimit=0&orderBy=eventTime", "eventCountLimit"),
        ("eventCountLimit=2&maxEventCount=5&orderBy=eventTime", "eventCountLimit"),
        ("maxEventCount=-1", "maxEventCount"),
        ("maxEventCount=lots", "maxEventCount"),
    ],
)
def test_a_bad_or_unsupported_parameter_is_refused_naming_it(
    mine: Client,  # noqa: F811
    events: Events,  # noqa: F811
    query: str,
    parameter: str,
) -> None:
    response = mine.get(f"/epcis/events?{query}")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"] == "epcisException:QueryParameterException"
    assert body["parameter"] == parameter


def _next(response: Any) -> str | None:
    link = response.get("Link")
    if link is None:
        return None
    matched = re.fullmatch(r"<http://testserver(/epcis/events\?[^>]+)>; rel=\"next\"", link)
    assert matched, link
    return matched.group(1)


def test_event_count_limit_caps_the_answer_over_all_its_pages(
    mine: Client,  # noqa: F811
    events: Events,  # noqa: F811
) -> None:
    url: str | None = (
        "/epcis/events?orderBy=eventTime&orderDirection=DESC&eventCountLimit=7&perPage=3"
    )
    seen: list[dict[str, Any]] = []
    while url:
        response = mine.get(url)
        seen += event_list(response)
        url = _next(response)
    assert len(seen) == 7
    every = event_list(mine.get("/epcis/events?orderBy=eventTime&perPage=100"))
    assert [e["eventID"] for e in seen] == [e["eventID"] for e in every[:7]]
    # The extremal query: the newest event alone.
    newest = event_list(mine.get("/epcis/events?orderBy=eventTime&eventCountLimit=1"))
    assert [e["eventID"] for e in newest] == [every[0]["eventID"]]


def test_max_event_count_answers_or_is_query_too_large(
    mine: Client,  # noqa: F811
    events: Events,  # noqa: F811
) -> None:
    assert len(event_list(mine.get("/epcis/events?maxEventCount=15&perPage=100"))) == 15
    assert (
        len(event_list(mine.get("/epcis/events?maxEventCount=2&eventType=AssociationEvent"))) == 2
    )
    refused = mine.get("/epcis/events?maxEventCount=14")
    assert refused.status_code == 413
    assert refused["Content-Type"] == PROBLEM
    assert refused.json()["type"] == "epcisException:QueryTooLargeException"
    assert "14" in refused.json()["detail"]


def test_a_named_query_keeps_its_order_and_limits(
    orgs: dict[str, Organisation],  # noqa: F811
    events: Events,  # noqa: F811
) -> None:
    writer = writer_of(orgs["mine"])
    oldest = {
        "name": "oldest",
        "query": {"orderBy": "eventTime", "orderDirection": "ASC", "eventCountLimit": "2"},
    }
    assert writer.post("/epcis/queries", oldest, content_type="application/json").status_code == 201
    every = event_list(writer.get("/epcis/events?orderBy=eventTime&orderDirection=ASC&perPage=100"))
    found = event_list(writer.get("/epcis/queries/oldest/events"))
    assert [e["eventID"] for e in found] == [e["eventID"] for e in every[:2]]
    bounded = {"name": "bounded", "query": {"maxEventCount": "3"}}
    assert (
        writer.post("/epcis/queries", bounded, content_type="application/json").status_code == 201
    )
    refused = writer.get("/epcis/queries/bounded/events")
    assert refused.status_code == 413
    assert refused.json()["type"] == "epcisException:QueryTooLargeException"
    narrowed = writer.get("/epcis/queries/bounded/events?eventType=AssociationEvent")
    assert len(event_list(narrowed)) == 2
    unordered = {"name": "unordered", "query": {"eventCountLimit": "2"}}
    refused = writer.post("/epcis/queries", unordered, content_type="application/json")
    assert refused.status_code == 400
    assert writer.get("/epcis/queries/unordered").status_code == 404
