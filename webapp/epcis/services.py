"""Writes of the EPCIS query side: an organisation's named queries."""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction

from webapp.epcis.models import NamedQuery
from webapp.epcis.query import QueryParameterError, query_parameters
from webapp.organisations.models import Organisation

#: What a query name may be: it sits in URLs (`/queries/{name}/events`).
QUERY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._~-]{0,199}$")


class QueryNameTaken(Exception):
    pass


def named_query_create(*, organisation: Organisation, name: Any, query: Any) -> NamedQuery:
    """Keep a query under a name of the organisation's own; `QueryParameterError` for a bad
    name or query, `QueryNameTaken` when the organisation already has one by that name."""
    if not isinstance(name, str) or not QUERY_NAME.match(name):
        raise QueryParameterError(
            "name", "up to 200 letters, digits, `.`, `_`, `~` or `-`, from a letter or digit."
        )
    query_parameters(query)  # refuses a query no parameter takes
    try:
        with transaction.atomic():
            return NamedQuery.objects.create(organisation=organisation, name=name, query=query)
    except IntegrityError:
        raise QueryNameTaken(f"A query named {name!r} exists already.") from None


def named_query_delete(*, organisation: Organisation, name: str) -> bool:
    deleted, _ = NamedQuery.objects.filter(organisation=organisation, name=name).delete()
    return deleted > 0
