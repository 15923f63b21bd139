"""Write the hub's schema (SDL) to webapp/graphql/schema.graphql, the committed copy that
clients generate code from; a test fails while the copy is stale."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from webapp.graphql.schema import schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


class Command(BaseCommand):
    help = "Write the GraphQL schema to webapp/graphql/schema.graphql."

    def handle(self, *args: Any, **options: Any) -> None:
        SCHEMA_FILE.write_text(schema.as_str() + "\n")
        self.stdout.write(f"Wrote {SCHEMA_FILE}")
