from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.privacy.models import RetentionPeriod
from webapp.privacy.services import period_shred


class Command(BaseCommand):
    help = (
        "Shred a retention period (e.g. 2026-Q1): destroys the period key layered over the "
        "keys of every data subject recorded in it. Without a name, lists the periods."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", nargs="?", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["name"]:
            for period in RetentionPeriod.objects.all():
                self.stdout.write(f"{period}  {period.subjects.count()} subjects")
            return
        try:
            period = period_shred(name=options["name"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(
            f"retention period {period.name} shredded: {period.subjects.count()} data subjects "
            "are unreadable"
        )
