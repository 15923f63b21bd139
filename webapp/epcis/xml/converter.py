"""The conversion of a parsed EPCIS XML document into the EPCIS 2.0 JSON-LD document."""

from __future__ import annotations

from typing import Any

from lxml import etree

from webapp.epcis.xml.elements import XSI, ElementReader, children
from webapp.epcis.xml.vocabulary import (
    ACTIONS,
    EPC_LISTS,
    EVENTS_1_2,
    FIELDS,
    QUANTITY_LISTS,
    REQUIRED,
    SENSOR_METADATA,
    SENSOR_REPORT,
    SENSOR_REPORT_NUMBERS,
    SENSOR_VOCABULARIES,
    TEXT_FIELDS,
    TIME_STAMP,
    TIME_ZONE_OFFSET,
    cbv_term,
    json_number,
)

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"


class Converter(ElementReader):
    def __init__(self, root: etree._Element, version: str) -> None:
        super().__init__(root)
        self.version = version

    def document(self) -> dict[str, Any]:
        creation_date = (self.root.get("creationDate") or "").strip()
        if not creation_date:
            raise self.fail(self.root, "The EPCISDocument has no creationDate.")
        body = None
        header: dict[str, Any] = {}
        for child in children(self.root):
            name = etree.QName(child)
            if name.namespace is None and name.localname == "EPCISBody":
                body = child
            elif name.namespace is None and name.localname == "EPCISHeader":
                header = self.header(child)
            elif name.namespace is None and name.localname != "extension":
                raise self.fail(child, f"Unexpected element {name.localname} in EPCISDocument.")
        if body is None:
            raise self.fail(self.root, "The EPCISDocument has no EPCISBody.")
        events = self.body(body)
        context: list[Any] = [EPCIS_CONTEXT]
        if self.namespaces:
            context.append(dict(sorted(self.namespaces.items())))
        document: dict[str, Any] = {
            "@context": context,
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": creation_date,
        }
        if header:
            document["epcisHeader"] = header
        document["epcisBody"] = {"eventList": events}
        return document

    # -- master data -------------------------------------------------------------------------

    def header(self, element: etree._Element) -> dict[str, Any]:
        """The master data of EPCISHeader/extension/EPCISMasterData (1.2 and 2.0 alike). The
        Standard Business Document Header has no JSON form: it describes the transfer, not the
        events, and is left behind."""
        vocabularies: list[dict[str, Any]] = []
        found = False
        for extension in element.findall("extension"):
            for master_data in extension.findall("EPCISMasterData"):
                found = True
                for vocabulary_list in master_data.findall("VocabularyList"):
                    vocabularies += [
                        self.vocabulary(vocabulary)
                        for vocabulary in self.items(vocabulary_list, "Vocabulary")
                    ]
        return {"epcisMasterData": {"vocabularyList": vocabularies}} if found else {}

    def vocabulary(self, element: etree._Element) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.required_attribute(element, "type")}
        for element_list in element.findall("VocabularyElementList"):
            out["vocabularyElementList"] = [
                self.vocabulary_element(item)
                for item in self.items(element_list, "VocabularyElement")
            ]
        return out

    def vocabulary_element(self, element: etree._Element) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.required_attribute(element, "id")}
        attributes = []
        for child in children(element):
            name = etree.QName(child)
            if name.namespace is not None:
                self.put_extension(child, out)
            elif name.localname == "attribute":
                value = self.extension_object(child) if children(child) else self.text(child)
                attributes.append({"id": self.required_attribute(child, "id"), "attribute": value})
            elif name.localname == "children":
                out["children"] = [self.text(item) for item in self.items(child, "id")]
            elif name.localname != "extension":
                raise self.fail(child, f"Unexpected element {name.localname} in VocabularyElement.")
        if attributes:
            out["attributes"] = attributes
        return out

    def required_attribute(self, element: etree._Element, attribute: str) -> str:
        value = (element.get(attribute) or "").strip()
        if not value:
            raise self.fail(
                element, f"The {etree.QName(element).localname} has no {attribute} attribute."
            )
        return value

    def body(self, body: etree._Element) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for child in children(body):
            name = etree.QName(child)
            if name.namespace is None and name.localname == "EventList":
                events = self.events(child)
            elif name.namespace is None and name.localname != "extension":
                raise self.fail(child, f"Unexpected element {name.localname} in EPCISBody.")
        return events

    def events(self, event_list: etree._Element) -> list[dict[str, Any]]:
        events = []
        for child in children(event_list):
            name = etree.QName(child)
            if name.namespace is None and name.localname == "extension":
                # 1.2 keeps TransformationEvent here; other content would be a private event type.
                for inner in children(child):
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
                name.localname in EVENTS_1_2 or (self.version == "2.0" and name.localname in FIELDS)
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
        for key, value in element.attrib.items():
            name = etree.QName(key)
            if name.namespace is None:
                raise self.fail(
                    element, f"The attribute {name.localname} of {event_type} has no JSON form."
                )
            if name.namespace != XSI:
                out[self.key(element, name, element.nsmap)] = value.strip()
        self.fields(element, out, FIELDS[event_type])
        missing = [field for field in REQUIRED[event_type] if field not in out]
        if missing:
            raise self.fail(element, f"The {event_type} has no {', '.join(missing)}.")
        if "action" in out and out["action"] not in ACTIONS:
            raise self.fail(element, f"The action '{out['action']}' is not ADD, OBSERVE or DELETE.")
        self.check_times(element, out)
        return out

    def check_times(self, element: etree._Element, event: dict[str, Any]) -> None:
        times = {key: event.get(key) for key in ("eventTime", "recordTime")}
        times["declarationTime"] = event.get("errorDeclaration", {}).get("declarationTime")
        for key, value in times.items():
            if value is not None and not TIME_STAMP.fullmatch(value):
                raise self.fail(
                    element, f"{key} '{value}' is not a date and time with a time zone."
                )
        offset = event["eventTimeZoneOffset"]
        if not TIME_ZONE_OFFSET.fullmatch(offset):
            raise self.fail(element, f"eventTimeZoneOffset '{offset}' is not like +01:00.")

    def fields(self, parent: etree._Element, out: dict[str, Any], allowed: set[str]) -> None:
        """Read `parent`'s children into `out`; 1.2's extension wrappers are flattened."""
        for child in children(parent):
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
        if field in TEXT_FIELDS or field == "action":
            return self.text(element)
        if field in ("bizStep", "disposition"):
            return cbv_term(self.text(element), field)
        if field in EPC_LISTS:
            return [self.text(epc) for epc in self.items(element, "epc")]
        if field in QUANTITY_LISTS:
            return [self.quantity(item) for item in self.items(element, "quantityElement")]
        if field in ("sourceList", "destinationList"):
            item_name = field.removesuffix("List")
            return [
                self.source_destination(item, item_name) for item in self.items(element, item_name)
            ]
        return _SHAPES[field](self, element)

    # -- shapes ------------------------------------------------------------------------------
    def quantity(self, element: etree._Element) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in children(element):
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
                    out[field] = json_number(text)
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
        for child in children(element):
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
            out["type"] = cbv_term(element.get("type", "").strip(), "bizTransactionType")
        out["bizTransaction"] = self.text(element)
        return out

    def source_destination(self, element: etree._Element, item_name: str) -> dict[str, str]:
        kind = (element.get("type") or "").strip()
        if not kind:
            raise self.fail(element, f"The {item_name} has no type attribute.")
        return {"type": cbv_term(kind, "sourceDestType"), item_name: self.text(element)}

    def persistent_disposition(self, element: etree._Element) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for child in children(element):
            field = etree.QName(child).localname
            if etree.QName(child).namespace is not None or field not in ("set", "unset"):
                raise self.fail(child, f"Unexpected element {field} in persistentDisposition.")
            out.setdefault(field, []).append(cbv_term(self.text(child), "disposition"))
        return out

    def error_declaration(self, element: etree._Element) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for child in children(element):
            name = etree.QName(child)
            if name.namespace is not None:
                self.put_extension(child, out)
            elif name.localname == "extension":
                for inner in children(child):
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
            return cbv_term(self.text(element), "errorReason")
        if field == "correctiveEventIDs":
            return [self.text(item) for item in self.items(element, "correctiveEventID")]
        raise self.fail(element, f"Unexpected element {field} in errorDeclaration.")

    def sensor_element(self, element: etree._Element) -> dict[str, Any]:
        out: dict[str, Any] = {}
        reports = []
        for child in children(element):
            name = etree.QName(child)
            if name.namespace is not None:
                self.put_extension(child, out)
            elif name.localname == "sensorMetadata" and "sensorMetadata" not in out:
                out["sensorMetadata"] = self.sensor_attributes(child, SENSOR_METADATA)
            elif name.localname == "sensorReport":
                reports.append(self.sensor_attributes(child, SENSOR_REPORT))
            else:
                raise self.fail(child, f"Unexpected element {name.localname} in sensorElement.")
        if not reports:
            raise self.fail(element, "The sensorElement has no sensorReport.")
        out["sensorReport"] = reports
        return out

    def sensor_attributes(self, element: etree._Element, known: set[str]) -> dict[str, Any]:
        if (element.text or "").strip() or children(element):
            raise self.fail(element, f"{etree.QName(element).localname} holds attributes only.")
        out: dict[str, Any] = {}
        for key, raw in element.attrib.items():
            name = etree.QName(key)
            value = raw.strip()
            if name.namespace is not None:
                if name.namespace != XSI:
                    out[self.key(element, name, element.nsmap)] = value
                continue
            attribute = name.localname
            if attribute not in known:
                raise self.fail(element, f"Unknown attribute {attribute} on sensor data.")
            out[attribute] = self.sensor_value(element, attribute, value)
        return out

    def sensor_value(self, element: etree._Element, attribute: str, value: str) -> Any:
        if attribute in SENSOR_REPORT_NUMBERS:
            try:
                return json_number(value)
            except ValueError:
                raise self.fail(element, f"{attribute}='{value}' is not a number.") from None
        if attribute == "booleanValue":
            if value not in ("true", "false", "1", "0"):
                raise self.fail(element, f"booleanValue='{value}' is not true or false.")
            return value in ("true", "1")
        kind = SENSOR_VOCABULARIES.get(attribute)
        return cbv_term(value, kind) if kind else value


_SHAPES = {
    "readPoint": Converter.location,
    "bizLocation": Converter.location,
    "bizTransactionList": lambda self, element: [
        self.biz_transaction(item) for item in self.items(element, "bizTransaction")
    ],
    "sensorElementList": lambda self, element: [
        self.sensor_element(item) for item in self.items(element, "sensorElement")
    ],
    "persistentDisposition": Converter.persistent_disposition,
    "errorDeclaration": Converter.error_declaration,
    "ilmd": Converter.extension_object,
}
