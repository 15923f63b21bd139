"""What a captured EPCIS event links besides its operation: our certificates its
certificationInfo names, the sensor readings of its sensorElementList about the lots it
names, its capture job, and an error declaration's corrective events (with the open handoff
of a declared shipping cancelled). Each refusal is the event's error in the job, with
nothing of it stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from contracts.chain.domain import Role, ascii32
from tests.webapp.network import PASSWORD, Network
from tests.webapp.test_epcis_capture import (
    CONTEXT,
    LOT_CLASS,
    _gs1_identities,
    commissioning,
    document,
    job_of,
    observation,
    post_capture,
    shipping,
    token_client,
)
from webapp.epcis.certification import certificate_named
from webapp.epcis.mapping import gs1_key
from webapp.epcis.models import CaptureJob, EpcisCorrection, EpcisEvent
from webapp.epcis.sensors import event_measurements, measurement_type
from webapp.lots.models import LotMetadata
from webapp.monitoring.models import SensorReading
from webapp.operations.models import Operation
from webapp.organisations.models import Organisation
from webapp.organisations.services import member_invite, organisation_create
from webapp.portal.epcis_views import event_digest
from webapp.projections.models import CertificateVersion, HandoffVersion, LotVersion

db = pytest.mark.django_db(transaction=True)
ZERO = "0x" + "00" * 32
DECLARED = "2026-12-02T10:00:00.000+01:00"


@pytest.fixture
def capturer() -> Organisation:
    organisation = organisation_create(name="Capturer", roles=Role.DISTRIBUTOR, slug="capturer")
    member_invite(organisation=organisation, username="clerk", password=PASSWORD)
    return organisation


def portal() -> Client:
    client = Client()
    assert client.login(username="clerk", password=PASSWORD)
    return client


def certificate(certificate_id: int, revoked: bool = False) -> CertificateVersion:
    now = datetime.now(UTC)
    return CertificateVersion.objects.create(
        chain_id=settings.CHAIN_ID,
        block_from=1,
        log_from=0,
        certificate_id=certificate_id,
        subject_kind=1,
        subject=5,
        certificate_type="0x" + ascii32("QUALITY").hex(),
        issuer="0x" + "11" * 20,
        document_hash=ZERO,
        valid_from=now - timedelta(days=1),
        valid_until=now + timedelta(days=300),
        claims={},
        revoked=revoked,
    )


def known_lot(lot_id: int = 5, epc_class: str = LOT_CLASS) -> None:
    """A lot on the chain registered with the GS1 key `epc_class` names."""
    key = gs1_key(epc_class)
    assert key is not None
    LotMetadata.objects.create(
        chain_id=settings.CHAIN_ID,
        lot_id=lot_id,
        document={},
        metadata_hash=ZERO,
        gs1_key=key.element_string,
    )
    LotVersion.objects.create(
        chain_id=settings.CHAIN_ID,
        block_from=1,
        log_from=0,
        lot_id=lot_id,
        kind=1,
        creator="0x" + "22" * 20,
        quantity=100,
        metadata_hash=ZERO,
        gs1_key_hash=ZERO,
    )


def inspected(minute: int, sensors: list[Any], epc_class: str = LOT_CLASS, **extra: Any) -> Any:
    return {
        "type": "ObjectEvent",
        "eventTime": f"2026-12-01T09:{minute:02d}:00.000+01:00",
        "eventTimeZoneOffset": "+01:00",
        "action": "OBSERVE",
        "bizStep": "inspecting",
        "quantityList": [{"epcClass": epc_class, "quantity": 1, "uom": "KGM"}],
        "sensorElementList": sensors,
        **extra,
    }


TEMPERATURES = [
    {
        "sensorMetadata": {
            "time": "2026-12-01T08:59:00.000+01:00",
            "deviceID": "urn:epc:id:giai:4000001.111",
        },
        "sensorReport": [
            {"type": "Temperature", "value": 4.5, "uom": "CEL"},
            {"type": "gs1:RelativeHumidity", "minValue": 40, "maxValue": 61.25, "uom": "A93"},
            {"type": "Mass", "stringValue": "not a number"},
        ],
    },
    {
        "sensorReport": [
            {
                "type": "https://example.com/voc/Ethylene",
                "meanValue": 0.125,
                "time": "2026-12-01T09:30:00+01:00",
                "deviceID": "urn:epc:id:giai:4000001.112",
            }
        ]
    },
]


# ------------------------------------------------------------------- certificates


@pytest.mark.unit
def test_which_certificate_uris_are_ours() -> None:
    chain = settings.CHAIN_ID
    assert certificate_named(f"urn:provenant:certificate:{chain}:7") == 7
    assert certificate_named("http://testserver/certificates/7/impact") == 7
    assert certificate_named("https://localhost/api/v1/certificates/12") == 12
    assert certificate_named("https://cert.example.com/certificates/7") is None
    assert certificate_named("http://testserver/lots/7") is None
    assert certificate_named("urn:example:certificate:7") is None
    for refused in (f"urn:provenant:certificate:{chain + 1}:7", "urn:provenant:certificate:x"):
        with pytest.raises(Exception, match="certificationInfo"):
            certificate_named(refused)


@pytest.mark.integration
@db
def test_certification_info_links_our_certificates_and_keeps_foreign_ones(
    capturer: Organisation,
) -> None:
    certificate(7)
    certificate(8, revoked=True)
    client = token_client(capturer)
    chain = settings.CHAIN_ID
    ours = {
        **observation(1),
        "certificationInfo": [
            f"urn:provenant:certificate:{chain}:7",
            "http://testserver/certificates/8",
            "https://cert.example.com/cert/ABC-123",
        ],
    }
    foreign = {**observation(2), "certificationInfo": "https://cert.example.com/cert/ABC-123"}
    job = job_of(client, post_capture(client, document(ours, foreign)))
    assert job["success"] is True, job["errors"]
    linked, kept = EpcisEvent.objects.order_by("event_time")
    assert linked.certificate_ids == ["7", "8"]
    assert linked.document["certificationInfo"] == ours["certificationInfo"]  # as captured
    assert (kept.certificate_ids, kept.document["certificationInfo"]) == (
        [],
        "https://cert.example.com/cert/ABC-123",
    )
    answer = client.get("/epcis/events", {"EQ_bizStep": "inspecting"}).json()
    events = answer["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert ours["certificationInfo"] in [e.get("certificationInfo") for e in events]
    page = portal().get(f"/traceability/epcis/event/{event_digest(linked)}")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-certificate="7"' in html
    assert 'data-certificate="8"' in html
    assert "quality" in html
    assert "revoked" in html
    assert "https://cert.example.com/cert/ABC-123" in html


@pytest.mark.integration
@db
@pytest.mark.parametrize("behaviour", ["rollback", "proceed"])
def test_an_unknown_certificate_of_ours_refuses_the_event(
    capturer: Organisation, behaviour: str
) -> None:
    certificate(7)
    client = token_client(capturer)
    chain = settings.CHAIN_ID
    unknown = {**observation(1), "certificationInfo": f"urn:provenant:certificate:{chain}:99"}
    other_chain = {**observation(3), "certificationInfo": "urn:provenant:certificate:1:7"}
    job = job_of(
        client, post_capture(client, document(observation(2), unknown, other_chain), behaviour)
    )
    assert job["success"] is False
    assert [e["index"] for e in job["errors"]] == [1, 2]
    problems = [p for e in job["errors"] for p in e["problems"]]
    assert any("there is no certificate 99 on this chain" in p for p in problems), problems
    assert any(f"this is chain {chain}" in p for p in problems), problems
    stored = list(EpcisEvent.objects.values_list("event_time", flat=True))
    assert len(stored) == (0 if behaviour == "rollback" else 1)
    single = client.post(
        "/epcis/events",
        json.dumps({"@context": CONTEXT, **unknown}),
        content_type="application/json",
    )
    assert single.status_code == 400
    assert "no certificate 99" in single.json()["detail"]
    assert EpcisEvent.objects.count() == len(stored)


# ------------------------------------------------------------------- sensor readings


@pytest.mark.unit
def test_measurements_of_a_sensor_element_list() -> None:
    found = event_measurements(inspected(0, TEMPERATURES))
    assert [(m.type, m.value, m.min_value, m.max_value, m.mean_value, m.unit) for m in found] == [
        ("gs1:Temperature", Decimal("4.5"), None, None, None, "CEL"),
        ("gs1:RelativeHumidity", None, Decimal(40), Decimal("61.25"), None, "A93"),
        ("https://example.com/voc/Ethylene", None, None, None, Decimal("0.125"), ""),
    ]
    assert [m.time.isoformat() for m in found] == [
        "2026-12-01T08:59:00+01:00",
        "2026-12-01T08:59:00+01:00",
        "2026-12-01T09:30:00+01:00",
    ]
    assert [m.device_id for m in found] == [
        "urn:epc:id:giai:4000001.111",
        "urn:epc:id:giai:4000001.111",
        "urn:epc:id:giai:4000001.112",
    ]
    # No time anywhere: the event's.
    bare = event_measurements(inspected(7, [{"sensorReport": [{"type": "Speed", "value": 1}]}]))
    assert bare[0].time.isoformat() == "2026-12-01T09:07:00+01:00"
    assert measurement_type("https://gs1.org/voc/Temperature") == "gs1:Temperature"


@pytest.mark.integration
@db
def test_sensor_readings_are_stored_for_the_lots_the_event_names(capturer: Organisation) -> None:
    known_lot(5)
    client = token_client(capturer)
    elsewhere = "urn:epc:class:lgtin:4012345.011111.OTHER"
    both = document(inspected(0, TEMPERATURES), inspected(1, TEMPERATURES, elsewhere))
    job = job_of(client, post_capture(client, both))
    assert job["success"] is True, job["errors"]
    about_lot, about_nothing = EpcisEvent.objects.order_by("event_time")
    readings = list(SensorReading.objects.order_by("time", "type"))
    assert {r.epcis_event_id for r in readings} == {about_lot.pk}  # no lot: no readings
    assert [(int(r.lot_id), r.type, r.source) for r in readings] == [
        (5, "gs1:RelativeHumidity", "epcis"),
        (5, "gs1:Temperature", "epcis"),
        (5, "https://example.com/voc/Ethylene", "epcis"),
    ]
    temperature = readings[1]
    assert (temperature.value, temperature.unit) == (Decimal("4.5"), "CEL")
    assert temperature.device_id == "urn:epc:id:giai:4000001.111"
    assert (readings[0].min_value, readings[0].max_value) == (Decimal(40), Decimal("61.25"))
    assert about_nothing.sensor_readings.count() == 0
    page = portal().get(f"/traceability/epcis/event/{event_digest(about_lot)}")
    html = page.content.decode()
    assert html.count('class="reading"') == 3
    for shown in ("gs1:Temperature", ">4.5<", ">61.25<", ">0.125<"):
        assert shown in html


@pytest.mark.integration
@db
@pytest.mark.parametrize("behaviour", ["rollback", "proceed"])
def test_a_reading_out_of_range_refuses_its_event_and_stores_no_reading(
    capturer: Organisation, behaviour: str
) -> None:
    known_lot(5)
    client = token_client(capturer)
    huge = [{"sensorReport": [{"type": "Temperature", "value": 1e30, "uom": "CEL"}]}]
    good = inspected(0, TEMPERATURES)
    job = job_of(client, post_capture(client, document(good, inspected(1, huge)), behaviour))
    assert job["success"] is False
    assert [e["index"] for e in job["errors"]] == [1]
    assert "sensorElementList: element 1, report 1" in job["errors"][0]["problems"][0]
    assert "out of range" in job["errors"][0]["problems"][0]
    if behaviour == "rollback":
        assert (EpcisEvent.objects.count(), SensorReading.objects.count()) == (0, 0)
    else:
        assert EpcisEvent.objects.count() == 1
        assert SensorReading.objects.count() == 3
    # A rollback failing for another reason (a duplicate) keeps no readings either.
    before = SensorReading.objects.count()
    again = job_of(client, post_capture(client, document(inspected(2, TEMPERATURES), good)))
    assert again["success"] is (behaviour == "rollback")
    if behaviour == "proceed":
        assert SensorReading.objects.count() == before


# ------------------------------------------------------------------- capture jobs


@pytest.mark.integration
@db
def test_the_job_page_lists_the_events_the_job_stored(capturer: Organisation) -> None:
    client = token_client(capturer)
    first = job_of(client, post_capture(client, document(observation(1), observation(2))))
    second = job_of(client, post_capture(client, document(observation(3), observation(1))))
    assert (first["success"], second["success"]) == (True, False)
    third = job_of(client, post_capture(client, document(observation(3)), "proceed"))
    jobs = {str(j.id): j for j in CaptureJob.objects.all()}
    by_job = {
        captured: sorted(e.event_time.minute for e in jobs[captured].events.all())
        for captured in (first["captureID"], second["captureID"], third["captureID"])
    }
    assert list(by_job.values()) == [[1, 2], [], [3]]
    member = portal()
    for captured, minutes in by_job.items():
        html = member.get(f"/traceability/epcis/jobs/{captured}").content.decode()
        assert html.count('class="event-details"') == len(minutes)
    event = EpcisEvent.objects.get(event_time__minute=3)
    page = member.get(f"/traceability/epcis/event/{event_digest(event)}").content.decode()
    assert f"/traceability/epcis/jobs/{third['captureID']}" in page


# ------------------------------------------------------------------- corrections


def declaration(*corrective: str) -> dict[str, Any]:
    return {
        "declarationTime": DECLARED,
        "reason": "incorrect_data",
        "correctiveEventIDs": list(corrective),
    }


@pytest.mark.integration
@db
def test_corrective_events_are_linked_both_ways_whichever_comes_first(
    capturer: Organisation,
) -> None:
    client = token_client(capturer)
    wrong = {**observation(1), "eventID": "urn:uuid:wrong"}
    before = {**observation(2), "eventID": "urn:uuid:before"}
    after = {**observation(3), "eventID": "urn:uuid:after"}
    assert job_of(client, post_capture(client, document(wrong, before)))["success"] is True
    # Another organisation's event under the awaited eventID is no correction of ours.
    other = organisation_create(name="Other", roles=Role.RETAILER, slug="other")
    assert job_of(token_client(other), post_capture(token_client(other), document(after)))[
        "success"
    ]
    declared = {**wrong, "errorDeclaration": declaration("urn:uuid:before", "urn:uuid:after")}
    job = job_of(client, post_capture(client, document(declared)))
    assert job["success"] is True, job["errors"]
    erroneous = EpcisEvent.objects.get(event_id="urn:uuid:wrong")
    links = {c.corrective_event_id: c.corrective for c in erroneous.corrections.all()}
    assert links["urn:uuid:before"] == EpcisEvent.objects.get(event_id="urn:uuid:before")
    assert links["urn:uuid:after"] is None
    # Captured later: the waiting link is filled.
    ours_after = {**after, "eventTime": "2026-12-01T08:04:00.000+01:00"}
    assert job_of(client, post_capture(client, document(ours_after)))["success"] is True
    corrective = EpcisEvent.objects.get(event_id="urn:uuid:after", organisation=capturer)
    link = EpcisCorrection.objects.get(corrective_event_id="urn:uuid:after")
    assert link.corrective == corrective
    assert [c.erroneous for c in corrective.corrects.all()] == [erroneous]
    # The query answer carries the declaration; the portal shows the links on both pages.
    answer = client.get("/epcis/events/urn:uuid:wrong").json()
    (found,) = answer["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    assert found["errorDeclaration"] == declared["errorDeclaration"]
    member = portal()
    page = member.get(f"/traceability/epcis/event/{event_digest(erroneous)}").content.decode()
    assert "Declared erroneous" in page
    assert page.count('class="corrective"') == 2
    assert f"/traceability/epcis/event/{event_digest(corrective)}" in page
    back = member.get(f"/traceability/epcis/event/{event_digest(corrective)}").content.decode()
    assert f"/traceability/epcis/event/{event_digest(erroneous)}" in back
    # Another organisation sees neither page.
    invite = member_invite(organisation=other, username="stranger", password=PASSWORD)
    assert invite is not None
    stranger = Client()
    assert stranger.login(username="stranger", password=PASSWORD)
    assert stranger.get(f"/traceability/epcis/event/{event_digest(erroneous)}").status_code == 404
    assert member.get("/traceability/epcis/event/not-a-digest").status_code == 404


# ------------------------------------------------------------------- on the chain


@pytest.mark.integration
@pytest.mark.node
@db
def test_a_declared_shipping_cancels_its_open_handoff(network: Network) -> None:
    _gs1_identities(network)
    mine_org = network.orgs["mine"]
    mine = token_client(mine_org)
    ship = {**shipping(), "eventID": "urn:uuid:ship"}
    job = job_of(mine, post_capture(mine, document(commissioning(), ship)))
    assert job["success"] is True, job["errors"]
    shipped = EpcisEvent.objects.get(event_id="urn:uuid:ship")
    key = f"epcis-correction:{shipped.event_hash}"
    declared = {**ship, "errorDeclaration": declaration("urn:uuid:ship-corrected")}

    # Not on the chain yet: refused, and in rollback nothing of the document is stored.
    job = job_of(mine, post_capture(mine, document(observation(9), declared)))
    assert job["success"] is False
    assert [e["index"] for e in job["errors"]] == [1]
    assert "not on the chain yet" in job["errors"][0]["problems"][0]
    shipped.refresh_from_db()
    assert shipped.error_declaration is None
    assert not EpcisCorrection.objects.exists()
    assert not Operation.objects.filter(idempotency_key__startswith="epcis-correction").exists()
    assert not EpcisEvent.objects.filter(biz_step="inspecting").exists()

    for operation in network.settle():
        assert operation.status == Operation.Status.CONFIRMED, operation.error
    lot_id = int(shipped.operation.lot_id)
    handoff = HandoffVersion.objects.get(chain_id=settings.CHAIN_ID, lot_id=lot_id, block_to=None)
    assert handoff.status == "open"

    corrected = {**observation(8), "eventID": "urn:uuid:ship-corrected"}
    job = job_of(mine, post_capture(mine, document(declared, corrected)))
    assert job["success"] is True, job["errors"]
    cancel = Operation.objects.get(organisation=mine_org, idempotency_key=key)
    assert cancel.action == "handoff.cancel"
    assert cancel.request["handoff_id"] == int(handoff.handoff_id)
    shipped.refresh_from_db()
    assert shipped.error_declaration == declared["errorDeclaration"]
    assert [c.corrective.event_id for c in shipped.corrections.all()] == ["urn:uuid:ship-corrected"]
    for operation in network.settle():
        assert operation.status == Operation.Status.CONFIRMED, operation.error
    handoff = HandoffVersion.objects.get(chain_id=settings.CHAIN_ID, lot_id=lot_id, block_to=None)
    assert handoff.status == "cancelled"

    # A registration is no fact to take back: the declaration only, no operation.
    operations = Operation.objects.count()
    registered = {**commissioning(), "errorDeclaration": declaration()}
    job = job_of(mine, post_capture(mine, document(registered)))
    assert job["success"] is True, job["errors"]
    assert Operation.objects.count() == operations
    row = EpcisEvent.objects.get(biz_step="commissioning", source="captured")
    assert row.error_declaration == registered["errorDeclaration"]
