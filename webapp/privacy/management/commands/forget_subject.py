from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.privacy.services import subject_forget


class Command(BaseCommand):
    help = (
        "Erase a data subject by destroying its data key (crypto-shredding): its personal "
        "fields become unreadable everywhere; hashes, commitments and proofs stay valid."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("subject_id", help="the data subject's id (a UUID)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            subject = subject_forget(subject_id=options["subject_id"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(
            f"data subject {subject.id} erased at {subject.forgotten_at:%Y-%m-%d %H:%M:%S %Z}"
        )
