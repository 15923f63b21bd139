"""Model fields for the chain's value types, importable by every app.

A uint256 (a lot, handoff or certificate id; a quantity) is an `int` in Python and a
`numeric(78, 0)` in SQL: 78 digits hold 2^256 - 1, and no float or Decimal ever reaches the
code that reads it.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from django import forms
from django.core import validators
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.expressions import Combinable
from django.utils.functional import cached_property

from webapp.limits import UINT256_MAX


def as_uint256(value: Any) -> int | None:
    """`value` as an int when it is a whole number in 0..2^256 - 1, else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= UINT256_MAX else None
    try:
        # repr: the shortest text of a float, not its binary expansion (SQLite hands back a
        # REAL for a value beyond 64 bits).
        number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None
    if not number.is_finite() or number != number.to_integral_value():
        return None
    whole = int(number)
    return whole if 0 <= whole <= UINT256_MAX else None


class Uint256Field(models.DecimalField):  # type: ignore[type-arg]
    """A uint256 column: numeric(78, 0) in SQL, an int in Python.

    Reads never raise: SQLite keeps such a column as a REAL beyond 64 bits, and Django's
    SQLite converter raises on a value with more than 78 digits, so one out-of-range row
    would break every page that lists it. A stored value that is not a uint256 reads as
    None. Writes are checked: `full_clean` refuses anything outside 0..2^256 - 1.
    """

    # What django-stubs' plugin types the model attribute as (instead of Decimal).
    _pyi_private_set_type: int | Combinable
    _pyi_private_get_type: int  # type: ignore[assignment]  # DecimalField reads a Decimal

    default_error_messages: ClassVar[dict[str, Any]] = {
        "invalid": "“%(value)s” is not a whole number.",
    }
    description = "Unsigned 256-bit integer"
    default_validators = (
        validators.MinValueValidator(0),
        validators.MaxValueValidator(UINT256_MAX),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["max_digits"], kwargs["decimal_places"] = 78, 0
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        del kwargs["max_digits"], kwargs["decimal_places"]
        return name, path, args, kwargs

    def get_internal_type(self) -> str:
        # Not "DecimalField": that name makes the SQLite backend add its raising converter.
        return "Uint256Field"

    def db_type(self, connection: Any) -> str | None:
        return str(connection.data_types["DecimalField"] % self.db_type_parameters(connection))

    @cached_property
    def validators(self) -> list[Any]:
        # The bounds (default_validators), without DecimalField's digit count, which reads
        # a Decimal's digits.
        return list(super(models.DecimalField, self).validators)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> int | None:
        return as_uint256(value)

    def to_python(self, value: Any) -> int | None:
        if value is None:
            return None
        whole: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            whole = value
        elif not isinstance(value, bool | float):
            try:
                number = Decimal(value)
            except (InvalidOperation, TypeError, ValueError):
                number = Decimal("NaN")
            if number.is_finite() and number == number.to_integral_value():
                whole = int(number)
        if whole is None:
            raise ValidationError(
                self.error_messages["invalid"], code="invalid", params={"value": value}
            )
        return whole

    def get_prep_value(self, value: Any) -> Any:
        value = models.Field.get_prep_value(self, value)
        if value is None or hasattr(value, "resolve_expression"):
            return value
        whole = self.to_python(value)
        # The database adapters take a Decimal (SQLite's formats it to max_digits).
        return None if whole is None else Decimal(whole)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        if not prepared:
            value = self.get_prep_value(value)
        if value is None or hasattr(value, "as_sql"):
            return value
        return connection.ops.adapt_decimalfield_value(
            Decimal(value), self.max_digits, self.decimal_places
        )

    def formfield(
        self,
        form_class: type[forms.Field] | None = None,
        choices_form_class: type[forms.ChoiceField] | None = None,
        **kwargs: Any,
    ) -> forms.Field | None:
        bounds: dict[str, Any] = {"min_value": 0, "max_value": UINT256_MAX, **kwargs}
        return models.Field.formfield(
            self, form_class or forms.IntegerField, choices_form_class, **bounds
        )
