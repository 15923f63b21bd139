"""EPCIS events in PostgreSQL: one row per event hash, the EPC list answers containment
through its GIN index, the query indexes exist."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.db import IntegrityError, connection, transaction

from webapp.epcis.columns import event_columns
from webapp.epcis.consumers import chain_facts_forget
from webapp.epcis.hashing import event_hash
from webapp.epcis.models import CaptureJob, EpcisEvent
from webapp.organisations.models import Organisation

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

DOCUMENT = json.loads(
    (Path(__file__).parent / "epcis_documents" / "object_events.jsonld").read_text()
)


def _store(event: dict[str, Any], organisation: Organisation | None = None) -> EpcisEvent:
    return EpcisEvent.objects.create(
        event_hash=event_hash(event, DOCUMENT["@context"]),
        record_time=datetime(2026, 12, 2, tzinfo=UTC),
        document=event,
        source=EpcisEvent.Source.CAPTURED,
        organisation=organisation,
        **event_columns(event),
    )


def test_events_are_found_by_any_epc_in_either_form_and_by_biz_step() -> None:
    org = Organisation.objects.create(slug="mine", name="Mine", address="0x" + "11" * 20)
    for event in DOCUMENT["epcisBody"]["eventList"]:
        _store(event, org)
    # One event names the item by its EPC URN, another by a Digital Link on another host.
    urn = "urn:epc:id:sgtin:4012345.011111.9876"
    canonical = "https://id.gs1.org/01/04012345111118/21/9876"
    assert EpcisEvent.objects.filter(epcs__contains=[urn]).count() == 1
    assert EpcisEvent.objects.filter(epcs__contains=[canonical]).count() == 2
    assert EpcisEvent.objects.filter(epcs__overlap=[urn, "urn:nothing"]).count() == 1
    shipped = EpcisEvent.objects.filter(
        biz_step="shipping", event_time__gte=datetime(2026, 11, 30, tzinfo=UTC)
    )
    assert shipped.count() == 2
    assert EpcisEvent.objects.filter(epcs__contains=["urn:nothing"]).count() == 0


def test_the_same_event_cannot_be_stored_twice() -> None:
    event = DOCUMENT["epcisBody"]["eventList"][0]
    _store(event)
    with pytest.raises(IntegrityError), transaction.atomic():
        _store(event)
    assert EpcisEvent.objects.count() == 1


def test_the_query_indexes_exist() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", ["epcis_epcisevent"]
        )
        indexes = dict(cursor.fetchall())
    assert "USING gin (epcs)" in indexes["epcis_epcs_gin"]
    assert "(biz_step, event_time)" in indexes["epcis_bizstep_time"]
    assert {"epcis_event_time", "epcis_record_time"} <= set(indexes)


def test_a_capture_job_starts_running_in_rollback_mode() -> None:
    org = Organisation.objects.create(slug="mine", name="Mine", address="0x" + "11" * 20)
    job = CaptureJob.objects.create(organisation=org)
    job.refresh_from_db()
    assert job.status == CaptureJob.Status.RUNNING
    assert job.error_behaviour == CaptureJob.ErrorBehaviour.ROLLBACK
    assert job.errors == []
    assert job.finished_at is None


def test_a_reorganisation_clears_the_chain_pointers_of_captured_events() -> None:
    kept, removed = (_store(e) for e in DOCUMENT["epcisBody"]["eventList"][:2])
    for row, block in ((kept, 5), (removed, 9)):
        row.chain_id, row.block_number, row.transaction_hash, row.log_index = (
            1337,
            block,
            "0x" + f"{block:02d}" * 32,
            0,
        )
        row.save()
    assert chain_facts_forget(chain_id=1337, to_block=6) == 0  # no derived event deleted
    kept.refresh_from_db()
    removed.refresh_from_db()
    assert (kept.block_number, kept.transaction_hash) == (5, "0x" + "05" * 32)
    assert (removed.chain_id, removed.block_number, removed.transaction_hash) == (None, None, "")
    assert EpcisEvent.objects.count() == 2  # the captured events stay
