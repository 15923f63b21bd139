"""A lot's reading evidence pack (``provenant-reading-evidence/1``) checked offline: each
reading's leaf recomputed from its canonical item, its path to the root, the root anchored
as SENSOR_READINGS in the proven block; and the pack's readings are exactly the proven
items, about its lot, inside its excursion windows."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from contracts.chain.domain import ascii32
from contracts.proofs.build import anchored_items_proofs
from contracts.proofs.merkle import item_leaf, merkle_root
from contracts.proofs.readings import canonical_decimal, canonical_time, reading_item
from contracts.proofs.verify import verify_document
from contracts.proofs.verify.readings import READINGS_PACK_FORMAT
from tests.contracts.consortium import Consortium
from tests.contracts.test_proofs import rejection, tampered

PROJECT_ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
LOT = 4242


def _batch() -> list[dict[str, Any]]:
    """Ten readings of the lot from one truck, a minute apart; an eleventh of another lot."""
    items = [
        reading_item(
            lot_id=LOT,
            time=T0 + timedelta(minutes=m),
            type="gs1:Temperature",
            value=Decimal("4.500000000000") + m,
            unit="CEL",
            device_id="truck-7",
            device_seq=100 + m,
            latitude=Decimal("52.370216"),
            longitude=Decimal("4.895168"),
        )
        for m in range(10)
    ]
    return [*items, {**items[0], "lotId": "1", "deviceSeq": 999}]


@pytest.mark.unit
def test_the_canonical_reading_item_is_recomputable_from_plain_fields() -> None:
    item = reading_item(
        lot_id=12,
        time=datetime(2026, 1, 2, 4, 5, 6, tzinfo=UTC),
        type="gs1:Temperature",
        value=Decimal("8.250000000000"),
        unit="CEL",
        device_id="d",
        device_seq=3,
    )
    assert item == {
        "lotId": "12",
        "time": "2026-01-02T04:05:06.000000Z",
        "type": "gs1:Temperature",
        "value": "8.25",
        "minValue": None,
        "maxValue": None,
        "meanValue": None,
        "unit": "CEL",
        "deviceId": "d",
        "deviceSeq": 3,
        "latitude": None,
        "longitude": None,
        "source": "device",
    }
    assert [canonical_decimal(Decimal(t)) for t in ("100", "1E+2", "-0.0", "-3.10")] == [
        "100",
        "100",
        "0",
        "-3.1",
    ]
    paris = timezone(timedelta(hours=1))
    assert canonical_time(datetime(2026, 1, 2, 6, 5, 6, 7, tzinfo=paris)) == (
        "2026-01-02T05:05:06.000007Z"
    )
    with pytest.raises(ValueError, match="time zone"):
        canonical_time(datetime(2026, 1, 2))


@pytest.fixture(scope="module")
def pack(anvil_consortium: Consortium) -> dict[str, Any]:
    """Readings 2..5 around an excursion from minute 3 to 4 (margin one minute)."""
    c = anvil_consortium
    items = _batch()
    root = merkle_root([item_leaf(i) for i in items])
    receipt = c.act(
        c.reporter, c.anchors.functions.anchor(root, ascii32("SENSOR_READINGS"), len(items), "")
    )
    indexes = [2, 3, 4, 5]
    proofs = anchored_items_proofs(
        c.w3,
        items=items,
        indexes=indexes,
        anchor_transaction_hash=receipt["transactionHash"],
        anchor_log_index=receipt["logs"][0]["logIndex"],
    )
    doc = {
        "format": READINGS_PACK_FORMAT,
        "generated_at": "2026-07-01T09:00:00+00:00",
        "chain_id": c.w3.eth.chain_id,
        "contracts": {"Anchors": c.anchors.address},
        "lot_id": LOT,
        "excursions": [
            {
                "start": canonical_time(T0 + timedelta(minutes=3)),
                "end": canonical_time(T0 + timedelta(minutes=4)),
            }
        ],
        "margin_seconds": 60,
        "readings": [items[i] for i in indexes],
        "pending": [],
        "proofs": proofs,
    }
    return dict(json.loads(json.dumps(doc)))  # as a file holds it: no shared objects


@pytest.mark.chain
@pytest.mark.node
def test_a_reading_pack_verifies_offline_and_from_the_command_line(
    pack: dict[str, Any], tmp_path: Path
) -> None:
    report = verify_document(pack)
    assert report.ok, report.summary()
    (readings,) = [f for f in report.facts if f.name == "readings"]
    assert "4 readings of lot 4242 are anchored" in readings.reason
    assert any("left out" in n for n in report.notes)

    path = tmp_path / "readings.json"
    path.write_text(json.dumps(pack))
    result = subprocess.run(
        [sys.executable, "-m", "contracts.proofs.verify", str(path)],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "VALID" in result.stdout


@pytest.mark.chain
@pytest.mark.node
def test_a_tampered_reading_fails(pack: dict[str, Any]) -> None:
    def warmer(doc: dict[str, Any]) -> None:
        doc["readings"][1]["value"] = "2"
        doc["proofs"][1]["item"]["value"] = "2"

    reason = rejection(verify_document(tampered(pack, warmer)), "item leaf")
    assert "altered" in reason
    rejection(verify_document(tampered(pack, warmer)), "merkle path")

    def summary_only(doc: dict[str, Any]) -> None:
        doc["readings"][0]["value"] = "2"

    reason = rejection(verify_document(tampered(pack, summary_only)), "readings")
    assert "not the item its proof proves" in reason


@pytest.mark.chain
@pytest.mark.node
def test_a_reading_outside_the_windows_or_of_another_lot_is_refused(
    pack: dict[str, Any],
) -> None:
    def narrower(doc: dict[str, Any]) -> None:
        doc["margin_seconds"] = 0

    assert "outside every excursion window" in rejection(
        verify_document(tampered(pack, narrower)), "readings"
    )

    def other_lot(doc: dict[str, Any]) -> None:
        doc["lot_id"] = 1

    assert "not lot 1" in rejection(verify_document(tampered(pack, other_lot)), "readings")

    def other_contract(doc: dict[str, Any]) -> None:
        doc["contracts"]["Anchors"] = "0x" + "11" * 20

    assert "anchored by" in rejection(verify_document(tampered(pack, other_contract)), "readings")

    def extra_key(doc: dict[str, Any]) -> None:
        doc["verdict"] = "fine"

    assert "verdict" in rejection(verify_document(tampered(pack, extra_key)), "readings")


@pytest.mark.chain
@pytest.mark.node
def test_a_batch_anchored_as_another_kind_is_not_reading_evidence(
    anvil_consortium: Consortium,
) -> None:
    c = anvil_consortium
    items = _batch()[:3]
    root = merkle_root([item_leaf(i) for i in items])
    receipt = c.act(c.reporter, c.anchors.functions.anchor(root, ascii32("EPCIS"), 3, ""))
    proofs = anchored_items_proofs(
        c.w3,
        items=items,
        indexes=[0],
        anchor_transaction_hash=receipt["transactionHash"],
        anchor_log_index=receipt["logs"][0]["logIndex"],
    )
    doc = {
        "format": READINGS_PACK_FORMAT,
        "chain_id": c.w3.eth.chain_id,
        "lot_id": LOT,
        "excursions": [{"start": items[0]["time"], "end": items[0]["time"]}],
        "margin_seconds": 0,
        "readings": [items[0]],
        "proofs": proofs,
    }
    assert "SENSOR_READINGS" in rejection(verify_document(doc), "readings")
