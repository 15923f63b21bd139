"""Property-based: every operation of the partner API's own OpenAPI schema answers valid,
malformed, oversized, out-of-range and wrong-type input with a 2xx-4xx, never a 5xx; every
status it answers is one the schema documents, every body has the documented shape, every
request outside the schema is refused, and every refusal is problem+json.

schemathesis generates the requests from the schema the app serves (positive cases within
the schema, negative ones outside it) and sends them to the WSGI application in-process,
with a real token of an organisation on a real anvil node."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import pytest
import schemathesis
from django.core.handlers.wsgi import WSGIHandler
from django.test import Client, override_settings
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.webapp.network import Network
from webapp.certificates.services import certificate_issue
from webapp.documents.services import document_upload
from webapp.imports.services import import_create
from webapp.lots.services import (
    Claims,
    Output,
    bundle_create,
    handoff_accept,
    handoff_initiate,
    lot_register,
    transformation_record,
)
from webapp.monitoring.models import Alert
from webapp.monitoring.rule_services import rule_create
from webapp.monitoring.services import Measurement, sensor_readings_record
from webapp.operations.models import Operation
from webapp.organisations.services import api_token_create
from webapp.projections.models import CertificateVersion, HandoffVersion
from webapp.streams.services import Start, subscription_create

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]
PROBLEM = "application/problem+json"
EXAMPLES_PER_OPERATION = 10
#: Every answer is one the schema documents (its status), with the documented body, and a
#: request outside the schema is refused.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


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
        # recorded, not raised: every operation is tried before the test fails
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:
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


def _confirmed(net: Network, operation: Operation) -> int:
    net.settle()
    operation.refresh_from_db()
    assert operation.status == Operation.Status.CONFIRMED, operation.error
    return int(operation.lot_id or 0)


def test_every_read_of_real_records_answers_as_its_schema_says(network: Network) -> None:
    """Reads of a lineage that exists (a certified lot, a handoff, a transformation, a bundle,
    a document) answer 200 with bodies that match their published shapes field for field."""
    net = network
    mine, refinery, certifier = net.orgs["mine"], net.orgs["refinery"], net.orgs["certifier"]
    ore = _confirmed(
        net,
        lot_register(
            organisation=mine,
            name="Ore",
            quantity=1000,
            unit="g",
            gtin="4006381333931",
            claims=Claims(co2e_g_per_unit=4, recycled_permille=100),
        ),
    )
    document = document_upload(
        organisation=certifier,
        name="footprint.pdf",
        content=b"%PDF footprint",
        content_type="application/pdf",
    )
    now = timezone.now()
    _confirmed(
        net,
        certificate_issue(
            organisation=certifier,
            lot_id=ore,
            certificate_type="CARBON_FOOTPRINT",
            document_hash=document.hash_hex,
            valid_from=now - timedelta(days=1),
            valid_until=now + timedelta(days=365),
            claims={"CO2E_G_PER_UNIT": 4},
        ),
    )
    certificate = CertificateVersion.objects.get(subject=ore, block_to__isnull=True)
    _confirmed(
        net, handoff_initiate(organisation=mine, lot_id=ore, receiver=refinery, quantity=1000)
    )
    handoff = HandoffVersion.objects.get(lot_id=ore, block_to__isnull=True, status="open")
    _confirmed(net, handoff_accept(organisation=refinery, handoff_id=int(handoff.handoff_id)))
    cobalt = _confirmed(
        net,
        transformation_record(
            organisation=refinery,
            inputs=[(ore, 800)],
            process="refining",
            outputs=[Output(name="Cobalt", quantity=600, unit="g")],
        ),
    )
    pallet = _confirmed(
        net, bundle_create(organisation=refinery, items=[(cobalt, 600)], name="Pallet")
    )
    _confirmed(
        net, handoff_initiate(organisation=refinery, lot_id=pallet, receiver=mine, quantity=1)
    )
    operation = Operation.objects.filter(organisation=refinery).first()
    assert operation is not None

    job = import_create(
        organisation=refinery,
        record_type="handoffs",
        file_name="shipments.csv",
        content=f"lot_id,receiver,quantity\n{cobalt},mine,1\n{cobalt},nobody,x\n".encode(),
    )
    token, _ = api_token_create(organisation=refinery, name="conformance")
    with override_settings(STREAMS_ALLOW_HTTP_LOOPBACK=True):
        subscription = subscription_create(
            organisation=refinery,
            name="erp",
            url="http://127.0.0.1:9/hooks",
            start=Start("oldest"),
            filters={},
            options={},
        ).subscription
    rule = rule_create(
        organisation=refinery, name="cold", kind="temperature_above", threshold=Decimal(8),
        lot_ids=[cobalt], quarantine=False,
    )  # fmt: skip
    sensor_readings_record(
        lot_ids=[cobalt],
        measurements=[
            Measurement(time=timezone.now(), type="gs1:Temperature", value=Decimal(9), unit="CEL")
        ],
        source="device",
    )
    alert = Alert.objects.get(rule=rule)
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from webapp.monitoring.devices import device_register

    device_key = ed25519.Ed25519PrivateKey.generate().public_key()
    device = device_register(
        organisation=refinery,
        device_id="pallet-7",
        key_type="ed25519",
        public_key=device_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode(),
    ).device
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_wsgi("/api/schema/", WSGIHandler())
    known = {
        "lot_id": cobalt,
        "bundle_id": pallet,
        "certificate_id": int(certificate.certificate_id),
        "operation_id": str(operation.id),
        "sha256": document.hash_hex,
        "job_id": str(job.id),
        "subscription_id": str(subscription.pk),
        "rule_id": rule.pk,
        "alert_id": alert.pk,
        "device_id": device.device_id,
    }
    queries: dict[str, list[dict[str, Any]]] = {
        "/api/v1/lots/{lot_id}/trace": [{}, {"direction": "down"}],
        "/api/v1/certificates": [{}, {"lot_id": ore}],
        "/api/v1/search": [{"q": "cobalt"}, {"q": str(cobalt), "type": "lot"}],
        "/api/v1/lots/{lot_id}/readings/evidence": [
            {"excursion": "2026-12-03T06:00:00Z/2026-12-03T06:20:00Z", "margin_minutes": 30}
        ],
    }
    failures: list[str] = []
    reads = [result.ok() for result in schema.get_all_operations() if result.ok().method == "get"]
    for read in reads:
        names = [p.name for p in read.path_parameters]
        for query in queries.get(read.path, [{}]):
            case = read.Case(path_parameters={n: known[n] for n in names}, query=query)
            response = case.call(headers=headers)
            if response.status_code != 200:
                failures.append(f"{read.label} {query}: {response.status_code}")
                continue
            try:
                case.validate_response(response, checks=CHECKS)
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{read.label} {query}: {exc}")
    for lot_id in (ore, pallet):  # the detail of a source lot, and of a bundle
        case = schema["/api/v1/lots/{lot_id}"]["GET"].Case(path_parameters={"lot_id": lot_id})
        response = case.call(headers=headers)
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:
            failures.append(f"lot {lot_id}: {exc}")
    # the download in the type the schema publishes, and a refusal in that negotiation
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    download = client.get(
        f"/api/v1/documents/{document.hash_hex}", HTTP_ACCEPT="application/octet-stream"
    )
    assert download.status_code == 200, download.content
    assert b"".join(download.streaming_content) == b"%PDF footprint"
    missing = client.get(f"/api/v1/documents/{'0' * 64}", HTTP_ACCEPT="application/octet-stream")
    assert missing.status_code == 404
    assert missing["Content-Type"] == PROBLEM
    assert missing.json()["status"] == 404
    assert not failures, "\n".join(failures)


def test_list_filters_outside_the_schema_are_refused(network: Network) -> None:
    """A filter value the schema does not list, or a page size outside 1-500, is refused
    with a reason instead of being read as "no filter", "false" or the default size."""
    token, _ = api_token_create(organisation=network.orgs["mine"], name="filters")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    for path, query in (
        ("/api/v1/lots", {"quarantined": "627"}),
        ("/api/v1/lots", {"quarantined": ""}),
        ("/api/v1/lots", {"kind": ""}),
        ("/api/v1/handoffs", {"direction": "sideways"}),
        ("/api/v1/handoffs", {"status": ""}),
        ("/api/v1/operations", {"status": "finished"}),
        ("/api/v1/operations", {"page_size": "0"}),
        ("/api/v1/operations", {"page_size": "501"}),
        ("/api/v1/operations", {"page_size": "\u00b2"}),
    ):
        response = client.get(path, query)
        assert response.status_code == 400, (path, query)
        assert response["Content-Type"] == PROBLEM
        assert list(response.json()["errors"]) == list(query), response.json()
    for path, query in (
        ("/api/v1/lots", {"quarantined": "false", "kind": "raw_material"}),
        ("/api/v1/lots", {"quarantined": "1"}),
        ("/api/v1/handoffs", {"direction": "incoming", "status": "open"}),
        ("/api/v1/operations", {"status": "confirmed", "page_size": "500"}),
    ):
        assert client.get(path, query).status_code == 200, (path, query)
