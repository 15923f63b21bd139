"""EPCIS capture (REST binding): documents and single events in, capture jobs out, and the
events that describe chain actions carried out through the same services as the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from contracts.chain.domain import Role
from tests.webapp.network import Network
from webapp.epcis import capture
from webapp.epcis.capture import parse_body
from webapp.epcis.hashing import event_hash
from webapp.epcis.models import CaptureJob, EpcisEvent
from webapp.gs1 import with_check_digit
from webapp.lots.models import LotMetadata
from webapp.operations.models import Operation
from webapp.organisations.models import ApiToken, Organisation
from webapp.organisations.services import api_token_create, organisation_create
from webapp.projections.models import HandoffVersion

XML = Path(__file__).resolve().parent / "epcis_xml"
PROBLEM = "application/problem+json"
CONTEXT = ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"]
LOT_CLASS = "urn:epc:class:lgtin:4012345.011111.LOT42"
MINE_PGLN = "urn:epc:id:pgln:4012345.00000"
REFINERY_PGLN = "urn:epc:id:pgln:4023333.00000"

db = pytest.mark.django_db(transaction=True)


def document(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "@context": CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": "2026-12-01T08:00:00Z",
        "epcisBody": {"eventList": list(events)},
    }


def object_event(step: str, action: str, minute: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "type": "ObjectEvent",
        "eventTime": f"2026-12-01T08:{minute:02d}:00.000+01:00",
        "eventTimeZoneOffset": "+01:00",
        "action": action,
        "bizStep": step,
        **extra,
    }


def commissioning(quantity: int = 700, epc_class: str = LOT_CLASS) -> dict[str, Any]:
    return object_event(
        "commissioning",
        "ADD",
        quantityList=[{"epcClass": epc_class, "quantity": quantity, "uom": "KGM"}],
    )


def shipping(quantity: int = 700, epc_class: str = LOT_CLASS) -> dict[str, Any]:
    return object_event(
        "shipping",
        "OBSERVE",
        minute=5,
        quantityList=[{"epcClass": epc_class, "quantity": quantity, "uom": "KGM"}],
        sourceList=[{"type": "owning_party", "source": MINE_PGLN}],
        destinationList=[{"type": "owning_party", "destination": REFINERY_PGLN}],
    )


def receiving(quantity: int = 700) -> dict[str, Any]:
    return object_event(
        "receiving",
        "OBSERVE",
        minute=30,
        quantityList=[{"epcClass": LOT_CLASS, "quantity": quantity, "uom": "KGM"}],
    )


def observation(minute: int = 0, epc: str = "urn:epc:id:sgtin:4012345.011111.1001") -> Any:
    return object_event(
        "inspecting",
        "OBSERVE",
        minute=minute,
        epcList=[epc],
        readPoint={"id": "urn:epc:id:sgln:4012345.00001.0"},
    )


def token_client(organisation: Organisation, scope: str = ApiToken.Scope.WRITE) -> Client:
    token, _ = api_token_create(organisation=organisation, name="wms", scope=scope)
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def post_capture(
    client: Client, body: Any, behaviour: str = "", content_type: str = "application/json"
) -> Any:
    headers = {"HTTP_GS1_CAPTURE_ERROR_BEHAVIOUR": behaviour} if behaviour else {}
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post("/epcis/capture", data, content_type=content_type, **headers)


def job_of(client: Client, response: Any) -> dict[str, Any]:
    assert response.status_code == 202, response.content
    location = response["Location"]
    assert "/epcis/capture/" in location
    job = client.get(location.split("testserver", 1)[-1])
    assert job.status_code == 200
    body: dict[str, Any] = job.json()
    return body


def _gs1_identities(net: Network) -> None:
    for slug, prefix in (("mine", "4012345"), ("refinery", "4023333")):
        org = net.orgs[slug]
        org.gs1_company_prefix = prefix
        org.gln = with_check_digit(prefix + "00000")
        org.save()


# ----------------------------------------------------------------- on the chain


@pytest.mark.integration
@pytest.mark.node
@db
def test_commissioning_shipping_and_receiving_become_a_lot_handed_over(network: Network) -> None:
    _gs1_identities(network)
    mine, refinery = token_client(network.orgs["mine"]), token_client(network.orgs["refinery"])
    job = job_of(mine, post_capture(mine, document(commissioning(), shipping())))
    assert job["running"] is False
    assert job["success"] is True, job["errors"]
    assert job["captureErrorBehaviour"] == "rollback"
    rows = list(EpcisEvent.objects.filter(organisation=network.orgs["mine"]).order_by("id"))
    assert [r.biz_step for r in rows] == ["commissioning", "shipping"]
    assert [r.operation.action for r in rows if r.operation] == [
        "lot.register",
        "handoff.initiate",
    ]
    for operation in network.settle():
        assert operation.status == Operation.Status.CONFIRMED, operation.error
    registered = rows[0].operation
    assert registered is not None
    assert registered.lot_id is not None
    lot_id = int(registered.lot_id)
    metadata = LotMetadata.objects.get(chain_id=settings.CHAIN_ID, lot_id=lot_id)
    assert metadata.document["gtin"] == "04012345111118"
    assert metadata.document["batch"] == "LOT42"
    assert (metadata.document["quantity"], metadata.document["unit"]) == (700_000, "g")

    job = job_of(refinery, post_capture(refinery, document(receiving())))
    assert job["success"] is True, job["errors"]
    for operation in network.settle():
        assert operation.status == Operation.Status.CONFIRMED, operation.error
    handoff = HandoffVersion.objects.get(
        chain_id=settings.CHAIN_ID, lot_id=lot_id, block_to__isnull=True
    )
    assert handoff.status == "accepted"
    assert handoff.receiver == network.orgs["refinery"].address
    # The refinery, a party to the lot now, reads the mine's captured shipping event; the
    # distributor, no party to it, does not.
    assert [r.lot_ids for r in rows] == [[str(lot_id)], [str(lot_id)]]
    shipping_id = rows[1].event_id or rows[1].event_hash

    def sees_shipping(client: Any) -> bool:
        found = client.get("/epcis/events", {"EQ_bizStep": "shipping"})
        assert found.status_code == 200, found.content
        events = found.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        return any(e.get("eventID") in (shipping_id, rows[1].event_hash) for e in events)

    assert sees_shipping(refinery)
    assert not sees_shipping(token_client(network.orgs["distributor"]))
    # Round trip: what the captured events put on the chain comes back from the mirror as
    # those same events (their eventIDs, now with chain pointers), not as derived twins.
    for row in rows:
        row.refresh_from_db()
        assert row.operation is not None
        assert (row.transaction_hash, row.chain_id) == (
            row.operation.transaction_hash,
            settings.CHAIN_ID,
        )
    for step in ("commissioning", "shipping"):
        found = mine.get("/epcis/events", {"EQ_bizStep": step})
        events = found.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        assert [e["eventID"] for e in events] == [
            r.event_id or r.event_hash for r in rows if r.biz_step == step
        ]
    # The refinery's acceptance was captured too: one receiving event, the captured one.
    received = refinery.get("/epcis/events", {"EQ_bizStep": "receiving"}).json()
    (accepted,) = received["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert EpcisEvent.objects.get(event_hash=accepted["eventID"]).source == "captured"
    # The other organisation cannot read the mine's capture jobs.
    mine_jobs = mine.get("/epcis/capture").json()
    assert len(mine_jobs) == 1
    assert refinery.get(f"/epcis/capture/{mine_jobs[0]['captureID']}").status_code == 404


@pytest.mark.integration
@pytest.mark.node
@db
def test_rollback_leaves_nothing_and_proceed_captures_exactly_the_valid_events(
    network: Network,
) -> None:
    _gs1_identities(network)
    mine = token_client(network.orgs["mine"])
    unknown = "urn:epc:class:lgtin:4012345.011111.NOPE"
    operations_before = Operation.objects.count()
    lots_before = LotMetadata.objects.count()
    bad = document(commissioning(), shipping(epc_class=unknown), observation())

    job = job_of(mine, post_capture(mine, bad))
    assert (job["running"], job["success"]) == (False, False)
    assert [e["index"] for e in job["errors"]] == [1]
    assert "No lot on the chain is registered as" in " ".join(job["errors"][0]["problems"])
    assert EpcisEvent.objects.count() == 0
    assert Operation.objects.count() == operations_before
    assert LotMetadata.objects.count() == lots_before

    job = job_of(mine, post_capture(mine, bad, behaviour="proceed"))
    assert (job["success"], job["captureErrorBehaviour"]) == (False, "proceed")
    assert [e["index"] for e in job["errors"]] == [1]
    stored = sorted(EpcisEvent.objects.values_list("biz_step", flat=True))
    assert stored == ["commissioning", "inspecting"]
    assert Operation.objects.count() == operations_before + 1

    # A shipment whose receiver is named only by the purchase order it issued.
    for operation in network.settle():
        assert operation.status == Operation.Status.CONFIRMED, operation.error
    refinery = network.orgs["refinery"]
    order = object_event(
        "shipping",
        "OBSERVE",
        minute=9,
        quantityList=[{"epcClass": LOT_CLASS, "quantity": 200, "uom": "KGM"}],
        bizTransactionList=[
            {"type": "po", "bizTransaction": f"urn:epcglobal:cbv:bt:{refinery.gln}:PO-1042"}
        ],
    )
    job = job_of(mine, post_capture(mine, document(order)))
    assert job["success"] is True, job["errors"]
    for operation in network.settle():
        assert operation.status == Operation.Status.CONFIRMED, operation.error
    offered = HandoffVersion.objects.get(chain_id=settings.CHAIN_ID, block_to__isnull=True)
    assert (offered.receiver, int(offered.quantity), offered.status) == (
        refinery.address,
        200_000,
        "open",
    )


@pytest.mark.integration
@pytest.mark.node
@db
def test_packing_unpacking_and_transformation_become_bundles_and_a_transformation(
    network: Network,
) -> None:
    _gs1_identities(network)
    refinery = token_client(network.orgs["refinery"])
    ore = "urn:epc:class:lgtin:4023333.011111.ORE1"
    metal = "urn:epc:class:lgtin:4023333.022222.MET1"
    pallet = "urn:epc:id:sscc:4023333.0000000017"
    job = job_of(refinery, post_capture(refinery, document(commissioning(10, ore))))
    assert job["success"] is True, job["errors"]
    network.settle()
    packing = {
        "type": "AggregationEvent",
        "eventTime": "2026-12-01T09:00:00.000+01:00",
        "eventTimeZoneOffset": "+01:00",
        "parentID": pallet,
        "action": "ADD",
        "bizStep": "packing",
        "childQuantityList": [{"epcClass": ore, "quantity": 4, "uom": "KGM"}],
    }
    unpacking = {
        **packing,
        "eventTime": "2026-12-01T10:00:00.000+01:00",
        "action": "DELETE",
        "bizStep": "unpacking",
    }
    transformation = {
        "type": "TransformationEvent",
        "eventTime": "2026-12-01T11:00:00.000+01:00",
        "eventTimeZoneOffset": "+01:00",
        "inputQuantityList": [{"epcClass": ore, "quantity": 6, "uom": "KGM"}],
        "outputQuantityList": [{"epcClass": metal, "quantity": 2, "uom": "KGM"}],
    }
    for event in (packing, unpacking, transformation):
        job = job_of(refinery, post_capture(refinery, document(event)))
        assert job["success"] is True, job["errors"]
        for operation in network.settle():
            assert operation.status == Operation.Status.CONFIRMED, operation.error
    actions = [
        row.operation.action
        for row in EpcisEvent.objects.filter(operation__isnull=False).order_by("id")
    ]
    assert actions == ["lot.register", "bundle.create", "bundle.unpack", "transformation.record"]
    bundle = EpcisEvent.objects.get(biz_step="packing", source=EpcisEvent.Source.CAPTURED).operation
    assert bundle is not None
    assert LotMetadata.objects.get(lot_id=bundle.lot_id).document["sscc"] == with_check_digit(
        "04023333000000017"
    )


@pytest.mark.integration
@pytest.mark.node
@db
def test_consecutive_commissionings_register_together_and_a_refused_one_is_named(
    network: Network,
) -> None:
    _gs1_identities(network)
    mine = token_client(network.orgs["mine"])
    other = "urn:epc:class:lgtin:4012345.011111.LOT43"
    operations_before = Operation.objects.count()
    half = object_event(
        "commissioning",
        "ADD",
        quantityList=[{"epcClass": other, "quantity": 1.5, "uom": "GRM"}],
    )
    job = job_of(mine, post_capture(mine, document(commissioning(5, other), half, commissioning())))
    assert [e["index"] for e in job["errors"]] == [1]
    assert "1.5 GRM is not a whole number of g" in " ".join(job["errors"][0]["problems"])
    assert Operation.objects.count() == operations_before
    assert not LotMetadata.objects.exists()

    job = job_of(
        mine, post_capture(mine, document(commissioning(5, other), commissioning(), shipping()))
    )
    assert job["success"] is True, job["errors"]
    rows = list(EpcisEvent.objects.order_by("id"))
    operations = [r.operation for r in rows]
    assert [o.action for o in operations if o] == [
        "lot.register",
        "lot.register",
        "handoff.initiate",
    ]
    for operation in network.settle():
        assert operation.status == Operation.Status.CONFIRMED, operation.error
    shipped = HandoffVersion.objects.get(chain_id=settings.CHAIN_ID, block_to__isnull=True)
    assert operations[1] is not None
    assert shipped.lot_id == operations[1].lot_id  # the shipping found the lot registered with it
    assert operations[0] is not None
    metadata = LotMetadata.objects.get(lot_id=operations[0].lot_id)
    assert (metadata.document["batch"], metadata.document["quantity"]) == ("LOT43", 5000)


# ----------------------------------------------------------------- the database only


@pytest.fixture
def capturer() -> Organisation:
    return organisation_create(name="Capturer", roles=Role.DISTRIBUTOR, slug="capturer")


@pytest.mark.integration
@db
def test_a_single_event_is_created_once_then_a_conflict(capturer: Organisation) -> None:
    client = token_client(capturer)
    event = {"@context": CONTEXT, **observation(), "eventID": "urn:uuid:not-the-hash"}
    first = client.post("/epcis/events", json.dumps(event), content_type="application/json")
    assert first.status_code == 201, first.content
    assert first["Location"].endswith("/epcis/events/urn%3Auuid%3Anot-the-hash")
    assert first["GS1-EPCIS-Version"]
    row = EpcisEvent.objects.get()
    assert row.event_id == "urn:uuid:not-the-hash"  # kept as given, the hash beside it
    assert row.event_hash == event_hash(observation(), CONTEXT)  # its @context is not hashed
    in_a_document = post_capture(client, document(observation()))
    assert job_of(client, in_a_document)["duplicateCount"] == 1
    assert (row.source, row.organisation_id) == ("captured", capturer.pk)
    again = client.post("/epcis/events", json.dumps(event), content_type="application/json")
    assert again.status_code == 409
    assert again["Content-Type"] == PROBLEM
    assert again.json()["type"] == "epcisException:ResourceAlreadyExistsException"
    assert EpcisEvent.objects.count() == 1


@pytest.mark.integration
@db
def test_an_error_declaration_is_recorded_on_the_event_it_corrects(
    capturer: Organisation,
) -> None:
    client = token_client(capturer)
    event = {**observation(), "eventID": "urn:uuid:first"}
    assert job_of(client, post_capture(client, document(event)))["success"] is True
    declaration = {
        "declarationTime": "2026-12-02T10:00:00.000+01:00",
        "reason": "incorrect_data",
        "correctiveEventIDs": ["urn:uuid:second"],
    }
    declared = {**event, "errorDeclaration": declaration}
    other = organisation_create(name="Other", roles=Role.RETAILER, slug="other")
    single = {"@context": CONTEXT, **declared}
    refused = token_client(other).post(
        "/epcis/events", json.dumps(single), content_type="application/json"
    )
    assert refused.status_code == 403, refused.json()
    assert EpcisEvent.objects.get().error_declaration is None
    job = job_of(client, post_capture(client, document(declared)))
    assert job["success"] is True, job["errors"]
    row = EpcisEvent.objects.get()  # no second row: the declaration is recorded on the event
    assert row.error_declaration == declaration
    assert row.document["errorDeclaration"] == declaration
    again = client.post("/epcis/events", json.dumps(single), content_type="application/json")
    assert again.status_code == 409  # the same event, alone or in a document


@pytest.mark.integration
@db
def test_a_duplicate_in_a_document_fails_a_rollback_capture(capturer: Organisation) -> None:
    client = token_client(capturer)
    assert job_of(client, post_capture(client, document(observation(1))))["success"] is True
    row = EpcisEvent.objects.get()
    assert row.document == observation(1)
    assert row.epcs == [
        "urn:epc:id:sgtin:4012345.011111.1001",
        "https://id.gs1.org/01/04012345111118/21/1001",
    ]
    assert (row.organisation_id, row.operation_id, row.error_declaration) == (
        capturer.pk,
        None,
        None,
    )
    job = job_of(client, post_capture(client, document(observation(2), observation(1))))
    assert job["success"] is False
    assert job["duplicateCount"] == 1
    assert [e["index"] for e in job["errors"]] == [1]
    assert EpcisEvent.objects.count() == 1
    job = job_of(client, post_capture(client, document(observation(2), observation(2)), "proceed"))
    assert (job["capturedCount"], job["duplicateCount"]) == (1, 1)
    assert EpcisEvent.objects.count() == 2


@pytest.mark.integration
@db
def test_a_schema_invalid_document_is_a_validation_exception_naming_the_path(
    capturer: Organisation,
) -> None:
    client = token_client(capturer)
    broken = observation()
    broken["action"] = "SOMETIMES"
    response = post_capture(client, document(observation(1), broken))
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"] == "epcisException:ValidationException"
    assert any(p.startswith("epcisBody.eventList[1].action") for p in body["problems"])
    assert EpcisEvent.objects.count() == 0
    assert CaptureJob.objects.count() == 0
    # proceed: the valid event goes in, the invalid one is reported with its path
    job = job_of(client, post_capture(client, document(observation(1), broken), "proceed"))
    assert [e["index"] for e in job["errors"]] == [1]
    assert job["errors"][0]["problems"][0].startswith("epcisBody.eventList[1].action")
    assert EpcisEvent.objects.count() == 1
    unknown = post_capture(client, document(observation(2)), behaviour="sometimes")
    assert unknown.status_code == 400
    assert "rollback or proceed" in unknown.json()["detail"]
    not_json = post_capture(client, b"{", content_type="application/json")
    assert not_json.status_code == 400
    assert post_capture(client, b"x", content_type="text/plain").status_code == 415
    single = client.post("/epcis/events", json.dumps(broken), content_type="application/json")
    assert single.status_code == 400
    assert single.json()["type"] == "epcisException:ValidationException"


@pytest.mark.integration
@db
def test_the_limits_are_announced_and_enforced_with_413(
    capturer: Organisation, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = token_client(capturer)
    options = Client().options("/epcis/capture")
    assert options.status_code == 204
    assert options["GS1-EPCIS-Capture-Limit"] == str(capture.CAPTURE_LIMIT)
    assert options["GS1-EPCIS-Capture-File-Size-Limit"] == str(capture.CAPTURE_FILE_SIZE_LIMIT)
    monkeypatch.setattr(capture, "CAPTURE_LIMIT", 2)
    too_many = post_capture(client, document(observation(1), observation(2), observation(3)))
    assert too_many.status_code == 413
    assert too_many.json()["type"] == "epcisException:CaptureLimitExceededException"
    from webapp.api.epcis import capture_views

    monkeypatch.setattr(capture, "CAPTURE_FILE_SIZE_LIMIT", 300)
    monkeypatch.setattr(capture_views, "CAPTURE_FILE_SIZE_LIMIT", 300)
    too_big = post_capture(client, document(observation(1), observation(2)))
    assert too_big.status_code == 413
    assert too_big["Content-Type"] == PROBLEM
    assert EpcisEvent.objects.count() == 0


@pytest.mark.integration
@db
def test_a_document_at_the_event_limit_is_captured_whole(capturer: Organisation) -> None:
    client = token_client(capturer)
    events = [
        observation(i % 60, f"urn:epc:id:sgtin:4012345.011111.{i}")
        for i in range(capture.CAPTURE_LIMIT)
    ]
    body = json.dumps(document(*events), indent=2).encode()
    assert len(body) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # Django's form limit is not ours
    job = job_of(client, post_capture(client, body))
    # Too many to capture in the request: a worker captures it while the job runs.
    assert (job["running"], job["capturedCount"]) == (True, 0)
    done = capture.capture_job_run(job_id=job["captureID"])
    assert done is not None
    assert (done.status, done.captured_count) == ("success", capture.CAPTURE_LIMIT)
    assert EpcisEvent.objects.filter(organisation=capturer).count() == capture.CAPTURE_LIMIT


@pytest.mark.integration
@db
def test_who_may_capture_and_read_capture_jobs(capturer: Organisation) -> None:
    anonymous = Client().post("/epcis/capture", "{}", content_type="application/json")
    assert anonymous.status_code == 401
    assert anonymous.json()["type"] == "epcisException:SecurityException"
    reader = token_client(capturer, scope=ApiToken.Scope.READ)
    assert post_capture(reader, document(observation())).status_code == 403
    writer = token_client(capturer)
    job = job_of(writer, post_capture(writer, document(observation())))
    other = organisation_create(name="Other", roles=Role.RETAILER, slug="other")
    outsider = token_client(other)
    assert outsider.get(f"/epcis/capture/{job['captureID']}").status_code == 404
    assert outsider.get("/epcis/capture").json() == []
    assert outsider.get("/epcis/capture/not-a-uuid").status_code == 404
    assert len(reader.get("/epcis/capture").json()) == 1


# ----------------------------------------------------------------- XML twins

TWINS = sorted(p.stem for p in XML.glob("*.json"))
STORED_AS_THEY_ARE = [
    "association",
    "certification",
    "error_declaration",
    "master_data",
    "sensor",
    "transaction",
]


def _hashes(content: bytes, content_type: str) -> list[str]:
    doc = parse_body(content, content_type)
    return [event_hash(e, doc.get("@context")) for e in doc["epcisBody"]["eventList"]]


@pytest.mark.unit
@pytest.mark.parametrize("name", TWINS)
def test_xml_twins_parse_to_the_events_of_their_json(name: str) -> None:
    expected = _hashes((XML / f"{name}.json").read_bytes(), "application/json")
    assert _hashes((XML / f"{name}.xml").read_bytes(), "application/xml") == expected
    old = XML / f"{name}.1_2.xml"
    if old.exists():
        assert _hashes(old.read_bytes(), "application/xml") == expected


def _stored() -> list[tuple[Any, ...]]:
    return sorted(
        EpcisEvent.objects.values_list(
            "event_hash", "event_type", "action", "biz_step", "event_time", "epcs"
        )
    )


@pytest.mark.integration
@db
@pytest.mark.parametrize("name", STORED_AS_THEY_ARE)
def test_xml_captures_store_the_rows_of_their_json_twins(capturer: Organisation, name: str) -> None:
    client = token_client(capturer)
    job = job_of(client, post_capture(client, (XML / f"{name}.json").read_bytes()))
    assert job["success"] is True, job["errors"]
    expected = _stored()
    assert expected
    for xml in (XML / f"{name}.xml", XML / f"{name}.1_2.xml"):
        if not xml.exists():
            continue
        EpcisEvent.objects.all().delete()
        job = job_of(client, post_capture(client, xml.read_bytes(), content_type="application/xml"))
        assert job["success"] is True, job["errors"]
        assert _stored() == expected
    # the same document again: every event a duplicate
    again = job_of(client, post_capture(client, (XML / f"{name}.json").read_bytes(), "proceed"))
    assert again["duplicateCount"] == again["eventCount"]


@pytest.mark.integration
@db
def test_a_single_event_in_xml_is_the_event_of_its_json_twin(capturer: Organisation) -> None:
    client = token_client(capturer)
    xml = (XML / "transaction.1_2.xml").read_bytes()
    created = client.post("/epcis/events", xml, content_type="application/xml")
    assert created.status_code == 201, created.content
    (expected,) = _hashes((XML / "transaction.json").read_bytes(), "application/json")
    assert EpcisEvent.objects.get().event_hash == expected
    twin = (XML / "transaction.json").read_bytes()
    duplicate = client.post("/epcis/events", twin, content_type="application/ld+json")
    assert duplicate.status_code == 409
    two = (XML / "aggregation_packing_unpacking.json").read_bytes()
    assert client.post("/epcis/events", two, content_type="application/json").status_code == 400


@pytest.mark.integration
@db
def test_a_capture_that_races_another_keeps_nothing_and_says_so(
    capturer: Organisation, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = token_client(capturer)
    assert job_of(client, post_capture(client, document(observation(1))))["success"] is True
    # as if a concurrent capture stored the event between the duplicate check and the insert
    monkeypatch.setattr(capture, "duplicates_mark", lambda prepared, organisation: None)
    job = job_of(client, post_capture(client, document(observation(2), observation(1))))
    assert (job["success"], job["capturedCount"]) == (False, 0)
    assert "at the same moment" in job["errors"][0]["problems"][0]
    assert EpcisEvent.objects.count() == 1
    single = {"@context": CONTEXT, **observation(1)}
    raced = client.post("/epcis/events", json.dumps(single), content_type="application/json")
    assert raced.status_code == 409


@pytest.mark.unit
def test_which_events_map_onto_the_chain() -> None:
    from webapp.epcis.mapping import chain_action

    assert chain_action(commissioning()) == "lot.register"
    assert chain_action(shipping()) == "handoff.initiate"
    assert chain_action(receiving()) == "handoff.accept"
    accepting = {**receiving(), "bizStep": "urn:epcglobal:cbv:bizstep:accepting"}
    assert chain_action(accepting) == "handoff.accept"
    assert chain_action(observation()) is None
    assert chain_action({**shipping(), "errorDeclaration": {"declarationTime": "x"}}) is None
    assert chain_action({"type": "TransactionEvent", "action": "ADD"}) is None
    assert chain_action({"type": "TransformationEvent"}) == "transformation.record"
    packing = {"type": "AggregationEvent", "action": "ADD", "bizStep": "packing"}
    assert chain_action(packing) == "bundle.create"
    assert chain_action({**packing, "action": "DELETE", "bizStep": "unpacking"}) == "bundle.unpack"


@pytest.mark.unit
def test_quantities_become_whole_base_units() -> None:
    from django.core.exceptions import ValidationError

    from webapp.epcis.mapping import _quantity, gs1_key

    assert _quantity({"quantity": 12.5, "uom": "KGM"}, "q") == (12_500, "g")
    assert _quantity({"quantity": 3}, "q") == (3, "piece")
    assert _quantity({"quantity": 2, "uom": "LTR"}, "q") == (2_000, "ml")
    with pytest.raises(ValidationError, match="whole number"):
        _quantity({"quantity": 0.5, "uom": "GRM"}, "q")
    with pytest.raises(ValidationError):
        _quantity({"quantity": 0, "uom": "KGM"}, "q")
    key = gs1_key("https://id.gs1.org/01/04012345111118/10/LOT42")
    assert key is not None
    assert (key.key, key.lot) == ("04012345111118", "LOT42")
    assert gs1_key(LOT_CLASS) == key
    assert gs1_key("urn:example:not-gs1") is None
