"""The CBV 2.0 event hash (`ni:///sha-256;<hex>?ver=CBV2.0`) of an EPCIS 2.0 JSON(-LD) event.

The identity of a captured event is this hash, and it must equal what GS1's reference
implementation (`epcis-event-hash-generator` 1.9.3, MIT licence) computes, so partners that
hash on their side agree with us. The steps are the reference's, in its order:

1. Bare vocabulary values (`"bizStep": "shipping"`) become their CBV/GS1 web-vocabulary IRIs.
   The reference JSON-LD-expands the whole document and then replaces *every* string value
   that is the unique `-` or `/` suffix of an expanded CBV or GS1 value; we read the same
   terms from GS1's context once (no expansion per event) and apply the same replacement.
2. The event becomes a tree of (name, text, children), keys and values with a prefix from
   the document's `@context` (user extensions) spelled out as `{namespace}name` / IRIs, and
   children sorted - except where the reference keeps the order.
3. The JSON/XML model differences are corrected (list element names, childEPCs, ...).
4. The pre-hash string: the properties of CBV 2.0's order, each rendered `name=value`, values
   canonicalised (old CBV URNs to web vocabulary, numbers, EPC URIs and Digital Link URIs to
   constrained canonical Digital Link, timestamps to UTC with milliseconds), then whatever
   remains (user extensions) in sorted generic form; recordTime, eventID and
   errorDeclaration excluded.

The hash covers one event. The reference, which hashes documents, decides step 1 on the
whole document: a bare string in one event can be replaced because of a vocabulary value in
another. We decide it per event, which is what the capture of a single event must do too;
the two agree unless a user extension's value happens to equal a CBV term used elsewhere.

Where the reference cannot produce a hash, we still do: a bizTransaction, source or
destination without `type` is hashed as its one property (`_pairs`); a value that reads as a
number too large for a float (`1e310`) is kept as written; a timestamp whose milliseconds
round up to the next second moves to it.
"""

from __future__ import annotations

import functools
import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from webapp.epcis.dl_normaliser import normaliser
from webapp.epcis.validation import GS1_DIR

Node = tuple[Any, str, list[Any]]

_VOCABULARY_PREFIXES = ("https://ref.gs1.org/cbv", "https://gs1.org/voc")
_PAIRED_LISTS = ("sourceList", "destinationList", "bizTransactionList")
_UNSORTED_KEYS = ("bizTransaction", "source", "destination")
_IGNORED_KEYS = ("#text", "rdfs:comment", "comment")
_NOT_HASHED = ("recordTime", "eventID", "type", "errorDeclaration")

_QUANTITY: list[Any] = [
    ("quantityElement", [("epcClass", None), ("quantity", None), ("uom", None)])
]
#: CBV 2.0's order of an event's properties (the reference's PROP_ORDER, unchanged).
PROPERTY_ORDER: list[Any] = [
    ("eventTime", None),
    ("eventTimeZoneOffset", None),
    ("certificationInfo", None),
    ("parentID", None),
    ("epcList", [("epc", None)]),
    ("inputEPCList", [("epc", None)]),
    ("childEPCs", [("epc", None)]),
    ("quantityList", _QUANTITY),
    ("childQuantityList", _QUANTITY),
    ("inputQuantityList", _QUANTITY),
    ("outputEPCList", [("epc", None)]),
    ("outputQuantityList", _QUANTITY),
    ("action", None),
    ("transformationID", None),
    ("bizStep", None),
    ("disposition", None),
    ("persistentDisposition", [("set", None), ("unset", None)]),
    ("readPoint", [("id", None)]),
    ("bizLocation", [("id", None)]),
    ("bizTransactionList", [(("type", None), ("bizTransaction", None))]),
    ("sourceList", [(("type", None), ("source", None))]),
    ("destinationList", [(("type", None), ("destination", None))]),
    (
        "sensorElementList",
        [
            (
                "sensorElement",
                [
                    (
                        "sensorMetadata",
                        [
                            (name, None)
                            for name in (
                                "time",
                                "startTime",
                                "endTime",
                                "deviceID",
                                "deviceMetadata",
                                "rawData",
                                "dataProcessingMethod",
                                "bizRules",
                            )
                        ],
                    ),
                    (
                        "sensorReport",
                        [
                            (name, None)
                            for name in (
                                "type",
                                "exception",
                                "deviceID",
                                "deviceMetadata",
                                "rawData",
                                "dataProcessingMethod",
                                "time",
                                "microorganism",
                                "chemicalSubstance",
                                "value",
                                "component",
                                "stringValue",
                                "booleanValue",
                                "hexBinaryValue",
                                "uriValue",
                                "minValue",
                                "maxValue",
                                "meanValue",
                                "sDev",
                                "percRank",
                                "percValue",
                                "uom",
                                "coordinateReferenceSystem",
                            )
                        ],
                    ),
                ],
            )
        ],
    ),
]


# -- step 1: bare vocabulary values -------------------------------------------------------


@functools.cache
def _vocabulary() -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """GS1's context, read once: its prefixes, and for each property whose values are
    vocabulary terms (`"@type": "@vocab"`) the terms it defines, as full IRIs."""
    context = json.loads((GS1_DIR / "epcis-context.jsonld").read_text(encoding="utf-8"))["@context"]
    prefixes = {k: v for k, v in context.items() if isinstance(v, str) and v.endswith("/")}

    def full(compact: str) -> str:
        prefix, _, rest = compact.partition(":")
        return prefixes[prefix] + rest if prefix in prefixes else compact

    def terms(scoped: Any) -> dict[str, str]:
        found: dict[str, str] = {}
        for part in scoped if isinstance(scoped, list) else [scoped]:
            if isinstance(part, dict):
                found.update({k: full(v) for k, v in part.items() if isinstance(v, str)})
        return found

    sensor = context["sensorElementList"]["@context"]["sensorReport"]["@context"]
    persistent = terms(context["persistentDisposition"]["@context"])
    return prefixes, {
        "bizStep": terms(context["bizStep"]["@context"]),
        "disposition": terms(context["disposition"]["@context"]),
        "set": persistent,
        "unset": persistent,
        "bizTransactionType": terms(context["bizTransactionList"]["@context"]["type"]["@context"]),
        "sourceType": terms(context["sourceList"]["@context"]["type"]["@context"]),
        "destinationType": terms(context["destinationList"]["@context"]["type"]["@context"]),
        "sensorType": terms(sensor["type"]["@context"]),
        "exception": terms(sensor["exception"]["@context"]),
        "component": terms(sensor["component"]["@context"]),
        "reason": terms(context["errorDeclaration"]["@context"]["reason"]["@context"]),
    }


def _each(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _vocabulary_positions(event: dict[str, Any]) -> list[tuple[str, Any]]:
    """(vocabulary, value) for each value of the event whose property is vocabulary-typed."""
    found: list[tuple[str, Any]] = [
        ("bizStep", event.get("bizStep")),
        ("disposition", event.get("disposition")),
    ]
    persistent = event.get("persistentDisposition")
    if isinstance(persistent, dict):
        found += [(kind, v) for kind in ("set", "unset") for v in _each(persistent.get(kind))]
    for key, kind in (
        ("bizTransactionList", "bizTransactionType"),
        ("sourceList", "sourceType"),
        ("destinationList", "destinationType"),
    ):
        found += [(kind, e.get("type")) for e in _each(event.get(key)) if isinstance(e, dict)]
    for element in _each(event.get("sensorElementList")):
        if isinstance(element, dict):
            for report in _each(element.get("sensorReport")):
                if isinstance(report, dict):
                    found += [
                        ("sensorType", report.get("type")),
                        ("exception", report.get("exception")),
                        ("component", report.get("component")),
                    ]
    declaration = event.get("errorDeclaration")
    if isinstance(declaration, dict):
        found.append(("reason", declaration.get("reason")))
    return found


def _vocabulary_values(event: dict[str, Any]) -> set[str]:
    """The CBV/GS1 web-vocabulary IRIs among the event's values once expanded."""
    prefixes, vocabularies = _vocabulary()
    found: set[str] = set()
    for kind, value in _vocabulary_positions(event):
        if not isinstance(value, str):
            continue
        iri = vocabularies[kind].get(value)
        if iri is None:
            prefix, colon, rest = value.partition(":")
            iri = prefixes[prefix] + rest if colon and prefix in prefixes else value
        if iri.startswith(_VOCABULARY_PREFIXES):
            found.add(iri)
    # The reference collects every string of the expanded document: literals and IRIs that
    # already are web vocabulary count too.
    _collect_vocabulary_strings(event, found)
    return found


def _collect_vocabulary_strings(value: Any, found: set[str]) -> None:
    if isinstance(value, str):
        if value.startswith(_VOCABULARY_PREFIXES):
            found.add(value)
    elif isinstance(value, list):
        for v in value:
            _collect_vocabulary_strings(v, found)
    elif isinstance(value, dict):
        for v in value.values():
            _collect_vocabulary_strings(v, found)


@functools.lru_cache(maxsize=1024)
def _suffixes(values: frozenset[str]) -> dict[str, str]:
    """Each string that the reference would replace, with its replacement: a suffix after a
    `-` or `/` that exactly one of the values ends with."""
    owners: dict[str, set[str]] = {}
    for value in values:
        for i, char in enumerate(value):
            if char in "-/":
                owners.setdefault(value[i + 1 :], set()).add(value)
    return {suffix: next(iter(vs)) for suffix, vs in owners.items() if len(vs) == 1}


def _replace_bare(value: Any, replacements: dict[str, str]) -> Any:
    if isinstance(value, str):
        return replacements.get(value, value)
    if isinstance(value, list):
        return [_replace_bare(v, replacements) for v in value]
    if isinstance(value, dict):
        return {k: _replace_bare(v, replacements) for k, v in value.items()}
    return value


# -- step 2: the tree ---------------------------------------------------------------------


def namespaces(context: Any) -> dict[str, str]:
    """The prefixes a document's `@context` declares for its extensions, as the reference
    reads them (only from a list; an entry's value wrapped in braces)."""
    found: dict[str, str] = {}
    if isinstance(context, list):
        for entry in context:
            if isinstance(entry, str):
                found[entry] = "{" + entry + "}"
            elif isinstance(entry, dict):
                found.update({k: "{" + v + "}" for k, v in entry.items() if isinstance(v, str)})
    return found


def _spelled_out(text: str, spaces: dict[str, str], is_value: bool = False) -> str:
    prefix, colon, rest = text.partition(":")
    if colon and prefix in spaces:
        namespace = spaces[prefix]
        if is_value:
            return namespace.replace("{", "").replace("}", "") + rest
        return namespace + rest
    return text


def _tree(value: Any, spaces: dict[str, str]) -> Node:
    if isinstance(value, dict):
        node: Node = (value["type"], "", []) if "type" in value else ("", "", [])
        if "#text" in value:
            node = (node[0], value["#text"], node[2])
        children = node[2]
        for key, child_value in value.items():
            if key in _IGNORED_KEYS:
                continue
            if key.startswith("@xmlns"):
                spaces[key[7:]] = "{" + child_value + "}"
                node = (_spelled_out(node[0], spaces), node[1], node[2])
                continue
            child = _tree(child_value, spaces)
            key = _spelled_out(key, spaces)
            if isinstance(child_value, list):
                children.extend((key, element[1], element[2]) for element in child[2])
            else:
                children.append((key, child[1], child[2]))
        if not any(k in value for k in _UNSORTED_KEYS):
            children.sort()
        return node
    if isinstance(value, list):
        items = [_tree(v, spaces) for v in value]
        if not any(k in value for k in _UNSORTED_KEYS):
            items.sort()
        return ("", "", items)
    text = _spelled_out(value, spaces, is_value=True) if isinstance(value, str) else value
    return ("", str(text), [])


# -- step 3: JSON/XML model corrections ---------------------------------------------------


def _pairs(elements: list[Node]) -> list[Any]:
    # The reference pairs the first two properties of a bizTransaction/source/destination
    # positionally (type first, as written) and raises on an element with fewer than two;
    # such an element is hashed here as its one property.
    return [(e[2][0], e[2][1]) if len(e[2]) >= 2 else e[2][0] for e in elements]


def _corrected(node: Node) -> Node:
    children = node[2] if len(node) > 2 else []
    lists: dict[str, list[Node]] = {}
    for element in [e for e in children if not isinstance(e[0], tuple) and e[0].endswith("List")]:
        lists.setdefault(element[0], []).append((element[0][:-4], element[1], element[2]))
        children.remove(element)
    for name, elements in lists.items():
        if name in _PAIRED_LISTS:
            children.append((name, "", _pairs(elements)))
        else:
            children.append((name, "", elements))

    child_epcs: list[Node] = []
    for element in [e for e in children if e[0] == "childEPCs"]:
        child_epcs.append(("epc", element[1], []))
        children.remove(element)
    if child_epcs:
        children.append(("childEPCs", "", child_epcs))

    corrected = [e if e[0] in _PAIRED_LISTS else _corrected(e) for e in children]

    name, text = node[0], node[1]
    if name in ("inputEPC", "outputEPC"):
        return ("epc", text, corrected)
    if name in ("inputQuantity", "outputQuantity", "childQuantity") or (
        name == "quantity" and corrected
    ):
        return ("quantityElement", text, corrected)
    return (name, text, corrected)


# -- step 4: the pre-hash string ----------------------------------------------------------


def _timestamp(text: str) -> str:
    """UTC at millisecond precision with a `Z` (the reference rounds half to even)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    moment = moment.astimezone(UTC)
    rounded = round(moment.microsecond, -3)  # half to even, as the reference
    if rounded == 1_000_000:  # where the reference fails, the next second
        moment = moment.replace(microsecond=0) + timedelta(seconds=1)
    else:
        moment = moment.replace(microsecond=rounded)
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"


def _numeric(text: str) -> str:
    try:
        number = float(text)
        if int(number) == number:
            return str(int(number))
    except (ValueError, OverflowError):  # not a number, NaN, infinity
        return text
    return str(number)


_OLD_VOCABULARY = (
    ("urn:epcglobal:cbv:bizstep:", "https://ref.gs1.org/cbv/BizStep-"),
    ("urn:epcglobal:cbv:disp:", "https://ref.gs1.org/cbv/Disp-"),
    ("urn:epcglobal:cbv:btt:", "https://ref.gs1.org/cbv/BTT-"),
    ("urn:epcglobal:cbv:sdt:", "https://ref.gs1.org/cbv/SDT-"),
    ("urn:epcglobal:cbv:er:", "https://ref.gs1.org/cbv/ER-"),
)


@functools.lru_cache(maxsize=65536)
def canonical_value(text: str) -> str:
    """A value as the pre-hash string has it: web vocabulary, plain numbers, canonical DL."""
    if "urn:epcglobal:cbv:" in text:
        for old, new in _OLD_VOCABULARY:
            text = text.replace(old, new)
    text = _numeric(text)
    return normaliser(text) or text


def _child_text(child: Node, order: list[Any] | None) -> str:
    grand_children = _in_order(child[2], order) if order else ""
    text = ""
    if child[1]:
        text = child[1].strip()
        name = child[0].lower()
        if "time" in name and "offset" not in name:
            text = _timestamp(text)
        else:
            text = canonical_value(text)
        if text:
            text = "=" + text
    if text or grand_children:
        return str(child[0]) + text + grand_children
    return ""


def _user_extensions(children: list[Any]) -> list[Any]:
    if len(children) <= 1:
        return []
    for child in children:
        if "eventTime" in child[0] or "action" in child[0]:
            return []  # the event's own level: its extensions come last, generically
    extensions = [c for c in children if isinstance(c, tuple) and "{" in c[0] and "/}" in c[0]]
    for extension in extensions:
        children.remove(extension)
    return extensions


def _in_order(children: list[Any], order: list[Any]) -> str:
    """The properties of `order`, in that order, removed from `children` once rendered."""
    pre_hash = ""
    extensions = _user_extensions(children)
    for name, sub_order in order:
        values = []
        for child in [c for c in children if c[0] == name]:
            text = _child_text(child, sub_order)
            if text:
                values.append(text)
            if len(child[2]) == 0:
                children.remove(child)
        values.sort()
        if "".join(values):
            pre_hash = pre_hash + "".join(values)
    if extensions:
        pre_hash = pre_hash + _generic(extensions)
    return pre_hash


def _generic(children: list[Any]) -> str:
    values = []
    for child in children:
        if isinstance(child, tuple) and len(child) == 2 and isinstance(child[0], tuple):
            values.append(_generic(list(child)))
        else:
            text = child[1].strip()
            if text:
                text = "=" + canonical_value(text)
            values.append(child[0] + text + _generic(child[2]))
    if len(children) > 1 and not any(c[0] in _UNSORTED_KEYS for c in children):
        values.sort()
    return "".join(values)


def pre_hash_string(event: dict[str, Any], context: Any = None) -> str:
    """The reference's pre-hash string of `event`, inside a document whose `@context` is
    `context` (its prefixes spell out the event's extension names)."""
    found = _vocabulary_values(event)
    if found:
        replacements = _suffixes(frozenset(found))
        if replacements:
            event = _replace_bare(event, replacements)
    tree = _corrected(_tree(event, namespaces(context)))
    children = tree[2]
    ordered = _in_order(children, PROPERTY_ORDER)
    remaining = [c for c in children if c[0] not in _NOT_HASHED]
    return "eventType=" + str(tree[0]) + ordered + (_generic(remaining) if remaining else "")


def event_hash(event: dict[str, Any], context: Any = None) -> str:
    """The CBV 2.0 event hash, `ni:///sha-256;<hex>?ver=CBV2.0`, of one JSON(-LD) event as
    it stands in a document whose `@context` is `context` (the event's own `@context` if
    none is given)."""
    if context is None:
        context = event.get("@context")
        if context is not None:
            event = {k: v for k, v in event.items() if k != "@context"}
    digest = hashlib.sha256(pre_hash_string(event, context).encode("utf-8")).hexdigest()
    return f"ni:///sha-256;{digest}?ver=CBV2.0"
