"""The warehouse's star schema as a Mermaid entity-relationship diagram, generated from the
models (`manage.py warehouse_diagram`; the README embeds its output)."""

from __future__ import annotations

from django.apps import apps
from django.db import models

_TYPES = {
    "BigIntegerField": "bigint",
    "IntegerField": "int",
    "SmallIntegerField": "smallint",
    "Uint256Field": "numeric78",
    "TextField": "text",
    "CharField": "varchar",
    "DateField": "date",
    "DateTimeField": "timestamptz",
    "BooleanField": "bool",
    "JSONField": "jsonb",
    "DecimalField": "numeric",
    "UUIDField": "uuid",
    "BinaryField": "bytea",
}


def _tables() -> list[type[models.Model]]:
    return [
        m
        for m in apps.get_app_config("warehouse").get_models()
        if m._meta.db_table.startswith('reporting"')
    ]


def _name(model: type[models.Model]) -> str:
    return model._meta.db_table.split('"."')[1].upper()


def warehouse_mermaid() -> str:
    lines = ["erDiagram"]
    for model in _tables():
        lines.append(f"    {_name(model)} {{")
        for f in model._meta.concrete_fields:
            if isinstance(f, models.ForeignKey):
                kind, key = "bigint", " FK"
            else:
                kind, key = _TYPES.get(type(f).__name__, "text"), ""
            if f.primary_key:
                key = " PK" if not key else " PK, FK"
            lines.append(f"        {kind} {f.column}{key}")
        lines.append("    }")
    for model in _tables():
        for f in model._meta.concrete_fields:
            if isinstance(f, models.ForeignKey):
                target = _name(f.related_model)  # type: ignore[arg-type]
                lines.append(f"    {target} ||--o{{ {_name(model)} : {f.column}")
    return "\n".join(lines) + "\n"
