"""uint256 columns read and write Python ints, bounded to 0..2^256 - 1."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from webapp.fields import Uint256Field
from webapp.lots.models import LotNumber
from webapp.projections.models import Balance

UINT256_MAX = 2**256 - 1


@pytest.mark.unit
@pytest.mark.parametrize("value", [0, 1, UINT256_MAX, Decimal(7), "42"])
def test_a_uint256_cleans_to_an_int(value: object) -> None:
    cleaned = Uint256Field().clean(value, None)
    assert type(cleaned) is int
    assert cleaned == int(str(value))


@pytest.mark.unit
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "greater than or equal to 0"),
        (UINT256_MAX + 1, "less than or equal to"),
        (Decimal("1.5"), "not a whole number"),
        ("lot seven", "not a whole number"),
        (True, "not a whole number"),
    ],
)
def test_a_value_outside_uint256_is_refused(value: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Uint256Field().clean(value, None)


@pytest.mark.unit
def test_the_form_field_is_a_bounded_integer() -> None:
    field = Uint256Field().formfield()
    assert field is not None
    assert field.clean(str(UINT256_MAX)) == UINT256_MAX
    with pytest.raises(ValidationError):
        field.clean(str(UINT256_MAX + 1))


@pytest.mark.integration
@pytest.mark.django_db
def test_the_largest_uint256_round_trips_as_an_int() -> None:
    Balance.objects.create(
        chain_id=1, block_from=1, log_from=0, lot_id=UINT256_MAX, holder="0x" + "11" * 20,
        quantity=2**240 - 1,
    )  # fmt: skip
    row = Balance.objects.get(chain_id=1, lot_id=UINT256_MAX)
    assert (row.lot_id, row.quantity) == (UINT256_MAX, 2**240 - 1)
    assert type(row.lot_id) is int
    assert list(
        Balance.objects.filter(lot_id__in=[UINT256_MAX, 5]).values_list("quantity", flat=True)
    ) == [2**240 - 1]


@pytest.mark.integration
@pytest.mark.django_db
def test_a_decimal_written_as_before_reads_back_as_an_int() -> None:
    LotNumber.objects.create(chain_id=1, last=Decimal(1000))
    assert LotNumber.objects.get(chain_id=1).last == 1000
    assert type(LotNumber.objects.get(chain_id=1).last) is int
