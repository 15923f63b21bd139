"""The partner REST API: token auth, 202 + operation URL, Idempotency-Key, problem+json,
pagination and filters, the OpenAPI schema; the mine → refinery flow through HTTP alone."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.webapp.network import Network
from webapp.lots.models import LotMetadata
from webapp.operations.models import Operation
from webapp.organisations.services import api_token_create

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]
PROBLEM = "application/problem+json"


def client_for(net: Network, slug: str) -> Client:
    token, _ = api_token_create(organisation=net.orgs[slug], name="erp")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def post(client: Client, path: str, body: dict[str, Any], key: str | None) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(path, body, content_type="application/json", **headers)


def test_the_mine_to_refinery_flow_works_through_the_api_alone(network: Network) -> None:
    mine, refinery = client_for(network, "mine"), client_for(network, "refinery")
    registered = post(
        mine,
        "/api/v1/lots/register",
        {"name": "Cobalt ore", "quantity": 700, "unit": "kg", "claims": {"co2e_g_per_unit": 4}},
        "reg-1",
    )
    assert registered.status_code == 202
    body = registered.json()
    assert body["status"] == "queued"
    assert registered["Location"] == body["url"]
    network.settle()
    operation = mine.get(body["url"]).json()
    assert operation["status"] == "confirmed"
    lot_id = operation["lot_id"]

    offered = post(
        mine,
        "/api/v1/handoffs/initiate",
        {"lot_id": lot_id, "receiver": "refinery", "quantity": 700},
        "ho-1",
    )
    assert offered.status_code == 202, offered.json()
    network.settle()
    incoming = refinery.get("/api/v1/handoffs?direction=incoming&status=open").json()
    assert incoming["count"] == 1
    handoff_id = incoming["results"][0]["handoff_id"]
    accepted = post(refinery, f"/api/v1/handoffs/{handoff_id}/accept", {}, "acc-1")
    assert accepted.status_code == 202
    network.settle()
    assert refinery.get(accepted.json()["url"]).json()["status"] == "confirmed"
    # A partner's retry of the same request, after the handoff is accepted: the same
    # operation, not a refusal (and not a second one); another key is refused.
    again = post(refinery, f"/api/v1/handoffs/{handoff_id}/accept", {}, "acc-1")
    assert again.status_code == 202
    assert again.json()["id"] == accepted.json()["id"]
    other = post(refinery, f"/api/v1/handoffs/{handoff_id}/accept", {}, "acc-2")
    assert other.status_code == 400
    assert "already accepted" in other.json()["detail"]
    assert Operation.objects.filter(action="handoff.accept").count() == 1

    inventory = refinery.get("/api/v1/inventory").json()["results"]
    assert [(i["lot_id"], i["quantity"], i["name"]) for i in inventory] == [
        (lot_id, 700, "Cobalt ore")
    ]
    lot = refinery.get(f"/api/v1/lots/{lot_id}").json()
    assert lot["metadata_matches_chain"] is True
    assert [h["name"] for h in lot["holders"]] == ["Nordic Refinery"]
    assert [e["event"] for e in lot["history"]] == [
        "LotRegistered",
        "HandoffInitiated",
        "HandoffAccepted",
    ]
    held = refinery.get("/api/v1/lots?holder=refinery").json()
    assert [row["lot_id"] for row in held["results"]] == [lot_id]


def test_a_lot_kind_has_one_spelling_in_answers_and_in_the_filter(network: Network) -> None:
    mine = client_for(network, "mine")
    registered = post(
        mine,
        "/api/v1/lots/register",
        {"name": "Cobalt ore", "quantity": 5, "unit": "kg", "kind": "raw_material"},
        "kind-1",
    )
    assert registered.status_code == 202, registered.json()
    network.settle()
    lot_id = mine.get(registered.json()["url"]).json()["lot_id"]
    listed = mine.get("/api/v1/lots").json()["results"]
    kind = next(row["kind"] for row in listed if row["lot_id"] == lot_id)
    assert kind == "raw_material"
    assert mine.get(f"/api/v1/lots/{lot_id}").json()["kind"] == "raw_material"
    held = mine.get("/api/v1/inventory").json()["results"]
    assert {i["lot_id"]: i["kind"] for i in held}[lot_id] == "raw_material"
    nodes = mine.get(f"/api/v1/lots/{lot_id}/trace").json()["nodes"]
    assert [(n["lot_id"], n["kind"]) for n in nodes] == [(lot_id, "raw_material")]
    # What an answer says is what the filter takes back.
    filtered = mine.get("/api/v1/lots", {"kind": kind}).json()["results"]
    assert lot_id in [row["lot_id"] for row in filtered]
    assert mine.get("/api/v1/lots", {"kind": "raw material"}).status_code == 400
    assert mine.get("/api/v1/lots", {"kind": "product"}).json()["count"] == 0


def test_writes_need_a_token_and_an_idempotency_key(network: Network) -> None:
    anonymous = post(Client(), "/api/v1/lots/register", {"name": "x"}, "k")
    assert anonymous.status_code == 401
    assert anonymous["Content-Type"] == PROBLEM
    bad = Client(HTTP_AUTHORIZATION="Bearer pvn_nope")
    assert post(bad, "/api/v1/lots/register", {}, "k").status_code == 401
    missing = post(
        client_for(network, "mine"),
        "/api/v1/lots/register",
        {"name": "Ore", "quantity": 1, "unit": "kg"},
        None,
    )
    assert missing.status_code == 400
    assert missing["Content-Type"] == PROBLEM
    assert "Idempotency-Key" in missing.json()["detail"]
    assert not Operation.objects.filter(action="lot.register").exists()


def test_the_same_key_and_body_give_the_same_operation_another_body_is_422(
    network: Network,
) -> None:
    mine = client_for(network, "mine")
    body = {"name": "Ore", "quantity": 5, "unit": "kg"}
    first = post(mine, "/api/v1/lots/register", body, "same-key")
    again = post(mine, "/api/v1/lots/register", body, "same-key")
    assert first.status_code == again.status_code == 202
    assert first.json()["id"] == again.json()["id"]
    conflict = post(mine, "/api/v1/lots/register", body | {"quantity": 6}, "same-key")
    assert conflict.status_code == 422
    assert conflict["Content-Type"] == PROBLEM
    assert "same-key" in conflict.json()["detail"]
    network.settle()
    assert Operation.objects.filter(action="lot.register").count() == 1
    assert LotMetadata.objects.count() == 1


def test_refusals_are_problem_documents_with_field_errors_and_change_nothing(
    network: Network,
) -> None:
    mine, shop = client_for(network, "mine"), client_for(network, "retailer")
    invalid = post(
        mine, "/api/v1/lots/register", {"name": "Ore", "quantity": 0, "unit": "kg"}, "bad-qty"
    )
    assert invalid.status_code == 400
    assert invalid["Content-Type"] == PROBLEM
    assert "quantity" in invalid.json()["errors"]
    wrong_role = post(
        shop, "/api/v1/lots/register", {"name": "Ore", "quantity": 1, "unit": "kg"}, "role"
    )
    assert wrong_role.status_code == 400
    assert wrong_role.json()["errors"]["non_field_errors"] == [
        "City Electronics lacks the role for this action (needs MINER or MANUFACTURER)."
    ]
    spaced = {"name": "Ore", "quantity": 1, "unit": "kg", "gtin": "4006381333931"}
    for batch in ("ORE 7", "LOT-é", "LOT#1"):
        refused = post(mine, "/api/v1/lots/register", {**spaced, "batch": batch}, f"b-{batch}")
        assert refused.status_code == 400, batch
        assert "character set 82" in refused.json()["errors"]["batch"][0]
        assert "!\"%&'()*+,-./:;<=>?_" in refused.json()["errors"]["batch"][0]
    unknown = post(
        mine, "/api/v1/handoffs/initiate", {"lot_id": 5, "receiver": "nobody", "quantity": 1}, "who"
    )
    assert unknown.json()["errors"] == {"receiver": ["No organisation 'nobody' on the chain."]}
    assert not Operation.objects.filter(action__in=["lot.register", "handoff.initiate"]).exists()
    assert not LotMetadata.objects.exists()


def test_accept_by_the_wrong_organisation_is_refused(network: Network) -> None:
    mine = client_for(network, "mine")
    post(mine, "/api/v1/lots/register", {"name": "Ore", "quantity": 5, "unit": "kg"}, "r")
    network.settle()
    lot_id = Operation.objects.get(action="lot.register").lot_id
    post(
        mine,
        "/api/v1/handoffs/initiate",
        {"lot_id": int(lot_id or 0), "receiver": "refinery", "quantity": 5},
        "h",
    )
    network.settle()
    handoff_id = mine.get("/api/v1/handoffs?direction=outgoing").json()["results"][0]["handoff_id"]
    refused = post(
        client_for(network, "distributor"), f"/api/v1/handoffs/{handoff_id}/accept", {}, "a"
    )
    assert refused.status_code == 400
    assert refused.json()["errors"]["non_field_errors"] == [
        f"Only the receiver (Nordic Refinery) can accept handoff {handoff_id}."
    ]
    assert not Operation.objects.filter(action="handoff.accept").exists()


def test_documents_upload_by_hash_and_a_tampered_file_is_refused(network: Network) -> None:
    certifier = client_for(network, "certifier")
    from django.core.files.uploadedfile import SimpleUploadedFile

    uploaded = certifier.post(
        "/api/v1/documents", {"file": SimpleUploadedFile("qa.pdf", b"%PDF report")}
    )
    assert uploaded.status_code == 201
    digest = uploaded.json()["hash"]
    download = certifier.get(f"/api/v1/documents/{digest}")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"%PDF report"
    from webapp.documents.models import Document

    stored = Document.objects.get()
    with open(stored.file.path, "wb") as fh:
        fh.write(b"%PDF forged")
    tampered = certifier.get(f"/api/v1/documents/{digest}")
    assert tampered.status_code == 409
    assert tampered["Content-Type"] == PROBLEM


def test_lists_are_paginated_and_filtered(network: Network) -> None:
    mine = client_for(network, "mine")
    for i in range(3):
        post(
            mine,
            "/api/v1/lots/register",
            {"name": f"Ore {i}", "quantity": 1, "unit": "kg"},
            f"k{i}",
        )
    network.settle()
    page = mine.get("/api/v1/lots?page_size=2").json()
    assert page["count"] == 3
    assert len(page["results"]) == 2
    assert page["next"]
    last = mine.get(page["next"]).json()
    assert len(last["results"]) == 1
    assert last["next"] is None
    assert mine.get("/api/v1/operations?status=confirmed&action=lot.register").json()["count"] == 3
    assert mine.get("/api/v1/lots?kind=bundle").json()["count"] == 0
    bad = mine.get("/api/v1/lots?kind=spaceship")
    assert bad.status_code == 400
    assert bad["Content-Type"] == PROBLEM


def test_the_openapi_schema_and_docs_page_are_served(network: Network) -> None:
    client = Client()
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {
        "/api/v1/lots/register",
        "/api/v1/handoffs/{handoff_id}/accept",
        "/api/v1/operations/{operation_id}",
    } <= set(paths)
    parameters = paths["/api/v1/lots/register"]["post"]["parameters"]
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in parameters)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
