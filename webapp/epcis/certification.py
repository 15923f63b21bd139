"""An EPCIS event's `certificationInfo` (a URI, or a list of them) as links to this
deployment's certificates.

Ours are `urn:provenant:certificate:<chain id>:<certificate id>` (how the chain facts name
a certificate, `webapp.epcis.facts`) and this site's certificate addresses:
`http(s)://<host>/certificates/<id>[/…]` or `/api/v1/certificates/<id>[/…]` on one of
its hosts (ALLOWED_HOSTS, the Digital Link resolver's). A URI of ours that names no
certificate on this chain refuses the event (a typo must not pass as a link); any other
URI is someone else's certificate, kept in the document and linked to nothing.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http.request import validate_host

from webapp.certificates.selectors import certificate_list
from webapp.lots.identities import URN_PREFIX

FIELD = "certificationInfo"
_URN = f"{URN_PREFIX}:certificate:"
_PATH = re.compile(r"^/(?:api/v1/)?certificates/(\d+)(?:/.*)?$")


def _hosts() -> list[str]:
    hosts = [h for h in settings.ALLOWED_HOSTS if h != "*"]
    resolver = urlsplit(getattr(settings, "RESOLVER_URL", "") or "").hostname
    return [*hosts, resolver] if resolver else hosts


def _refuse(message: str) -> ValidationError:
    return ValidationError({FIELD: [message]})


def certificate_named(uri: str) -> int | None:
    """The certificate id a URI of ours names; None for another's URI. Refuses a URI of
    ours that is no certificate id, or one of another chain."""
    if uri.startswith(_URN):
        chain, _, number = uri[len(_URN) :].partition(":")
        if not (chain.isdigit() and number.isdigit()):
            raise _refuse(f"{uri} is not {_URN}<chain id>:<certificate id>.")
        if int(chain) != settings.CHAIN_ID:
            raise _refuse(
                f"{uri} names a certificate on chain {chain}; this is chain {settings.CHAIN_ID}."
            )
        return int(number)
    if not uri.startswith(("https://", "http://")):
        return None
    parts = urlsplit(uri)
    try:
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    found = _PATH.match(parts.path)
    if found is None or not host or not validate_host(host, _hosts()):
        return None
    return int(found.group(1))


def certificate_links(event: dict[str, Any]) -> list[str]:
    """The ids (decimal strings, in the order given) of our certificates the event's
    certificationInfo names; refuses one that names none of ours."""
    info = event.get(FIELD)
    uris = [info] if isinstance(info, str) else info if isinstance(info, list) else []
    ids: list[int] = []
    for uri in uris:
        if not isinstance(uri, str):
            continue
        number = certificate_named(uri)
        if number is None or number in ids:
            continue
        if not certificate_list().filter(certificate_id=number).exists():
            raise _refuse(f"{uri}: there is no certificate {number} on this chain.")
        ids.append(number)
    return [str(n) for n in ids]
