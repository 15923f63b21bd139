"""The EPCIS query parameters answered from the stored JSON document rather than a column:
persistent disposition, error declaration (reason, corrective event IDs, time),
transformation ID, business transactions, sources and destinations by type, quantities,
sensor data (values, times, attributes) and ILMD fields. Pure of HTTP, like
`webapp.epcis.query`, whose `parse_query` calls `document_filters` (and `time_filter`) for
a parameter it does not know itself.

The event table has no column (and no index) for these: each is a containment test
(`document @> '{...}'`), a SQL/JSON path test (`jsonb_path_exists`) or, for times, the
path's strings cast to timestamps (PostgreSQL 15's `.datetime()` refuses a `Z`) on the document,
which PostgreSQL evaluates on the rows the indexed parameters leave. Values reach the path
as variables (`$v`, `$u`), never as path text; the only names spliced into a path are
field names checked against the binding's pattern (`prefix:name`).

What is matched as given and what not:
- CBV values (dispositions, error reasons) and sensor types match as the bare term, the
  web URI and the URN (`in_transit`, `https://ref.gs1.org/cbv/Disp-in_transit`, ...;
  `Temperature`, `gs1:Temperature`, `https://gs1.org/voc/Temperature`).
- Sensor value comparisons (`GE_value_CEL`) match reports in that unit only: no unit
  conversion.
- ILMD fields are named by the prefix the event's own `@context` gives them; the same
  namespace under another prefix is not found. `GT_/GE_/LT_/LE_ILMD_*` compare numbers.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL

from webapp.epcis.columns import vocabulary_term

QUANTITY_LISTS = ("quantityList", "childQuantityList", "inputQuantityList", "outputQuantityList")
_COMPARISONS = {"EQ": "==", "GT": ">", "GE": ">=", "LT": "<", "LE": "<="}
_QUANTITY = re.compile(r"^(EQ|GT|GE|LT|LE)_quantity(?:_([A-Z0-9]{2,4}))?$")
_SENSOR_VALUE = re.compile(
    r"^(EQ|GT|GE|LT|LE)_(value|minValue|maxValue|meanValue|sDev|percRank|percValue)"
    r"_([A-Z0-9]{2,4})$"
)
_ILMD = re.compile(r"^(EQ|GT|GE|LT|LE|EXISTS)_(INNER_)?ILMD_([a-z][a-zA-Z0-9]*:\w+)$")
#: Sensor report attributes an `EQ_` parameter of the same name matches (as strings).
_SENSOR_STRINGS = {
    "EQ_dataProcessingMethod": "dataProcessingMethod",
    "EQ_microorganism": "microorganism",
    "EQ_chemicalSubstance": "chemicalSubstance",
    "EQ_bizRules": "bizRules",
    "EQ_stringValue": "stringValue",
    "EQ_hexBinaryValue": "hexBinaryValue",
    "EQ_uriValue": "uriValue",
}
#: Of those, the ones the binding also lets `sensorMetadata` carry.
_ALSO_METADATA = {"deviceID", "dataProcessingMethod", "bizRules"}
_CBV_PREFIXES = {
    "disposition": ("https://ref.gs1.org/cbv/Disp-", "urn:epcglobal:cbv:disp:"),
    "errorReason": ("https://ref.gs1.org/cbv/ER-", "urn:epcglobal:cbv:er:"),
    "bizTransactionType": ("https://ref.gs1.org/cbv/BTT-", "urn:epcglobal:cbv:btt:"),
    "sourceDestType": ("https://ref.gs1.org/cbv/SDT-", "urn:epcglobal:cbv:sdt:"),
}
_TYPED_LISTS = re.compile(r"^EQ_(bizTransaction|source|destination)_(.+)$")
_SENSOR_TYPE_PREFIXES = ("gs1:", "https://gs1.org/voc/")

#: Time parameters: the document path of the times each compares, and how.
TIME_PARAMETERS = {
    "GE_errorDeclarationTime": ("$.errorDeclaration.declarationTime", ">="),
    "LT_errorDeclarationTime": ("$.errorDeclaration.declarationTime", "<"),
    "GE_startTime": ("$.sensorElementList[*].sensorMetadata.startTime", ">="),
    "LT_startTime": ("$.sensorElementList[*].sensorMetadata.startTime", "<"),
    "GE_endTime": ("$.sensorElementList[*].sensorMetadata.endTime", ">="),
    "LT_endTime": ("$.sensorElementList[*].sensorMetadata.endTime", "<"),
}
# A stored time is cast only when it looks like one (captures are schema-valid, so it is).
_TIME_TEXT = (
    r"^\d{4}-(1[0-2]|0[1-9])-(3[01]|0[1-9]|[12]\d)T(2[0-3]|[01]\d):[0-5]\d:[0-5]\d(\.\d+)?"
    r"(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00))$"
)

Values = Callable[[str, Sequence[str]], list[str]]


def time_filter(name: str, moment: datetime) -> Q:
    """Events with a time at `TIME_PARAMETERS[name]` on the parameter's side of `moment`
    (compared as instants, whatever offsets the document writes)."""
    path, operator = TIME_PARAMETERS[name]
    return Q(
        RawSQL(
            "EXISTS (SELECT 1 FROM jsonb_path_query(epcis_epcisevent.document, %s::jsonpath)"
            " AS t(v) WHERE CASE WHEN (t.v #>> '{}') ~ %s THEN (t.v #>> '{}')::timestamptz"
            f" END {operator} %s)",
            [path, _TIME_TEXT, moment],
            output_field=BooleanField(),
        )
    )


class DocumentParameterError(ValueError):
    """A value a document parameter cannot take (`parse_query` names the parameter)."""


def _none() -> Q:
    return Q(pk__in=[])


def _any(conditions: list[Q]) -> Q:
    found = _none()
    for condition in conditions:
        found |= condition
    return found


def _path(path: str, variables: dict[str, Any]) -> Q:
    return Q(
        RawSQL(
            "jsonb_path_exists(epcis_epcisevent.document, %s::jsonpath, %s::jsonb)",
            [path, json.dumps(variables)],
            output_field=BooleanField(),
        )
    )


def _number(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise DocumentParameterError(f"{value!r} is not a number.") from None
    if not math.isfinite(number):
        raise DocumentParameterError(f"{value!r} is not a finite number.")
    return number


def _cbv_forms(kind: str, value: str) -> list[str]:
    term = vocabulary_term("disposition", value) if kind == "disposition" else value
    for prefix in _CBV_PREFIXES[kind]:
        term = term.removeprefix(prefix)
    if ":" in term or "/" in term:  # a custom value (a URI or CURIE): as given only
        return [value]
    return [term, *(prefix + term for prefix in _CBV_PREFIXES[kind])]


def _sensor_type_forms(value: str) -> list[str]:
    term = value
    for prefix in _SENSOR_TYPE_PREFIXES:
        term = term.removeprefix(prefix)
    if ":" in term or "/" in term:
        return [value]
    return [term, *(prefix + term for prefix in _SENSOR_TYPE_PREFIXES)]


def _sensor_attribute(attribute: str, values: list[str | bool]) -> Q:
    """Events with a sensor report (or, where the binding allows, sensor metadata) whose
    `attribute` is one of `values`."""
    places: list[dict[str, Any]] = [{"sensorReport": [{attribute: v}]} for v in values]
    if attribute in _ALSO_METADATA:
        places += [{"sensorMetadata": {attribute: v}} for v in values]
    return _any([Q(document__contains={"sensorElementList": [place]}) for place in places])


def document_filters(name: str, given: Sequence[str], values: Values) -> list[Any] | None:  # noqa: C901 (one branch a parameter)
    """The filters a document parameter asks for; None when `name` is none of them.
    `values` splits a parameter's values as `parse_query` does (and refuses none)."""
    if name in {"EQ_persistentDisposition_set", "EQ_persistentDisposition_unset"}:
        side = name.rsplit("_", 1)[1]
        forms = [f for v in values(name, given) for f in _cbv_forms("disposition", v)]
        return [_any([Q(document__contains={"persistentDisposition": {side: [f]}}) for f in forms])]
    if name == "EQ_errorReason":
        forms = [f for v in values(name, given) for f in _cbv_forms("errorReason", v)]
        return [_any([Q(error_declaration__contains={"reason": f}) for f in forms])]
    if name == "EQ_transformationID":
        ids = values(name, given)
        return [_any([Q(document__contains={"transformationID": i}) for i in ids])]
    if name == "EQ_correctiveEventID":
        ids = values(name, given)
        return [_any([Q(error_declaration__contains={"correctiveEventIDs": [i]}) for i in ids])]
    if name == "EQ_type":
        forms = [f for v in values(name, given) for f in _sensor_type_forms(v)]
        return [_sensor_attribute("type", list(forms))]
    if name == "EQ_deviceID":
        return [_sensor_attribute("deviceID", list(values(name, given)))]
    if name in _SENSOR_STRINGS:
        return [_sensor_attribute(_SENSOR_STRINGS[name], list(values(name, given)))]
    if name == "EQ_booleanValue":
        flags = values(name, given)
        if any(f not in {"true", "false"} for f in flags):
            raise DocumentParameterError("give true or false.")
        return [_sensor_attribute("booleanValue", [f == "true" for f in flags])]
    if matched := _TYPED_LISTS.match(name):
        return [_typed(matched.group(1), matched.group(2), values(name, given))]
    if matched := _QUANTITY.match(name):
        return [_quantity(matched.group(1), matched.group(2), values(name, given))]
    if matched := _SENSOR_VALUE.match(name):
        operator, attribute, unit = matched.groups()
        return [_sensor_value(operator, attribute, unit, values(name, given))]
    if matched := _ILMD.match(name):
        operator, inner, key = matched.groups()
        field = f'$.ilmd.*.**."{key}"' if inner else f'$.ilmd."{key}"'
        if operator == "EXISTS":
            if any(v.strip() not in {"", "true"} for v in given):
                raise DocumentParameterError("takes no value.")
            return [_path(field, {})]
        return [_ilmd(operator, field, values(name, given))]
    return None


def _typed(item: str, kind: str, found: list[str]) -> Q:
    """`EQ_bizTransaction_<type>`, `EQ_source_<type>`, `EQ_destination_<type>`: a list item
    of that type (any spelling of a CBV type) naming one of the values."""
    vocabulary = "bizTransactionType" if item == "bizTransaction" else "sourceDestType"
    types = _cbv_forms(vocabulary, kind)
    listed = f"{item}List"
    return _any(
        [Q(document__contains={listed: [{"type": t, item: v}]}) for t in types for v in found]
    )


def _one_unless_eq(operator: str, numbers: list[str]) -> None:
    if operator != "EQ" and len(numbers) != 1:
        raise DocumentParameterError("give one number.")


def _quantity(operator: str, unit: str | None, numbers: list[str]) -> Q:
    """Events with a quantity element (any of the four lists) whose quantity compares so
    (and, with a unit in the name, whose uom is that unit)."""
    _one_unless_eq(operator, numbers)
    test = f"@.quantity {_COMPARISONS[operator]} $v" + (" && @.uom == $u" if unit else "")
    found = []
    for number in numbers:
        variables: dict[str, Any] = {"v": _number(number)}
        if unit:
            variables["u"] = unit
        for key in QUANTITY_LISTS:
            found.append(_path(f"$.{key}[*] ? ({test})", variables))
    return _any(found)


def _sensor_value(operator: str, attribute: str, unit: str, numbers: list[str]) -> Q:
    _one_unless_eq(operator, numbers)
    test = f"@.uom == $u && @.{attribute} {_COMPARISONS[operator]} $v"
    path = f"$.sensorElementList[*].sensorReport[*] ? ({test})"
    return _any([_path(path, {"v": _number(n), "u": unit}) for n in numbers])


def _ilmd(operator: str, field: str, found: list[str]) -> Q:
    """An ILMD field (`field`, its path: at the top of `ilmd`, or INNER, nested in one of
    its fields at any depth) equal to one of the values or comparing so with a number.
    The field's key matched the binding's `prefix:name` pattern: safe in a quoted member."""
    if operator == "EQ":
        conditions = [_path(f"{field} ? (@ == $v)", {"v": v}) for v in found]
        for value in found:
            with contextlib.suppress(DocumentParameterError):  # a number matches as one too
                conditions.append(_path(f"{field} ? (@ == $v)", {"v": _number(value)}))
        return _any(conditions)
    _one_unless_eq(operator, found)
    return _path(f"{field} ? (@ {_COMPARISONS[operator]} $v)", {"v": _number(found[0])})
