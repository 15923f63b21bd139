"""Property-based: every operation of the partner API's own OpenAPI schema answers valid,
malformed, oversized, out-of-range and wrong-type input with a 2xx-4xx, never a 5xx, and
every refusal is problem+json.

schemathesis generates the requests from the schema the app serves (positive cases within
the schema, negative ones outside it) and sends them to the WSGI application in-process,
with a real token of an organisation on a real anvil node."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.test import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.webapp.network import Network
from webapp.organisations.services import api_token_create

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]
PROBLEM = "application/problem+json"
EXAMPLES_PER_OPERATION = 6


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


#: Query and path values that once answered 500: Unicode digits, NUL, numbers past uint256
#: and past what a database column holds.
HOSTILE = st.one_of(
    st.sampled_from(
        ["\u00b2", "\u0661\u0662", "\x00", "a\x00b", "9" * 100, str(2**256), "-1", "1e309", ""]
    ),
    st.integers(min_value=-(2**300), max_value=2**300).map(str),
    st.text(max_size=30),
)


def test_no_hostile_query_or_path_value_gets_a_server_error(network: Network) -> None:
    token, _ = api_token_create(organisation=network.orgs["mine"], name="fuzz")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    schema = client.get("/api/schema/", {"format": "json"}).json()
    reads = [
        (path, [p for p in op.get("parameters", []) if p["in"] in ("query", "path")])
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method == "get"
    ]
    assert any(path == "/api/v1/certificates" for path, _ in reads)
    failures: list[str] = []

    @given(read=st.sampled_from(reads), data=st.data())
    @example(read=("/api/v1/certificates", [{"name": "lot_id", "in": "query"}]), data=None)
    @settings(
        max_examples=150,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def get(read: tuple[str, list[dict[str, Any]]], data: Any) -> None:
        path, parameters = read
        query = {}
        for parameter in parameters:
            value = data.draw(HOSTILE) if data is not None else "\u00b2"
            if parameter["in"] == "path":
                path = path.replace("{" + parameter["name"] + "}", quote(value, safe="") or "1")
            else:
                query[parameter["name"]] = value
        response = client.get(path, query)
        if response.status_code >= 500:
            failures.append(f"GET {path} {query!r}: {response.status_code}")
        elif response.status_code >= 400 and response["Content-Type"] != PROBLEM:
            failures.append(
                f"GET {path} {query!r}: {response.status_code} {response['Content-Type']}"
            )

    get()
    assert not failures, "\n".join(failures[:20])
