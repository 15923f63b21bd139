"""What on-call reads: liveness and readiness that name the failing part, metrics for
request latency by view, signing per key-store backend, operations by status and age,
stream dead letters; JSON log lines carrying the request and operation ids."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from deploy.local.node import AnvilNode
from webapp.operations.models import Operation
from webapp.organisations.models import Organisation
from webapp.telemetry import (
    OPERATION_ID,
    REQUEST_ID,
    SIGNING_ERRORS,
    JsonLogFormatter,
    signing_observed,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text, None when absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        key, value = line.rsplit(" ", 1)
        metric, _, rest = key.partition("{")
        found = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
        if metric == name and found == wanted:
            return float(value)
    return None


def test_live_answers_and_ready_names_the_part_that_fails(settings: Any) -> None:
    client = Client()
    assert client.get("/health/live").json() == {"status": "ok"}
    settings.CHAIN_RPC_URL = "http://127.0.0.1:9"  # nothing listens there
    refused = client.get("/health/ready")
    assert refused.status_code == 503
    checks = refused.json()["checks"]
    assert checks["database"] == "ok"
    assert checks["node"].startswith("failing: ")
    assert checks["key_store"].startswith("ok")


def test_ready_with_every_part_answering(settings: Any, anvil: AnvilNode) -> None:
    settings.CHAIN_RPC_URL = anvil.url
    answer = Client().get("/health/ready")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["checks"]["node"].startswith("ok (block ")


def test_metrics_cover_requests_operations_and_signing(db: Any) -> None:
    client = Client()
    assert client.get("/health/live").status_code == 200
    organisation = Organisation.objects.create(name="Mine", slug="mine", address="0x" + "11" * 20)
    queued = Operation.objects.create(
        organisation=organisation, chain_id=31337, sender=organisation.address,
        action="lot_register", call={}, status=Operation.Status.QUEUED,
    )  # fmt: skip
    Operation.objects.filter(id=queued.id).update(created_at=timezone.now() - timedelta(seconds=90))
    before = SIGNING_ERRORS.labels(backend="hsm", error="TimeoutError")._value.get()
    with pytest.raises(TimeoutError), signing_observed("hsm"):
        raise TimeoutError("token removed")

    text = client.get("/metrics").content.decode()
    latency = sample(
        text,
        "provenant_http_request_duration_seconds_count",
        view="health-live",
        method="GET",
        status="2xx",
    )
    assert latency is not None
    assert latency >= 1
    assert sample(text, "provenant_operations", chain_id="31337", status="queued") == 1
    oldest = sample(text, "provenant_operations_oldest_queued_seconds", chain_id="31337")
    assert oldest is not None
    assert 89 <= oldest < 600
    assert sample(text, "provenant_stream_messages", status="dead") == 0
    errors = sample(text, "provenant_signing_errors_total", backend="hsm", error="TimeoutError")
    assert errors == before + 1
    assert sample(text, "provenant_signing_duration_seconds_count", backend="hsm") is not None


def test_log_lines_are_json_with_the_request_and_operation_ids(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = Client()
    answer = client.get("/health/live", HTTP_X_REQUEST_ID="abc-123")
    assert answer["X-Request-ID"] == "abc-123"
    forged = client.get("/health/live", HTTP_X_REQUEST_ID="bad id\nwith a newline")
    assert forged["X-Request-ID"] != "bad id\nwith a newline"
    assert len(forged["X-Request-ID"]) == 32

    formatter = JsonLogFormatter()
    record = logging.LogRecord(
        "webapp.operations", logging.WARNING, __file__, 1, "sent %s", ("x",), None
    )
    request, operation = REQUEST_ID.set("req-1"), OPERATION_ID.set("op-9")
    try:
        line = json.loads(formatter.format(record))
    finally:
        REQUEST_ID.reset(request)
        OPERATION_ID.reset(operation)
    assert line["message"] == "sent x"
    assert (line["request_id"], line["operation_id"], line["level"]) == ("req-1", "op-9", "WARNING")
    bare = json.loads(formatter.format(record))
    assert "request_id" not in bare
    assert "operation_id" not in bare
