"""The indexed columns of an `EpcisEvent`, derived from its EPCIS 2.0 JSON document.

Pure: no database. The query side must compare like with like, so it normalises a query's
values with the same `vocabulary_term` and `identifier_forms`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from webapp.epcis.dl_normaliser import normaliser

_QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")

#: Each vocabulary's web-vocabulary and old URN prefixes; a standard value is kept as its
#: bare CBV term ("shipping"), whichever way the document spells it.
_VOCABULARY_PREFIXES = {
    "bizStep": ("https://ref.gs1.org/cbv/BizStep-", "urn:epcglobal:cbv:bizstep:"),
    "disposition": ("https://ref.gs1.org/cbv/Disp-", "urn:epcglobal:cbv:disp:"),
}


def vocabulary_term(kind: str, value: Any) -> str:
    """A bizStep or disposition as stored: `shipping` for `shipping`,
    `https://ref.gs1.org/cbv/BizStep-shipping` and `urn:epcglobal:cbv:bizstep:shipping`;
    any other value as given."""
    if not isinstance(value, str):
        return ""
    for prefix in _VOCABULARY_PREFIXES[kind]:
        if value.startswith(prefix):
            return value[len(prefix) :]
    return value


def identifier_forms(identifier: str) -> list[str]:
    """An EPC or EPC class as given and, when it has one and it differs, in canonical
    Digital Link form (so an EPC URN and its Digital Link find the same events)."""
    canonical = normaliser(identifier)
    if canonical and canonical != identifier:
        return [identifier, canonical]
    return [identifier]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _location(value: Any) -> str:
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return ""


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def parse_time(value: str) -> datetime:
    """An EPCIS timestamp (ISO 8601 with an offset, `Z` allowed) as an aware datetime."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone offset")
    return moment


def event_columns(event: dict[str, Any]) -> dict[str, Any]:
    """The `EpcisEvent` columns an event document determines (all but the hash, record
    time, source, organisation and chain pointers). Expects a schema-valid event."""
    classes = _unique(
        [
            element["epcClass"]
            for name in _QUANTITY_LISTS
            for element in event.get(name) or []
            if isinstance(element, dict) and isinstance(element.get("epcClass"), str)
        ]
    )
    parent = event.get("parentID") if isinstance(event.get("parentID"), str) else ""
    inputs = _unique(_strings(event.get("inputEPCList")))
    outputs = _unique(_strings(event.get("outputEPCList")))
    named = [
        *_strings(event.get("epcList")),
        *_strings(event.get("childEPCs")),
        *([parent] if parent else []),
        *inputs,
        *outputs,
        *classes,
    ]
    declaration = event.get("errorDeclaration")
    return {
        "event_id": event.get("eventID") or "",
        "event_type": event["type"],
        "action": event.get("action") or "",
        "biz_step": vocabulary_term("bizStep", event.get("bizStep")),
        "disposition": vocabulary_term("disposition", event.get("disposition")),
        "read_point": _location(event.get("readPoint")),
        "biz_location": _location(event.get("bizLocation")),
        "event_time": parse_time(event["eventTime"]),
        "event_time_zone_offset": event["eventTimeZoneOffset"],
        "epcs": _unique([form for epc in named for form in identifier_forms(epc)]),
        "parent_id": parent,
        "input_epcs": inputs,
        "output_epcs": outputs,
        "epc_classes": classes,
        "error_declaration": declaration if isinstance(declaration, dict) else None,
    }
