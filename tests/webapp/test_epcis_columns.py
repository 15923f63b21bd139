"""The indexed columns derived from an EPCIS event: every EPC and class it names, the
vocabulary as bare CBV terms, locations, times."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from webapp.epcis.columns import event_columns, identifier_forms, parse_time, vocabulary_term
from webapp.epcis.fields import IdentifierListField

pytestmark = pytest.mark.unit

DOCUMENTS = Path(__file__).parent / "epcis_documents"


def _event(file: str, index: int) -> dict[str, Any]:
    events: list[dict[str, Any]] = json.loads((DOCUMENTS / file).read_text())["epcisBody"][
        "eventList"
    ]
    return events[index]


def test_an_object_event_with_quantities_names_its_classes_in_both_forms() -> None:
    columns = event_columns(_event("object_events.jsonld", 1))
    assert columns["event_type"] == "ObjectEvent"
    assert columns["action"] == "ADD"
    assert columns["biz_step"] == "commissioning"
    assert columns["disposition"] == "active"
    assert columns["read_point"] == "https://id.gs1.org/414/4012345000016"
    assert columns["biz_location"] == ""
    assert columns["epc_classes"] == [
        "urn:epc:class:lgtin:4012345.011111.LOT-7",
        "https://id.gs1.org/01/04012345111118/10/LOT-8",
    ]
    assert columns["epcs"] == [
        "urn:epc:class:lgtin:4012345.011111.LOT-7",
        "https://id.gs1.org/01/04012345111118/10/LOT-7",
        "https://id.gs1.org/01/04012345111118/10/LOT-8",
    ]
    assert columns["event_time"] == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    assert columns["event_time_zone_offset"] == "+00:00"
    assert columns["event_id"] == ""
    assert columns["error_declaration"] is None


def test_an_aggregation_names_its_parent_and_children() -> None:
    columns = event_columns(_event("aggregation_events.jsonld", 0))
    assert columns["parent_id"] == "urn:epc:id:sscc:4012345.0000000011"
    assert "urn:epc:id:sscc:4012345.0000000011" in columns["epcs"]
    assert "https://id.gs1.org/00/040123450000000115" in columns["epcs"]
    assert "urn:epc:id:sgtin:4012345.011111.1001" in columns["epcs"]
    assert "https://id.gs1.org/01/04012345111118/21/1001" in columns["epcs"]
    assert columns["epc_classes"] == [
        "urn:epc:class:lgtin:4012345.011111.LOT-7",
        "urn:epc:idpat:sgtin:4012345.011111.*",
    ]
    assert columns["input_epcs"] == columns["output_epcs"] == []
    assert len(columns["epcs"]) == len(set(columns["epcs"]))


def test_a_transformation_keeps_inputs_and_outputs_apart() -> None:
    columns = event_columns(_event("transformation_events.jsonld", 0))
    assert columns["input_epcs"] == [
        "urn:epc:id:sgtin:4012345.011122.25",
        "urn:epc:id:sgtin:4000001.065432.99886655",
    ]
    assert columns["output_epcs"] == ["urn:epc:id:sgtin:4012345.077889.25"]
    assert "urn:epc:class:lgtin:4012345.022222.CELL-1" in columns["epc_classes"]
    assert columns["action"] == ""
    assert set(columns["input_epcs"] + columns["output_epcs"]) <= set(columns["epcs"])


def test_web_vocabulary_and_old_urns_are_stored_as_the_bare_term() -> None:
    event = _event("transaction_events.jsonld", 0)
    assert event["bizStep"] == "https://ref.gs1.org/cbv/BizStep-retail_selling"
    columns = event_columns(event)
    assert columns["biz_step"] == "retail_selling"
    assert columns["disposition"] == "retail_sold"
    assert vocabulary_term("bizStep", "urn:epcglobal:cbv:bizstep:shipping") == "shipping"
    assert vocabulary_term("disposition", "https://example.com/disp/odd") == (
        "https://example.com/disp/odd"
    )
    assert vocabulary_term("bizStep", None) == ""


def test_an_error_declaration_and_event_id_are_kept() -> None:
    columns = event_columns(_event("object_events.jsonld", 5))
    assert columns["error_declaration"]["reason"] == "incorrect_data"
    assert event_columns(_event("object_events.jsonld", 4))["event_id"].startswith("ni:///")


def test_offsets_are_kept_with_the_instant() -> None:
    moment = parse_time("2026-11-30T12:30:15.123456-05:00")
    assert moment.utcoffset() == timedelta(hours=-5)
    assert moment == datetime(2026, 11, 30, 17, 30, 15, 123456, tzinfo=UTC)
    with pytest.raises(ValueError, match="no time zone"):
        parse_time("2026-11-30T12:30:15")


def test_identifiers_without_a_gs1_key_have_one_form() -> None:
    assert identifier_forms("urn:uuid:1") == ["urn:uuid:1"]
    assert identifier_forms("https://id.gs1.org/01/04012345111118/21/1") == [
        "https://id.gs1.org/01/04012345111118/21/1"
    ]


def test_the_identifier_list_is_json_text_off_postgresql() -> None:
    field = IdentifierListField()
    sqlite = SimpleNamespace(vendor="sqlite")
    assert field.db_type(sqlite) == "text"
    assert field.get_placeholder(["a", "b"], None, sqlite) == "%s"
    stored = field.get_db_prep_value(["a", "b"], sqlite)
    assert stored == '["a", "b"]'
    assert field.from_db_value(stored, None, sqlite) == ["a", "b"]
