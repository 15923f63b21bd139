"""The EPCIS 2.0 query interface at /epcis/: every standard parameter filters (and a bad
value is refused naming it), keyset pages with a signed nextPageToken and a Link header,
the top-level resources, the binding's headers and OPTIONS discovery, the visibility tiers,
and every emitted document valid by GS1's JSON Schema."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.test import Client

from contracts.chain.domain import Role
from webapp.epcis.columns import event_columns
from webapp.epcis.hashing import event_hash
from webapp.epcis.models import EpcisEvent
from webapp.epcis.validation import problems
from webapp.organisations.models import ApiToken, Organisation
from webapp.organisations.services import api_token_create, member_invite, organisation_create
from webapp.projections.models import LotVersion

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

DOCUMENTS = Path(__file__).parent / "epcis_documents"
PROBLEM = "application/problem+json"
PASSWORD = "correct-horse-battery"
START = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def _documents() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(DOCUMENTS.glob("*.jsonld"))}


def store(
    event: dict[str, Any],
    context: Any,
    *,
    organisation: Organisation | None,
    record_time: datetime,
    **extra: Any,
) -> EpcisEvent:
    source = EpcisEvent.Source.CAPTURED if organisation else EpcisEvent.Source.CHAIN
    return EpcisEvent.objects.create(
        event_hash=event_hash(event, context),
        record_time=record_time,
        document=event,
        source=source,
        organisation=organisation,
        **{**event_columns(event), **extra},
    )


@pytest.fixture
def orgs() -> dict[str, Organisation]:
    out = {
        "mine": organisation_create(name="Mine", roles=Role.MINER, slug="mine"),
        "refinery": organisation_create(name="Refinery", roles=Role.MANUFACTURER, slug="refinery"),
        "auditor": organisation_create(name="Auditor", roles=Role.AUDITOR, slug="auditor"),
    }
    for number, org in enumerate(out.values(), start=1):
        org.address = "0x" + f"{number:02d}" * 20
        org.save(update_fields=["address"])
    return out


@pytest.fixture
def events(orgs: dict[str, Organisation]) -> dict[str, list[EpcisEvent]]:
    """Every example event, captured by the mine one second apart (record times)."""
    out: dict[str, list[EpcisEvent]] = {}
    moment = START
    for name, document in _documents().items():
        out[name] = []
        for event in document["epcisBody"]["eventList"]:
            moment += timedelta(seconds=1)
            out[name].append(
                store(event, document["@context"], organisation=orgs["mine"], record_time=moment)
            )
    return out


def client_of(organisation: Organisation) -> Client:
    token, _ = api_token_create(organisation=organisation, name="erp", scope=ApiToken.Scope.READ)
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.fixture
def mine(orgs: dict[str, Organisation]) -> Client:
    return client_of(orgs["mine"])


def event_list(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["type"] == "EPCISQueryDocument"
    assert problems(body) == []
    return list(body["epcisBody"]["queryResults"]["resultsBody"]["eventList"])


def ids(client: Client, query: str) -> set[int]:
    """Which stored events (by primary key) a query answers."""
    found = event_list(client.get(f"/epcis/events?{query}&perPage=1000"))
    by_id = {e.event_id or e.event_hash: e.pk for e in EpcisEvent.objects.all()}
    return {by_id[e["eventID"]] for e in found}


def pks(*rows: EpcisEvent) -> set[int]:
    return {r.pk for r in rows}


def test_without_parameters_every_visible_event_comes_back_newest_first_and_valid(
    mine: Client, events: dict[str, list[EpcisEvent]]
) -> None:
    found = event_list(mine.get("/epcis/events?perPage=100"))
    assert len(found) == EpcisEvent.objects.count() == 15
    times = [datetime.fromisoformat(e["eventTime"]) for e in found]
    assert times == sorted(times, reverse=True)
    # Every event carries the eventID and the recordTime the repository gave it.
    assert all(e["eventID"] and e["recordTime"] for e in found)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("eventType=AssociationEvent", [("association_events", 0), ("association_events", 1)]),
        (
            "eventType=TransactionEvent|AssociationEvent",
            [
                ("association_events", 0),
                ("association_events", 1),
                ("transaction_events", 0),
                ("transaction_events", 1),
            ],
        ),
        ("EQ_action=DELETE&eventType=AggregationEvent", [("aggregation_events", 1)]),
        ("EQ_bizStep=shipping", [("object_events", 2), ("object_events", 5)]),
        (
            "EQ_bizStep=https://ref.gs1.org/cbv/BizStep-receiving",
            [("object_events", 3)],
        ),
        ("EQ_disposition=urn:epcglobal:cbv:disp:retail_sold", [("transaction_events", 0)]),
        (
            "EQ_readPoint=urn:epc:id:sgln:0614141.00777.0",
            [("object_events", 3)],
        ),
        ("WD_readPoint=https://id.gs1.org/414/4012345000016", [("object_events", 1)]),
        (
            "EQ_bizLocation=urn:epc:id:sgln:0614141.00777.0",
            [("aggregation_events", 1), ("object_events", 3)],
        ),
        ("EQ_eventID=ni:///sha-256;0000000000000000", []),
        ("EXISTS_errorDeclaration", [("object_events", 5)]),
        (
            "GE_eventTime=2026-12-01T00:00:00Z",
            [("object_events", 5), ("aggregation_events", 1), ("aggregation_events", 2)],
        ),
        (
            "LT_eventTime=2026-11-30T08:00:00%2B00:00",
            [("object_events", 0)],
        ),
        (
            "MATCH_epc=urn:epc:id:sgtin:4012345.011111.9876",
            [("object_events", 2), ("object_events", 3)],
        ),
        (
            # The Digital Link of an EPC finds the events that name its URN and back.
            "MATCH_epc=https://id.gs1.org/01/04012345111118/21/1000",
            [("aggregation_events", 0), ("object_events", 0), ("object_events", 5)],
        ),
        (
            "MATCH_parentID=urn:epc:id:sscc:4012345.0000000011",
            [("aggregation_events", 0), ("transaction_events", 0)],
        ),
        ("MATCH_inputEPC=urn:epc:id:sgtin:4012345.011122.25", [("transformation_events", 0)]),
        ("MATCH_outputEPC=urn:epc:id:sgtin:4012345.077889.25", [("transformation_events", 0)]),
        ("MATCH_outputEPC=urn:epc:id:sgtin:4012345.011122.25", []),
        (
            "MATCH_anyEPC=urn:epc:id:sscc:4012345.0000000011",
            # Not aggregation 1: its parent is another SSCC (extension digit 1).
            [
                ("aggregation_events", 0),
                ("aggregation_events", 2),
                ("object_events", 4),
                ("transaction_events", 0),
            ],
        ),
        (
            "MATCH_epcClass=urn:epc:class:lgtin:4012345.011111.LOT-7",
            [
                ("aggregation_events", 0),
                ("object_events", 1),
                ("transaction_events", 0),
                ("association_events", 0),
            ],
        ),
        (
            "MATCH_anyEPCClass=urn:epc:class:lgtin:4012345.022222.CELL-1",
            [("transformation_events", 0), ("transformation_events", 1)],
        ),
        (
            # A pattern: every serial of one GTIN, in either spelling.
            "MATCH_epc=urn:epc:idpat:sgtin:4012345.011111.*&eventType=ObjectEvent",
            [
                ("object_events", 0),
                ("object_events", 2),
                ("object_events", 3),
                ("object_events", 5),
            ],
        ),
        (
            # A class-level pattern also matches the GTIN's lots.
            "MATCH_epcClass=urn:epc:idpat:sgtin:4012345.011111.*&eventType=ObjectEvent",
            [
                ("object_events", 0),
                ("object_events", 1),
                ("object_events", 2),
                ("object_events", 3),
                ("object_events", 5),
            ],
        ),
    ],
)
def test_each_parameter_selects_the_events_it_names(
    mine: Client, events: dict[str, list[EpcisEvent]], query: str, expected: list[tuple[str, int]]
) -> None:
    assert ids(mine, query) == {events[name][index].pk for name, index in expected}


def test_event_id_and_record_time_and_order(
    mine: Client, events: dict[str, list[EpcisEvent]]
) -> None:
    inspecting = events["object_events"][4]
    assert ids(mine, f"EQ_eventID={quote(inspecting.event_id)}") == {inspecting.pk}
    hashed = events["object_events"][0]
    assert ids(mine, f"EQ_eventID={quote(hashed.event_hash)}") == {hashed.pk}
    later = START + timedelta(seconds=14)
    assert ids(mine, f"GE_recordTime={quote(later.isoformat())}") == pks(
        events["transformation_events"][0], events["transformation_events"][1]
    )
    assert len(ids(mine, f"LT_recordTime={quote(later.isoformat())}")) == 13
    found = event_list(mine.get("/epcis/events?orderBy=recordTime&orderDirection=ASC"))
    recorded = [e["recordTime"] for e in found]
    assert recorded == sorted(recorded)
    assert len(found) == 15


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("eventType=Parcel", "eventType"),
        ("GE_eventTime=yesterday", "GE_eventTime"),
        ("LT_recordTime=2026-12-01T10:00:00", "LT_recordTime"),
        ("EQ_action=MOVE", "EQ_action"),
        ("EQ_bizStep=", "EQ_bizStep"),
        ("orderBy=bizStep", "orderBy"),
        ("orderDirection=UP", "orderDirection"),
        ("perPage=0", "perPage"),
        ("perPage=many", "perPage"),
        ("EXISTS_errorDeclaration=maybe", "EXISTS_errorDeclaration"),
        ("MATCH_epc=urn:epc:idpat:sgtin:4012345.*.1000", "MATCH_epc"),
        ("HASATTR_example:grade=x", "HASATTR_example:grade"),
        ("EQ_colour=red", "EQ_colour"),
        ("nextPageToken=forged", "nextPageToken"),
    ],
)
def test_a_bad_parameter_is_a_query_parameter_exception_naming_it(
    mine: Client, events: dict[str, list[EpcisEvent]], query: str, parameter: str
) -> None:
    response = mine.get(f"/epcis/events?{query}")
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"] == "epcisException:QueryParameterException"
    assert body["parameter"] == parameter
    assert parameter in body["detail"]


def test_pages_follow_the_link_header_without_repeats_and_refuse_a_tampered_token(
    mine: Client, events: dict[str, list[EpcisEvent]]
) -> None:
    seen: list[str] = []
    url: str | None = "/epcis/events?perPage=5&EQ_action=ADD|OBSERVE|DELETE"
    pages = 0
    while url:
        response = mine.get(url)
        seen += [e["eventID"] for e in event_list(response)]
        pages += 1
        link = response.get("Link")
        if link is None:
            url = None
            continue
        matched = re.fullmatch(r'<http://testserver(/epcis/events\?[^>]+)>; rel="next"', link)
        assert matched, link
        url = matched.group(1)
        assert "nextPageToken=" in url
        assert response["GS1-Next-Page-Token-Expires"]
    # Transformation events have no action: the 13 others, 5 a page.
    assert pages == 3
    assert len(seen) == len(set(seen)) == 13
    first = mine.get("/epcis/events?perPage=5")
    token = re.search(r"nextPageToken=([^&>]+)", first["Link"])
    assert token
    tampered = token.group(1)[:-2] + ("AA" if not token.group(1).endswith("AA") else "BB")
    refused = mine.get(f"/epcis/events?perPage=5&nextPageToken={tampered}")
    assert refused.status_code == 400
    assert refused.json()["parameter"] == "nextPageToken"
    # A token belongs to its query: another filter with it is refused.
    other = mine.get(f"/epcis/events?perPage=5&EQ_bizStep=shipping&nextPageToken={token.group(1)}")
    assert other.status_code == 400
    assert other.json()["parameter"] == "nextPageToken"


def test_one_event_by_id_and_an_unknown_one_is_no_such_resource(
    mine: Client, events: dict[str, list[EpcisEvent]]
) -> None:
    event = events["transformation_events"][0]
    response = mine.get(f"/epcis/events/{quote(event.event_hash, safe='')}")
    assert [e["eventID"] for e in event_list(response)] == [event.event_hash]
    missing = mine.get("/epcis/events/urn:uuid:00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert missing["Content-Type"] == PROBLEM
    assert missing.json()["type"] == "epcisException:NoSuchResourceException"


def test_the_version_headers_and_options_discovery(
    mine: Client, events: dict[str, list[EpcisEvent]]
) -> None:
    response = mine.get("/epcis/events")
    assert response["GS1-EPCIS-Version"] == "2.0.0"
    assert response["GS1-CBV-Version"] == "2.0.0"
    # (/epcis/events also captures: test_epcis_discovery)
    for path in ["/epcis/", "/epcis/bizSteps", "/epcis/epcs/x/events"]:
        options = mine.options(path)
        assert options.status_code == 204, path
        assert options["Allow"] == "OPTIONS, GET"
        assert options["GS1-EPCIS-Min"] == options["GS1-EPCIS-Max"] == "2.0.0"
        assert options["GS1-CBV-Version"] == "2.0.0"


def test_the_top_level_resources_list_what_the_events_name(
    mine: Client, events: dict[str, list[EpcisEvent]]
) -> None:
    top = mine.get("/epcis/").json()
    assert top["type"] == "Collection"
    assert "events" in top["member"]
    assert "bizSteps" in top["member"]
    assert mine.get("/epcis/eventTypes").json()["member"] == [
        "ObjectEvent",
        "AggregationEvent",
        "TransformationEvent",
        "AssociationEvent",
        "TransactionEvent",
    ]
    steps = mine.get("/epcis/bizSteps").json()["member"]
    assert "shipping" in steps
    assert steps == sorted(steps)
    assert "urn:epc:id:sgln:0614141.00777.0" in mine.get("/epcis/bizLocations").json()["member"]
    assert "https://id.gs1.org/414/4012345000016" in mine.get("/epcis/readPoints").json()["member"]
    assert "retail_sold" in mine.get("/epcis/dispositions").json()["member"]
    assert mine.get("/epcis/bizSteps/shipping").json()["member"] == ["events"]
    assert mine.get("/epcis/bizSteps/flying").status_code == 404
    assert mine.get("/epcis/eventTypes/Parcel").status_code == 404
    shipped = event_list(mine.get("/epcis/bizSteps/shipping/events"))
    assert {e["bizStep"] for e in shipped} == {"shipping"}
    assert len(shipped) == 2
    objects = event_list(mine.get("/epcis/eventTypes/ObjectEvent/events?EQ_bizStep=receiving"))
    assert [e["type"] for e in objects] == ["ObjectEvent"]
    urn = "urn:epc:id:sgtin:4012345.011111.9876"
    assert len(event_list(mine.get(f"/epcis/epcs/{urn}/events"))) == 2
    digital_link = quote("https://id.gs1.org/01/04012345111118/21/9876", safe="")
    assert len(event_list(mine.get(f"/epcis/epcs/{digital_link}/events"))) == 2
    assert mine.get(f"/epcis/epcs/{urn}").json()["member"] == ["events"]
    assert mine.get("/epcis/epcs/urn:epc:id:sgtin:1.2.3/events").status_code == 404


def test_the_epc_list_pages_too(mine: Client, events: dict[str, list[EpcisEvent]]) -> None:
    collected: list[str] = []
    url: str | None = "/epcis/epcs?perPage=7"
    while url:
        response = mine.get(url)
        assert response.status_code == 200
        collected += response.json()["member"]
        link = response.get("Link")
        url = re.search(r"<http://testserver([^>]+)>", link).group(1) if link else None  # type: ignore[union-attr]
    assert len(collected) == len(set(collected)) > 14
    assert collected == sorted(collected)
    assert "urn:epc:id:sgtin:4012345.011111.9876" in collected
    assert "https://id.gs1.org/01/04012345111118/21/9876" in collected


def test_anonymous_is_refused(events: dict[str, list[EpcisEvent]]) -> None:
    response = Client().get("/epcis/events")
    assert response.status_code == 401
    assert response.json()["type"] == "epcisException:SecurityException"
    assert Client(HTTP_AUTHORIZATION="Bearer pvn_nothing").get("/epcis/").status_code == 401


def test_a_member_sees_its_own_the_lots_it_touched_and_public_facts_an_auditor_all(
    orgs: dict[str, Organisation], events: dict[str, list[EpcisEvent]]
) -> None:
    context = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]
    template = _documents()["object_events"]["epcisBody"]["eventList"][3]
    moment = START + timedelta(hours=1)

    def chain_event(step: str, **extra: Any) -> EpcisEvent:
        event = {**template, "bizStep": step}
        return store(event, context, organisation=None, record_time=moment, **extra)

    about_lot_7 = chain_event("storing", lot_ids=["7"])
    about_lot_8 = chain_event("departing", lot_ids=["8"])
    registration = chain_event("commissioning", lot_ids=["9"], public=True)
    # Lot 7 was created by the refinery: it is in the refinery's stock scope only.
    LotVersion.objects.create(
        chain_id=settings.CHAIN_ID,
        block_from=1,
        log_from=0,
        lot_id=7,
        kind=1,
        creator=orgs["refinery"].address,
        quantity=100,
        metadata_hash="0x" + "00" * 32,
        gs1_key_hash="0x" + "00" * 32,
    )
    # A member of the refinery uses the API from the portal session.
    member_invite(organisation=orgs["refinery"], username="clerk", password=PASSWORD)
    refinery = Client()
    assert refinery.login(username="clerk", password=PASSWORD)
    seen = ids(refinery, "")
    assert seen == pks(about_lot_7, registration)
    # The mine's captured events are not the refinery's to see, one by one neither.
    captured = events["object_events"][0]
    assert refinery.get(f"/epcis/events/{quote(captured.event_hash, safe='')}").status_code == 404
    assert refinery.get("/epcis/bizSteps/shipping").status_code == 404
    mine_sees = ids(client_of(orgs["mine"]), "")
    assert registration.pk in mine_sees
    assert about_lot_7.pk not in mine_sees
    assert captured.pk in mine_sees
    assert about_lot_8.pk not in mine_sees
    auditor_sees = ids(client_of(orgs["auditor"]), "")
    assert auditor_sees == set(EpcisEvent.objects.values_list("pk", flat=True))


def writer_of(organisation: Organisation) -> Client:
    token, _ = api_token_create(organisation=organisation, name="erp-write")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def test_a_named_query_is_kept_run_and_removed_and_only_its_owner_has_it(
    orgs: dict[str, Organisation], events: dict[str, list[EpcisEvent]]
) -> None:
    mine = writer_of(orgs["mine"])
    definition = {"name": "shipped", "query": {"EQ_bizStep": ["shipping", "receiving"]}}
    created = mine.post("/epcis/queries", definition, content_type="application/json")
    assert created.status_code == 201, created.content
    assert created["Location"] == "http://testserver/epcis/queries/shipped"
    assert mine.get("/epcis/queries").json() == [definition]
    assert mine.get("/epcis/queries/shipped").json() == definition
    body = mine.get("/epcis/queries/shipped/events?eventType=ObjectEvent").json()
    assert problems(body) == []
    assert body["epcisBody"]["queryResults"]["queryName"] == "shipped"
    found = body["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert sorted(e["bizStep"] for e in found) == ["receiving", "shipping", "shipping"]
    again = mine.post("/epcis/queries", definition, content_type="application/json")
    assert again.status_code == 409
    assert again.json()["type"] == "epcisException:ResourceAlreadyExistsException"
    # Another organisation has no such query.
    refinery = writer_of(orgs["refinery"])
    assert refinery.get("/epcis/queries").json() == []
    assert refinery.get("/epcis/queries/shipped/events").status_code == 404
    assert refinery.delete("/epcis/queries/shipped").status_code == 404
    assert mine.options("/epcis/queries")["Allow"] == "OPTIONS, GET, POST"
    assert mine.delete("/epcis/queries/shipped").status_code == 204
    assert mine.get("/epcis/queries/shipped").status_code == 404
    assert mine.get("/epcis/queries/shipped/events").status_code == 404


@pytest.mark.parametrize(
    ("definition", "parameter"),
    [
        ({"name": "bad name/", "query": {"eventType": ["ObjectEvent"]}}, "name"),
        ({"name": "q", "query": {"eventType": ["Parcel"]}}, "eventType"),
        ({"name": "q", "query": {"GE_eventTime": 5}}, "GE_eventTime"),
        ({"name": "q", "query": {"perPage": "5"}}, "perPage"),
        ({"name": "q", "query": {}}, "query"),
        ({"name": "q"}, "query"),
    ],
)
def test_a_bad_named_query_is_refused_and_nothing_kept(
    orgs: dict[str, Organisation], definition: dict[str, Any], parameter: str
) -> None:
    mine = writer_of(orgs["mine"])
    response = mine.post("/epcis/queries", definition, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["type"] == "epcisException:QueryParameterException"
    assert response.json()["parameter"] == parameter
    assert mine.get("/epcis/queries").json() == []


def test_a_read_only_token_cannot_keep_a_query(orgs: dict[str, Organisation]) -> None:
    response = client_of(orgs["mine"]).post(
        "/epcis/queries",
        {"name": "q", "query": {"eventType": ["ObjectEvent"]}},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert response.json()["type"] == "epcisException:SecurityException"


def test_an_events_own_namespace_prefixes_are_declared_on_the_query_document(
    orgs: dict[str, Organisation], mine: Client
) -> None:
    context = [
        "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
        {"acme": "https://acme.example/epcis/"},
    ]
    event = {
        **_documents()["object_events"]["epcisBody"]["eventList"][0],
        "@context": context,
        "acme:batchNote": "night shift",
    }
    store(event, context, organisation=orgs["mine"], record_time=START)
    body = mine.get("/epcis/events").json()
    assert body["@context"][1] == {"acme": "https://acme.example/epcis/"}
    assert problems(body) == []
    assert body["epcisBody"]["queryResults"]["resultsBody"]["eventList"][0]["acme:batchNote"]


@pytest.mark.parametrize(
    "query",
    [
        "GE_eventTime=9999-12-31T23:59:59-23:59",
        "LT_eventTime=0001-01-01T00:00:00%2B14:00",
        "GE_eventTime=2026-12-01T00:00:00%2B25:00",
        "perPage=%EF%BC%91%EF%BC%90",
        "EQ_eventID=" + "x" * 5000,
        "MATCH_epc=urn:epc:idpat:sgtin:abc.def.*",
        "MATCH_epc=urn:epc:idpat:sgtin:*.*.*",
        "MATCH_anyEPC=urn:epc:idpat:sscc:4012345.*",
        "MATCH_anyEPCClass=%25_%5C",
        "MATCH_anyEPC=" + "|".join(f"urn:epc:id:sgtin:4012345.011111.{i}" for i in range(101)),
        "eventType=",
        "orderBy=eventTime&orderBy=recordTime",
    ],
)
def test_odd_values_get_an_answer_or_a_named_refusal_never_a_server_error(
    mine: Client, events: dict[str, list[EpcisEvent]], query: str
) -> None:
    response = mine.get(f"/epcis/events?{query}")
    assert response.status_code in {200, 400}, response.content
    if response.status_code == 400:
        assert response.json()["type"] == "epcisException:QueryParameterException"
        assert response.json()["parameter"] == query.split("=")[0]


def test_a_version_range_the_repository_does_not_serve_is_not_acceptable(mine: Client) -> None:
    assert mine.get("/epcis/events", HTTP_GS1_EPCIS_MIN="1.2.0").status_code == 200
    assert mine.get("/epcis/events", HTTP_GS1_EPCIS_MAX="2.0.0").status_code == 200
    for header, value in [("HTTP_GS1_EPCIS_MAX", "1.2"), ("HTTP_GS1_CBV_MIN", "2.1.0")]:
        response = mine.get("/epcis/events", **{header: value})
        assert response.status_code == 406
        assert response.json()["type"] == "epcisException:NotAcceptableException"


def test_an_unknown_epcis_path_is_a_problem_document_not_a_page(client: Any, settings: Any) -> None:
    settings.DEBUG = False
    response = client.get("/epcis/no-such-resource")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/problem+json")
