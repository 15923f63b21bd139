"""Print the warehouse's star schema as a Mermaid diagram (generated from the models)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from webapp.exports.warehouse.diagram import warehouse_mermaid


class Command(BaseCommand):
    help = "Print the reporting warehouse's schema as a Mermaid entity-relationship diagram."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(warehouse_mermaid(), ending="")
