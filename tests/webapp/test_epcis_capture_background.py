"""A large EPCIS capture is answered at once and captured by a worker (a real Celery worker
on Redis); a job whose worker or message was lost is captured when resumed."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.webapp.network import Network
from tests.webapp.test_epcis_capture import (
    _gs1_identities,
    commissioning,
    document,
    observation,
    post_capture,
    shipping,
    token_client,
)
from webapp.epcis import capture
from webapp.epcis.capture import capture_accept, capture_job_run, capture_jobs_resume
from webapp.epcis.models import CaptureJob, EpcisEvent
from webapp.operations.models import Operation

pytestmark = [pytest.mark.integration, pytest.mark.node, pytest.mark.django_db(transaction=True)]


def _observations(count: int) -> dict[str, Any]:
    return document(
        *(
            observation(minute=i, epc=f"urn:epc:id:sgtin:4012345.011111.{700 + i}")
            for i in range(count)
        )
    )


def test_a_large_capture_runs_in_a_worker_while_the_job_reads_running(
    network: Network, redis_worker: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _gs1_identities(network)
    monkeypatch.setattr(capture, "CAPTURE_INLINE_EVENTS", 2)
    mine = token_client(network.orgs["mine"])
    response = post_capture(mine, document(commissioning(), shipping(), observation()))
    assert response.status_code == 202, response.content
    location = response["Location"].split("testserver", 1)[-1]
    deadline = time.monotonic() + 60
    while (job := mine.get(location).json())["running"]:
        assert time.monotonic() < deadline, "the worker did not finish the capture in time"
        time.sleep(0.2)
    assert job["success"] is True, job["errors"]
    assert job["capturedCount"] == 3
    stored = CaptureJob.objects.get(id=job["captureID"])
    assert stored.document is None  # kept only while it waited
    assert sorted(EpcisEvent.objects.values_list("biz_step", flat=True)) == [
        "commissioning",
        "inspecting",
        "shipping",
    ]
    assert set(
        Operation.objects.filter(idempotency_key__startswith="epcis:").values_list(
            "action", flat=True
        )
    ) == {"lot.register", "handoff.initiate"}

    # A small document is still captured in the request.
    small = mine.get(
        post_capture(mine, _observations(2))["Location"].split("testserver", 1)[-1]
    ).json()
    assert (small["running"], small["capturedCount"]) == (False, 2)


def test_a_waiting_capture_is_resumed_and_captured_once(
    network: Network, portal_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _gs1_identities(network)
    monkeypatch.setattr(capture, "CAPTURE_INLINE_EVENTS", 2)
    portal_settings.OPERATIONS_DISPATCH = True  # kept for a worker; none runs in this test
    sent: list[str] = []
    monkeypatch.setattr(capture, "_dispatch", lambda job: sent.append(str(job.id)))
    mine = network.orgs["mine"]
    job = capture_accept(organisation=mine, document=_observations(3))
    assert (job.status, job.captured_count, sent) == ("running", 0, [str(job.id)])
    assert not EpcisEvent.objects.exists()

    # Its message was lost: a resume sends it again once it has waited long enough.
    assert capture_jobs_resume(stale_after_seconds=3600) == 0
    assert capture_jobs_resume(stale_after_seconds=0) == 1
    assert sent == [str(job.id)] * 2

    done = capture_job_run(job_id=str(job.id))
    assert done is not None
    assert (done.status, done.captured_count, done.document) == ("success", 3, None)
    assert capture_job_run(job_id=str(job.id)) is None  # finished: never captured twice
    assert EpcisEvent.objects.count() == 3
    assert capture_jobs_resume(stale_after_seconds=0) == 0

    # A background capture in rollback mode that fails keeps nothing.
    unknown = shipping(epc_class="urn:epc:class:lgtin:4012345.011111.NOPE")
    failing = capture_accept(
        organisation=mine, document=document(unknown, observation(minute=40), observation(41))
    )
    failed = capture_job_run(job_id=str(failing.id))
    assert failed is not None
    assert (failed.status, failed.captured_count) == ("failed", 0)
    assert [e["index"] for e in failed.errors] == [0]
    assert EpcisEvent.objects.count() == 3

    # In proceed mode the schema's refusals are found when the document is accepted; the
    # worker captures the other events and keeps those errors.
    broken = {**observation(minute=50, epc="urn:epc:id:sgtin:4012345.011111.950")}
    del broken["eventTime"]
    mixed = document(
        observation(minute=51, epc="urn:epc:id:sgtin:4012345.011111.951"),
        broken,
        observation(minute=52, epc="urn:epc:id:sgtin:4012345.011111.952"),
    )
    waiting = capture_accept(organisation=mine, document=mixed, error_behaviour="proceed")
    assert [e["index"] for e in waiting.errors] == [1]
    assert waiting.status == "running"
    proceeded = capture_job_run(job_id=str(waiting.id))
    assert proceeded is not None
    assert (proceeded.status, proceeded.captured_count) == ("failed", 2)
    assert [e["index"] for e in proceeded.errors] == [1]
    assert "eventTime" in " ".join(proceeded.errors[0]["problems"])
    assert EpcisEvent.objects.count() == 5
