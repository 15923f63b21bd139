"""Property-based: every operation of the partner API's own OpenAPI schema answers valid,
malformed, oversized, out-of-range and wrong-type input with a 2xx-4xx, never a 5xx, and
every refusal is problem+json.

schemathesis generates the requests from the schema the app serves (positive cases within
the schema, negative ones outside it) and sends them to the WSGI application in-process,
with a real token of an organisation on a real anvil node."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.webapp.network import Network
from webapp.organisations.services import api_token_create

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]
PROBLEM = "application/problem+json"
EXAMPLES_PER_OPERATION = 12


def _exercise(operation: Any, mode: GenerationMode, headers: dict[str, str]) -> list[str]:
    failures: list[str] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=[not_a_server_error])
        except Exception as exc:  # recorded: every operation is tried before the test fails
            failures.append(f"{operation.label} ({mode.value}): {exc}")
            return
        content_type = (response.headers.get("content-type") or [""])[0]
        if response.status_code >= 400 and not content_type.startswith(PROBLEM):
            failures.append(
                f"{operation.label} ({mode.value}): {response.status_code} as {content_type}"
            )

    run()
    return failures


def test_no_api_input_gets_a_server_error(network: Network) -> None:
    token, _ = api_token_create(organisation=network.orgs["certifier"], name="fuzz")
    schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler())
    headers = {"Authorization": f"Bearer {token}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    labels = {op.label for op in operations}
    # every write and list endpoint is in the schema the test runs against
    for expected in (
        "POST /api/v1/lots/register",
        "POST /api/v1/transformations",
        "POST /api/v1/bundles",
        "POST /api/v1/certificates/issue",
        "POST /api/v1/documents",
        "GET /api/v1/lots",
        "GET /api/v1/certificates",
        "GET /api/v1/operations",
    ):
        assert expected in labels
    failures: list[str] = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            failures += _exercise(operation, mode, headers)
    assert not failures, "\n".join(failures[:20])
