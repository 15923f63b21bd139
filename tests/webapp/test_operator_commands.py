"""The operator's onboarding commands refuse bad input with a clear message and leave
nothing half-made."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from eth_account import Account

from webapp.operations.models import Operation
from webapp.organisations.models import ApiToken, Organisation

pytestmark = pytest.mark.django_db


def test_add_organisation_refuses_a_bad_role_and_a_taken_slug_without_leftovers(
    settings: Any, tmp_path: Path
) -> None:
    settings.KEYSTORE_DIR = tmp_path / "keys"
    with pytest.raises(CommandError, match="no role 'MINOR'"):
        call_command("add_organisation", slug="m", name="M", roles="MINOR", admin="amani")
    Organisation.objects.create(slug="taken", name="Taken")
    with pytest.raises(CommandError, match="already exists"):
        call_command("add_organisation", slug="taken", name="T", roles="MINER", admin="x")
    # no operator yet: the registration cannot be queued, so nothing of the member stays
    with pytest.raises(CommandError, match="No consortium operator"):
        call_command("add_organisation", slug="new", name="New", roles="MINER", admin="y")
    assert not Organisation.objects.filter(slug="new").exists()
    assert not ApiToken.objects.exists()
    assert not Operation.objects.exists()


def test_bootstrap_operator_refuses_a_key_it_cannot_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "deployer.json"
    key_file.write_text(json.dumps(Account.encrypt(Account.create().key, "right")))
    monkeypatch.setenv("PROVENANT_DEPLOYER_PASSPHRASE", "wrong")
    with pytest.raises(CommandError, match="cannot open the deployer key"):
        call_command("bootstrap_operator", key_file=key_file)
    with pytest.raises(CommandError, match="cannot open the deployer key"):
        call_command("bootstrap_operator", key_file=tmp_path / "missing.json")
    assert not Organisation.objects.exists()
