"""Every sensor reading is provable: readings are batched per anchoring organisation (by
count or by age) under a Merkle root anchored on chain, a reorganisation forgets and
re-records the anchor, and a lot's reading evidence pack verifies offline
(`python -m contracts.proofs.verify`) while a tampered reading does not."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from contracts.chain.artifacts import load
from contracts.proofs.merkle import item_leaf, merkle_root
from tests.webapp.network import Network
from tests.webapp.test_epcis_capture import document, token_client
from tests.webapp.test_epcis_capture_links import TEMPERATURES, inspected, known_lot
from tests.webapp.test_reorg_operations import _drive, _reorg
from webapp.epcis.capture import capture_document
from webapp.lots.services import lot_register
from webapp.monitoring import anchoring
from webapp.monitoring.anchoring import (
    device_owners_register,
    device_owners_unregister,
    readings_anchor,
    sensor_reading_item,
)
from webapp.monitoring.evidence import lot_evidence
from webapp.monitoring.models import AnchoredReading, ReadingAnchorBatch, SensorReading
from webapp.monitoring.services import Measurement, sensor_readings_record
from webapp.operations.anchors import ProofUnavailable
from webapp.operations.models import Operation
from workers import tasks
from workers.tasks import index_chain

pytestmark = [
    pytest.mark.integration,
    pytest.mark.node,
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
LOT = 777


@pytest.fixture
def trucks(network: Network) -> Iterator[None]:
    """The distributor owns the devices named truck-*."""

    def owners(device_ids: Collection[str]) -> Mapping[str, int]:
        return {d: network.orgs["distributor"].id for d in device_ids if d.startswith("truck-")}

    device_owners_register(owners)
    yield
    device_owners_unregister(owners)


def _record(
    count: int, *, lot_id: int = LOT, device: str = "truck-1", first: int = 0
) -> list[SensorReading]:
    """`count` temperatures a minute apart from T0 + `first` minutes."""
    measurements = [
        Measurement(
            time=T0 + timedelta(minutes=first + i),
            type="gs1:Temperature",
            value=Decimal("4.25") + first + i,
            unit="CEL",
            device_id=device,
            device_seq=first + i,
            latitude=Decimal("52.370216"),
            longitude=Decimal("4.895168"),
        )
        for i in range(count)
    ]
    with transaction.atomic():
        return sensor_readings_record(lot_ids=[lot_id], measurements=measurements, source="device")


def _later() -> datetime:
    return timezone.now() + timedelta(seconds=settings.MONITORING_ANCHOR_MAX_WAIT_SECONDS + 1)


def _anchored(network: Network) -> list[ReadingAnchorBatch]:
    """Anchor what is due, mine it, mirror it, record it."""
    built = readings_anchor(now=_later())
    for operation in network.settle():
        assert operation.status == Operation.Status.CONFIRMED, operation.error
    readings_anchor(now=_later())
    for batch in built:
        batch.refresh_from_db()
        assert batch.anchor_transaction_hash
    return built


def _verify(doc: dict[str, Any], tmp_path: Path, name: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "contracts.proofs.verify",
            str(path),
            "--rpc",
            settings.CHAIN_RPC_URL,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )


def test_readings_are_batched_by_count_and_by_age(
    network: Network, trucks: None, settings: Any
) -> None:
    settings.MONITORING_ANCHOR_BATCH_SIZE = 3
    settings.MONITORING_ANCHOR_MAX_WAIT_SECONDS = 3600
    readings = _record(7)
    now = timezone.now()
    built = readings_anchor(now=now)
    # Two full batches; the seventh reading waits (not full, not old enough).
    assert [b.item_count for b in built] == [3, 3]
    assert AnchoredReading.objects.get(reading=readings[6]).batch is None
    for batch, chunk in zip(built, [readings[:3], readings[3:6]], strict=True):
        rows = AnchoredReading.objects.filter(batch=batch).order_by("index")
        assert [(r.reading_id, r.index) for r in rows] == [(r.id, i) for i, r in enumerate(chunk)]
        items = [sensor_reading_item(r) for r in chunk]
        assert batch.root == "0x" + merkle_root([item_leaf(i) for i in items]).hex()
        assert batch.organisation == network.orgs["distributor"]
        assert batch.operation is not None
        assert batch.operation.call["function"] == "anchor"
    assert readings_anchor(now=now + timedelta(seconds=3000)) == []
    (last,) = readings_anchor(now=now + timedelta(seconds=3601))
    assert last.item_count == 1

    for operation in network.settle():
        assert operation.status == Operation.Status.CONFIRMED, operation.error
    assert readings_anchor(now=now + timedelta(seconds=4000)) == []
    assert not ReadingAnchorBatch.objects.filter(anchor_transaction_hash="").exists()
    anchors = network.w3.eth.contract(
        address=network.manifest.addresses["Anchors"], abi=load("Anchors").abi
    )
    distributor = network.orgs["distributor"].address
    for batch in [*built, last]:
        assert anchors.functions.anchoredAt(distributor, batch.root).call() > 0
    # Nothing is batched or anchored twice.
    assert Operation.objects.filter(action="monitoring.anchor").count() == 3
    assert AnchoredReading.objects.filter(batch__isnull=True).count() == 0


def test_a_device_whose_owner_is_unknown_waits_and_the_periodic_task_anchors(
    network: Network, settings: Any
) -> None:
    assert settings.CELERY_BEAT_SCHEDULE["readings-anchor"]["task"] == (
        "workers.tasks.readings_anchor"
    )
    settings.MONITORING_ANCHOR_MAX_WAIT_SECONDS = 0
    (reading,) = _record(1, device="truck-9")
    assert tasks.readings_anchor() == 0  # no one is known to own truck-9 yet
    assert AnchoredReading.objects.get(reading=reading).organisation is None

    def owners(device_ids: Collection[str]) -> Mapping[str, int]:
        return {d: network.orgs["refinery"].id for d in device_ids}

    device_owners_register(owners)
    try:
        assert tasks.readings_anchor() == 1
    finally:
        device_owners_unregister(owners)
    (batch,) = ReadingAnchorBatch.objects.all()
    assert batch.organisation == network.orgs["refinery"]
    network.settle()
    assert tasks.readings_anchor() == 0
    batch.refresh_from_db()
    assert batch.anchor_transaction_hash


def test_a_lots_evidence_verifies_and_a_tampered_reading_does_not(
    network: Network, trucks: None, tmp_path: Path
) -> None:
    readings = _record(10)
    _record(10, lot_id=LOT + 1)  # another lot's, in the same batch
    (batch,) = _anchored(network)
    assert batch.item_count == 20
    _record(1, first=4)  # recorded since: not anchored yet

    excursion = (T0 + timedelta(minutes=3), T0 + timedelta(minutes=4))
    pack = lot_evidence(LOT, [excursion], margin=timedelta(minutes=1))
    assert pack["format"] == "provenant-reading-evidence/1"
    assert [r["time"] for r in pack["readings"]] == [
        sensor_reading_item(r)["time"] for r in readings[2:6]
    ]
    assert {r["lotId"] for r in pack["readings"]} == {str(LOT)}
    assert [p["item"] for p in pack["proofs"]] == pack["readings"]
    assert len(pack["pending"]) == 1
    assert pack["proofs"][0]["anchor"]["transaction_hash"] == batch.anchor_transaction_hash
    result = _verify(pack, tmp_path, "pack")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 readings of lot 777 are anchored" in result.stdout

    tampered = json.loads(json.dumps(pack))
    tampered["readings"][1]["value"] = "2"
    tampered["proofs"][1]["item"]["value"] = "2"
    result = _verify(tampered, tmp_path, "tampered")
    assert result.returncode == 1, result.stdout
    assert "the item was altered" in result.stdout

    # A reading altered in the database no longer leads to the anchored root.
    SensorReading.objects.filter(id=readings[3].id).update(value=Decimal("2"))
    with pytest.raises(ProofUnavailable, match="not the anchored root"):
        lot_evidence(LOT, [excursion], margin=timedelta(minutes=1))
    with pytest.raises(ValueError, match="ends before it starts"):
        lot_evidence(LOT, [(excursion[1], excursion[0])])


def test_a_reorganisation_forgets_the_anchor_and_records_it_again(
    network: Network, trucks: None, tmp_path: Path
) -> None:
    _record(3)
    (batch,) = _anchored(network)
    assert batch.operation is not None
    block = batch.anchor_block_number
    assert block is not None
    head = network.w3.eth.block_number
    _reorg(network, head - block + 1, [])

    index_chain()  # the indexer sees the reorg: the batch's anchor is forgotten
    batch.refresh_from_db()
    assert (batch.anchor_transaction_hash, batch.anchor_block_number) == ("", None)
    operation = Operation.objects.get(id=batch.operation.id)
    _drive(network, [operation])  # the same signed anchor is mined again
    assert operation.status == Operation.Status.CONFIRMED, operation.error
    batch.refresh_from_db()  # recorded as the log was mirrored again
    assert batch.anchor_transaction_hash == operation.transaction_hash
    assert batch.anchor_block_number is not None
    assert Operation.objects.filter(action="monitoring.anchor").count() == 1

    pack = lot_evidence(LOT, [(T0, T0 + timedelta(minutes=2))], margin=timedelta(0))
    assert len(pack["proofs"]) == 3
    result = _verify(pack, tmp_path, "after-reorg")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_evidence_endpoint_answers_a_custody_party_of_the_lot(
    network: Network, trucks: None, tmp_path: Path
) -> None:
    operation = lot_register(organisation=network.orgs["mine"], name="Ore", quantity=100, unit="kg")
    network.settle()
    operation.refresh_from_db()
    lot_id = int(operation.lot_id or 0)
    _record(5, lot_id=lot_id)
    _anchored(network)
    interval = (
        f"{(T0 + timedelta(minutes=1)).isoformat()}/{(T0 + timedelta(minutes=2)).isoformat()}"
    )
    url = f"/api/v1/lots/{lot_id}/readings/evidence?" + urlencode(
        {"excursion": interval, "margin_minutes": 1}
    )

    answered = token_client(network.orgs["mine"]).get(url)
    assert answered.status_code == 200, answered.content
    assert "attachment" in answered["Content-Disposition"]
    pack = answered.json()
    assert len(pack["readings"]) == 4  # minutes 0 to 3
    result = _verify(pack, tmp_path, "api")
    assert result.returncode == 0, result.stdout + result.stderr

    stranger = token_client(network.orgs["refinery"]).get(url)
    assert stranger.status_code == 404
    assert "may see" in stranger.json()["detail"]
    mine = token_client(network.orgs["mine"])
    assert mine.get(f"/api/v1/lots/{lot_id}/readings/evidence").status_code == 400
    backwards = urlencode(
        {"excursion": f"{T0.isoformat()}/{(T0 - timedelta(hours=1)).isoformat()}"}
    )
    refused = mine.get(f"/api/v1/lots/{lot_id}/readings/evidence?{backwards}")
    assert refused.status_code == 400
    assert "ends before it starts" in refused.json()["detail"]

    def unreachable() -> Any:
        raise ConnectionRefusedError("node down")

    original = anchoring.chain
    anchoring.chain = unreachable  # type: ignore[assignment]
    try:
        down = mine.get(url)
    finally:
        anchoring.chain = original  # type: ignore[assignment]
    assert down.status_code == 503
    assert "not reachable" in down.json()["detail"]


def test_an_epcis_events_readings_are_anchored_by_the_capturing_organisation(
    network: Network, tmp_path: Path
) -> None:
    known_lot(90_001)
    job = capture_document(
        organisation=network.orgs["mine"], document=document(inspected(0, TEMPERATURES))
    )
    assert job.captured_count == 1, job.errors
    readings = list(SensorReading.objects.filter(lot_id=90_001).order_by("time", "type"))
    assert len(readings) == 3
    assert {r.anchoring.organisation for r in readings} == {network.orgs["mine"]}
    (batch,) = _anchored(network)
    assert batch.organisation == network.orgs["mine"]
    times = [r.time for r in readings]
    pack = lot_evidence(90_001, [(min(times), max(times))], margin=timedelta(0))
    assert {r["source"] for r in pack["readings"]} == {"epcis"}
    result = _verify(pack, tmp_path, "epcis")
    assert result.returncode == 0, result.stdout + result.stderr
