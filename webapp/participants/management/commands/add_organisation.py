"""Onboard a member organisation: its record, a signing key in the site's key store, its
registration on chain (an operation signed by the operator), an admin person and an API
token for its systems. Prints what a new member needs, as JSON, once."""

from __future__ import annotations

import json
import os
import secrets
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from contracts.chain.domain import Role
from webapp.organisations.services import (
    api_token_create,
    member_invite,
    organisation_create,
    organisation_create_key,
)
from webapp.participants.services import organisation_register


def _roles(text: str) -> Role:
    roles = Role(0)
    for name in filter(None, (part.strip().upper() for part in text.split(","))):
        if name not in Role.__members__:
            raise CommandError(f"no role {name!r}; the roles are {', '.join(Role.__members__)}")
        roles |= Role[name]
    if not roles:
        raise CommandError("give at least one role (--roles MINER,DISTRIBUTOR)")
    return roles


class Command(BaseCommand):
    help = (
        "Create a member organisation with a key, queue its registration on chain, and make "
        "its admin (password from PROVENANT_NEW_ADMIN_PASSWORD, else generated) and an API "
        "token. Prints JSON with the token and password: shown once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--roles", required=True, help="comma-separated, e.g. MINER")
        parser.add_argument("--admin", required=True, help="the admin person's user name")
        parser.add_argument("--token-name", default="erp")
        parser.add_argument(
            "--key-backend",
            default="",
            choices=["", *settings.KEY_STORE_BACKENDS],
            help="the key store the member's key is made in (default: PROVENANT_KEY_BACKEND)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        roles = _roles(options["roles"])
        password = os.environ.get("PROVENANT_NEW_ADMIN_PASSWORD") or secrets.token_urlsafe(18)
        try:
            with transaction.atomic():
                organisation = organisation_create(
                    name=options["name"], roles=roles, slug=options["slug"]
                )
                if options["key_backend"]:  # where its keys are made, this one and the next
                    organisation.key_backend = options["key_backend"]
                    organisation.save(update_fields=["key_backend"])
                address = organisation_create_key(organisation=organisation)
                operation = organisation_register(organisation=organisation)
                member_invite(
                    organisation=organisation,
                    username=options["admin"],
                    password=password,
                    is_admin=True,
                )
                token, _ = api_token_create(organisation=organisation, name=options["token_name"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(
            json.dumps(
                {
                    "organisation": organisation.slug,
                    "address": address,
                    "registration": str(operation.id),
                    "admin": options["admin"],
                    "password": password,
                    "token": token,
                }
            )
        )
