"""The documents the store answers with: an `EPCISQueryDocument` of stored events (the REST
binding's query answers) and an `EPCISDocument` of them (the portal's download, which a
partner's system captures as it is)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from webapp.epcis.models import EpcisEvent

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"


def event_document(event: EpcisEvent) -> dict[str, Any]:
    """An event as stored, with the eventID (its hash when it came without one) and the
    recordTime the repository gave it (whatever a capturer wrote there)."""
    document = dict(event.document)
    document.setdefault("eventID", event.event_id or event.event_hash)
    document["recordTime"] = event.record_time.isoformat().replace("+00:00", "Z")
    return document


def _context(events: list[EpcisEvent]) -> list[Any]:
    """The EPCIS context, and the namespace prefixes events brought in their own."""
    context: list[Any] = [EPCIS_CONTEXT]
    for event in events:
        own = event.document.get("@context")
        for entry in own if isinstance(own, list) else [own]:
            if isinstance(entry, dict) and entry not in context:
                context.append(entry)
    return context


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def query_document(
    events: list[EpcisEvent], query_name: str = "SimpleEventQuery"
) -> dict[str, Any]:
    """The `EPCISQueryDocument` answering a query. Namespace prefixes an event brought in
    its own `@context` are declared on the document too."""
    return {
        "@context": _context(events),
        "type": "EPCISQueryDocument",
        "schemaVersion": "2.0",
        "creationDate": _now(),
        "epcisBody": {
            "queryResults": {
                "queryName": query_name,
                "resultsBody": {"eventList": [event_document(e) for e in events]},
            }
        },
    }


def epcis_document(events: list[EpcisEvent]) -> dict[str, Any]:
    """The events as an `EPCISDocument`, as a capture interface takes it."""
    return {
        "@context": _context(events),
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": _now(),
        "epcisBody": {"eventList": [event_document(e) for e in events]},
    }
