"""The GraphQL hub: authentication and tiers as in the partner API, lineage and as-of
reads on a hand-built graph, limits, batching and the committed schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from contracts.chain.domain import Role
from tests.webapp.lineage import FACTORY, MINE, REFINERY, Graph
from webapp.graphql.schema import schema
from webapp.operations.models import Operation
from webapp.organisations.models import ApiToken, Organisation
from webapp.organisations.services import api_token_create, member_invite, organisation_create

pytestmark = [pytest.mark.integration, pytest.mark.django_db]
PASSWORD = "correct-horse-battery"
A, B, R, X, P, BOX = 1, 2, 10, 20, 30, 40


@pytest.fixture
def orgs() -> dict[str, Organisation]:
    made = {
        "mine": organisation_create(name="Mine", roles=Role.MINER, slug="mine"),
        "refinery": organisation_create(name="Refinery", roles=Role.MANUFACTURER, slug="refinery"),
        "factory": organisation_create(name="Factory", roles=Role.MANUFACTURER, slug="factory"),
    }
    for slug, address in (("mine", MINE), ("refinery", REFINERY), ("factory", FACTORY)):
        Organisation.objects.filter(slug=slug).update(address=address)
        made[slug].refresh_from_db()
    member_invite(organisation=made["mine"], username="mine-clerk", password=PASSWORD)
    return made


@pytest.fixture
def graph() -> Graph:
    """ore A, B (mine) -> T1 -> R (refinery) -> T2 -> X -> T3 -> P (factory) -> box."""
    g = Graph()
    g.lot(A, 1000, block=1)
    g.lot(B, 1000, block=2)
    g.certify(A, block=3, claims={"CO2E_G_PER_UNIT": 3})
    g.transform({A: 600, B: 400}, {R: 900}, block=10)
    g.transform({R: 500}, {X: 500}, block=11)
    g.transform({X: 250}, {P: 40}, block=12, holder=FACTORY)
    g.bundle(BOX, {P: 20}, block=14)
    return g


def client_for(organisation: Organisation, scope: str = ApiToken.Scope.READ) -> Client:
    token, _ = api_token_create(organisation=organisation, name="erp", scope=scope)
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def ask(client: Client, query: str, **variables: Any) -> Any:
    body = json.dumps({"query": query, "variables": variables})
    return client.post("/graphql", body, content_type="application/json")


def test_without_credentials_the_hub_answers_401_in_the_graphql_error_shape() -> None:
    response = ask(Client(), "{ lot(id: 1) { id } }")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert "Authentication required" in response.json()["errors"][0]["message"]
    bad = ask(Client(HTTP_AUTHORIZATION="Bearer pvn_nope"), "{ lot(id: 1) { id } }")
    assert bad.status_code == 401
    assert "unknown, revoked or expired" in bad.json()["errors"][0]["message"]


def test_a_session_post_needs_the_csrf_token(orgs: dict[str, Organisation], graph: Graph) -> None:
    person = Client(enforce_csrf_checks=True)
    assert person.login(username="mine-clerk", password=PASSWORD)
    refused = ask(person, "{ lot(id: 1) { id } }")
    assert refused.status_code == 403
    assert "CSRF" in refused.json()["errors"][0]["message"]
    fine = person.get("/graphql", {"query": "{ lot(id: 1) { id kind } }"})
    assert fine.status_code == 200
    assert fine.json()["data"]["lot"] == {"id": "1", "kind": "raw_material"}
    # with the token, a session's JSON POST is answered (GraphiQL posts this way)
    person.get("/accounts/login/")  # sets the CSRF cookie
    token = person.cookies["csrftoken"].value
    body = json.dumps({"query": "{ lot(id: 1) { id } }"})
    posted = person.post("/graphql", body, content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert posted.status_code == 200, posted.content
    assert posted.json()["data"]["lot"] == {"id": "1"}


def test_a_read_only_token_may_query_over_post(orgs: dict[str, Organisation], graph: Graph) -> None:
    response = ask(client_for(orgs["mine"]), "{ lot(id: 1) { quantity } }")
    assert response.status_code == 200
    assert response.json()["data"]["lot"] == {"quantity": "1000"}


def test_upstream_follows_the_depth_asked_for(orgs: dict[str, Organisation], graph: Graph) -> None:
    query = """query($d: Int!) { lot(id: 40) { upstream(depth: $d) {
        reachedCap nodes { distance lot { id } } edges { parent child kind } } } }"""
    client = client_for(orgs["factory"])
    two = ask(client, query, d=2).json()["data"]["lot"]["upstream"]
    assert [(n["distance"], n["lot"]["id"]) for n in two["nodes"]] == [(1, "30"), (2, "20")]
    assert two["reachedCap"] is True
    full = ask(client, query, d=10).json()["data"]["lot"]["upstream"]
    assert {n["lot"]["id"] for n in full["nodes"]} == {"30", "20", "10", "1", "2"}
    assert full["reachedCap"] is False
    down = ask(client, "{ lot(id: 1) { downstream(depth: 8) { nodes { lot { id } } } } }")
    assert {n["lot"]["id"] for n in down.json()["data"]["lot"]["downstream"]["nodes"]} == {
        "10",
        "20",
        "30",
        "40",
    }


def test_a_depth_out_of_range_is_refused_with_the_reason(
    orgs: dict[str, Organisation], graph: Graph
) -> None:
    response = ask(client_for(orgs["mine"]), "{ lot(id: 1) { upstream(depth: 65) { depth } } }")
    assert response.status_code == 200
    assert response.json()["errors"][0]["message"] == "depth must be between 1 and 64."


def test_holders_as_of_a_block_or_a_date(orgs: dict[str, Organisation], graph: Graph) -> None:
    query = """query($at: String) { lot(id: 1, asOf: $at) {
        asOfBlock quantity holders { asOfBlock scope holders { address quantity } } } }"""
    client = client_for(orgs["mine"])
    before = ask(client, query, at="0").json()
    assert before["errors"][0]["message"] == "Lot 1 did not exist at that block."
    then = ask(client, query, at="1").json()["data"]["lot"]
    assert then["holders"] == {
        "asOfBlock": 1,
        "scope": "all",
        "holders": [{"address": MINE, "quantity": "1000"}],
    }
    by_date = ask(client, query, at="2026-01-02").json()["data"]["lot"]
    assert by_date["asOfBlock"] == 1
    wrong = ask(client, query, at="yesterday").json()
    assert "neither a block number nor an ISO date" in wrong["errors"][0]["message"]


def test_another_organisations_stock_and_operations_stay_out_of_view(
    orgs: dict[str, Organisation], graph: Graph
) -> None:
    Operation.objects.create(
        organisation=orgs["factory"], chain_id=1337, sender=FACTORY, action="lot_register"
    )
    mine = client_for(orgs["mine"])
    box = ask(mine, "{ lot(id: 40) { creator holders { scope holders { address } } } }")
    assert box.json()["data"]["lot"] == {
        "creator": FACTORY,
        "holders": {"scope": "own", "holders": []},
    }
    assert ask(mine, "{ operations { id } }").json()["data"]["operations"] == []
    factory = ask(client_for(orgs["factory"]), "{ operations { action status } }")
    assert factory.json()["data"]["operations"] == [{"action": "lot_register", "status": "queued"}]


def test_certificates_and_figures_come_with_the_lot(
    orgs: dict[str, Organisation], graph: Graph
) -> None:
    query = """{ lot(id: 1) { certificates { certificateId certificateType revoked }
        figures { footprintGPerUnit } } }"""
    lot = ask(client_for(orgs["mine"]), query).json()["data"]["lot"]
    assert lot["certificates"] == [
        {"certificateId": "1", "certificateType": "CARBON_FOOTPRINT", "revoked": False}
    ]
    assert lot["figures"]["footprintGPerUnit"].startswith("3")


def test_an_unknown_lot_is_null_and_a_bad_id_says_why(
    orgs: dict[str, Organisation], graph: Graph
) -> None:
    client = client_for(orgs["mine"])
    assert ask(client, "{ lot(id: 777) { id } }").json() == {"data": {"lot": None}}
    bad = ask(client, '{ lot(id: "1e9") { id } }').json()
    assert bad["errors"][0]["message"] == "'1e9' is not a lot id (a decimal number)."


def test_nesting_and_cost_limits_refuse_before_anything_runs(
    orgs: dict[str, Organisation], graph: Graph
) -> None:
    client = client_for(orgs["mine"])
    nested = "{ lot(id: 1) { " + "downstream { nodes { lot { " * 4 + "id" + " } } }" * 4 + " } }"
    deep = ask(client, nested)
    assert deep.status_code in (200, 400)
    assert "exceeds maximum operation depth" in deep.json()["errors"][0]["message"]
    costly = """{ lot(id: 1) { upstream { nodes { lot { custody { handoffId } } } } } }"""
    with CaptureQueriesContext(connection) as queries:
        refused = ask(client, costly)
    assert refused.status_code in (200, 400)
    assert "estimated cost" in refused.json()["errors"][0]["message"]
    assert "data" not in refused.json() or refused.json()["data"] is None
    assert not [q for q in queries.captured_queries if "projections_" in q["sql"]]
    aliases = "{ " + " ".join(f"a{i}: lot(id: 1) {{ id }}" for i in range(25)) + " }"
    assert "aliases" in ask(client, aliases).json()["errors"][0]["message"]
    broken = ask(client, "{ lot(id: 1) { nope } }")
    assert broken.status_code in (200, 400)
    assert "Cannot query field 'nope'" in broken.json()["errors"][0]["message"]


def test_a_lineage_of_a_thousand_lots_takes_a_bounded_number_of_queries(
    orgs: dict[str, Organisation],
) -> None:
    g = Graph()
    sources = {i: 1 for i in range(1, 1001)}
    for lot_id in sources:
        g.lot(lot_id, 10, block=1)
    g.certify(1, block=2)
    g.transform(sources, {5000: 1000}, block=3)
    query = """{ lot(id: 5000) { upstream(depth: 2) { nodes { lot { id kind quantity
        quarantined certificates { certificateId } holders { scope holders { quantity } }
        figures { footprintComplete }
        } } } } }"""
    client = client_for(orgs["mine"])
    with CaptureQueriesContext(connection) as queries:
        response = ask(client, query)
    nodes = response.json()["data"]["lot"]["upstream"]["nodes"]
    assert len(nodes) == 1000
    assert nodes[0]["lot"]["certificates"] == [{"certificateId": "1"}]
    assert nodes[0]["lot"]["holders"]["scope"] == "all"
    assert len(queries.captured_queries) <= 25, [q["sql"][:80] for q in queries]


def test_introspection_works_and_the_committed_schema_is_current(
    orgs: dict[str, Organisation],
) -> None:
    response = ask(client_for(orgs["mine"]), "{ __schema { queryType { name } } }")
    assert response.json()["data"]["__schema"]["queryType"]["name"] == "Query"
    committed = Path(__file__).parents[2] / "webapp" / "graphql" / "schema.graphql"
    assert committed.read_text() == schema.as_str() + "\n", (
        "webapp/graphql/schema.graphql is stale: run"
        " `python manage.py export_graphql_schema` and commit it"
    )


def test_a_malformed_request_is_a_400_never_a_500(orgs: dict[str, Organisation]) -> None:
    client = client_for(orgs["mine"])
    assert client.post("/graphql", "{not json", content_type="application/json").status_code == 400
    assert client.post("/graphql", "{}", content_type="application/json").status_code == 400
    assert client.get("/graphql").status_code in (400, 404)  # no GraphiQL: it needs a CDN
    mutation = ask(client, "mutation { lot(id: 1) { id } }")
    assert mutation.status_code in (200, 400)
    assert mutation.json()["errors"]


def test_the_partner_api_rate_applies_and_a_person_outside_any_organisation_is_refused(
    orgs: dict[str, Organisation], settings: Any
) -> None:
    from django.contrib.auth import get_user_model
    from django.core.cache import cache

    cache.clear()
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "2/minute", "anon": "2/minute"},
    }
    client = client_for(orgs["mine"])
    assert [ask(client, "{ operations { id } }").status_code for _ in range(3)] == [200, 200, 429]
    cache.clear()
    get_user_model().objects.create_user(username="staff", password=PASSWORD)
    outsider = Client()
    assert outsider.login(username="staff", password=PASSWORD)
    refused = outsider.get("/graphql", {"query": "{ operations { id } }"})
    assert refused.status_code == 403
    assert "does not belong to an organisation" in refused.json()["errors"][0]["message"]


def test_pages_are_bounded_and_unexpected_failures_are_masked(
    orgs: dict[str, Organisation], graph: Graph, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_for(orgs["mine"])
    assert ask(client, "{ epcisEvents { eventId } }").json() == {"data": {"epcisEvents": []}}
    too_many = ask(client, "{ epcisEvents(first: 101) { eventId } }").json()
    assert too_many["errors"][0]["message"] == "first must be between 1 and 100."

    def broken(**_: Any) -> None:
        raise RuntimeError("connection string postgres://secret@db")

    monkeypatch.setattr("webapp.graphql.types.custody_timeline", broken)
    masked = ask(client, "{ lot(id: 1) { custody { handoffId } } }")
    assert masked.status_code == 200
    assert masked.json()["errors"][0]["message"] == "Unexpected error."
    assert "secret" not in masked.content.decode()


def test_graphiql_is_served_in_development_only_from_the_sites_own_files(
    orgs: dict[str, Organisation], settings: Any
) -> None:
    person = Client()
    assert person.login(username="mine-clerk", password=PASSWORD)
    settings.DEBUG = True
    page = person.get("/graphql", HTTP_ACCEPT="text/html")
    assert page.status_code == 200
    html = page.content.decode()
    assert "graphql/graphiql-init.js" in html
    assert "https://" not in html  # no CDN: the CSP allows the site's own scripts only
    for name, kind in (("react.js", "javascript"), ("graphiql.js", "javascript"),
                       ("graphiql.css", "css")):  # fmt: skip
        asset = person.get(f"/graphql/assets/{name}")
        assert asset.status_code == 200
        assert kind in asset["Content-Type"]
    assert person.get("/graphql/assets/package.json").status_code == 404
    anonymous = Client().get("/graphql", HTTP_ACCEPT="text/html")
    assert anonymous.status_code == 401  # signed-in developers only

    settings.DEBUG = False
    assert person.get("/graphql/assets/react.js").status_code == 404
    assert (
        "graphiql-init.js" not in person.get("/graphql", HTTP_ACCEPT="text/html").content.decode()
    )
