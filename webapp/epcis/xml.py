"""EPCIS XML captures, 2.0 and 1.2, read into the EPCIS 2.0 JSON-LD document a JSON capture is.

The capture endpoint accepts JSON and XML; everything after parsing (JSON Schema validation, the
event hash, the event store) sees one model, so an XML document and its JSON twin must become the
same dict. `parse_epcis_xml` does that in four steps:

1. Parse safely: bounded size, no DTD, no entities, no network (a partner's file is untrusted).
2. Tell the version by the root element's namespace: `urn:epcglobal:epcis:xsd:2` is EPCIS 2.0,
   `urn:epcglobal:epcis:xsd:1` is EPCIS 1.0-1.2.
3. Validate 2.0 against GS1's XSD (vendored in `gs1_xsd/`). GS1's 1.2 XSD is not vendored; a 1.2
   document gets the structural checks of the conversion below (known elements in their places,
   the required ones present), which is what the converter relies on.
4. Convert, following the XML/JSON mapping of EPCIS 2.0 (section 9 and GS1's
   epcis-event-hash-generator, whose XML and JSON readers must give the same hash):
   - 1.2's `<extension>` / `<baseExtension>` wrappers vanish (eventID, errorDeclaration, quantity
     lists, source/destination lists and ilmd all sit on the event in 2.0), and 1.2's
     TransformationEvent moves out of `<EventList><extension>`;
   - `<epcList><epc>` becomes a list of strings, `<quantityList><quantityElement>` a list of
     `{"epcClass", "quantity", "uom"}`, `<bizTransaction type=...>` `{"type", "bizTransaction"}`,
     `<source type=...>` `{"type", "source"}`, `<readPoint><id>` `{"id"}`;
   - sensorMetadata/sensorReport attributes become keys, numbers as numbers;
   - CBV values written as URIs in XML (`urn:epcglobal:cbv:bizstep:shipping`,
     `https://ref.gs1.org/cbv/BizStep-shipping`) become the bare terms JSON uses (`shipping`),
     which the JSON-LD context maps back to the same URIs; sensor types `gs1:Temperature` become
     `Temperature` likewise;
   - elements of other namespaces (user extensions) become `prefix:name` keys, the prefix
     declared in the document's `@context`.
"""

from __future__ import annotations

import codecs
import functools
import re
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from lxml import etree

EPCIS_2_NAMESPACE = "urn:epcglobal:epcis:xsd:2"
EPCIS_1_NAMESPACE = "urn:epcglobal:epcis:xsd:1"
EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
XSD_ROOT = Path(__file__).resolve().parent / "gs1_xsd" / "EPCglobal-epcis-2_0.xsd"

#: Largest XML capture read. GS1 leaves the limit to the server (GS1-EPCIS-Capture-Limit).
MAX_EPCIS_XML_BYTES = 10 * 1024 * 1024

_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_XMLNS_PREFIXES = {"xml", "xmlns"}
# Terms of GS1's context: a user extension prefix must not redefine them.
_CONTEXT_TERMS = {
    "epcis": "https://ref.gs1.org/epcis/",
    "cbv": "https://ref.gs1.org/cbv/",
    "cbvmda": "urn:epcglobal:cbv:mda:",
    "gs1": "https://gs1.org/voc/",
    "rdfs": "http://www.w3.org/2000/01/rdf-schema#",
    "owl": "http://www.w3.org/2002/07/owl#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
    "dcterms": "http://purl.org/dc/terms/",
}


class EpcisXmlError(ValueError):
    """An XML capture that cannot be read; the message says why and, when known, where."""

    def __init__(self, message: str, *, line: int | None = None, path: str | None = None):
        self.reason = message
        self.line = line
        self.path = path
        where = []
        if line:
            where.append(f"line {line}")
        if path:
            where.append(f"at {path}")
        super().__init__(f"{message} ({', '.join(where)})" if where else message)


def parse_epcis_xml(content: bytes) -> dict[str, Any]:
    """The EPCIS 2.0 JSON-LD document (as a JSON capture would give) for an XML capture."""
    root = _parse(content)
    version = _version(root)
    if version == "2.0":
        _validate_2_0(root)
    return _Converter(root, version).document()


# -- parsing -------------------------------------------------------------------------------------


def _parse(content: bytes) -> etree._Element:
    if not content.strip():
        raise EpcisXmlError("The file is empty.")
    if len(content) > MAX_EPCIS_XML_BYTES:
        raise EpcisXmlError(
            f"The file is larger than {MAX_EPCIS_XML_BYTES // (1024 * 1024)} MiB; "
            "split the events over several captures."
        )
    # Refused before parsing, so an entity bomb costs nothing. The doctype check after parsing
    # is the backstop for encodings the byte check cannot read (libxml2 also caps entity
    # amplification, which turns such a bomb into a syntax error).
    if _declares_dtd(content):
        raise EpcisXmlError("DTDs and entity declarations are not accepted in an EPCIS document.")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root = etree.fromstring(content, parser)
    except etree.XMLSyntaxError as error:
        reason = re.sub(r", line \d+, column \d+$", "", error.msg or "")
        raise EpcisXmlError(
            f"The file is not well-formed XML: {reason}", line=error.lineno
        ) from None
    if root.getroottree().docinfo.doctype:
        raise EpcisXmlError("DTDs and entity declarations are not accepted in an EPCIS document.")
    return root


_WIDE_ENCODINGS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
)


def _declares_dtd(content: bytes) -> bool:
    text: bytes | str = content  # ASCII-compatible encodings: the markup is ASCII bytes
    for start, codec in _WIDE_ENCODINGS:
        if content.startswith(start):
            text = content.decode(codec, errors="replace")
            break
    if isinstance(text, str):
        return "<!DOCTYPE" in text or "<!ENTITY" in text
    return b"<!DOCTYPE" in text or b"<!ENTITY" in text


def _version(root: etree._Element) -> str:
    name = etree.QName(root)
    if name.namespace not in (EPCIS_2_NAMESPACE, EPCIS_1_NAMESPACE):
        raise EpcisXmlError(
            f"The root element {name.localname} is in namespace '{name.namespace or ''}', not "
            f"EPCIS 2.0 ({EPCIS_2_NAMESPACE}) or EPCIS 1.2 ({EPCIS_1_NAMESPACE}).",
            line=root.sourceline,
        )
    if name.localname != "EPCISDocument":
        raise EpcisXmlError(
            f"A capture is an EPCISDocument, not {name.localname}.", line=root.sourceline
        )
    version = "2.0" if name.namespace == EPCIS_2_NAMESPACE else "1.2"
    declared = root.get("schemaVersion") or ""
    if declared.split(".")[0] != version[0]:
        raise EpcisXmlError(
            f"schemaVersion '{declared}' does not match the namespace of EPCIS {version}.",
            line=root.sourceline,
        )
    return version


@functools.cache
def _schema_2_0() -> etree.XMLSchema:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.XMLSchema(etree.parse(str(XSD_ROOT), parser))


def _validate_2_0(root: etree._Element) -> None:
    schema = _schema_2_0()
    if not schema.validate(root):
        error = schema.error_log[0]
        raise EpcisXmlError(
            f"The document does not follow the EPCIS 2.0 XML schema: {error.message}",
            line=error.line,
            path=error.path,
        )


# -- conversion ----------------------------------------------------------------------------------

_COMMON = {
    "eventTime",
    "recordTime",
    "eventTimeZoneOffset",
    "eventID",
    "errorDeclaration",
    "certificationInfo",
}
_WHAT_WHERE_WHY = {
    "bizStep",
    "disposition",
    "readPoint",
    "bizLocation",
    "bizTransactionList",
    "sourceList",
    "destinationList",
    "sensorElementList",
    "persistentDisposition",
}
_FIELDS = {
    "ObjectEvent": _COMMON | _WHAT_WHERE_WHY | {"epcList", "action", "quantityList", "ilmd"},
    "AggregationEvent": _COMMON
    | _WHAT_WHERE_WHY
    | {"parentID", "childEPCs", "action", "childQuantityList"},
    "AssociationEvent": _COMMON
    | _WHAT_WHERE_WHY
    | {"parentID", "childEPCs", "action", "childQuantityList"},
    "TransactionEvent": _COMMON
    | _WHAT_WHERE_WHY
    | {"parentID", "epcList", "action", "quantityList"},
    "TransformationEvent": _COMMON
    | _WHAT_WHERE_WHY
    | {
        "inputEPCList",
        "inputQuantityList",
        "outputEPCList",
        "outputQuantityList",
        "transformationID",
        "ilmd",
    },
}
_REQUIRED = {
    "ObjectEvent": ("eventTime", "eventTimeZoneOffset", "action"),
    "AggregationEvent": ("eventTime", "eventTimeZoneOffset", "action"),
    "AssociationEvent": ("eventTime", "eventTimeZoneOffset", "parentID", "action"),
    "TransactionEvent": ("eventTime", "eventTimeZoneOffset", "bizTransactionList", "action"),
    "TransformationEvent": ("eventTime", "eventTimeZoneOffset"),
}
_EVENTS_1_2 = {"ObjectEvent", "AggregationEvent", "TransactionEvent"}
_ACTIONS = {"ADD", "OBSERVE", "DELETE"}

_TEXT_FIELDS = {
    "eventTime",
    "recordTime",
    "eventTimeZoneOffset",
    "eventID",
    "certificationInfo",
    "parentID",
    "transformationID",
}
_EPC_LISTS = {"epcList", "childEPCs", "inputEPCList", "outputEPCList"}
_QUANTITY_LISTS = {"quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"}

# CBV 2.0 terms: the XML forms (1.2's URNs, 2.0's web URIs) and the bare JSON term.
_CBV_PREFIXES = {
    "bizStep": ("urn:epcglobal:cbv:bizstep:", "https://ref.gs1.org/cbv/BizStep-"),
    "disposition": ("urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-"),
    "bizTransactionType": ("urn:epcglobal:cbv:btt:", "https://ref.gs1.org/cbv/BTT-"),
    "sourceDestType": ("urn:epcglobal:cbv:sdt:", "https://ref.gs1.org/cbv/SDT-"),
    "errorReason": ("urn:epcglobal:cbv:er:", "https://ref.gs1.org/cbv/ER-"),
    "component": ("cbv:Comp-", "https://ref.gs1.org/cbv/Comp-"),
    "measurementType": ("gs1:", "https://gs1.org/voc/"),
    "sensorAlertType": ("gs1:", "https://gs1.org/voc/"),
}
_TERM = re.compile(r"[A-Za-z][A-Za-z0-9_]*")

_SENSOR_METADATA = {
    "time",
    "startTime",
    "endTime",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "bizRules",
}
_SENSOR_REPORT_NUMBERS = {
    "value",
    "minValue",
    "maxValue",
    "meanValue",
    "sDev",
    "percRank",
    "percValue",
}
_SENSOR_REPORT = _SENSOR_REPORT_NUMBERS | {
    "type",
    "exception",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "bizRules",
    "time",
    "microorganism",
    "chemicalSubstance",
    "coordinateReferenceSystem",
    "component",
    "stringValue",
    "booleanValue",
    "hexBinaryValue",
    "uriValue",
    "uom",
}

_SENSOR_VOCABULARIES = {
    "type": "measurementType",
    "exception": "sensorAlertType",
    "component": "component",
}


def _cbv(value: str, kind: str) -> str:
    for prefix in _CBV_PREFIXES[kind]:
        if value.startswith(prefix) and _TERM.fullmatch(value[len(prefix) :]):
            return value[len(prefix) :]
    return value


def _number(text: str) -> int | float:
    """xsd:decimal / xsd:double as the JSON number a JSON capture holds."""
    try:
        value = Decimal(text)
    except InvalidOperation as error:
        raise ValueError(text) from error
    if not value.is_finite():
        raise ValueError(text)
    if value == value.to_integral_value() and re.fullmatch(r"[+-]?\d+", text):
        return int(value)
    return float(value)


def _children(element: etree._Element) -> list[etree._Element]:
    return [child for child in element if isinstance(child.tag, str)]


class _Converter:
    def __init__(self, root: etree._Element, version: str) -> None:
        self.root = root
        self.tree = root.getroottree()
        self.version = version
        #: User extension namespaces, by the prefix their keys carry.
        self.namespaces: dict[str, str] = {}

    def fail(self, element: etree._Element, message: str) -> EpcisXmlError:
        return EpcisXmlError(message, line=element.sourceline, path=self.tree.getpath(element))

    def document(self) -> dict[str, Any]:
        creation_date = (self.root.get("creationDate") or "").strip()
        if not creation_date:
            raise self.fail(self.root, "The EPCISDocument has no creationDate.")
        body = None
        for child in _children(self.root):
            name = etree.QName(child)
            if name.namespace is None and name.localname == "EPCISBody":
                body = child
            elif name.namespace is None and name.localname not in ("EPCISHeader", "extension"):
                raise self.fail(child, f"Unexpected element {name.localname} in EPCISDocument.")
        if body is None:
            raise self.fail(self.root, "The EPCISDocument has no EPCISBody.")
        events: list[dict[str, Any]] = []
        for child in _children(body):
            name = etree.QName(child)
            if name.namespace is None and name.localname == "EventList":
                events = self.events(child)
            elif name.namespace is None and name.localname != "extension":
                raise self.fail(child, f"Unexpected element {name.localname} in EPCISBody.")
        context: list[Any] = [EPCIS_CONTEXT]
        if self.namespaces:
            context.append(dict(sorted(self.namespaces.items())))
        return {
            "@context": context,
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": creation_date,
            "epcisBody": {"eventList": events},
        }

    def events(self, event_list: etree._Element) -> list[dict[str, Any]]:
        events = []
        for child in _children(event_list):
            name = etree.QName(child)
            if name.namespace is None and name.localname == "extension":
                # 1.2 keeps TransformationEvent here; other content would be a private event type.
                for inner in _children(child):
                    inner_name = etree.QName(inner)
                    if inner_name.namespace is None and inner_name.localname == (
                        "TransformationEvent"
                    ):
                        events.append(self.event(inner))
                    else:
                        raise self.fail(
                            inner, f"{inner_name.localname} is not an EPCIS 2.0 event type."
                        )
            elif name.namespace is None and name.localname == "QuantityEvent":
                raise self.fail(
                    child,
                    "QuantityEvent was withdrawn in EPCIS 2.0; "
                    "send it as an ObjectEvent with a quantityList.",
                )
            elif name.namespace is None and (
                name.localname in _EVENTS_1_2
                or (self.version == "2.0" and name.localname in _FIELDS)
            ):
                events.append(self.event(child))
            else:
                raise self.fail(
                    child, f"{name.localname} is not an EPCIS {self.version} event type."
                )
        return events

    def event(self, element: etree._Element) -> dict[str, Any]:
        event_type = etree.QName(element).localname
        out: dict[str, Any] = {"type": event_type}
        self.fields(element, out, _FIELDS[event_type])
        missing = [field for field in _REQUIRED[event_type] if field not in out]
        if missing:
            raise self.fail(element, f"The {event_type} has no {', '.join(missing)}.")
        if "action" in out and out["action"] not in _ACTIONS:
            raise self.fail(element, f"The action '{out['action']}' is not ADD, OBSERVE or DELETE.")
        return out

    def fields(self, parent: etree._Element, out: dict[str, Any], allowed: set[str]) -> None:
        """Read `parent`'s children into `out`; 1.2's extension wrappers are flattened."""
        for child in _children(parent):
            name = etree.QName(child)
            if name.namespace is not None:
                self.put_extension(child, out)
                continue
            field = name.localname
            if field in ("extension", "baseExtension"):
                self.fields(child, out, allowed)
                continue
            if field not in allowed:
                raise self.fail(child, f"Unexpected element {field} in {out['type']}.")
            if field in out:
                raise self.fail(child, f"{field} appears more than once.")
            out[field] = self.field(child, field)

    def field(self, element: etree._Element, field: str) -> Any:
        if field in _TEXT_FIELDS or field == "action":
            return self.text(element)
        if field in ("bizStep", "disposition"):
            return _cbv(self.text(element), field)
        if field in _EPC_LISTS:
            return [self.text(epc) for epc in self.items(element, "epc")]
        if field in _QUANTITY_LISTS:
            return [self.quantity(item) for item in self.items(element, "quantityElement")]
        if field in ("sourceList", "destinationList"):
            item_name = field.removesuffix("List")
            return [
                self.source_destination(item, item_name) for item in self.items(element, item_name)
            ]
        return _SHAPES[field](self, element)

    # -- shapes ------------------------------------------------------------------------------

    def text(self, element: etree._Element) -> str:
        if _children(element):
            raise self.fail(element, f"{etree.QName(element).localname} should hold text only.")
        return (element.text or "").strip()

    def items(self, element: etree._Element, item_name: str) -> list[etree._Element]:
        """The children of a list element, all named `item_name` (1.2's list extensions
        hold nothing standard and are refused)."""
        items = _children(element)
        for item in items:
            if etree.QName(item).namespace is not None or etree.QName(item).localname != item_name:
                raise self.fail(
                    item,
                    f"Unexpected element {etree.QName(item).localname} in "
                    f"{etree.QName(element).localname} (expected {item_name}).",
                )
        return items

    def quantity(self, element: etree._Element) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in _children(element):
            field = etree.QName(child).localname
            if etree.QName(child).namespace is not None or field not in (
                "epcClass",
                "quantity",
                "uom",
            ):
                raise self.fail(child, f"Unexpected element {field} in quantityElement.")
            if field in out:
                raise self.fail(child, f"{field} appears more than once.")
            text = self.text(child)
            if field == "quantity":
                try:
                    out[field] = _number(text)
                except ValueError:
                    raise self.fail(child, f"The quantity '{text}' is not a number.") from None
            else:
                out[field] = text
        if "epcClass" not in out:
            raise self.fail(element, "The quantityElement has no epcClass.")
        return out

    def location(self, element: etree._Element) -> dict[str, Any]:
        """readPoint / bizLocation: `{"id": ...}` and any user extensions (1.2 wraps them)."""
        where = etree.QName(element).localname
        out: dict[str, Any] = {}
        for child in _children(element):
            name = etree.QName(child)
            if name.namespace is not None:
                self.put_extension(child, out)
            elif name.localname == "extension":
                out.update(self.extension_object(child))
            elif name.localname == "id" and "id" not in out:
                out["id"] = self.text(child)
            else:
                raise self.fail(child, f"Unexpected element {name.localname} in {where}.")
        if "id" not in out:
            raise self.fail(element, f"The {where} has no id.")
        return out

    def biz_transaction(self, element: etree._Element) -> dict[str, str]:
        out = {}
        if element.get("type"):
            out["type"] = _cbv(element.get("type", "").strip(), "bizTransactionType")
        out["bizTransaction"] = self.text(element)
        return out

    def source_destination(self, element: etree._Element, item_name: str) -> dict[str, str]:
        kind = (element.get("type") or "").strip()
        if not kind:
            raise self.fail(element, f"The {item_name} has no type attribute.")
        return {"type": _cbv(kind, "sourceDestType"), item_name: self.text(element)}

    def persistent_disposition(self, element: etree._Element) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for child in _children(element):
            field = etree.QName(child).localname
            if etree.QName(child).namespace is not None or field not in ("set", "unset"):
                raise self.fail(child, f"Unexpected element {field} in persistentDisposition.")
            out.setdefault(field, []).append(_cbv(self.text(child), "disposition"))
        return out

    def error_declaration(self, element: etree._Element) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in _children(element):
            name = etree.QName(child)
            if name.namespace is not None:
                self.put_extension(child, out)
            elif name.localname == "extension":
                for inner in _children(child):
                    if etree.QName(inner).namespace is None:
                        raise self.fail(inner, "Unexpected element in errorDeclaration.")
                    self.put_extension(inner, out)
            elif name.localname in out:
                raise self.fail(child, f"{name.localname} appears more than once.")
            else:
                out[name.localname] = self.error_declaration_field(child, name.localname)
        if "declarationTime" not in out:
            raise self.fail(element, "The errorDeclaration has no declarationTime.")
        return out

    def error_declaration_field(self, element: etree._Element, field: str) -> Any:
        if field == "declarationTime":
            return self.text(element)
        if field == "reason":
            return _cbv(self.text(element), "errorReason")
        if field == "correctiveEventIDs":
            return [self.text(item) for item in self.items(element, "correctiveEventID")]
        raise self.fail(element, f"Unexpected element {field} in errorDeclaration.")

    def sensor_element(self, element: etree._Element) -> dict[str, Any]:
        out: dict[str, Any] = {}
        reports = []
        for child in _children(element):
            name = etree.QName(child)
            if name.namespace is not None:
                self.put_extension(child, out)
            elif name.localname == "sensorMetadata" and "sensorMetadata" not in out:
                out["sensorMetadata"] = self.sensor_attributes(child, _SENSOR_METADATA)
            elif name.localname == "sensorReport":
                reports.append(self.sensor_attributes(child, _SENSOR_REPORT))
            else:
                raise self.fail(child, f"Unexpected element {name.localname} in sensorElement.")
        if not reports:
            raise self.fail(element, "The sensorElement has no sensorReport.")
        out["sensorReport"] = reports
        return out

    def sensor_attributes(self, element: etree._Element, known: set[str]) -> dict[str, Any]:
        if (element.text or "").strip() or _children(element):
            raise self.fail(element, f"{etree.QName(element).localname} holds attributes only.")
        out: dict[str, Any] = {}
        for key, raw in element.attrib.items():
            name = etree.QName(key)
            value = raw.strip()
            if name.namespace is not None:
                if name.namespace != _XSI:
                    out[self.key(element, name, element.nsmap)] = value
                continue
            attribute = name.localname
            if attribute not in known:
                raise self.fail(element, f"Unknown attribute {attribute} on sensor data.")
            out[attribute] = self.sensor_value(element, attribute, value)
        return out

    def sensor_value(self, element: etree._Element, attribute: str, value: str) -> Any:
        if attribute in _SENSOR_REPORT_NUMBERS:
            try:
                return _number(value)
            except ValueError:
                raise self.fail(element, f"{attribute}='{value}' is not a number.") from None
        if attribute == "booleanValue":
            if value not in ("true", "false", "1", "0"):
                raise self.fail(element, f"booleanValue='{value}' is not true or false.")
            return value in ("true", "1")
        kind = _SENSOR_VOCABULARIES.get(attribute)
        return _cbv(value, kind) if kind else value

    # -- user extensions ---------------------------------------------------------------------

    def key(self, element: etree._Element, name: etree.QName, nsmap: dict[str | None, str]) -> str:
        """`prefix:localname` for a namespaced element or attribute, the prefix declared once."""
        namespace = name.namespace or ""
        if namespace in (EPCIS_1_NAMESPACE, EPCIS_2_NAMESPACE):
            raise self.fail(element, f"Unexpected EPCIS element {name.localname}.")
        prefix = next(
            (p for p, uri in nsmap.items() if uri == namespace and p not in _XMLNS_PREFIXES),
            None,
        )
        known = [p for p, uri in self.namespaces.items() if uri == namespace]
        if known:
            prefix = known[0]
        elif (
            prefix is None
            or prefix in self.namespaces
            or _CONTEXT_TERMS.get(prefix, namespace) != namespace
        ):
            number = 1
            while f"ext{number}" in self.namespaces:
                number += 1
            prefix = f"ext{number}"
        if _CONTEXT_TERMS.get(prefix) != namespace:
            self.namespaces[prefix] = namespace
        return f"{prefix}:{name.localname}"

    def put_extension(self, element: etree._Element, out: dict[str, Any]) -> None:
        key = self.key(element, etree.QName(element), element.nsmap)
        value = self.extension_value(element)
        if key not in out:
            out[key] = value
        elif isinstance(out[key], list):
            out[key].append(value)
        else:
            out[key] = [out[key], value]

    def extension_object(self, element: etree._Element) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in _children(element):
            if etree.QName(child).namespace is None:
                if etree.QName(child).localname == "extension":
                    out.update(self.extension_object(child))
                    continue
                raise self.fail(
                    child,
                    f"{etree.QName(child).localname} has no namespace; extension elements "
                    "need one.",
                )
            self.put_extension(child, out)
        return out

    def extension_value(self, element: etree._Element) -> Any:
        attributes = {}
        for key, value in element.attrib.items():
            name = etree.QName(key)
            if name.namespace == _XSI:
                continue
            if name.namespace is None:
                raise self.fail(
                    element,
                    f"The attribute {name.localname} of an extension element has no JSON form; "
                    "use a child element.",
                )
            attributes[self.key(element, name, element.nsmap)] = value.strip()
        if _children(element):
            if (element.text or "").strip():
                raise self.fail(element, "An extension element mixes text and elements.")
            return {**attributes, **self.extension_object(element)}
        if attributes:
            if (element.text or "").strip():
                raise self.fail(
                    element, "An extension element with attributes cannot also hold text."
                )
            return attributes
        return (element.text or "").strip()


_SHAPES = {
    "readPoint": _Converter.location,
    "bizLocation": _Converter.location,
    "bizTransactionList": lambda self, element: [
        self.biz_transaction(item) for item in self.items(element, "bizTransaction")
    ],
    "sensorElementList": lambda self, element: [
        self.sensor_element(item) for item in self.items(element, "sensorElement")
    ],
    "persistentDisposition": _Converter.persistent_disposition,
    "errorDeclaration": _Converter.error_declaration,
    "ilmd": _Converter.extension_object,
}
