"""The GS1 checks a lot registration runs before anything is queued: GTIN lengths and
check digits, the batch/lot number's length and character set, and the element string
the lot's GS1 key hash is taken from."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from webapp.gs1 import Gs1Error, gtin14, sscc_checked
from webapp.lots.services.common import gs1_key_checked

pytestmark = pytest.mark.unit


def key_accepted(digits: str) -> bool:
    """Whether webapp.gs1, which the lot and bundle services call, accepts a GTIN or an
    SSCC (18 digits)."""
    check = sscc_checked if len(digits) == 18 else gtin14
    try:
        check(digits)
    except Gs1Error:
        return False
    return True


@pytest.mark.parametrize(
    "digits",
    [
        "96385074",  # GTIN-8
        "036000291452",  # GTIN-12 (UPC-A)
        "4006381333931",  # GTIN-13
        "09506000134352",  # GTIN-14 from the GS1 Digital Link standard
        "106141411234567897",  # SSCC-18
    ],
)
def test_published_keys_have_valid_check_digits(digits: str) -> None:
    assert key_accepted(digits)


@pytest.mark.parametrize(
    "digits",
    [
        "96385075",
        "036000291453",
        "4006381333932",
        "09506000134353",  # one off: the check digit catches a wrong last digit
        "09506000134325",  # two neighbours swapped
        "0950600013435²",  # a digit for str.isdigit, not for GS1
        "0950600013435a",
        "",
    ],
)
def test_wrong_or_non_ascii_digits_fail_the_check(digits: str) -> None:
    assert not key_accepted(digits)


def test_a_gtin_and_batch_give_the_element_string_with_the_gtin_padded_to_14() -> None:
    assert gs1_key_checked("4006381333931", "ORE-7") == "(01)04006381333931(10)ORE-7"
    assert gs1_key_checked("09506000134352", "") == "(01)09506000134352"
    assert gs1_key_checked("", "") == ""


@pytest.mark.parametrize(
    ("gtin", "batch", "field", "words"),
    [
        ("4006381333932", "", "gtin", "check digit"),
        ("40063813339", "", "gtin", "has 11 digits; a GTIN has 8 or 12 or 13 or 14"),
        ("123456789012345", "", "gtin", "has 15 digits; a GTIN has 8 or 12 or 13 or 14"),
        ("", "ORE-7", "gtin", "needs the GTIN"),
        ("4006381333931", "B" * 21, "batch", "has 21 characters; at most 20"),
        ("4006381333931", "ORE 7", "batch", "no spaces"),
        ("4006381333931", "LOT-é", "batch", "character set 82"),
        ("4006381333931", "LOT#1", "batch", "character set 82"),
    ],
)
def test_each_wrong_field_is_named_with_the_rule_it_breaks(
    gtin: str, batch: str, field: str, words: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        gs1_key_checked(gtin, batch)
    messages = refused.value.message_dict
    assert field in messages
    assert any(words in message for message in messages[field]), messages


def test_every_character_of_set_82_is_accepted_in_a_batch() -> None:
    allowed = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
    for start in range(0, len(allowed), 20):
        chunk = allowed[start : start + 20]
        assert gs1_key_checked("4006381333931", chunk).endswith(f"(10){chunk}")


def test_the_api_refuses_a_batch_outside_character_set_82_with_a_readable_message() -> None:
    from webapp.api.views.lots import LotRegisterApi

    data = {"name": "Ore", "quantity": 1, "unit": "kg", "batch": "LOT#1"}
    form = LotRegisterApi.InputSerializer(data=data)
    assert not form.is_valid()
    (message,) = form.errors["batch"]
    assert "!\"%&'()*+,-./:;<=>?_" in message
    assert "%%" not in message
