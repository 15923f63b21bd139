"""A GS1-conformant resolver for the lots on this chain (GS1 Digital Link standard,
section "resolving"; GS1-Conformant Resolver standard).

`GET /01/{gtin}/10/{lot}` (also `/01/{gtin}/10/{lot}/21/{serial}`, `/01/{gtin}/21/{serial}`
and `/00/{sscc}`) names a lot; the resolver answers:

- by default, 307 to the lot's passport (link type gs1:pip, also offered as gs1:dpp),
  with a `Link: <…?linkType=linkset>; rel="linkset"` header;
- `?linkType=gs1:epcis|gs1:certificationInfo|gs1:sustainabilityInfo|gs1:traceability`:
  307 to that link; an unknown link type: 404 listing the available ones;
- `?linkType=linkset` (or `all`), or `Accept: application/linkset+json`: 200 with the
  RFC 9264 linkset of every link, no redirect.

Every other query pair (data attributes such as `17` expiry, or non-GS1 pairs) is passed
on to the target. A key that is not well formed (check digit, length, characters) is 400;
a key no lot on the chain carries is 404; both as problem+json.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_safe

from webapp.gs1 import DigitalLink, Gs1Error, Gs1Key, parse_digital_link_path
from webapp.lots.identities import epc_identifier, lot_by_gs1_key
from webapp.passport.qr import resolver_root

PROBLEM = "application/problem+json"
LINKSET = "application/linkset+json"
VOCABULARY = "https://gs1.org/voc/"

#: The link types every lot offers: (compact name, title, passport anchor or None).
LINK_TYPES: list[tuple[str, str]] = [
    ("gs1:pip", "Product passport"),
    ("gs1:dpp", "Digital product passport"),
    ("gs1:epcis", "EPCIS events of this lot"),
    ("gs1:certificationInfo", "Certificates"),
    ("gs1:sustainabilityInfo", "Carbon footprint and recycled content"),
    ("gs1:traceability", "Chain of custody"),
]
DEFAULT_LINK_TYPE = "gs1:pip"
_ANCHORS = {
    "gs1:certificationInfo": "#passport-certificates",
    "gs1:sustainabilityInfo": "#footprint",
    "gs1:traceability": "#custody",
}
#: Query keys the resolver reads itself (not passed on to the target).
_RESOLVER_KEYS = {"linktype", "context"}  # compared in lower case


def _open_to_all(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Any web page may ask (a scanning app in a browser): answers carry CORS headers
    that let it read the redirect's Location and Link (GS1-Conformant Resolver standard)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Access-Control-Allow-Origin"] = "*"
        response["Access-Control-Expose-Headers"] = "Link, Location, Content-Type"
        return response

    return wrapped


def _problem(status: int, title: str, detail: str, **extra: Any) -> JsonResponse:
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    return JsonResponse(body, status=status, content_type=PROBLEM)


def _links(request: HttpRequest, key: Gs1Key, lot_id: int) -> dict[str, str]:
    """Each link type's absolute target for the lot `lot_id`."""
    passport = request.build_absolute_uri(reverse("passport:passport", args=[lot_id]))
    parameter = "MATCH_anyEPC" if key.ai == "00" or key.serial else "MATCH_anyEPCClass"
    epcis = (
        request.build_absolute_uri("/epcis/events")
        + "?"
        + urlencode({parameter: epc_identifier(key)})
    )
    out = {}
    for link_type, _ in LINK_TYPES:
        if link_type == "gs1:epcis":
            out[link_type] = epcis
        else:
            out[link_type] = passport + _ANCHORS.get(link_type, "")
    return out


def _with_query(target: str, passed_on: list[tuple[str, str]]) -> str:
    if not passed_on:
        return target
    base, _, fragment = target.partition("#")
    joiner = "&" if "?" in base else "?"
    return base + joiner + urlencode(passed_on) + (f"#{fragment}" if fragment else "")


def _linkset(anchor: str, links: dict[str, str]) -> dict[str, Any]:
    """RFC 9264 JSON linkset: one context (the Digital Link URI), relation types as the
    GS1 Web Vocabulary's full URIs, gs1:defaultLink the passport."""
    titles = dict(LINK_TYPES)
    context: dict[str, Any] = {"anchor": anchor}
    default = links[DEFAULT_LINK_TYPE]
    context[VOCABULARY + "defaultLink"] = [
        {"href": default, "title": titles[DEFAULT_LINK_TYPE], "type": "text/html"}
    ]
    for link_type, href in links.items():
        kind = "application/json" if link_type == "gs1:epcis" else "text/html"
        context[VOCABULARY + link_type.removeprefix("gs1:")] = [
            {"href": href, "title": titles[link_type], "type": kind}
        ]
    return {"linkset": [context]}


def _wants_linkset(request: HttpRequest, link_type: str) -> bool:
    if link_type in ("linkset", "all"):
        return True
    return not link_type and LINKSET in request.headers.get("Accept", "")


def _parsed(request: HttpRequest, path: str) -> DigitalLink:
    query = request.META.get("QUERY_STRING", "")
    # The path as sent (gunicorn and uWSGI keep it) reads a %2F inside a lot exactly;
    # without it the decoded path is read back with that in mind.
    raw = request.META.get("RAW_URI") or request.META.get("REQUEST_URI") or ""
    if raw.startswith("/"):
        return parse_digital_link_path(urlsplit(raw).path, query)
    return parse_digital_link_path(path, query, decoded=True)


@require_safe
@_open_to_all
def resolve_view(request: HttpRequest, path: str) -> HttpResponse:
    """Resolve a Digital Link path (see the module docstring)."""
    try:
        link = _parsed(request, path)
    except Gs1Error as exc:
        return _problem(400, "Not a valid GS1 Digital Link", str(exc))
    key = link.key
    if key.ai == "01" and not (key.lot or key.serial):
        return _problem(
            404,
            "No lot for this GTIN alone",
            f"GTIN {key.key} names a product, not a lot: add its batch/lot "
            f"(/01/{key.key}/10/{{lot}}).",
        )
    if key.ai not in ("01", "00"):
        return _problem(
            404, "Not resolved here", f"This resolver answers for lots (01) and bundles (00), "
            f"not for {key.element_string}."
        )  # fmt: skip
    metadata = lot_by_gs1_key(key=key)
    if metadata is None:
        return _problem(
            404, "Unknown GS1 key", f"No lot on this chain carries {key.element_string}."
        )
    anchor = key.digital_link(resolver_root(request))
    links = _links(request, key, int(metadata.lot_id))
    link_type = next((v for k, v in link.query if k.lower() == "linktype"), "")
    passed_on = [(k, v) for k, v in link.query if k.lower() not in _RESOLVER_KEYS]
    if _wants_linkset(request, link_type):
        response: HttpResponse = JsonResponse(_linkset(anchor, links), content_type=LINKSET)
        response["Vary"] = "Accept"
        return response
    link_type = link_type or DEFAULT_LINK_TYPE
    if link_type not in links:
        return _problem(
            404,
            "Link type not available",
            f"{key.element_string} has no {link_type!r} link; it has: "
            + ", ".join(links) + " (and linkset).",
            availableLinkTypes=[*links, "linkset"],
        )  # fmt: skip
    response = HttpResponse(status=307)
    response["Location"] = _with_query(links[link_type], passed_on)
    linkset = anchor + "?" + urlencode({"linkType": "linkset"})
    response["Link"] = f'<{linkset}>; rel="linkset"; type="{LINKSET}"'
    response["Vary"] = "Accept"
    return response


@require_safe
@_open_to_all
def well_known_view(request: HttpRequest) -> HttpResponse:
    """`/.well-known/gs1resolver`: what this resolver is and answers (GS1-Conformant
    Resolver standard, resolver description file)."""
    root = resolver_root(request)
    return JsonResponse(
        {
            "name": "Provenant GS1 Digital Link resolver",
            "resolverRoot": root,
            "supportedPrimaryKeys": ["01", "00"],
            "supportedLinkType": [
                {
                    "namespace": VOCABULARY,
                    "prefix": "gs1:",
                    "profile": "https://gs1.org/voc/?show=linktypes",
                }
            ],
            "linkTypes": [
                {"linkType": t, "title": title, "default": t == DEFAULT_LINK_TYPE}
                for t, title in LINK_TYPES
            ],
            "linkTypeDefaultCanBeLinkset": False,
            "linksetMediaType": LINKSET,
            "supportedContextValuesEnumerated": [],
            "examples": [f"{root}/01/{{gtin}}/10/{{lot}}", f"{root}/00/{{sscc}}"],
        },
        json_dumps_params={"indent": 1},
    )
