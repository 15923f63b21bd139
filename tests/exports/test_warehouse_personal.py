"""Personal fields reach the warehouse sealed, as they reach the lake: export both, forget
the subject, and no key left in the system opens a copy in either."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command

from tests.exports.test_lake_personal import lake_opened
from tests.webapp.test_crypto_shredding import CONTACT, key_settings, mine
from webapp.exports.warehouse.models import LotPersonal
from webapp.exports.warehouse.refresh import Touched, warehouse_refresh
from webapp.lots.models import LotMetadata
from webapp.organisations.models import Organisation
from webapp.privacy.services import personal_reveal, personal_seal, subject_forget
from webapp.projections.models import LotVersion

pytestmark = [pytest.mark.integration, pytest.mark.django_db]
__all__ = ["key_settings", "mine"]  # fixtures

CHAIN = 31337
LOT = 2**200 + 7  # beyond bigint, as chain ids can be
OWNER = "0x" + "a1" * 20


def test_forgetting_a_subject_leaves_no_readable_copy_in_the_lake_or_the_warehouse(
    mine: Organisation, settings: Any, tmp_path: Path
) -> None:
    settings.LAKE_URL = str(tmp_path / "lake")
    settings.CHAIN_ID = CHAIN
    refs = personal_seal(organisation=mine, values=CONTACT)
    subject = refs["contact_name"]["subject"]
    LotVersion.objects.create(
        chain_id=CHAIN, block_from=1, log_from=0, lot_id=LOT, kind=1, creator=OWNER,
        quantity=500, metadata_hash="0x" + "11" * 32, gs1_key_hash="0x" + "22" * 32,
    )  # fmt: skip
    LotMetadata.objects.create(
        chain_id=CHAIN,
        lot_id=LOT,
        document={"name": "Ore", "unit": "g", "personal": refs},
        metadata_hash="0x" + "11" * 32,
    )
    warehouse_refresh(Touched(lots={LOT}), chain_id=CHAIN)
    call_command("export_lake", snapshots=True)

    stored = list(LotPersonal.objects.filter(lot__lot_id=LOT).values())
    assert {(r["field"], str(r["subject_id"])) for r in stored} == {(f, subject) for f in CONTACT}
    warehouse = [
        {
            "subject_id": str(r["subject_id"]),
            "field": r["field"],
            "commitment": r["commitment"],
            "ciphertext": bytes(r["ciphertext"]),
        }
        for r in stored
    ]
    for value in CONTACT.values():
        assert all(value.encode() not in r["ciphertext"] for r in warehouse)  # never in clear
    (snapshot,) = (tmp_path / "lake").rglob("personal_values-*.parquet")
    lake = pq.read_table(snapshot).to_pylist()
    assert sorted(lake_opened(warehouse)) == sorted(CONTACT.values())  # sealed, not lost
    assert sorted(lake_opened(lake)) == sorted(CONTACT.values())

    subject_forget(subject_id=subject)

    assert lake_opened(warehouse) == []
    assert lake_opened(lake) == []
    warehouse_refs = {
        r["field"]: {"subject": r["subject_id"], "commitment": r["commitment"]} for r in warehouse
    }
    revealed = personal_reveal(refs=warehouse_refs, organisation=mine, purpose="warehouse read")
    assert {r.state for r in revealed} == {"erased"}
