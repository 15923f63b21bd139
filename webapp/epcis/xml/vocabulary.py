"""What the EPCIS events hold: the fields of each event type and the CBV terms' XML forms."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

COMMON = {
    "eventTime",
    "recordTime",
    "eventTimeZoneOffset",
    "eventID",
    "errorDeclaration",
    "certificationInfo",
}
WHAT_WHERE_WHY = {
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
FIELDS = {
    "ObjectEvent": COMMON | WHAT_WHERE_WHY | {"epcList", "action", "quantityList", "ilmd"},
    "AggregationEvent": COMMON
    | WHAT_WHERE_WHY
    | {"parentID", "childEPCs", "action", "childQuantityList"},
    "AssociationEvent": COMMON
    | WHAT_WHERE_WHY
    | {"parentID", "childEPCs", "action", "childQuantityList"},
    "TransactionEvent": COMMON | WHAT_WHERE_WHY | {"parentID", "epcList", "action", "quantityList"},
    "TransformationEvent": COMMON
    | WHAT_WHERE_WHY
    | {
        "inputEPCList",
        "inputQuantityList",
        "outputEPCList",
        "outputQuantityList",
        "transformationID",
        "ilmd",
    },
}
REQUIRED = {
    "ObjectEvent": ("eventTime", "eventTimeZoneOffset", "action"),
    "AggregationEvent": ("eventTime", "eventTimeZoneOffset", "action"),
    "AssociationEvent": ("eventTime", "eventTimeZoneOffset", "parentID", "action"),
    "TransactionEvent": ("eventTime", "eventTimeZoneOffset", "bizTransactionList", "action"),
    "TransformationEvent": ("eventTime", "eventTimeZoneOffset"),
}
EVENTS_1_2 = {"ObjectEvent", "AggregationEvent", "TransactionEvent"}
ACTIONS = {"ADD", "OBSERVE", "DELETE"}
# The XSD's DateTimeStamp and the time zone offset: checked on 1.2 documents too, which have no XSD.
TIME_STAMP = re.compile(
    r"\d{4}-(1[0-2]|0[1-9])-(3[01]|0[1-9]|[12]\d)T(2[0-3]|[01]\d):[0-5]\d:[0-5]\d(\.\d+)?"
    r"(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00))"
)
TIME_ZONE_OFFSET = re.compile(r"[+-]((0\d|1[0-3]):[0-5]\d|14:00)")

TEXT_FIELDS = {
    "eventTime",
    "recordTime",
    "eventTimeZoneOffset",
    "eventID",
    "certificationInfo",
    "parentID",
    "transformationID",
}
EPC_LISTS = {"epcList", "childEPCs", "inputEPCList", "outputEPCList"}
QUANTITY_LISTS = {"quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList"}

# CBV 2.0 terms: the XML forms (1.2's URNs, 2.0's web URIs) and the bare JSON term.
# Each XML form: 1.2's URN, 2.0's web URI and its CURIE (GS1's examples use `cbv:BizStep-...`).
CBV_PREFIXES = {
    "bizStep": ("urn:epcglobal:cbv:bizstep:", "https://ref.gs1.org/cbv/BizStep-", "cbv:BizStep-"),
    "disposition": ("urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-", "cbv:Disp-"),
    "bizTransactionType": ("urn:epcglobal:cbv:btt:", "https://ref.gs1.org/cbv/BTT-", "cbv:BTT-"),
    "sourceDestType": ("urn:epcglobal:cbv:sdt:", "https://ref.gs1.org/cbv/SDT-", "cbv:SDT-"),
    "errorReason": ("urn:epcglobal:cbv:er:", "https://ref.gs1.org/cbv/ER-", "cbv:ER-"),
    "component": ("https://ref.gs1.org/cbv/Comp-", "cbv:Comp-"),
    "measurementType": ("https://gs1.org/voc/", "gs1:"),
    "sensorAlertType": ("https://gs1.org/voc/", "gs1:"),
}
TERM = re.compile(r"[A-Za-z][A-Za-z0-9_]*")

SENSOR_METADATA = {
    "time",
    "startTime",
    "endTime",
    "deviceID",
    "deviceMetadata",
    "rawData",
    "dataProcessingMethod",
    "bizRules",
}
SENSOR_REPORT_NUMBERS = {
    "value",
    "minValue",
    "maxValue",
    "meanValue",
    "sDev",
    "percRank",
    "percValue",
}
SENSOR_REPORT = SENSOR_REPORT_NUMBERS | {
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

SENSOR_VOCABULARIES = {
    "type": "measurementType",
    "exception": "sensorAlertType",
    "component": "component",
}


def cbv_term(value: str, kind: str) -> str:
    for prefix in CBV_PREFIXES[kind]:
        if value.startswith(prefix) and TERM.fullmatch(value[len(prefix) :]):
            return value[len(prefix) :]
    return value


def json_number(text: str) -> int | float:
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
