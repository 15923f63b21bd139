"""The process's own Prometheus metrics: request latency by view, signing latency and
errors per key-store backend, the submitter's time per step. `webapp.health.metrics`
serves them beside the figures it reads from the database at each scrape (chain head and
mirror, consumers, operations, deliveries).

Under gunicorn (several processes) set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory
writable by every worker: each process then writes its samples there and a scrape of any
one of them adds them all up (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

#: Seconds: from a fast page (5 ms) to a slow export (10 s).
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUEST_SECONDS = Histogram(
    "provenant_http_request_duration_seconds",
    "Time to answer a request, by view (URL name), method and status class",
    ["view", "method", "status"],
    buckets=_LATENCY_BUCKETS,
)
SIGNING_SECONDS = Histogram(
    "provenant_signing_duration_seconds",
    "Time to sign one transaction, by key-store backend",
    ["backend"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
#: The submitter's steps for one operation (see `webapp.operations.submitter`): where a
#: signature's time goes when the signing rate is what limits a sender.
SUBMIT_STEP_SECONDS = Histogram(
    "provenant_submit_step_duration_seconds",
    "Time the submitter spends per operation in each step: key_store, lock_wait, claim"
    " (read it again under the lock, count the attempt), preflight, nonce, build (fees"
    " and gas estimate), sign, record, send; total (one whole attempt to send), track"
    " (one look for its receipt)",
    ["step"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
)
SIGNING_ERRORS = Counter(
    "provenant_signing_errors_total",
    "Signatures that failed, by key-store backend and error",
    ["backend", "error"],
)


def backend_of(store: object) -> str:
    """The key-store backend a store is, as a metric label ("keystore", "hsm", "keyvault")."""
    return type(store).__module__.rsplit(".", 1)[-1]  # contracts.custody.<backend>


@contextmanager
def signing_observed(backend: str) -> Iterator[None]:
    """Time a signature and count its failure (the exception goes on)."""
    began = time.perf_counter()
    try:
        yield
    except Exception as exc:
        SIGNING_ERRORS.labels(backend=backend, error=type(exc).__name__).inc()
        raise
    finally:
        SIGNING_SECONDS.labels(backend=backend).observe(time.perf_counter() - began)


@contextmanager
def submit_step(step: str) -> Iterator[None]:
    """Time one step of the submitter (`SUBMIT_STEP_SECONDS`), however it ends."""
    began = time.perf_counter()
    try:
        yield
    finally:
        submit_step_since(step, began)


def submit_step_since(step: str, began: float) -> None:
    """Record a submitter step that began at `began` (`time.perf_counter()`) and ends now."""
    SUBMIT_STEP_SECONDS.labels(step=step).observe(time.perf_counter() - began)


def process_metrics() -> bytes:
    """This process's metrics (all processes' in multiprocess mode) in the text format."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY)


# --------------------------------------------------------------------------- logs and ids

#: The request and the operation a log line belongs to (set by `RequestObserved` and by
#: the submitter), written into every JSON log line.
REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="")
OPERATION_ID: ContextVar[str] = ContextVar("operation_id", default="")
_SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, the request and
    operation ids when there are, and the exception's traceback."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, var in (("request_id", REQUEST_ID), ("operation_id", OPERATION_ID)):
            if value := var.get():
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class RequestObserved:
    """Middleware: gives each request an id (the caller's `X-Request-ID` when it is a
    plain token, else a new one), answers with it, logs under it, and records the
    request's latency by view."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        asked = request.headers.get("X-Request-ID", "")
        request_id = asked if _SAFE_ID.fullmatch(asked) else uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        began = time.perf_counter()
        try:
            response = self.get_response(request)
        finally:
            REQUEST_ID.reset(token)
        match = request.resolver_match
        REQUEST_SECONDS.labels(
            view=(match.view_name or "unnamed") if match else "unmatched",
            method=request.method if request.method in _METHODS else "other",
            status=f"{response.status_code // 100}xx",
        ).observe(time.perf_counter() - began)
        response["X-Request-ID"] = request_id
        return response
