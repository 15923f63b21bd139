"""A list of identifiers: `text[]` on PostgreSQL (GIN-indexed containment, `epcs @> '{x}'`),
a JSON array in a text column on the embedded SQLite default."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.postgres.fields import ArrayField
from django.db import models


class IdentifierListField(ArrayField):  # type: ignore[type-arg]
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("base_field", models.TextField())
        kwargs.setdefault("default", list)
        kwargs.setdefault("blank", True)
        super().__init__(**kwargs)

    def deconstruct(self) -> Any:
        name, _, args, kwargs = super().deconstruct()
        kwargs.pop("base_field", None)
        return name, "webapp.epcis.fields.IdentifierListField", args, kwargs

    def db_type(self, connection: Any) -> str | None:
        if connection.vendor == "postgresql":
            return super().db_type(connection)
        return "text"

    def get_placeholder(self, value: Any, compiler: Any, connection: Any) -> str:
        if connection.vendor == "postgresql":
            return str(super().get_placeholder(value, compiler, connection))
        return "%s"

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if connection.vendor == "postgresql" or value is None:
            return super().get_db_prep_value(value, connection, prepared)
        return json.dumps(list(value))

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value)
        return value
