"""GS1 keys: check digits, normalisation, EPC URN ↔ Digital Link both ways."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from webapp.gs1 import (
    Gs1Error,
    Gs1Key,
    attribute_checked,
    check_digit,
    company_prefix_checked,
    digital_link_to_urn,
    gln_checked,
    gtin14,
    lgtin,
    parse_digital_link,
    parse_digital_link_path,
    parse_element_string,
    parse_epc_urn,
    pgln,
    sgln,
    sgtin,
    sscc,
    urn_to_digital_link,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("gtin", "normalised"),
    [
        ("96385074", "00000096385074"),  # GTIN-8
        ("614141000036", "00614141000036"),  # GTIN-12 (UPC-A)
        ("4006381333931", "04006381333931"),  # GTIN-13
        ("10614141000033", "10614141000033"),  # GTIN-14 with an indicator digit
    ],
)
def test_every_gtin_length_is_checked_and_normalised_to_14_digits(
    gtin: str, normalised: str
) -> None:
    assert gtin14(gtin) == normalised


def test_a_wrong_check_digit_is_refused_with_the_right_one() -> None:
    with pytest.raises(Gs1Error) as caught:
        gtin14("4006381333932")
    assert str(caught.value) == "GTIN 4006381333932 has check digit 2; it should be 1."
    with pytest.raises(Gs1Error, match="SSCC 106141411234567890 has check digit 0; it should be 7"):
        sscc("106141411234567890")
    with pytest.raises(Gs1Error, match="GLN 0614141123451 has check digit 1; it should be 2"):
        gln_checked("0614141123451")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("40063813339", "has 11 digits; a GTIN has 8 or 12 or 13 or 14"),
        ("400638133393a", "digits only"),
        (
            "\uff14\uff10\uff10\uff16\uff13\uff18\uff11\uff13\uff13\uff13\uff19\uff13\uff11",
            "digits only",
        ),  # full-width
        ("", "digits only"),
    ],
)
def test_malformed_gtins_are_refused_plainly(value: str, message: str) -> None:
    with pytest.raises(Gs1Error, match=message):
        gtin14(value)


def test_check_digits_of_known_keys() -> None:
    assert check_digit("400638133393") == 1
    assert check_digit("10614141123456789") == 7
    assert gln_checked("0614141123452") == "0614141123452"


def test_batch_serial_and_extension_hold_up_to_20_characters_of_set_82() -> None:
    assert attribute_checked("L1/2%&?", "batch/lot") == "L1/2%&?"
    with pytest.raises(Gs1Error, match="21 characters; at most 20"):
        attribute_checked("A" * 21, "batch/lot")
    with pytest.raises(Gs1Error, match="outside the GS1 character set 82"):
        attribute_checked("LOT 7", "batch/lot")
    with pytest.raises(Gs1Error, match="'é'"):
        attribute_checked("lé", "serial")
    with pytest.raises(Gs1Error, match="empty"):
        attribute_checked("", "serial")


def test_company_prefixes_have_6_to_12_digits() -> None:
    assert company_prefix_checked("4006381") == "4006381"
    for bad in ("12345", "1234567890123", "40063a1"):
        with pytest.raises(Gs1Error, match="6 to 12 digits"):
            company_prefix_checked(bad)


def test_an_lgtin_goes_to_a_urn_and_a_digital_link_and_back() -> None:
    key = lgtin("4006381333931", "L-2026")
    urn = key.epc_urn(prefixes=["4006381"])
    assert urn == "urn:epc:class:lgtin:4006381.033393.L-2026"
    assert key.digital_link() == "https://id.gs1.org/01/04006381333931/10/L-2026"
    assert parse_epc_urn(urn) == key
    assert urn_to_digital_link(urn) == key.digital_link()
    assert digital_link_to_urn(key.digital_link(), prefixes=["4006381"]) == urn
    assert key.element_string == "(01)04006381333931(10)L-2026"
    assert parse_element_string(key.element_string) == key


def test_an_sgtin_with_an_indicator_digit_round_trips() -> None:
    key = sgtin("80614141123458", "6789")
    urn = key.epc_urn(prefix_length=7)
    assert urn == "urn:epc:id:sgtin:0614141.812345.6789"
    assert parse_epc_urn(urn) == key
    assert parse_digital_link(key.digital_link("https://example.com/")).key == key


def test_an_sscc_round_trips() -> None:
    key = sscc("106141411234567897")
    urn = key.epc_urn(prefixes=["0614141"])
    assert urn == "urn:epc:id:sscc:0614141.1123456789"
    assert parse_epc_urn(urn) == key
    assert key.digital_link() == "https://id.gs1.org/00/106141411234567897"
    assert parse_digital_link(key.digital_link()).key == key


def test_an_sgln_and_a_pgln_round_trip_with_and_without_extension() -> None:
    with_ext = sgln("0614141123452", "5678")
    assert with_ext.epc_urn(prefixes=["0614141"]) == "urn:epc:id:sgln:0614141.12345.5678"
    assert with_ext.digital_link() == "https://id.gs1.org/414/0614141123452/254/5678"
    plain = sgln("0614141123452")
    assert plain.epc_urn(prefixes=["0614141"]) == "urn:epc:id:sgln:0614141.12345.0"
    assert parse_epc_urn("urn:epc:id:sgln:0614141.12345.0") == plain
    assert plain.digital_link().endswith("/414/0614141123452")
    party = pgln("0614141123452")
    assert party.epc_urn(prefix_length=7) == "urn:epc:id:pgln:0614141.12345"
    for key in (with_ext, plain, party):
        assert parse_epc_urn(key.epc_urn(prefix_length=7)) == key
        assert parse_digital_link(key.digital_link()).key == key


def test_urn_and_digital_link_escape_reserved_characters_their_own_way() -> None:
    key = lgtin("4006381333931", 'A/B%C&D?E"<>')
    urn = key.epc_urn(prefix_length=7)
    assert urn == "urn:epc:class:lgtin:4006381.033393.A%2FB%25C%26D%3FE%22%3C%3E"
    uri = key.digital_link()
    assert uri == "https://id.gs1.org/01/04006381333931/10/A%2FB%25C%26D%3FE%22%3C%3E"
    assert parse_epc_urn(urn) == key
    assert parse_digital_link(uri).key == key
    # Characters a URN leaves alone are percent-encoded in a Digital Link path.
    plus = sgtin("4006381333931", "a+b:c")
    assert plus.epc_urn(prefix_length=7).endswith(".a+b:c")
    assert plus.digital_link().endswith("/21/a%2Bb%3Ac")
    assert parse_digital_link("https://x.org/01/04006381333931/21/a+b:c").key == plus


def test_a_bad_urn_escape_is_refused() -> None:
    with pytest.raises(Gs1Error, match="starts no %HH escape"):
        parse_epc_urn("urn:epc:id:sgtin:4006381.033393.50%")


def test_the_longest_registered_prefix_decides_where_the_urn_splits() -> None:
    key = lgtin("4006381333931", "L1")
    assert key.epc_urn(prefixes=["400638", "4006381"]) == ("urn:epc:class:lgtin:4006381.033393.L1")
    assert key.epc_urn(prefixes=["400638", "5012345"]) == "urn:epc:class:lgtin:400638.0133393.L1"


def test_a_key_under_no_registered_prefix_is_refused() -> None:
    with pytest.raises(Gs1Error, match="starts with no registered GS1 Company Prefix"):
        lgtin("4006381333931", "L1").epc_urn(prefixes=["5012345"])
    with pytest.raises(Gs1Error, match="6 to 12 digits, not 13"):
        lgtin("4006381333931", "L1").epc_urn(prefix_length=13)
    with pytest.raises(Gs1Error, match="no EPC URN of its own"):
        Gs1Key("01", gtin14("4006381333931")).epc_urn(prefix_length=7)


@pytest.mark.parametrize(
    ("urn", "message"),
    [
        ("urn:epc:id:giai:0614141.12345", "not an EPC URN this resolver knows"),
        ("urn:epc:id:lgtin:4006381.033393.L1", "an LGTIN is urn:epc:class:lgtin"),
        ("urn:epc:id:sgtin:4006381.03339.1", "make 13 digits"),
        ("urn:epc:id:sscc:0614141", "does not have the fields"),
        ("urn:epc:id:sgtin:4006.0333933393.1", "6 to 12 digits"),
    ],
)
def test_malformed_urns_are_refused(urn: str, message: str) -> None:
    with pytest.raises(Gs1Error, match=message):
        parse_epc_urn(urn)


def test_a_digital_link_keeps_its_data_attributes_and_its_own_path_prefix() -> None:
    link = parse_digital_link(
        "https://brand.example/products/01/4006381333931/10/L1?17=261231&linkType=gs1:pip"
    )
    assert link.key == lgtin("4006381333931", "L1")  # a GTIN-13 in the URI is accepted
    assert link.query == (("17", "261231"), ("linkType", "gs1:pip"))
    assert (
        lgtin("4006381333931", "L1").digital_link("https://id.example", {"17": "261231"})
        == "https://id.example/01/04006381333931/10/L1?17=261231"
    )


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/products/42", "holds no GS1 primary key"),
        ("/01/04006381333932/10/L1", "check digit 2; it should be 1"),
        (
            "/01/04006381333931/21/S1/10/L1",
            "takes /10/ then /21/ \\(in that order\\); /10/L1 does not fit",
        ),
        ("/00/106141411234567897/10/L1", "takes nothing"),
        ("/01/04006381333931/10/L1/S1", "; /S1 does not fit"),
        ("/01/04006381333931/10/" + "A" * 21, "at most 20"),
    ],
)
def test_malformed_digital_links_are_refused(path: str, message: str) -> None:
    with pytest.raises(Gs1Error, match=message):
        parse_digital_link_path(path)


def test_a_decoded_path_reads_a_slash_in_a_lot_back() -> None:
    """A WSGI server hands the view a decoded path: /10/A%2FB arrives as /10/A/B."""
    link = parse_digital_link_path("/01/04006381333931/10/A/B/21/S%1", decoded=True)
    assert link.key == Gs1Key("01", "04006381333931", lot="A/B", serial="S%1")
    assert parse_digital_link_path("/01/04006381333931/10/A%2FB").key.lot == "A/B"


def test_a_resolver_url_that_is_no_web_address_is_refused_at_start(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PROVENANT_", "DJANGO_"))}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=Path(__file__).resolve().parents[2],
        env={**env, "PROVENANT_DATA_DIR": str(tmp_path), "PROVENANT_RESOLVER_URL": "id.example"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "PROVENANT_RESOLVER_URL='id.example' should be an http(s) address" in result.stderr
