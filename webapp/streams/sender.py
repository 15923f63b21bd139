"""The webhook's HTTP request: one POST to a checked destination, with time-outs, no
redirects followed, and connections kept alive per destination address."""

from __future__ import annotations

import threading

import certifi
import urllib3
from django.conf import settings

from webapp.streams.ssrf import Destination

#: How much of a receiver's answer is read (only its status matters).
READ_LIMIT = 64 * 1024

_pools: dict[tuple[str, str, int, str], urllib3.HTTPConnectionPool] = {}
_pools_lock = threading.Lock()


class DeliveryFailed(Exception):
    """No HTTP answer: connection refused or reset, TLS failure, time-out."""


def _pool(destination: Destination) -> urllib3.HTTPConnectionPool:
    address = destination.addresses[0]
    key = (destination.scheme, address, destination.port, destination.host)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            if len(_pools) > 256:
                _pools.clear()
            timeout = urllib3.Timeout(
                connect=settings.STREAMS_CONNECT_TIMEOUT_S, read=settings.STREAMS_READ_TIMEOUT_S
            )
            if destination.scheme == "https":
                # Connect to the checked address; the certificate is checked for the host.
                pool = urllib3.HTTPSConnectionPool(
                    address,
                    destination.port,
                    timeout=timeout,
                    retries=False,
                    maxsize=2,
                    cert_reqs="CERT_REQUIRED",
                    ca_certs=certifi.where(),
                    server_hostname=destination.host,
                    assert_hostname=destination.host,
                )
            else:
                pool = urllib3.HTTPConnectionPool(
                    address, destination.port, timeout=timeout, retries=False, maxsize=2
                )
            _pools[key] = pool
        return pool


def http_post(*, destination: Destination, headers: dict[str, str], body: bytes) -> int:
    """POST `body`; returns the status code, or raises `DeliveryFailed`."""
    default = 443 if destination.scheme == "https" else 80
    host = destination.host if ":" not in destination.host else f"[{destination.host}]"
    if destination.port != default:
        host = f"{host}:{destination.port}"
    try:
        response = _pool(destination).urlopen(
            "POST",
            destination.target,
            body=body,
            headers={**headers, "host": host, "user-agent": "Provenant-Webhooks/1"},
            redirect=False,
            retries=False,
            preload_content=False,
        )
        try:
            response.read(READ_LIMIT)
        finally:
            if response.length_remaining == 0:
                response.release_conn()
            else:  # a long or endless answer: drop the connection rather than read it
                response.close()
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
    return int(response.status)
