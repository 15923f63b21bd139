"""The portal's EPCIS page: a document uploaded (JSON or its XML twin) through the one
capture path, its job's page with the stored events and the operations they became, plain
refusals with nothing stored, the proceed mode's failed events listed, the organisation's
events filtered and downloaded as an EPCIS document, and other organisations kept out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.webapp.network import PASSWORD, Network
from tests.webapp.test_epcis_capture import (
    _gs1_identities,
    commissioning,
    document,
    object_event,
    observation,
    shipping,
)
from webapp.epcis.models import CaptureJob, EpcisEvent
from webapp.epcis.validation import document_problems
from webapp.operations.models import Operation
from webapp.portal import epcis_views

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]

XML = Path(__file__).resolve().parent / "epcis_xml"


def member(slug: str) -> Client:
    client = Client()
    assert client.login(username=slug, password=PASSWORD)
    return client


def upload(client: Client, content: Any, name: str = "events.json", behaviour: str = "") -> Any:
    data = content if isinstance(content, bytes) else json.dumps(content).encode()
    return client.post(
        "/traceability/epcis/upload",
        {"file": SimpleUploadedFile(name, data), "error_behaviour": behaviour or "rollback"},
    )


def job_page(client: Client, response: Any) -> tuple[CaptureJob, str]:
    assert response.status_code == 302, response.content.decode()
    location = response["Location"]
    assert location.startswith("/traceability/epcis/jobs/")
    job = CaptureJob.objects.get(id=location.rstrip("/").rsplit("/", 1)[-1])
    page = client.get(location)
    assert page.status_code == 200
    return job, page.content.decode()


def status_of(client: Client, job: CaptureJob) -> dict[str, Any]:
    answer = client.get(f"/traceability/epcis/jobs/{job.id}/status")
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


def test_a_json_upload_is_captured_and_its_job_page_follows_the_operations(
    network: Network,
) -> None:
    _gs1_identities(network)
    mine = member("mine")
    assert b'href="/traceability/epcis">EPCIS</a>' in mine.get("/").content
    job, html = job_page(mine, upload(mine, document(commissioning(), shipping())))
    assert job.status == CaptureJob.Status.SUCCESS
    assert "2 of 2 events captured" in html
    rows = list(EpcisEvent.objects.filter(organisation=network.orgs["mine"]).order_by("id"))
    assert [r.biz_step for r in rows] == ["commissioning", "shipping"]
    for row in rows:
        assert row.operation is not None
        assert f'href="/operations/{row.operation.id}"' in html
    status = status_of(mine, job)
    assert status["status"] == "success"
    assert status["final"] is False
    assert len(status["operations"]) == 2
    for operation in network.settle():
        assert operation.status == Operation.Status.CONFIRMED, operation.error
    status = status_of(mine, job)
    assert status["final"] is True
    assert {op["status"] for op in status["operations"]} == {"confirmed"}

    # Another organisation cannot open the job, nor its status.
    refinery = member("refinery")
    assert refinery.get(f"/traceability/epcis/jobs/{job.id}").status_code == 404
    assert refinery.get(f"/traceability/epcis/jobs/{job.id}/status").status_code == 404


def test_an_xml_upload_stores_the_events_of_its_json_twin(network: Network) -> None:
    mine = member("mine")
    expected = len(json.loads((XML / "transaction.json").read_bytes())["epcisBody"]["eventList"])
    job, html = job_page(mine, upload(mine, (XML / "transaction.xml").read_bytes(), "t.xml"))
    assert job.status == CaptureJob.Status.SUCCESS
    assert job.captured_count == expected == EpcisEvent.objects.count()
    assert f"{expected} of {expected} events captured" in html
    # The JSON twin is the same events: every one a duplicate now.
    again, html = job_page(
        mine, upload(mine, (XML / "transaction.json").read_bytes(), behaviour="proceed")
    )
    assert again.duplicate_count == expected
    assert "already captured" in html
    assert EpcisEvent.objects.count() == expected


def test_an_invalid_document_is_refused_on_the_form_with_its_path_in_words(
    network: Network,
) -> None:
    mine = member("mine")
    bad = document(observation(), object_event("inspecting", "SOMETIMES", minute=3))
    answer = upload(mine, bad)
    assert answer.status_code == 400
    html = answer.content.decode()
    assert "The document is not valid EPCIS 2.0" in html
    assert "Event 2, action: " in html
    assert "Nothing was captured" in html
    assert not EpcisEvent.objects.exists()
    assert not CaptureJob.objects.exists()

    for content, name in ((b"{not json", "x.json"), (b"<EPCISDocument>", "x.xml")):
        answer = upload(mine, content, name)
        assert answer.status_code == 400, answer.content
        assert b'class="error"' in answer.content
    assert not CaptureJob.objects.exists()


def test_a_file_over_the_size_limit_is_refused_with_413(
    network: Network, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(epcis_views, "CAPTURE_FILE_SIZE_LIMIT", 100)
    answer = upload(member("mine"), document(observation()))
    assert answer.status_code == 413
    assert "The file is too large" in answer.content.decode()
    assert not EpcisEvent.objects.exists()
    assert not CaptureJob.objects.exists()


def test_proceed_mode_captures_the_valid_events_and_lists_the_failed_one(
    network: Network,
) -> None:
    _gs1_identities(network)
    mine = member("mine")
    unknown = "urn:epc:class:lgtin:4012345.011111.NOPE"
    bad = document(commissioning(), shipping(epc_class=unknown), observation())
    job, html = job_page(mine, upload(mine, bad))
    assert job.status == CaptureJob.Status.FAILED
    assert "Nothing was captured" in html
    assert not EpcisEvent.objects.exists()

    job, html = job_page(mine, upload(mine, bad, behaviour="proceed"))
    assert job.captured_count == 2
    assert "Event 2" in html
    assert "No lot on the chain is registered as" in html
    assert sorted(EpcisEvent.objects.values_list("biz_step", flat=True)) == [
        "commissioning",
        "inspecting",
    ]


def _events_listed(client: Client, **filters: str) -> str:
    answer = client.get("/traceability/epcis", filters)
    assert answer.status_code == 200, answer.content
    return answer.content.decode()


def test_the_events_are_filtered_and_downloaded_as_an_epcis_document(network: Network) -> None:
    mine = member("mine")
    epc = "urn:epc:id:sgtin:4012345.011111.2002"
    events = [
        observation(minute=1),
        observation(minute=2, epc=epc),
        object_event(
            "storing",
            "OBSERVE",
            minute=3,
            epcList=["urn:epc:id:sgtin:4012345.011111.3003"],
            disposition="in_progress",
        ),
    ]
    job, _ = job_page(mine, upload(mine, document(*events)))
    assert job.captured_count == 3

    html = _events_listed(mine)
    assert html.count("/epcis/events/") == 3
    assert "in progress" in html  # CBV terms as words
    assert html.index("storing") < html.index("inspecting")  # newest first
    html = _events_listed(mine, biz_step="inspecting")
    assert html.count("/epcis/events/") == 2
    html = _events_listed(mine, disposition="in progress")
    assert html.count("/epcis/events/") == 1
    html = _events_listed(mine, epc=epc)
    assert html.count("/epcis/events/") == 1
    assert epc in html
    assert _events_listed(mine, event_type="AggregationEvent").count("/epcis/events/") == 0
    assert _events_listed(mine, since="2026-12-01", until="2026-12-01").count("/epcis/events/") == 3
    assert _events_listed(mine, since="2026-12-02").count("/epcis/events/") == 0
    assert mine.get("/traceability/epcis", {"since": "yesterday"}).status_code == 400
    assert mine.get("/traceability/epcis", {"epc": "urn:epc:idpat:sgtin:*.1.2"}).status_code == 400
    # Another organisation, no party to these events, sees none of them.
    assert _events_listed(member("distributor")).count("/epcis/events/") == 0

    # Pages: one event a page, older events behind a link.
    epcis_views.PER_PAGE = 1
    try:
        first = _events_listed(mine)
        assert first.count("/epcis/events/") == 1
        link = first.split('id="epcis-next" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
        second = mine.get("/traceability/epcis" + link)
        assert second.status_code == 200
        assert "inspecting" in second.content.decode()
        assert mine.get("/traceability/epcis", {"page": "forged"}).status_code == 400
    finally:
        epcis_views.PER_PAGE = 50

    answer = mine.get("/traceability/epcis/download", {"biz_step": "inspecting"})
    assert answer.status_code == 200
    assert answer["Content-Disposition"].startswith("attachment;")
    downloaded = json.loads(answer.content)
    assert document_problems(downloaded) == []
    listed = downloaded["epcisBody"]["eventList"]
    assert [e["bizStep"] for e in listed] == ["inspecting", "inspecting"]
    assert mine.get("/traceability/epcis/download", {"until": "soon"}).status_code == 400
    # What was downloaded captures again as it is: the same events, each a duplicate.
    again, _ = job_page(mine, upload(mine, answer.content, "download.json", "proceed"))
    assert (again.event_count, again.duplicate_count) == (2, 2)
