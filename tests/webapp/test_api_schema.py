"""The published OpenAPI schema: generated without a warning and valid, every answer typed,
every refusal documented as problem+json, and the enforced bounds stated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command

from webapp.limits import (
    MAX_ID,
    MAX_IDEMPOTENCY_KEY_LENGTH,
    MAX_PERSONAL_FIELDS,
    MAX_QUANTITY,
)

pytestmark = pytest.mark.unit
PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("schema") / "schema.yaml"
    # --fail-on-warn raises on any drf-spectacular warning; --validate checks the document
    # against the OpenAPI 3 meta-schema.
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(out))
    loaded: dict[str, Any] = yaml.safe_load(Path(out).read_text())
    return loaded


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if path.startswith("/api/v1/")
    ]


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _untyped(schema: dict[str, Any], node: dict[str, Any]) -> bool:
    node = _resolve(schema, node)
    if node.get("type") == "object" or ("type" not in node and not node.get("allOf")):
        return not node.get("properties") and not node.get("allOf")
    return False


def _find(node: Any, key: str) -> bool:
    if isinstance(node, dict):
        return key in node or any(_find(v, key) for v in node.values())
    if isinstance(node, list):
        return any(_find(v, key) for v in node)
    return False


def test_the_schema_generates_without_a_warning_and_validates(schema: dict[str, Any]) -> None:
    assert schema["openapi"].startswith("3.")
    assert len(_operations(schema)) >= 25


def test_no_success_answer_is_an_untyped_object(schema: dict[str, Any]) -> None:
    untyped = [
        f"{method} {path} {status}"
        for method, path, op in _operations(schema)
        for status, response in op["responses"].items()
        if status.startswith("2")
        for media in (response.get("content") or {}).values()
        if _untyped(schema, media.get("schema", {}))
    ]
    assert untyped == []


def test_every_refusal_is_documented_as_a_problem(schema: dict[str, Any]) -> None:
    problem = schema["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status"}
    assert {"detail", "errors"} <= set(problem["properties"])
    missing = []
    for method, path, op in _operations(schema):
        writes = method == "POST"
        by_id = "{" in path
        expected = {"400", "401", "406", "429"}
        if writes:
            expected |= {"403"} | ({"422"} if path != "/api/v1/documents" else set())
        if by_id:
            expected |= {"404"}
        for status in sorted(expected):
            response = op["responses"].get(status)
            if response is None or PROBLEM not in response.get("content", {}):
                missing.append(f"{method} {path} {status}")
                continue
            assert response["content"][PROBLEM]["schema"] == {
                "$ref": "#/components/schemas/Problem"
            }
    assert missing == []


def test_writes_with_a_json_body_document_413_and_415(schema: dict[str, Any]) -> None:
    for method, path, op in _operations(schema):
        if method == "POST" and "requestBody" in op:
            assert {"413", "415"} <= set(op["responses"]), f"{method} {path}"


def test_writes_require_a_bounded_idempotency_key(schema: dict[str, Any]) -> None:
    for method, path, op in _operations(schema):
        if method != "POST" or path == "/api/v1/documents":
            continue
        (header,) = [p for p in op["parameters"] if p["in"] == "header"]
        assert header["name"] == "Idempotency-Key"
        assert header["required"] is True
        assert header["schema"]["maxLength"] == MAX_IDEMPOTENCY_KEY_LENGTH
        assert header["schema"]["minLength"] == 1


def test_enforced_bounds_are_in_the_schema(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    item = components["ItemInputRequest"]["properties"]
    assert (item["lot_id"]["minimum"], item["lot_id"]["maximum"]) == (1, MAX_ID)
    assert (item["quantity"]["minimum"], item["quantity"]["maximum"]) == (1, MAX_QUANTITY)
    lot = components["LotRegisterInputRequest"]["properties"]
    # blank or ASCII digits (a oneOf would refuse "", which matches both)
    assert lot["gtin"]["anyOf"][0]["pattern"] == "^(?:[0-9]{8}|[0-9]{12}|[0-9]{13}|[0-9]{14})?$"
    assert lot["gtin"]["anyOf"][0]["maxLength"] == 14
    assert not _find(schema, "oneOf")
    assert lot["personal"]["maxProperties"] == MAX_PERSONAL_FIELDS
    claims = components["ClaimsInputRequest"]["properties"]
    assert claims["recycled_permille"]["maximum"] == 1000
    certificate = components["CertificateIssueInputRequest"]["properties"]
    assert set(certificate["claims"]["properties"]) == {"CO2E_G_PER_UNIT", "RECYCLED_PERMILLE"}
    assert certificate["claims"]["additionalProperties"] is False
    for _, path, op in _operations(schema):
        for parameter in op.get("parameters", []):
            if parameter["in"] == "path" and parameter["name"] in ("lot_id", "bundle_id"):
                assert parameter["schema"]["maximum"] == MAX_ID, path


def _nodes(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        return [node] + [n for v in node.values() for n in _nodes(v)]
    if isinstance(node, list):
        return [n for v in node for n in _nodes(v)]
    return []


def test_numbers_past_int64_are_not_marked_int64(schema: dict[str, Any]) -> None:
    """Ids (uint256) and quantities (uint240) are taken past 2^63 - 1: no `format: int64`
    may refuse them in a generated client."""
    big = [n for n in _nodes(schema) if n.get("maximum", 0) > 2**63 - 1]
    assert big, "the id and quantity bounds are stated"
    assert [n for n in big if "format" in n] == []


def test_list_paging_is_bounded(schema: dict[str, Any]) -> None:
    parameters = {
        p["name"]: p["schema"] for p in schema["paths"]["/api/v1/lots"]["get"]["parameters"]
    }
    assert parameters["page"]["minimum"] == 1
    assert (parameters["page_size"]["minimum"], parameters["page_size"]["maximum"]) == (1, 500)
    assert parameters["kind"]["enum"] == ["bundle", "component", "product", "raw_material"]
    assert parameters["quarantined"]["type"] == "boolean"
