from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.organisations.models import Organisation
from webapp.streams.live import live_subscription_create
from webapp.streams.selectors import event_types_known
from webapp.streams.services import Start


class Command(BaseCommand):
    help = (
        "Create a live subscription (consumed over WebSocket or Server-Sent Events from "
        "`uvicorn webapp.streams.asgi:app --port 8001`) and print its id."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("organisation", help="organisation slug")
        parser.add_argument("name")
        parser.add_argument("--start", choices=["oldest", "newest"], default="newest")
        parser.add_argument("--event-type", action="append", default=[], dest="event_types")

    def handle(self, *args: Any, **options: Any) -> None:
        organisation = Organisation.objects.filter(slug=options["organisation"]).first()
        if organisation is None:
            raise CommandError(f"no organisation {options['organisation']!r}")
        unknown = sorted(set(options["event_types"]) - set(event_types_known()))
        if unknown:
            raise CommandError(f"unknown event types: {', '.join(unknown)}")
        subscription = live_subscription_create(
            organisation=organisation,
            name=options["name"],
            start=Start(options["start"]),
            filters={"event_types": options["event_types"]},
        )
        self.stdout.write(str(subscription.pk))
