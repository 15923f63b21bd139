"""EPCIS 2.0 JSON-LD documents written as EPCIS 2.0 XML: the query answer
(`EPCISQueryDocument`, valid by GS1's query XSD) and an `EPCISDocument` of events.

The reverse of `webapp.epcis.xml.converter` (section 9 of EPCIS 2.0, the XML/JSON mapping):
each event's fields go in the order its XSD type lists them, lists get their item elements
(`<epcList><epc>`, `<quantityElement>`, `<bizTransaction type=...>`), sensor data become
attributes, and user extensions (`prefix:name` keys) become elements (attributes on
sensor data) in the namespace the prefix stands for. CBV terms are written as GS1's web
URIs (`shipping` as `https://ref.gs1.org/cbv/BizStep-shipping`, `Temperature` as
`https://gs1.org/voc/Temperature`), as `GS1-CBV-XML-Format: Always_Web_URI` announces;
the capture side reads them back as the bare terms.

What XML cannot carry back: a number or boolean in a user extension is text in XML (the
XML binding gives extensions no types); the XSD holds one `certificationInfo`, so of a
JSON list only the first is written; and a prefix no context declares is written in a
`urn:provenant:undeclared-prefix:<prefix>` namespace, so it keeps its key but not a
meaning.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from lxml import etree

from webapp.epcis.xml.reading import EPCIS_2_NAMESPACE

EPCIS_QUERY_NAMESPACE = "urn:epcglobal:epcis-query:xsd:2"
UNDECLARED_PREFIX = "urn:provenant:undeclared-prefix:"
#: Prefixes GS1's EPCIS context declares (a user extension may use them without its own).
CONTEXT_PREFIXES = {
    "epcis": "https://ref.gs1.org/epcis/",
    "cbv": "https://ref.gs1.org/cbv/",
    "cbvmda": "urn:epcglobal:cbv:mda:",
    "gs1": "https://gs1.org/voc/",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "dcterms": "http://purl.org/dc/terms/",
}
_COMMON = ("eventTime", "recordTime", "eventTimeZoneOffset", "eventID", "errorDeclaration")
_COMMON_END = ("certificationInfo",)
_WHY = ("bizStep", "disposition", "readPoint", "bizLocation")
_LATER = ("sourceList", "destinationList", "sensorElementList", "persistentDisposition")
#: Each event type's fields in its XSD sequence.
ORDER = {
    "ObjectEvent": (
        *_COMMON,
        *_COMMON_END,
        "epcList",
        "action",
        *_WHY,
        "bizTransactionList",
        "quantityList",
        *_LATER,
        "ilmd",
    ),
    "AggregationEvent": (
        *_COMMON,
        *_COMMON_END,
        "parentID",
        "childEPCs",
        "action",
        *_WHY,
        "bizTransactionList",
        "childQuantityList",
        *_LATER,
    ),
    "TransactionEvent": (
        *_COMMON,
        *_COMMON_END,
        "bizTransactionList",
        "parentID",
        "epcList",
        "action",
        *_WHY,
        "quantityList",
        *_LATER,
    ),
    "TransformationEvent": (
        *_COMMON,
        *_COMMON_END,
        "inputEPCList",
        "inputQuantityList",
        "outputEPCList",
        "outputQuantityList",
        "transformationID",
        *_WHY,
        "bizTransactionList",
        *_LATER,
        "ilmd",
    ),
    "AssociationEvent": (
        *_COMMON,
        *_COMMON_END,
        "parentID",
        "childEPCs",
        "childQuantityList",
        "action",
        *_WHY,
        "bizTransactionList",
        *_LATER,
    ),
}
_EPC_LISTS = {"epcList", "childEPCs", "inputEPCList", "outputEPCList"}
_QUANTITY_LISTS = {"quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"}
_TEXT = {
    "eventTime",
    "recordTime",
    "eventTimeZoneOffset",
    "eventID",
    "certificationInfo",
    "parentID",
    "transformationID",
    "action",
}
#: The web URI prefix of each CBV vocabulary's bare terms.
_WEB_URI = {
    "bizStep": "https://ref.gs1.org/cbv/BizStep-",
    "disposition": "https://ref.gs1.org/cbv/Disp-",
    "bizTransactionType": "https://ref.gs1.org/cbv/BTT-",
    "sourceDestType": "https://ref.gs1.org/cbv/SDT-",
    "errorReason": "https://ref.gs1.org/cbv/ER-",
    "component": "https://ref.gs1.org/cbv/Comp-",
    "type": "https://gs1.org/voc/",
    "exception": "https://gs1.org/voc/",
}
_SENSOR_NUMBERS = {"value", "minValue", "maxValue", "meanValue", "sDev", "percRank", "percValue"}


def _term_uri(value: Any, kind: str) -> str:
    """A CBV value as its web URI: a bare term gets the vocabulary's prefix, a CURIE of
    GS1's context is expanded, anything else (a URI) is as given."""
    text = str(value)
    prefix, _, rest = text.partition(":")
    if rest and prefix in CONTEXT_PREFIXES and "/" not in prefix:
        return CONTEXT_PREFIXES[prefix] + rest
    if ":" in text or "/" in text:
        return text
    return _WEB_URI[kind] + text


def _decimal(value: Any) -> str:
    """A JSON number as an xsd:decimal (no exponent)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    return format(Decimal(repr(value)), "f") if isinstance(value, float) else str(value)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class EventWriter:
    """Writes JSON events as XML elements. `namespaces` maps the prefixes the documents'
    contexts declare to their URIs; each prefix used is declared on the root."""

    def __init__(self, namespaces: dict[str, str]) -> None:
        self.namespaces = {**CONTEXT_PREFIXES, **namespaces}
        self.used: dict[str, str] = {}

    def qname(self, key: str) -> str:
        """`prefix:name` as the `{namespace}name` lxml takes."""
        prefix, _, name = key.partition(":")
        namespace = self.namespaces.get(prefix) or UNDECLARED_PREFIX + prefix
        self.used[prefix] = namespace
        return f"{{{namespace}}}{name}"

    def event(self, parent: etree._Element, event: dict[str, Any]) -> None:
        kind = str(event["type"])
        element = etree.SubElement(parent, kind)
        for field in ORDER[kind]:
            if field in event:
                self.field(element, field, event[field])
        for key, value in event.items():
            if ":" in key and not key.startswith("@"):
                self.extension(element, key, value)

    def field(self, parent: etree._Element, field: str, value: Any) -> None:  # noqa: C901 (one branch a shape)
        element = etree.SubElement(parent, field)
        if field == "certificationInfo" and isinstance(value, list):
            element.text = str(value[0])  # the XSD holds one (see the module)
        elif field in _TEXT:
            element.text = str(value)
        elif field in {"bizStep", "disposition"}:
            element.text = _term_uri(value, field)
        elif field in _EPC_LISTS:
            for epc in value:
                etree.SubElement(element, "epc").text = str(epc)
        elif field in _QUANTITY_LISTS:
            for item in value:
                self.quantity(element, item)
        elif field in {"readPoint", "bizLocation"}:
            etree.SubElement(element, "id").text = str(value["id"])
            self.extensions(element, value, skip={"id"})
        elif field == "bizTransactionList":
            for item in value:
                transaction = etree.SubElement(element, "bizTransaction")
                if "type" in item:
                    transaction.set("type", _term_uri(item["type"], "bizTransactionType"))
                transaction.text = str(item["bizTransaction"])
        elif field in {"sourceList", "destinationList"}:
            name = field.removesuffix("List")
            for item in value:
                place = etree.SubElement(element, name)
                place.set("type", _term_uri(item["type"], "sourceDestType"))
                place.text = str(item[name])
        elif field == "persistentDisposition":
            for side in ("unset", "set"):  # the XSD's order
                for term in value.get(side, []):
                    etree.SubElement(element, side).text = _term_uri(term, "disposition")
        elif field == "errorDeclaration":
            self.error_declaration(element, value)
        elif field == "sensorElementList":
            for item in value:
                self.sensor_element(element, item)
        elif field == "ilmd":
            self.extensions(element, value, skip=set())

    def quantity(self, parent: etree._Element, item: dict[str, Any]) -> None:
        element = etree.SubElement(parent, "quantityElement")
        etree.SubElement(element, "epcClass").text = str(item["epcClass"])
        if "quantity" in item:
            etree.SubElement(element, "quantity").text = _decimal(item["quantity"])
            if "uom" in item:
                etree.SubElement(element, "uom").text = str(item["uom"])

    def error_declaration(self, element: etree._Element, value: dict[str, Any]) -> None:
        etree.SubElement(element, "declarationTime").text = str(value["declarationTime"])
        if "reason" in value:
            etree.SubElement(element, "reason").text = _term_uri(value["reason"], "errorReason")
        if "correctiveEventIDs" in value:
            ids = etree.SubElement(element, "correctiveEventIDs")
            for event_id in value["correctiveEventIDs"]:
                etree.SubElement(ids, "correctiveEventID").text = str(event_id)
        self.extensions(element, value, skip={"declarationTime", "reason", "correctiveEventIDs"})

    def sensor_element(self, parent: etree._Element, item: dict[str, Any]) -> None:
        element = etree.SubElement(parent, "sensorElement")
        if "sensorMetadata" in item:
            self.sensor_attributes(
                etree.SubElement(element, "sensorMetadata"), item["sensorMetadata"]
            )
        for report in item.get("sensorReport", []):
            self.sensor_attributes(etree.SubElement(element, "sensorReport"), report)
        self.extensions(element, item, skip={"sensorMetadata", "sensorReport"})

    def sensor_attributes(self, element: etree._Element, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if ":" in key:
                element.set(self.qname(key), _scalar(value))
            elif key in {"type", "exception", "component"}:
                element.set(key, _term_uri(value, key))
            elif key in _SENSOR_NUMBERS:
                element.set(key, repr(float(value)) if isinstance(value, float) else str(value))
            else:
                element.set(key, _scalar(value))

    def extensions(self, element: etree._Element, values: dict[str, Any], skip: set[str]) -> None:
        for key, value in values.items():
            if key not in skip:
                self.extension(element, key, value)

    def extension(self, parent: etree._Element, key: str, value: Any) -> None:
        """A user extension: repeated elements for a list, children for an object."""
        for item in value if isinstance(value, list) else [value]:
            element = etree.SubElement(parent, self.qname(key))
            if isinstance(item, dict):
                self.extensions(element, item, skip=set())
            else:
                element.text = _scalar(item)


def _context_namespaces(context: Any) -> dict[str, str]:
    return {
        prefix: uri
        for entry in (context if isinstance(context, list) else [context])
        if isinstance(entry, dict)
        for prefix, uri in entry.items()
        if isinstance(prefix, str) and isinstance(uri, str)
    }


def _events(writer: EventWriter, parent: etree._Element, events: list[dict[str, Any]]) -> None:
    event_list = etree.SubElement(parent, "EventList")
    for event in events:
        own = _context_namespaces(event.get("@context"))
        saved = writer.namespaces
        writer.namespaces = {**saved, **own}
        writer.event(event_list, event)
        writer.namespaces = saved


def _serialise(root: etree._Element, writer: EventWriter) -> bytes:
    # Declare every extension prefix once, on the root (lxml would repeat ns0, ns1 ...).
    declared = etree.Element(root.tag, nsmap={**root.nsmap, **writer.used}, attrib=root.attrib)
    declared.extend(list(root))
    etree.cleanup_namespaces(declared, top_nsmap=writer.used)
    return bytes(etree.tostring(declared, xml_declaration=True, encoding="UTF-8"))


def query_document_xml(document: dict[str, Any]) -> bytes:
    """The XML `EPCISQueryDocument` for a JSON one (`webapp.epcis.documents.query_document`)."""
    writer = EventWriter(_context_namespaces(document.get("@context")))
    root = etree.Element(
        f"{{{EPCIS_QUERY_NAMESPACE}}}EPCISQueryDocument",
        nsmap={"epcisq": EPCIS_QUERY_NAMESPACE},
        attrib={"schemaVersion": "2.0", "creationDate": str(document["creationDate"])},
    )
    results = document["epcisBody"]["queryResults"]
    body = etree.SubElement(root, "EPCISBody")
    query_results = etree.SubElement(body, f"{{{EPCIS_QUERY_NAMESPACE}}}QueryResults")
    etree.SubElement(query_results, "queryName").text = str(results["queryName"])
    results_body = etree.SubElement(query_results, "resultsBody")
    _events(writer, results_body, list(results["resultsBody"]["eventList"]))
    return _serialise(root, writer)


def epcis_document_xml(document: dict[str, Any]) -> bytes:
    """The XML `EPCISDocument` for a JSON one (`webapp.epcis.documents.epcis_document`), as
    the XML capture interface takes it."""
    writer = EventWriter(_context_namespaces(document.get("@context")))
    root = etree.Element(
        f"{{{EPCIS_2_NAMESPACE}}}EPCISDocument",
        nsmap={"epcis": EPCIS_2_NAMESPACE},
        attrib={"schemaVersion": "2.0", "creationDate": str(document["creationDate"])},
    )
    body = etree.SubElement(root, "EPCISBody")
    _events(writer, body, list(document["epcisBody"]["eventList"]))
    return _serialise(root, writer)
