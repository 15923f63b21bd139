"""An EPCIS 2.0 event's `sensorElementList` as measurements (`webapp.monitoring`).

Each `sensorReport` with a number (`value`, or any of `minValue` / `maxValue` /
`meanValue`) is one measurement; a report of a string, boolean, hex or URI value only is
left in the document. Its time is the report's own, else the element's metadata `time`,
else its `startTime`, else the event's time; its device the report's `deviceID`, else the
metadata's. The measurement type is kept in its short form: GS1's terms as `gs1:Temperature`
whichever way they are spelt (`Temperature`, `gs1:Temperature`, the web vocabulary URI),
any other type as given.

Pure: no database. A number too large to store, or a time that is no time, refuses the
event (django's ValidationError, as the capture reports it).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError

from webapp.epcis.columns import parse_time
from webapp.monitoring.services import Measurement

FIELD = "sensorElementList"
_GS1_VOCABULARY = ("https://gs1.org/voc/", "http://gs1.org/voc/", "https://www.gs1.org/voc/")
#: What `SensorReading`'s decimal columns hold: 28 digits before the point, 12 after.
_LIMIT = Decimal(10) ** 28
_PLACES = Decimal(1).scaleb(-12)
_NUMBERS = {"value": "value", "minValue": "min_value", "maxValue": "max_value"}
_NUMBERS["meanValue"] = "mean_value"


def measurement_type(value: str) -> str:
    """`gs1:Temperature` for `Temperature`, `gs1:Temperature` and GS1's web vocabulary URI
    of it; any other type (a URI of another vocabulary) as given."""
    for prefix in _GS1_VOCABULARY:
        if value.startswith(prefix):
            return "gs1:" + value[len(prefix) :]
    if ":" in value:
        return value
    return "gs1:" + value


def _number(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValidationError({FIELD: [f"{where}: {value!r} is not a number."]})
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValidationError({FIELD: [f"{where}: {value!r} is not a number."]}) from None
    if not number.is_finite() or abs(number) >= _LIMIT:
        raise ValidationError({FIELD: [f"{where}: {value} is out of range (|x| < 10^28)."]})
    return number.quantize(_PLACES)


def _text(value: Any, longest: int, where: str) -> str:
    text = str(value)
    if len(text) > longest:
        raise ValidationError({FIELD: [f"{where}: {text[:40]}… is longer than {longest}."]})
    return text


def _time(value: Any, where: str) -> Any:
    try:
        return parse_time(str(value))
    except ValueError:
        problem = f"{where}: {value!r} is not a time with an offset."
        raise ValidationError({FIELD: [problem]}) from None


def event_measurements(event: dict[str, Any]) -> list[Measurement]:
    """The measurements of an event's sensor elements (none without any)."""
    found = []
    for e, element in enumerate(event.get(FIELD) or []):
        if not isinstance(element, dict):
            continue
        metadata = element.get("sensorMetadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        for r, report in enumerate(element.get("sensorReport") or []):
            if not isinstance(report, dict) or not isinstance(report.get("type"), str):
                continue
            where = f"element {e + 1}, report {r + 1}"
            numbers = {
                column: _number(report[name], where)
                for name, column in _NUMBERS.items()
                if report.get(name) is not None
            }
            if not numbers:
                continue
            moment = (
                report.get("time")
                or metadata.get("time")
                or metadata.get("startTime")
                or event.get("eventTime")
            )
            device = report.get("deviceID") or metadata.get("deviceID") or ""
            found.append(
                Measurement(
                    time=_time(moment, where),
                    type=_text(measurement_type(report["type"]), 512, where),
                    unit=_text(report.get("uom") or "", 64, where),
                    device_id=_text(device, 512, where),
                    value=numbers.get("value"),
                    min_value=numbers.get("min_value"),
                    max_value=numbers.get("max_value"),
                    mean_value=numbers.get("mean_value"),
                )
            )
    return found
