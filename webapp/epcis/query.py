"""The EPCIS 2.0 query parameters (as the REST binding passes them in a URI query string)
turned into filters on `EpcisEvent`. Pure of HTTP: a mapping of parameter names to their
values in, an `EventQuery` (or a `QueryParameterError` naming the parameter) out.

Every filter is one the store's indexes serve: time windows and `EQ_bizStep` by btree,
identifiers by containment in the GIN-indexed `epcs` (`epcs && ARRAY[...]`), with the value
in both its given and canonical Digital Link forms so a URN finds a Digital Link and back.

What the store allows, and so what is left:
- `MATCH_epc`, `MATCH_parentID`, `MATCH_inputEPC`, `MATCH_outputEPC` narrow the containment
  match to the field by the given-form columns; an event that names the EPC there in a third
  spelling (a Digital Link on another host than the query's) is matched by `MATCH_anyEPC`
  only.
- Patterns (`urn:epc:idpat:sgtin:CP.IR.*`, `urn:epc:idpat:sscc:CP.*` and the like) are
  matched on the canonical Digital Link prefix they stand for, which scans the identifier
  lists (no index serves a prefix inside an array). A pattern in `MATCH_inputEPC` /
  `MATCH_outputEPC` matches a transformation naming it on either side.
- `WD_readPoint` / `WD_bizLocation` match the location itself: without master data there
  is no hierarchy of descendants.
- `MATCH_inputEPCClass` / `MATCH_outputEPCClass` test the given-form classes of the
  transformation's input / output quantity list (the containment match on `epcs` first);
  a pattern matches a transformation naming it on either side.
- Persistent disposition, error declaration, transformation ID, business transaction,
  source, destination, quantity, sensor and ILMD parameters test the stored document
  (`webapp.epcis.document_filters`).
- `eventCountLimit` (with `orderBy`) caps the answer over all its pages; `maxEventCount`
  refuses (`QueryTooLarge`) a query that would select more events.
- What is left (other extension fields, attribute and master-data parameters, ...) is
  refused as not supported.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL

from webapp.epcis.columns import identifier_forms, parse_time, vocabulary_term
from webapp.epcis.dl_normaliser import normaliser
from webapp.epcis.document_filters import (
    TIME_PARAMETERS,
    DocumentParameterError,
    document_filters,
    time_filter,
)
from webapp.epcis.models import EpcisEvent

EVENT_TYPES = [t.value for t in EpcisEvent.EventType]
ACTIONS = ["ADD", "OBSERVE", "DELETE"]
ORDER_FIELDS = {"eventTime": "event_time", "recordTime": "record_time"}
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 1000
#: Values one parameter may list (`EQ_bizStep=shipping|receiving`).
MAX_VALUES = 100

#: Parameters of the binding this store does not answer (refused rather than ignored, so a
#: client never reads "no filter" as "filtered").
UNSUPPORTED = re.compile(
    r"^((EQ|GT|GE|LT|LE)_quantity_.*|(EQ|GT|GE|LT|LE)_(value|minValue|maxValue|meanValue"
    r"|sDev|percRank|percValue)(_.*)?|EQ_INNER_.*|EXISTS_INNER_.*|(EQ|GT|GE|LT|LE|EXISTS)_ILMD_.*"
    r"|(EQ|GT|GE|LT|LE|EXISTS)_INNER_ILMD_.*|HASATTR_.*|EQATTR_.*|EQ_ATTR_.*"
    r"|EQ_sensorMetadata_.*|EQ_sensorReport_.*)$"
)
#: Parameters the HTTP layer reads itself (pagination), passed through here untouched.
PAGING = {"perPage", "nextPageToken"}


class QueryTooLarge(Exception):
    """More events than `maxEventCount` allows would answer the query."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"The query selects more than maxEventCount={limit} events.")
        self.limit = limit


class QueryParameterError(ValueError):
    """A query parameter that is unknown, unsupported or has a value it cannot take."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(f"{parameter}: {message}")
        self.parameter = parameter
        self.message = message


@dataclass
class EventQuery:
    #: Each is ANDed: `Q` objects and boolean expressions.
    filters: list[Any] = field(default_factory=list)
    order_by: str = "event_time"
    descending: bool = True
    #: The parameters as given (no paging ones), for a page token to be bound to.
    fingerprint: str = ""
    #: `eventCountLimit`: at most this many events in all (the first by the order).
    count_limit: int | None = None
    #: `maxEventCount`: more events than this is `QueryTooLarge`.
    max_count: int | None = None
    #: Whether `orderBy` / `orderDirection` were given (else the defaults hold).
    ordered: bool = False

    def include(self, other: EventQuery) -> None:
        """Add another query's filters and limits (a named query run with more parameters);
        the tighter limit of the two holds, and its order unless this one names its own."""
        self.filters += other.filters
        if other.ordered and not self.ordered:
            self.order_by, self.descending, self.ordered = other.order_by, other.descending, True
        for name in ("count_limit", "max_count"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if theirs is not None and (mine is None or theirs < mine):
                setattr(self, name, theirs)

    def apply(self, rows: Any) -> Any:
        for condition in self.filters:
            rows = rows.filter(condition)
        return rows


def _values(name: str, given: Sequence[str]) -> list[str]:
    """A parameter's values: repeated, or `|`-separated as the binding spells lists."""
    values = [v.strip() for text in given for v in text.split("|")]
    values = [v for v in values if v]
    if not values:
        raise QueryParameterError(name, "give a value.")
    if len(values) > MAX_VALUES:
        raise QueryParameterError(name, f"at most {MAX_VALUES} values.")
    return values


def _single(name: str, given: Sequence[str]) -> str:
    values = _values(name, given)
    if len(values) != 1:
        raise QueryParameterError(name, "give one value.")
    return values[0]


def _time(name: str, given: Sequence[str]) -> datetime:
    value = _single(name, given)
    try:
        moment = parse_time(value.replace(" ", "+"))  # an unescaped `+` arrives as a space
        offset = moment.utcoffset()
        if offset is None or abs(offset) > timedelta(hours=14):
            raise ValueError("offset out of range")
        # In UTC, as the database compares; a time past year 9999 there is refused.
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise QueryParameterError(
            name, f"{value!r} is not a time with its offset (2026-11-30T10:00:00Z)."
        ) from None


def _choices(name: str, given: Sequence[str], choices: list[str]) -> list[str]:
    values = _values(name, given)
    wrong = [v for v in values if v not in choices]
    if wrong:
        raise QueryParameterError(name, f"{wrong[0]!r} is not one of {', '.join(choices)}.")
    return values


_PATTERN = re.compile(r"^urn:epc:idpat:(sgtin|sscc|sgln|grai|giai|gdti):(.+)$")


def _pattern_prefix(pattern: str, *, classes: bool) -> str | None:
    """The canonical Digital Link prefix every identifier an EPC pattern matches starts
    with; None when the value is no pattern. Class parameters widen an SGTIN pattern from
    serials (`/21/`) to the GTIN's lots (`/10/`) and the GTIN itself (the standard's
    "class-level" match)."""
    matched = _PATTERN.match(pattern)
    if not matched:
        return None
    scheme, fields = matched.groups()
    parts = fields.split(".")
    stars = [p == "*" for p in parts]
    # Only trailing wildcards: `CP.IR.*` or `CP.*.*`.
    first = stars.index(True) if True in stars else len(parts)
    if not all(stars[first:]) or first == len(parts) or first == 0:
        raise QueryParameterError("pattern", f"{pattern!r}: only trailing `*` are supported.")
    if scheme in {"sgtin", "grai"} and first == 2:
        # Fill the wildcard with a placeholder, normalise, and cut the placeholder off.
        example = normaliser(f"urn:epc:id:{scheme}:{parts[0]}.{parts[1]}.0")
        if not example or not example.endswith("0"):
            raise QueryParameterError("pattern", f"{pattern!r} names no valid identifier.")
        prefix = example[:-1]
        if classes and scheme == "sgtin":
            return prefix.removesuffix("21/")
        return prefix
    if scheme == "sscc" and first == 1:
        return None  # an SSCC's company prefix sits inside the number: no usable prefix
    raise QueryParameterError(
        "pattern", f"{pattern!r}: this pattern form is not supported (use CP.IR.*)."
    )


def _identifier_condition(name: str, values: list[str], *, classes: bool) -> list[Any]:
    """Events naming one of `values` (identifiers or patterns) anywhere: one containment
    test on the indexed `epcs`, and for patterns a prefix test over its entries."""
    exact: list[str] = []
    prefixes: list[str] = []
    for value in values:
        try:
            prefix = _pattern_prefix(value, classes=classes)
        except QueryParameterError as error:
            raise QueryParameterError(name, error.message) from None
        if value.startswith("urn:epc:idpat:"):
            if prefix is None:
                raise QueryParameterError(name, f"{value!r}: this pattern is not supported.")
            prefixes.append(prefix)
        else:
            exact += identifier_forms(value)
    condition = Q(epcs__overlap=exact) if exact else Q(pk__in=[])
    if prefixes:
        like = " OR ".join(["e LIKE %s"] * len(prefixes))
        condition |= Q(
            RawSQL(
                f"EXISTS (SELECT 1 FROM unnest(epcis_epcisevent.epcs) AS e WHERE {like})",
                [p.replace("%", r"\%").replace("_", r"\_") + "%" for p in prefixes],
                output_field=BooleanField(),
            )
        )
    return [condition]


def _forms(values: list[str]) -> list[str]:
    return [f for v in values if not v.startswith("urn:epc:idpat:") for f in identifier_forms(v)]


def parse_query(params: Mapping[str, Sequence[str]]) -> EventQuery:
    """The filters and order a query's parameters ask for, or `QueryParameterError`."""
    query = EventQuery()
    shown: list[str] = []
    for name in sorted(params):
        given = list(params[name])
        if name in PAGING:
            continue
        shown.append(f"{name}={'|'.join(given)}")
        query.filters += _filters(name, given)
        if name == "orderBy":
            query.order_by = ORDER_FIELDS[_choices(name, given, list(ORDER_FIELDS))[0]]
            query.ordered = True
        elif name == "orderDirection":
            query.descending = _single(name, given) == "DESC"
            query.ordered = True
        elif name == "eventCountLimit":
            query.count_limit = _count(name, given)
        elif name == "maxEventCount":
            query.max_count = _count(name, given)
    if query.count_limit is not None:
        if query.max_count is not None:
            raise QueryParameterError(
                "eventCountLimit", "eventCountLimit and maxEventCount exclude each other."
            )
        if "orderBy" not in params:
            raise QueryParameterError("eventCountLimit", "give orderBy too.")
    query.fingerprint = "&".join(shown)
    return query


def _count(name: str, given: Sequence[str]) -> int:
    value = _single(name, given)
    if not (value.isascii() and value.isdigit() and len(value) < 10 and int(value) >= 1):
        raise QueryParameterError(name, "give a whole number of at least 1.")
    return int(value)


def _filters(name: str, given: list[str]) -> list[Any]:  # noqa: C901 (one branch a parameter)
    if name == "eventType":
        return [Q(event_type__in=_choices(name, given, EVENT_TYPES))]
    if name in {"GE_eventTime", "LT_eventTime", "GE_recordTime", "LT_recordTime"}:
        column = "event_time" if name.endswith("eventTime") else "record_time"
        lookup = "gte" if name.startswith("GE_") else "lt"
        return [Q(**{f"{column}__{lookup}": _time(name, given)})]
    if name in TIME_PARAMETERS:
        return [time_filter(name, _time(name, given))]
    if name == "EQ_action":
        return [Q(action__in=_choices(name, given, ACTIONS))]
    if name == "EQ_bizStep":
        return [Q(biz_step__in=[vocabulary_term("bizStep", v) for v in _values(name, given)])]
    if name == "EQ_disposition":
        terms = [vocabulary_term("disposition", v) for v in _values(name, given)]
        return [Q(disposition__in=terms)]
    if name in {"EQ_readPoint", "WD_readPoint"}:
        return [Q(read_point__in=_values(name, given))]
    if name in {"EQ_bizLocation", "WD_bizLocation"}:
        return [Q(biz_location__in=_values(name, given))]
    if name == "EQ_eventID":
        values = _values(name, given)
        return [Q(event_id__in=values) | Q(event_hash__in=values)]
    if name == "EXISTS_errorDeclaration":
        if any(v.strip() not in {"", "true"} for v in given):
            raise QueryParameterError(name, "takes no value.")
        return [Q(error_declaration__isnull=False)]
    if name in {"orderBy", "orderDirection", "eventCountLimit", "maxEventCount"}:
        if name == "orderDirection":
            _choices(name, given, ["ASC", "DESC"])
        return []
    if name.startswith("MATCH_"):
        return _match(name, _values(name, given))
    try:
        found = document_filters(name, given, _values)
    except DocumentParameterError as error:
        raise QueryParameterError(name, str(error)) from None
    if found is not None:
        return found
    if UNSUPPORTED.match(name):
        raise QueryParameterError(name, "this repository does not support this parameter.")
    raise QueryParameterError(name, "no such query parameter.")


def _match(name: str, values: list[str]) -> list[Any]:
    transformation = EpcisEvent.EventType.TRANSFORMATION
    if name == "MATCH_anyEPC":
        return _identifier_condition(name, values, classes=False)
    if name == "MATCH_epc":
        # epcList and childEPCs: not transformations' lists, not a parent.
        found = _identifier_condition(name, values, classes=False)
        return [*found, ~Q(event_type=transformation), ~Q(parent_id__in=_forms(values))]
    if name == "MATCH_parentID":
        return [
            *_identifier_condition(name, values, classes=False),
            Q(parent_id__in=_forms(values)),
        ]
    if name in {"MATCH_inputEPC", "MATCH_outputEPC"}:
        column = "input_epcs" if name == "MATCH_inputEPC" else "output_epcs"
        found = _identifier_condition(name, values, classes=False)
        if all(v.startswith("urn:epc:idpat:") for v in values):
            return [*found, Q(event_type=transformation)]
        return [*found, Q(**{f"{column}__overlap": _forms(values)})]
    if name in {"MATCH_inputEPCClass", "MATCH_outputEPCClass"}:
        return [_quantity_class(name, values)]
    if name in {"MATCH_epcClass", "MATCH_anyEPCClass"}:
        found = _identifier_condition(name, values, classes=True)
        if name == "MATCH_epcClass":
            found.append(~Q(event_type=transformation))
        return found
    if UNSUPPORTED.match(name):
        raise QueryParameterError(name, "this repository does not support this parameter.")
    raise QueryParameterError(name, "no such query parameter.")


def _quantity_class(name: str, values: list[str]) -> Q:
    """Transformations whose input (output) quantity list names one of the classes: the
    indexed containment on `epcs` narrows, the document's list decides. A pattern
    matches a transformation naming it on either side, as for `MATCH_inputEPC`."""
    side = "inputQuantityList" if name == "MATCH_inputEPCClass" else "outputQuantityList"
    exact = _forms(values)
    patterns = [v for v in values if v.startswith("urn:epc:idpat:")]
    found = Q(pk__in=[])
    if exact:
        listed = Q(pk__in=[])
        for form in exact:
            listed |= Q(document__contains={side: [{"epcClass": form}]})
        found |= Q(epcs__overlap=exact) & listed
    if patterns:
        (named,) = _identifier_condition(name, patterns, classes=True)
        found |= named & Q(event_type=EpcisEvent.EventType.TRANSFORMATION)
    return found


def per_page(given: Sequence[str] | None) -> int:
    """`perPage`: a whole number from 1 to `MAX_PER_PAGE` (`DEFAULT_PER_PAGE` if absent)."""
    if not given:
        return DEFAULT_PER_PAGE
    value = _single("perPage", given)
    if not (value.isascii() and value.isdigit() and 1 <= int(value) <= MAX_PER_PAGE):
        raise QueryParameterError("perPage", f"give a whole number from 1 to {MAX_PER_PAGE}.")
    return int(value)


def query_parameters(body: Any) -> dict[str, list[str]]:
    """A JSON query body (`{"EQ_bizStep": ["shipping"], "GE_eventTime": "…",
    "EXISTS_errorDeclaration": true}`) as the parameters `parse_query` takes; refused with
    `QueryParameterError` when a value has a shape no parameter takes."""
    if not isinstance(body, dict) or not body:
        raise QueryParameterError("query", "give the query as an object of parameters.")
    params: dict[str, list[str]] = {}
    for name, value in body.items():
        if name == "@context":
            continue
        if name in PAGING:
            raise QueryParameterError(name, "a named query holds no paging.")
        if isinstance(value, str):
            params[name] = [value]
        elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            params[name] = ["|".join(value)] if len(value) <= MAX_VALUES else list(value)
        elif value is True and name.startswith("EXISTS_"):
            params[name] = [""]
        else:
            raise QueryParameterError(name, "give a string or a list of strings.")
    parse_query(params)  # refuses what the parameters cannot take
    return params
