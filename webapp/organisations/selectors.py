"""Reads of organisations."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django.db.models import QuerySet

from webapp.gs1 import Gs1Error
from webapp.memo import memo
from webapp.organisations.models import ApiToken, Organisation, OrganisationKey, Site


def organisation_of_user(user: Any) -> Organisation | None:
    """The organisation a person belongs to (None for staff outside any organisation)."""
    membership = getattr(user, "membership", None)
    return membership.organisation if membership is not None else None


def member_is_admin(user: Any) -> bool:
    """Whether a person administers their organisation (manages its API tokens)."""
    membership = getattr(user, "membership", None)
    return bool(membership is not None and membership.is_admin)


def api_token_list(*, organisation: Organisation) -> QuerySet[ApiToken]:
    """The organisation's API tokens, newest first (live, expired and revoked)."""
    return ApiToken.objects.filter(organisation=organisation).order_by("-created_at")


def organisation_names() -> dict[str, str]:
    """Chain address -> organisation name, for showing people names instead of hex; every
    key an organisation has had counts (past events name rotated-out addresses)."""

    def read() -> dict[str, str]:
        names = dict(OrganisationKey.objects.values_list("address", "organisation__name"))
        names.update(Organisation.objects.exclude(address="").values_list("address", "name"))
        return names

    return dict(memo("organisation_names", read))  # a copy: the caller may change it


def operator_with_key() -> Organisation | None:
    """The consortium operator, once it has a signing key (None before)."""
    return Organisation.objects.filter(is_operator=True).exclude(address="").first()


def organisations_by_slugs(slugs: list[str]) -> list[Organisation]:
    """The organisations with these slugs, in the order given (unknown slugs left out)."""
    found = {o.slug: o for o in Organisation.objects.filter(slug__in=slugs)}
    return [found[s] for s in slugs if s in found]


def organisation_by_slug(*, slug: str) -> Organisation | None:
    """The organisation with this slug that has a chain address (None otherwise)."""
    return Organisation.objects.filter(slug=slug).exclude(address="").first()


def participant_list(*, exclude: Organisation | None = None) -> QuerySet[Organisation]:
    """The organisations on chain (with an address) other than the consortium operator,
    and other than `exclude` when given."""
    rows = Organisation.objects.exclude(address="").filter(is_operator=False)
    if exclude is not None:
        rows = rows.exclude(pk=exclude.pk)
    return rows


def organisation_by_address(address: str) -> Organisation | None:
    """The organisation a chain address belongs to, by any key it has had."""
    found = Organisation.objects.filter(address__iexact=address).first()
    if found is not None:
        return found
    key = OrganisationKey.objects.filter(address__iexact=address).select_related("organisation")
    first = key.first()
    return first.organisation if first is not None else None


def time_zones() -> list[str]:
    """Every IANA time zone name this system knows, sorted (the choices people pick from)."""
    return sorted(zoneinfo.available_timezones() - {"localtime", "Factory"})


def gs1_company_prefixes() -> list[str]:
    """Every registered GS1 Company Prefix (where an EPC URN splits a key)."""
    return list(
        Organisation.objects.exclude(gs1_company_prefix="").values_list(
            "gs1_company_prefix", flat=True
        )
    )


def organisation_by_gs1_key(*, digits: str) -> Organisation | None:
    """The organisation whose company prefix is the longest that `digits` (a GTIN without
    its indicator, an SSCC without its extension digit, a GLN) starts with."""
    matching = [p for p in gs1_company_prefixes() if digits.startswith(p)]
    if not matching:
        return None
    return Organisation.objects.filter(gs1_company_prefix=max(matching, key=len)).first()


def site_epc_urn(*, site: Site) -> str | None:
    """The site's SGLN as an EPC URN (`urn:epc:id:sgln:…`, for EPCIS read points and
    business locations); None without a GLN or under no registered company prefix."""
    key = site.sgln
    if key is None:
        return None
    try:
        return key.epc_urn(prefixes=gs1_company_prefixes())
    except Gs1Error:
        return None
