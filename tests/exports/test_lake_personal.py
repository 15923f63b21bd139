"""Personal fields reach the lake sealed (ciphertext + subject id), and forgetting the
subject makes every copy already written unreadable."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command

from tests.webapp.test_crypto_shredding import CONTACT, key_settings, keys_left, mine
from webapp.organisations.models import Organisation
from webapp.privacy import crypto
from webapp.privacy.services import personal_reveal, personal_seal, subject_forget

pytestmark = [pytest.mark.integration, pytest.mark.django_db]
__all__ = ["key_settings", "mine"]  # fixtures


def lake_opened(rows: list[dict[str, Any]]) -> list[str]:
    """The lake's sealed values that some key left in the system opens."""
    candidates = keys_left()
    opened = []
    for row in rows:
        for key in candidates:
            with contextlib.suppress(crypto.Unreadable):
                opened.append(
                    crypto.unseal(
                        key, row["subject_id"], row["field"], row["ciphertext"], row["commitment"]
                    )
                )
    return opened


def test_sealed_fields_in_the_lake_cannot_be_opened_once_the_subject_is_forgotten(
    mine: Organisation, settings: Any, tmp_path: Path
) -> None:
    settings.LAKE_URL = str(tmp_path / "lake")
    refs = personal_seal(organisation=mine, values=CONTACT)
    subject = refs["contact_name"]["subject"]
    call_command("export_lake", snapshots=True)

    (snapshot,) = (tmp_path / "lake").rglob("personal_values-*.parquet")
    assert "snapshots/v1/personal_values/date=" in str(snapshot)
    raw = snapshot.read_bytes()
    for value in CONTACT.values():
        assert value.encode() not in raw  # never in clear
    rows = pq.read_table(snapshot).to_pylist()
    assert {r["subject_id"] for r in rows} == {subject}
    assert sorted(lake_opened(rows)) == sorted(CONTACT.values())  # sealed, not lost

    subject_forget(subject_id=subject)

    assert lake_opened(rows) == []
    lake_refs = {
        r["field"]: {"subject": r["subject_id"], "commitment": r["commitment"]} for r in rows
    }
    revealed = personal_reveal(refs=lake_refs, organisation=mine, purpose="lake read")
    assert {r.state for r in revealed} == {"erased"}
