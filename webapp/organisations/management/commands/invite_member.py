from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.organisations.models import Organisation
from webapp.organisations.services import member_invite


class Command(BaseCommand):
    help = "Create a user in an organisation and print the link where they set a password."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("organisation", help="organisation slug")
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--admin", action="store_true", help="an organisation admin (manages API tokens)"
        )
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args: Any, **options: Any) -> None:
        organisation = Organisation.objects.filter(slug=options["organisation"]).first()
        if organisation is None:
            raise CommandError(f"no organisation {options['organisation']!r}")
        try:
            _, link = member_invite(
                organisation=organisation,
                username=options["username"],
                email=options["email"],
                is_admin=options["admin"],
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(f"{options['base_url']}{link}")
