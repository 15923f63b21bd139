"""The webhook's HTTP request: one POST to a checked destination, with time-outs, no
redirects followed, and connections kept alive per destination address.

Built on the standard library's `http.client`, which writes the request line, the headers
and a bytes body in one `send`: a small request leaves in one TCP segment, and the
receiver reads it in one go (urllib3 writes the headers and the body separately, two
writes and two wake-ups of the receiver per event). A connection is connected to the
address the SSRF check resolved, never resolving the host again; over HTTPS the
certificate is checked for the URL's host (SNI and hostname check) against certifi's CAs.
An idle kept-alive connection the receiver closed meanwhile is noticed before reuse and
replaced, so it never costs an attempt.
"""

from __future__ import annotations

import http.client
import select
import ssl
import threading

import certifi
from django.conf import settings

from webapp.streams.ssrf import Destination

#: How much of a receiver's answer is read (only its status matters).
READ_LIMIT = 64 * 1024
#: Idle connections kept per destination address.
KEEP = 2

_Key = tuple[str, str, int, str]
_pools: dict[_Key, list[http.client.HTTPConnection]] = {}
_pools_lock = threading.Lock()


class DeliveryFailed(Exception):
    """No HTTP answer: connection refused or reset, TLS failure, time-out."""


class _Connection(http.client.HTTPConnection):
    """Connects within the connect time-out, then reads within the read time-out."""

    def connect(self) -> None:
        super().connect()  # with the connect time-out; sets TCP_NODELAY
        self.sock.settimeout(settings.STREAMS_READ_TIMEOUT_S)


class _TlsConnection(http.client.HTTPSConnection):
    """Connects to the checked address; the certificate is checked for `server_hostname`."""

    def __init__(self, address: str, port: int, *, server_hostname: str, timeout: float) -> None:
        context = ssl.create_default_context(cafile=certifi.where())
        super().__init__(address, port, timeout=timeout, context=context)
        self.server_hostname = server_hostname

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self._context.wrap_socket(  # type: ignore[attr-defined]
            self.sock, server_hostname=self.server_hostname
        )
        self.sock.settimeout(settings.STREAMS_READ_TIMEOUT_S)


def _key(destination: Destination) -> _Key:
    return (destination.scheme, destination.addresses[0], destination.port, destination.host)


def _dropped(connection: http.client.HTTPConnection) -> bool:
    """The receiver closed the idle connection (or sent something unasked): not reusable."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _take(destination: Destination) -> http.client.HTTPConnection:
    with _pools_lock:
        idle = _pools.get(_key(destination), [])
        while idle:
            connection = idle.pop()
            if not _dropped(connection):
                return connection
            connection.close()
    address = destination.addresses[0]
    timeout = settings.STREAMS_CONNECT_TIMEOUT_S
    if destination.scheme == "https":
        return _TlsConnection(
            address, destination.port, server_hostname=destination.host, timeout=timeout
        )
    return _Connection(address, destination.port, timeout=timeout)


def _give_back(destination: Destination, connection: http.client.HTTPConnection) -> None:
    with _pools_lock:
        if len(_pools) > 256:
            for idle in _pools.values():
                for old in idle:
                    old.close()
            _pools.clear()
        idle = _pools.setdefault(_key(destination), [])
        if len(idle) < KEEP:
            idle.append(connection)
            return
    connection.close()


def _host_header(destination: Destination) -> str:
    default = 443 if destination.scheme == "https" else 80
    host = destination.host if ":" not in destination.host else f"[{destination.host}]"
    return host if destination.port == default else f"{host}:{destination.port}"


def http_post(*, destination: Destination, headers: dict[str, str], body: bytes) -> int:
    """POST `body`; returns the status code, or raises `DeliveryFailed`."""
    connection = _take(destination)
    request_headers = {
        **headers,
        "host": _host_header(destination),
        "user-agent": "Provenant-Webhooks/1",
        "content-length": str(len(body)),
    }
    try:
        connection.putrequest("POST", destination.target, skip_host=True, skip_accept_encoding=True)
        for name, value in request_headers.items():
            connection.putheader(name, value)
        connection.endheaders(message_body=body)  # headers and body in one write
        response = connection.getresponse()
        response.read(READ_LIMIT)
        status = int(response.status)
        reusable = response.isclosed() and not response.will_close
    except (http.client.HTTPException, OSError) as exc:  # time-outs are OSErrors
        connection.close()
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from exc
    if reusable:
        _give_back(destination, connection)
    else:  # a long or endless answer, or the receiver closes: drop the connection
        connection.close()
    return status
