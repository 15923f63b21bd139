"""Where a webhook may go: HTTPS to public addresses.

Plain HTTP only to loopback and only where the operator allows it
(`STREAMS_ALLOW_HTTP_LOOPBACK`, on in development and tests). Private, loopback,
link-local, multicast and reserved addresses are refused unless they fall in
`STREAMS_ALLOWED_PRIVATE_NETWORKS`. The host is resolved and every address it resolves to
is checked; delivery connects to an address from that check (not a second resolution), so
a DNS answer that changes in between cannot redirect it. The check runs when a
subscription is created or its URL changed, and again at the start of every delivery run
(at most `webapp.streams.delivery.PER_RUN` messages, about a second) and before a test
event.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]


class DestinationRefused(ValueError):
    """The URL may not receive webhooks; the message says why, in plain words."""


@dataclass(frozen=True)
class Destination:
    url: str
    scheme: str
    host: str
    port: int
    target: str  # path and query
    addresses: tuple[str, ...]


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _allowed_networks() -> list[Any]:
    return [
        ipaddress.ip_network(n, strict=False)
        for n in getattr(settings, "STREAMS_ALLOWED_PRIVATE_NETWORKS", [])
    ]


def _address_checked(text: str, host: str, loopback_ok: bool) -> IPAddress:
    ip = ipaddress.ip_address(text.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in _allowed_networks()):
        return ip
    if ip.is_loopback and loopback_ok:
        return ip
    if not ip.is_global or ip.is_multicast or ip.is_reserved or ip.is_unspecified:
        raise DestinationRefused(
            f"The host {host!r} resolves to {ip}, a private, loopback or link-local"
            " address: webhooks go to public addresses only."
        )
    return ip


def destination_check(url: str, *, resolve: Resolver | None = None) -> Destination:
    """The checked destination of `url`, or `DestinationRefused`."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise DestinationRefused(f"The URL is not valid: {exc}.") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise DestinationRefused("The URL must start with https://.")
    if parts.username is not None or parts.password is not None:
        raise DestinationRefused("The URL must not carry a user name or password.")
    host = parts.hostname or ""
    if not host:
        raise DestinationRefused("The URL has no host.")
    port = port or (443 if scheme == "https" else 80)
    try:
        addresses = (resolve or _resolve)(host, port)
    except (OSError, UnicodeError) as exc:
        raise DestinationRefused(f"The host {host!r} does not resolve.") from exc
    if not addresses:
        raise DestinationRefused(f"The host {host!r} does not resolve.")
    loopback_ok = bool(getattr(settings, "STREAMS_ALLOW_HTTP_LOOPBACK", False))
    ips = [_address_checked(text, host, loopback_ok) for text in addresses]
    if scheme == "http" and not (loopback_ok and all(ip.is_loopback for ip in ips)):
        raise DestinationRefused(
            "The URL must start with https:// (http:// only to loopback in development)."
        )
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    return Destination(
        url=url,
        scheme=scheme,
        host=host,
        port=port,
        target=target,
        addresses=tuple(str(ip) for ip in ips),
    )
