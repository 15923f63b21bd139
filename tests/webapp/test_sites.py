"""Organisations' GS1 identities in the database: GLN and company prefix checked and
unique, sites named by SGLNs."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from webapp.organisations.models import Organisation, Site
from webapp.organisations.selectors import (
    gs1_company_prefixes,
    organisation_by_gs1_key,
    site_epc_urn,
)

pytestmark = [pytest.mark.integration, pytest.mark.django_db]


def _org(slug: str, prefix: str = "", gln: str = "") -> Organisation:
    return Organisation.objects.create(
        slug=slug, name=slug.title(), gs1_company_prefix=prefix, gln=gln
    )


def test_a_bad_gln_or_prefix_is_refused_with_the_reason() -> None:
    org = Organisation(slug="mine", name="Mine", gln="4006381000016", gs1_company_prefix="40063")
    with pytest.raises(ValidationError) as caught:
        org.full_clean()
    assert caught.value.message_dict == {
        "gln": ["GLN 4006381000016 has check digit 6; it should be 7."],
        "gs1_company_prefix": ["A GS1 Company Prefix has 6 to 12 digits; '40063' does not."],
    }


def test_glns_and_prefixes_are_unique_when_set() -> None:
    _org("a", "4006381", "4006381000017")
    _org("b")
    _org("c")  # two organisations without either are fine
    with pytest.raises(IntegrityError), transaction.atomic():
        _org("d", "4006381")
    with pytest.raises(IntegrityError), transaction.atomic():
        _org("e", "", "4006381000017")


def test_the_longest_registered_prefix_names_the_maker() -> None:
    short, long = _org("short", "400638"), _org("long", "4006381")
    assert sorted(gs1_company_prefixes()) == ["400638", "4006381"]
    assert organisation_by_gs1_key(digits="4006381333931") == long
    assert organisation_by_gs1_key(digits="4006389999999") == short
    assert organisation_by_gs1_key(digits="5012345000015") is None


def test_a_site_is_named_by_an_sgln() -> None:
    org = _org("refinery", "6412345", "6412345000012")
    dock = Site.objects.create(organisation=org, name="Dock 2", extension="D2")
    assert dock.sgln is not None
    assert dock.sgln.digital_link() == "https://id.gs1.org/414/6412345000012/254/D2"
    assert site_epc_urn(site=dock) == "urn:epc:id:sgln:6412345.00001.D2"
    plant = Site.objects.create(organisation=org, name="Plant", gln="6412345000029")
    assert site_epc_urn(site=plant) == "urn:epc:id:sgln:6412345.00002.0"
    bare = Site.objects.create(organisation=_org("shop"), name="Shop")
    assert bare.sgln is None
    assert site_epc_urn(site=bare) is None
    with pytest.raises(ValidationError, match="outside the GS1 character set 82"):
        Site(organisation=org, name="Bad", extension="dock 3").full_clean()
