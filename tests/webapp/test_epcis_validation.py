"""GS1's JSON Schema and JSON-LD context, used offline: problems named by path in plain words,
nothing fetched, nothing else resolved."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from pyld.jsonld import JsonLdError
from referencing.exceptions import NoSuchResource

from webapp.epcis import validation

pytestmark = pytest.mark.unit

DOCUMENT = json.loads(
    (Path(__file__).parent / "epcis_documents" / "object_events.jsonld").read_text()
)


def _with(index: int, **changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(DOCUMENT)
    document["epcisBody"]["eventList"][index].update(changes)
    return document


def test_a_conforming_document_has_no_problems() -> None:
    assert validation.document_problems(DOCUMENT) == []


def test_a_wrong_action_is_named_by_its_path_in_plain_words() -> None:
    problems = validation.document_problems(_with(3, action="MOVE"))
    assert [str(p) for p in problems] == [
        "epcisBody.eventList[3].action: 'MOVE' is not one of ['OBSERVE', 'ADD', 'DELETE']"
    ]


def test_a_bad_timestamp_and_a_wrong_type_are_each_reported_once() -> None:
    document = _with(1, eventTime="yesterday")
    document["epcisBody"]["eventList"][2]["bizStep"] = 5
    assert [str(p) for p in validation.document_problems(document)] == [
        "epcisBody.eventList[1].eventTime: 'yesterday' is not a 'date-time'",
        "epcisBody.eventList[2].bizStep: 5 is not of type 'string'",
    ]


def test_a_missing_required_field_is_reported() -> None:
    document = copy.deepcopy(DOCUMENT)
    del document["epcisBody"]["eventList"][0]["eventTime"]
    messages = [str(p) for p in validation.document_problems(document)]
    assert any("'eventTime' is a required property" in m for m in messages), messages


def test_a_single_event_is_checked_by_its_own_type_and_needs_its_context() -> None:
    bare = DOCUMENT["epcisBody"]["eventList"][0]
    assert [str(p) for p in validation.event_problems(bare)] == [
        "'@context' is a required property"
    ]
    event = {"@context": DOCUMENT["@context"], **bare}
    assert validation.event_problems(event) == []
    assert [str(p) for p in validation.event_problems({**event, "action": "MOVE"})] == [
        "action: 'MOVE' is not one of ['OBSERVE', 'ADD', 'DELETE']"
    ]
    assert validation.event_problems({"type": "LotEvent"})[0].path == "type"
    assert validation.document_problems([]) == [
        validation.Problem("type", "an EPCISDocument is expected")
    ]


def test_only_the_vendored_schemas_are_resolvable() -> None:
    assert validation._retrieve(validation.ROOT_SCHEMA_ID)
    with pytest.raises(NoSuchResource):
        validation._retrieve("https://example.com/evil-schema.json")
    with pytest.raises(NoSuchResource):
        validation._retrieve("https://gs1.github.io/EPCIS/JSON-Schema/not-vendored.json")


def test_expansion_uses_the_vendored_context_offline() -> None:
    event = DOCUMENT["epcisBody"]["eventList"][0]
    [expanded] = validation.expand({"@context": DOCUMENT["@context"], **event})
    assert expanded["@type"] == ["https://ref.gs1.org/epcis/ObjectEvent"]
    assert expanded["https://ref.gs1.org/epcis/bizStep"] == [
        {"@id": "https://ref.gs1.org/cbv/BizStep-commissioning"}
    ]
    assert validation.expand(DOCUMENT)[0]["@type"] == ["https://ref.gs1.org/epcis/EPCISDocument"]


def test_expansion_refuses_any_other_context() -> None:
    with pytest.raises(JsonLdError):
        validation.expand({"@context": "https://example.com/context.jsonld", "a": "b"})
    with pytest.raises(JsonLdError):
        validation.document_loader("https://example.com/context.jsonld")


def _variants() -> list[dict[str, Any]]:
    missing_time = copy.deepcopy(DOCUMENT)
    del missing_time["epcisBody"]["eventList"][0]["eventTime"]
    return [
        DOCUMENT,
        _with(3, action="MOVE"),
        _with(1, eventTime="yesterday"),
        _with(1, eventTime="2026-11-30 10:00"),
        _with(2, bizStep=5),
        _with(2, bizStep="https://example.com/steps/own-step"),
        _with(0, readPoint={"id": "not a uri"}),
        _with(0, epcList=[]),
        _with(0, sensorElementList=[{"sensorReport": [{"type": "Warmth", "value": 1}]}]),
        missing_time,
    ]


@pytest.mark.parametrize("index", range(len(_variants())))
def test_the_fast_validator_agrees_with_jsonschema(index: int) -> None:
    fast = validation._fast_validator()
    if fast is None:
        pytest.skip("jsonschema-rs is not installed; jsonschema alone decides")
    document = _variants()[index]
    assert fast.is_valid(document) == validation._validator().is_valid(document)


def test_problems_split_into_the_documents_own_and_each_events() -> None:
    document = _with(3, action="MOVE")
    document["epcisBody"]["eventList"][1]["eventTime"] = "yesterday"
    del document["schemaVersion"]
    own, by_event = validation.problems_by_event(validation.document_problems(document))
    assert [str(p) for p in own] == ["'schemaVersion' is a required property"]
    assert sorted(by_event) == [1, 3]
    assert [p.message for p in by_event[3]] == ["'MOVE' is not one of ['OBSERVE', 'ADD', 'DELETE']"]
