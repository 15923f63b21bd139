"""Make the consortium operator: the organisation holding the contracts' admin key (the
deployer's), imported into this site's key store from an encrypted keystore file."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from eth_account import Account

from contracts.chain.domain import Role
from webapp.organisations.keys import keystore_file_backend
from webapp.organisations.models import Organisation
from webapp.organisations.services import organisation_adopt_key


class Command(BaseCommand):
    help = (
        "Create the consortium operator organisation with the deployer's key (a keystore "
        "JSON file; its passphrase in PROVENANT_DEPLOYER_PASSPHRASE). Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--key-file", type=Path, required=True)
        parser.add_argument("--name", default="Consortium operator")
        parser.add_argument("--slug", default="consortium-operator")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["key_file"]
        try:
            private_key = Account.decrypt(
                json.loads(path.read_text()), os.environ.get("PROVENANT_DEPLOYER_PASSPHRASE", "")
            )
        except (OSError, ValueError) as exc:
            raise CommandError(f"cannot open the deployer key {path}: {exc}") from exc
        address = Account.from_key(private_key).address
        operator, _ = Organisation.objects.get_or_create(
            slug=options["slug"],
            defaults={
                "name": options["name"],
                "roles": int(Role.AUDITOR),
                "is_operator": True,
                "time_zone": "UTC",
            },
        )
        if not operator.is_operator:
            raise CommandError(f"{operator.slug} exists and is not the consortium operator")
        if operator.address and operator.address != address:
            raise CommandError(
                f"{operator.slug} already signs with {operator.address}, not {address}"
            )
        if not operator.address:
            reference, store = keystore_file_backend().import_key(
                label=operator.slug, private_key=bytes(private_key)
            )
            organisation_adopt_key(
                organisation=operator,
                backend_name="keystore",
                reference=reference,
                address=store.address,
            )
        self.stdout.write(f"operator {operator.slug}: {address}")
