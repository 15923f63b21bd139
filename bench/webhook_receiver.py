"""A webhook receiver for the delivery benchmark, run in a process of its own so it never
competes with the delivering worker for the interpreter lock.

Every POST is verified with the `standardwebhooks` package (the secret is set through
``POST /control/secret``), answered 204 when it verifies (401 when not), and recorded:
each `webhook-id` once (a repeat counts as a duplicate), the payload sequences in arrival
order, and for each sequence the wall-clock time its request arrived (before the answer).
``GET /control/stats`` answers the counts and whether the sequences arrived in order;
``GET /control/arrivals`` the {sequence: arrival time}; ``POST /control/reset`` forgets
everything but the secret. HTTP/1.1 with keep-alive, as a partner's server would be.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import urllib3


class _State:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.webhook: Any = None
        self.reset()

    def reset(self) -> None:
        self.ids: set[str] = set()
        self.duplicates = 0
        self.unverified = 0
        self.in_order = True
        self.last_sequence = 0
        self.sequences = 0
        self.arrivals: dict[int, float] = {}
        self.first = 0.0
        self.last = 0.0

    def take(self, arrived: float, body: bytes, headers: dict[str, str]) -> int:
        from standardwebhooks.webhooks import WebhookVerificationError

        try:
            parsed = self.webhook.verify(body, headers)
        except (WebhookVerificationError, AttributeError):
            with self.lock:
                self.unverified += 1
            return 401
        data = parsed["data"]
        payloads = data if parsed["type"] == "batch" else [data]
        with self.lock:
            webhook_id = headers["webhook-id"]
            if webhook_id in self.ids:
                self.duplicates += 1
                return 204
            self.ids.add(webhook_id)
            for payload in payloads:
                sequence = int(payload["sequence"])
                if sequence <= self.last_sequence:
                    self.in_order = False
                self.last_sequence = sequence
                self.sequences += 1
                self.arrivals[sequence] = arrived
            self.first = self.first or arrived
            self.last = arrived
        return 204

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "messages": len(self.ids),
                "sequences": self.sequences,
                "duplicates": self.duplicates,
                "unverified": self.unverified,
                "in_order": self.in_order,
                "first": self.first,
                "last": self.last,
            }


def _serve(port_out: Any) -> None:
    from standardwebhooks.webhooks import Webhook

    state = _State()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, status: int, body: bytes = b"") -> None:
            self.send_response(status)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)

        def do_POST(self) -> None:
            arrived = time.time()
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if self.path == "/control/secret":
                state.webhook = Webhook(body.decode())
                self._answer(204)
            elif self.path == "/control/reset":
                with state.lock:
                    state.reset()
                self._answer(204)
            else:
                headers = {k.lower(): v for k, v in self.headers.items()}
                self._answer(state.take(arrived, body, headers))

        def do_GET(self) -> None:
            if self.path == "/control/stats":
                self._answer(200, json.dumps(state.stats()).encode())
            elif self.path == "/control/arrivals":
                with state.lock:
                    arrivals = dict(state.arrivals)
                self._answer(200, json.dumps(arrivals).encode())
            else:
                self._answer(404)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_out.send(server.server_address[1])
    server.serve_forever()


class BenchReceiver:
    """The receiver process and a client for its control routes."""

    def __init__(self) -> None:
        parent, child = multiprocessing.get_context("spawn").Pipe()
        self.process = multiprocessing.get_context("spawn").Process(
            target=_serve, args=(child,), daemon=True
        )
        self.process.start()
        if not parent.poll(30):
            raise SystemExit("the webhook receiver did not start within 30 s")
        self.port = int(parent.recv())
        self.http = urllib3.HTTPConnectionPool("127.0.0.1", self.port, maxsize=2, retries=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def _call(self, method: str, path: str, body: bytes = b"") -> Any:
        response = self.http.request(method, path, body=body or None, timeout=30)
        if response.status >= 300:
            raise SystemExit(f"receiver {path}: {response.status}")
        return json.loads(response.data) if response.data else None

    def use_secret(self, secret: str) -> None:
        self._call("POST", "/control/secret", secret.encode())

    def reset(self) -> None:
        self._call("POST", "/control/reset")

    def stats(self) -> dict[str, Any]:
        found: dict[str, Any] = self._call("GET", "/control/stats")
        return found

    def arrivals(self) -> dict[int, float]:
        return {int(k): float(v) for k, v in self._call("GET", "/control/arrivals").items()}

    def ceiling(self, secret: str, seconds: float = 3.0) -> float:
        """Signed single-event requests per second the receiver takes from one client on
        one keep-alive connection (the delivery's own pattern), verification included."""
        from webapp.streams.signing import signed_headers

        self.use_secret(secret)
        self.reset()
        body_of = '{{"type":"LotRegistered","data":{{"sequence":{0},"id":"evt_{0}"}}}}'
        sent = 0
        began = time.perf_counter()
        while time.perf_counter() - began < seconds:
            sent += 1
            body = body_of.format(sent).encode()
            headers = signed_headers(
                secrets=[secret], message_id=f"evt_{sent}", timestamp=int(time.time()), body=body
            )
            response = self.http.request("POST", "/hooks", body=body, headers=headers)
            if response.status != 204:
                raise SystemExit(f"receiver ceiling: answered {response.status}")
        rate = sent / (time.perf_counter() - began)
        self.reset()
        return rate

    def stop(self) -> None:
        self.http.close()
        self.process.terminate()
        self.process.join(10)
